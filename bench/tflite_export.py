"""Export time and peak memory of a ~100 MB model to TFLite: modelc (ONNX -> .tflite) vs
the reference converter, tf.lite.TFLiteConverter, on the same network built in Keras.

The network: x[1, D] -> Dense(D) -> ReLU -> Dense(D) -> ReLU -> Dense(10), D chosen so the
float32 weights are SIZE_MB (default 100) MB. The Keras weights are written into an
equivalent ONNX graph (MatMul + Add + Relu), so both converters get the same model. Each
conversion runs in its own process under /usr/bin/time -v (wall time, peak RSS); for
TFLiteConverter the TensorFlow import is timed apart and left out. The two .tflite files
are run by the LiteRT interpreter on the same input and must agree within 1e-4. Also timed:
modelc reading the converter's .tflite back to ONNX. Run: .venv/bin/python bench/tflite_export.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
SIZE_MB = float(os.environ.get("SIZE_MB", "100"))
D = int((SIZE_MB * 1e6 / 4 / 2) ** 0.5)  # two D×D layers hold almost all the bytes

KERAS = r"""
import os, sys, time, json, resource
import numpy as np
t0 = time.time()
import tensorflow as tf
t_import = time.time() - t0
D, out = int(sys.argv[1]), sys.argv[2]
k = tf.keras
tf.keras.utils.set_random_seed(0)
x = k.Input((D,), batch_size=1)
h = k.layers.Dense(D, activation="relu")(x)
h = k.layers.Dense(D, activation="relu")(h)
y = k.layers.Dense(10)(h)
m = k.Model(x, y)
np.savez(out + ".weights.npz", *[w for w in m.get_weights()])
t1 = time.time()
data = tf.lite.TFLiteConverter.from_keras_model(m).convert()
t_conv = time.time() - t1
open(out, "wb").write(data)
print(json.dumps({"import_s": t_import, "convert_s": t_conv}))
"""


def timed(cmd, env=None):
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"{cmd}: {r.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return r.stdout, secs, rss


def onnx_from_weights(ws, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits, h = [], [], "x"
    for i in range(0, len(ws), 2):
        w, b = ws[i], ws[i + 1]
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        h = f"a{i}"
        if i + 2 < len(ws):
            nodes.append(helper.make_node("Relu", [h], [f"r{i}"]))
            h = f"r{i}"
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, D])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def litert(path, x):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def main():
    with tempfile.TemporaryDirectory() as d:
        ref = os.path.join(d, "keras.tflite")
        out, t_ref, rss_ref = timed([sys.executable, "-c", KERAS, str(D), ref])
        tf_times = json.loads(out.strip().splitlines()[-1])
        ws = list(np.load(ref + ".weights.npz").values())
        src = os.path.join(d, "model.onnx")
        onnx_from_weights(ws, src)
        mine = os.path.join(d, "modelc.tflite")
        _, t_mine, rss_mine = timed([MODELC, "convert", src, mine])
        back = os.path.join(d, "back.onnx")
        _, t_back, rss_back = timed([MODELC, "convert", ref, back])
        x = np.random.default_rng(1).standard_normal((1, D)).astype(np.float32)
        diff = float(np.abs(litert(mine, x) - litert(ref, x)).max())
        mb = os.path.getsize(src) / 1e6
        res = {
            "model_mb": round(mb, 1), "D": D,
            "modelc_export_s": round(t_mine, 2), "modelc_peak_rss_mb": round(rss_mine),
            "tfliteconverter_convert_s": round(tf_times["convert_s"], 2),
            "tfliteconverter_process_s": round(t_ref, 2), "tf_import_s": round(tf_times["import_s"], 2),
            "tfliteconverter_peak_rss_mb": round(rss_ref),
            "modelc_import_s": round(t_back, 2), "modelc_import_peak_rss_mb": round(rss_back),
            "litert_max_abs_diff": diff,
            "sizes_mb": {"modelc": round(os.path.getsize(mine) / 1e6, 1), "tfliteconverter": round(os.path.getsize(ref) / 1e6, 1)},
        }
        print(json.dumps(res, indent=1))
        assert diff <= 1e-4, diff


if __name__ == "__main__":
    main()
