"""ONNX loading and conversion at scale: modelc against the onnx package, same machine,
same run.

  1. A 1 GiB ONNX model (256 initializers of 4 MiB, inline) is parsed by `onnx.load` and
     by `modelc info` (which decodes the whole ModelProto), each in its own process, best
     of three; wall time and peak RSS are reported with their ratio.
  2. A model with 2.25 GiB of initializers in external data is converted by modelc to an
     ONNX file: over the 2 GiB protobuf limit, so modelc switches to external data by
     itself. Peak RSS of the conversion is reported against the model size, and
     onnxruntime loads and runs the result (it reduces every initializer, so all the data
     is read).

Run: make bench   (or: .venv/bin/python bench/onnx_load.py [--keep DIR])
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC", os.path.join(ROOT, "bin", "modelc"))
MiB = 1 << 20


def run_measured(cmd):
    """Runs cmd; returns (seconds, peak RSS bytes) from GNU time."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{cmd} failed:\n{out.stderr}")
    rss_kib = int(out.stderr.strip().splitlines()[-1])
    return elapsed, rss_kib * 1024


def best_of(n, cmd):
    runs = [run_measured(cmd) for _ in range(n)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def reduce_model(names, shapes, graph_name):
    """A graph y = x + Σ ReduceMax(W_i): running it reads every initializer."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    nodes, terms = [], ["x"]
    for name in names:
        nodes.append(helper.make_node("ReduceMax", [name], [name + "_max"], keepdims=0))
        nodes.append(helper.make_node("Unsqueeze", [name + "_max", "axes0"], [name + "_max1"]))
        terms.append(name + "_max1")
    nodes.append(helper.make_node("Sum", terms, ["y"]))
    axes = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0")
    return nodes, x, y, axes


def make_inline_model(path, count, mib_each):
    rng = np.random.default_rng(0)
    names = [f"w{i}" for i in range(count)]
    n = mib_each * MiB // 4
    inits = [numpy_helper.from_array(rng.standard_normal(n, dtype=np.float32), name) for name in names]
    nodes, x, y, axes = reduce_model(names, None, "load")
    g = helper.make_graph(nodes, "load", [x], [y], inits + [axes])
    onnx.save(helper.make_model(g, ir_version=10, opset_imports=[helper.make_opsetid("", 17)]), path)


def make_external_model(folder, count, mib_each):
    """Writes model.onnx whose initializers live in model.bin; w_i is filled with i."""
    path = os.path.join(folder, "model.onnx")
    names = [f"w{i}" for i in range(count)]
    n = mib_each * MiB // 4
    inits = []
    with open(os.path.join(folder, "model.bin"), "wb") as f:
        for i, name in enumerate(names):
            offset = f.tell()
            f.write(np.full(n, float(i), dtype=np.float32).tobytes())
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[n])
            for k, v in (("location", "model.bin"), ("offset", str(offset)), ("length", str(n * 4))):
                t.external_data.add(key=k, value=v)
            t.data_location = TensorProto.EXTERNAL
            inits.append(t)
    nodes, x, y, axes = reduce_model(names, None, "big")
    g = helper.make_graph(nodes, "big", [x], [y], inits + [axes])
    onnx.save(helper.make_model(g, ir_version=10, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, sum(range(count))


def onnx_load_cmd(path):
    return [sys.executable, "-c", f"import onnx; m = onnx.load({path!r}); print(len(m.graph.initializer))"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="work in this folder and keep the files")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="modelc-bench-")
    os.makedirs(work, exist_ok=True)
    results = {}
    try:
        # 1. Parse a 1 GiB model.
        model = os.path.join(work, "load_1gib.onnx")
        if not os.path.exists(model):
            make_inline_model(model, 256, 4)
        size = os.path.getsize(model)
        mt, mrss = best_of(3, [MODELC, "info", "--json", model])
        ot, orss = best_of(3, onnx_load_cmd(model))
        base_t, base_rss = best_of(3, [sys.executable, "-c", "import onnx"])
        results["parse_1gib"] = {
            "file_bytes": size,
            "modelc_info_s": round(mt, 3), "onnx_load_s": round(ot, 3),
            "onnx_load_minus_import_s": round(ot - base_t, 3),
            "speedup": round((ot - base_t) / mt, 1),
            "modelc_peak_rss_mib": round(mrss / MiB, 1), "onnx_peak_rss_mib": round(orss / MiB, 1),
            "modelc_rss_fraction_of_file": round(mrss / size, 4),
        }
        # 2. Convert a model over the 2 GiB limit.
        big = os.path.join(work, "big")
        os.makedirs(big, exist_ok=True)
        src, expected = make_external_model(big, 9, 256)
        data_bytes = os.path.getsize(os.path.join(big, "model.bin"))
        out = os.path.join(work, "big_out", "model.onnx")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        ct, crss = run_measured([MODELC, "convert", src, out])
        import onnxruntime as ort
        sess = ort.InferenceSession(out)
        y = sess.run(None, {"x": np.zeros(1, np.float32)})[0]
        assert y[0] == expected, (y, expected)
        onnx.checker.check_model(out)
        results["convert_2gib"] = {
            "initializer_bytes": data_bytes,
            "modelc_convert_s": round(ct, 2),
            "modelc_peak_rss_mib": round(crss / MiB, 1),
            "rss_fraction_of_model": round(crss / data_bytes, 4),
            "output_files": sorted(os.listdir(os.path.dirname(out))),
            "onnxruntime_ran_it": True,
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
