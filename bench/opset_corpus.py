#!/usr/bin/env python3
"""modelc convert --opset N vs onnx.version_converter on the third-party corpus.

Every model of testdata/corpus (PyTorch, tf2onnx, skl2onnx, onnxruntime's quantizer) to
opsets 11, 13, 17, 18 and 21 with both tools; a result counts as good when onnx.checker
(full_check) accepts it and onnxruntime gives the original's outputs (rtol 1e-4, atol 1e-5).

    .venv/bin/python bench/opset_corpus.py        # needs bin/modelc (make build)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(REPO, "testdata", "corpus")
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
TARGETS = (11, 13, 17, 18, 21)


def run(model, feeds):
    so = ort.SessionOptions()
    so.log_severity_level = 4
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def judge(model: onnx.ModelProto, feeds, want) -> str:
    try:
        onnx.checker.check_model(model, full_check=True)
        got = run(model.SerializeToString(), feeds)
    except Exception:  # noqa: BLE001
        return "invalid"
    same = all(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=1e-5)
               for a, b in zip(want, got))
    return "good" if same else "wrong"


def main() -> int:
    counts = {tool: {"good": 0, "wrong": 0, "invalid": 0, "refused": 0} for tool in ("modelc", "version_converter")}
    with tempfile.TemporaryDirectory() as tmp:
        for f in sorted(os.listdir(CORPUS)):
            if not f.endswith(".onnx"):
                continue
            src = os.path.join(CORPUS, f)
            with np.load(src[:-5] + ".inputs.npz") as z:
                feeds = {k: z[k] for k in z.files}
            want = run(src, feeds)
            for t in TARGETS:
                dst = os.path.join(tmp, f"{t}-{f}")
                r = subprocess.run([MODELC, "convert", src, dst, "--opset", str(t)], capture_output=True, text=True)
                counts["modelc"]["refused" if r.returncode else judge(onnx.load(dst), feeds, want)] += 1
                try:
                    converted = version_converter.convert_version(onnx.load(src), t)
                except Exception:  # noqa: BLE001
                    counts["version_converter"]["refused"] += 1
                    continue
                counts["version_converter"][judge(converted, feeds, want)] += 1
    total = len(TARGETS) * sum(f.endswith(".onnx") for f in os.listdir(CORPUS))
    print(f"testdata/corpus to opsets {', '.join(map(str, TARGETS))}: {total} pairs")
    print(f"{'tool':18s} {'valid, same outputs':>20s} {'wrong outputs':>14s} {'invalid':>8s} {'refused':>8s}")
    for tool, c in counts.items():
        print(f"{tool:18s} {c['good']:>20d} {c['wrong']:>14d} {c['invalid']:>8d} {c['refused']:>8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
