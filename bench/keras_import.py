"""Importing a large Keras model to ONNX: modelc vs tf2onnx, in the same run.

Builds a Keras MLP of about PARAMS_M million parameters (100 by default: Dense 4096-wide
layers), saves it as model.keras and as a SavedModel (model.export), then times, best of
RUNS, each under /usr/bin/time -v (peak RSS):

    modelc convert model.keras modelc.onnx
    python -m tf2onnx.convert --saved-model sm --output tf2onnx.onnx   (the peer)

and checks that onnxruntime gives the same outputs for both files and for Keras (1e-4).
Run: .venv/bin/python bench/keras_import.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
PARAMS_M = float(os.environ.get("PARAMS_M", "100"))
RUNS = int(os.environ.get("RUNS", "2"))
# PEER=0 times modelc alone (tf2onnx needs about 240 bytes of memory per parameter here).
PEER = os.environ.get("PEER", "1") != "0"
WIDTH = 4096


def timed(cmd: list[str]) -> dict:
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return {"wall_s": wall, "peak_rss_mib": rss / 1024}


def main() -> None:
    import keras
    import onnxruntime as ort

    layers = max(1, round(PARAMS_M * 1e6 / (WIDTH * WIDTH)))
    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([keras.Input((WIDTH,))] + [L.Dense(WIDTH, activation="relu") for _ in range(layers)] + [L.Dense(10)])
    params = m.count_params()
    x = np.random.default_rng(0).normal(0, 1, (2, WIDTH)).astype(np.float32)
    want = np.asarray(m(x))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model.keras")
        sm = os.path.join(tmp, "sm")
        m.save(src)
        if PEER:
            m.export(sm, verbose=False)
        del m
        results = {"params": params, "keras_bytes": os.path.getsize(src)}
        tools = [("modelc", [MODELC, "convert", src, os.path.join(tmp, "modelc.onnx")]),
                 ("tf2onnx", [sys.executable, "-m", "tf2onnx.convert", "--saved-model", sm,
                              "--output", os.path.join(tmp, "tf2onnx.onnx")])]
        if not PEER:
            tools = tools[:1]
        for name, cmd in tools:
            runs = [timed(cmd) for _ in range(RUNS)]
            results[name] = {"wall_s": min(r["wall_s"] for r in runs), "peak_rss_mib": min(r["peak_rss_mib"] for r in runs)}
        for name, _ in tools:
            sess = ort.InferenceSession(os.path.join(tmp, name + ".onnx"), providers=["CPUExecutionProvider"])
            got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            d = float(np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want))))
            results[name]["max_rel_vs_keras"] = d
            assert d < 1e-4, (name, d)
        if PEER:
            results["speedup"] = results["tf2onnx"]["wall_s"] / results["modelc"]["wall_s"]
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
