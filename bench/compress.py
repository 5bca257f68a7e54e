"""Dynamic int8 quantization of a transformer-sized model: modelc against onnxruntime's
quantize_dynamic, same machine, same run.

The script generates a transformer-like ONNX model (LAYERS blocks of LayerNorm, single-head
attention with Q/K/V/O projections and Softmax, residual Adds, and a GELU feed-forward;
about 101 M parameters in MatMul weights by default: d_model 1024, d_ff 4096, 8 layers),
then quantizes it

  * with `modelc compress IN OUT --quantize int8 --mode dynamic --symmetric`
    (DynamicQuantizeLinear + MatMulInteger, per-tensor symmetric int8 weights), and
  * with `onnxruntime.quantization.quantize_dynamic(IN, OUT, weight_type=QInt8)`
    (the same form and weight type),

each in its own process, best of RUNS (default 2), reporting wall time and peak RSS
(GNU time's maximum resident set size) and their ratios. Both outputs are then run by onnxruntime on
the same input and compared with the float model (cosine similarity of the outputs).

Run: .venv/bin/python bench/compress.py  (part of make bench)
Env: LAYERS, D_MODEL, D_FF, RUNS, KEEP=dir (keep the files there).
"""

import json
import os
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
PY = sys.executable
LAYERS = int(os.environ.get("LAYERS", "8"))
D = int(os.environ.get("D_MODEL", "1024"))
FF = int(os.environ.get("D_FF", "4096"))
RUNS = int(os.environ.get("RUNS", "2"))
MiB = 1 << 20


def transformer(path: str) -> int:
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name, shape):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) / np.sqrt(shape[0])).astype(np.float32), name))
        return name

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    const("scale", 1 / np.sqrt(D))
    const("ones", np.ones(D))
    const("zeros", np.zeros(D))
    h = "x"
    for l in range(LAYERS):
        p = f"l{l}."
        nodes.append(helper.make_node("LayerNormalization", [h, "ones", "zeros"], [p + "ln1"], name=p + "ln1", axis=-1))
        for proj in "qkv":
            nodes.append(helper.make_node("MatMul", [p + "ln1", weight(p + proj, (D, D))], [p + proj + "_out"], name=p + proj))
        nodes += [
            helper.make_node("Transpose", [p + "k_out"], [p + "kt"], name=p + "kt", perm=[0, 2, 1]),
            helper.make_node("MatMul", [p + "q_out", p + "kt"], [p + "scores"], name=p + "scores"),
            helper.make_node("Mul", [p + "scores", "scale"], [p + "scaled"], name=p + "scaled"),
            helper.make_node("Softmax", [p + "scaled"], [p + "attn"], name=p + "softmax", axis=-1),
            helper.make_node("MatMul", [p + "attn", p + "v_out"], [p + "ctx"], name=p + "ctx"),
            helper.make_node("MatMul", [p + "ctx", weight(p + "o", (D, D))], [p + "o_out"], name=p + "o"),
            helper.make_node("Add", [h, p + "o_out"], [p + "res1"], name=p + "res1"),
            helper.make_node("LayerNormalization", [p + "res1", "ones", "zeros"], [p + "ln2"], name=p + "ln2", axis=-1),
            helper.make_node("MatMul", [p + "ln2", weight(p + "ff1", (D, FF))], [p + "ff1_out"], name=p + "ff1"),
            helper.make_node("Gelu", [p + "ff1_out"], [p + "gelu"], name=p + "gelu"),
            helper.make_node("MatMul", [p + "gelu", weight(p + "ff2", (FF, D))], [p + "ff2_out"], name=p + "ff2"),
            helper.make_node("Add", [p + "res1", p + "ff2_out"], [p + "res2"], name=p + "res2"),
        ]
        h = p + "res2"
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, "transformer",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", D])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", D])], inits)
    m = helper.make_model(g, ir_version=9, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(m, path)
    return sum(int(np.prod(t.dims)) for t in inits)


def measured(cmd):
    """Runs cmd under GNU time; returns (seconds, peak RSS bytes). GNU time forks the
    command from its own small process: a child forked from this Python process would
    start with (and report) this process's resident set."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{cmd} failed ({out.returncode}):\n{out.stderr}")
    return elapsed, int(out.stderr.strip().splitlines()[-1]) * 1024


ORT_QUANTIZE = """
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
"""


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    import onnxruntime as ort

    tmp = os.environ.get("KEEP") or tempfile.mkdtemp(prefix="modelc-bench-compress-")
    os.makedirs(tmp, exist_ok=True)
    src = os.path.join(tmp, "transformer.onnx")
    params = transformer(src)
    size = os.path.getsize(src)
    print(f"model: {LAYERS} layers, d_model {D}, d_ff {FF}: {params / 1e6:.1f} M parameters, {size / MiB:.0f} MiB")
    with open(src, "rb") as f:  # warm the page cache for both tools
        while f.read(64 * MiB):
            pass
    out_m, out_o = os.path.join(tmp, "modelc.onnx"), os.path.join(tmp, "ort.onnx")
    script = os.path.join(tmp, "ort_quantize.py")
    with open(script, "w") as f:
        f.write(ORT_QUANTIZE)
    results = {}
    for name, cmd in [
        ("modelc", [MODELC, "compress", src, out_m, "--quantize", "int8", "--mode", "dynamic", "--symmetric"]),
        ("onnxruntime", [PY, script, src, out_o]),
    ]:
        runs = [measured(cmd) for _ in range(RUNS)]
        results[name] = {"seconds": min(r[0] for r in runs), "peak_rss": min(r[1] for r in runs),
                         "bytes": os.path.getsize(out_m if name == "modelc" else out_o)}
        r = results[name]
        print(f"{name:12s} {r['seconds']:7.2f} s  peak RSS {r['peak_rss'] / MiB:8.1f} MiB  output {r['bytes'] / MiB:.0f} MiB")
    m, o = results["modelc"], results["onnxruntime"]
    print(f"modelc is {o['seconds'] / m['seconds']:.1f}× faster, peak RSS {m['peak_rss'] / o['peak_rss']:.2f}× of onnxruntime's")

    # Both results run in onnxruntime and stay close to the float model.
    x = np.random.default_rng(1).standard_normal((1, 16, D)).astype(np.float32)
    ref = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for name, path in [("modelc", out_m), ("onnxruntime", out_o)]:
        y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        results[name]["cosine_vs_float"] = cosine(ref, y)
        print(f"{name:12s} output cosine vs float: {results[name]['cosine_vs_float']:.5f}")
    results["model"] = {"parameters": params, "bytes": size, "layers": LAYERS, "d_model": D, "d_ff": FF}
    print(json.dumps(results))
    if not os.environ.get("KEEP"):
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
