#!/usr/bin/env python3
"""First-inference cost from a cold process: `modelc run MODEL` (start, read, plan, one
inference, write the outputs) against a Python script that only imports onnxruntime, and
against the whole onnxruntime script (import, session, one run).

Each measurement is a fresh process; the three take turns --rounds times and each reports
its best and median wall time. Models come from .cache/bench_models (bench/models/
make_models.py, written on first use by bench/runtime_set.py).

Usage: .venv/bin/python bench/first_inference.py [--rounds 7]
       [--models mobilenet_v3_small,mobilenet_v2,resnet18]
bin/modelc must exist (go build -o bin/modelc ./cmd/modelc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, ".cache", "bench_models")

ORT_SCRIPT = """
import sys, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.log_severity_level = 3
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
z = np.load(sys.argv[2])
s.run(None, {k: z[k] for k in z.files})
"""


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--models", default="mobilenet_v3_small,mobilenet_v2,resnet18")
    args = ap.parse_args()
    modelc = os.path.join(REPO, "bin", "modelc")
    if not os.path.exists(modelc):
        sys.exit("bin/modelc is missing: go build -o bin/modelc ./cmd/modelc")
    print(f"{'model':<22}{'MB':>6}  {'modelc run':>16}  {'import onnxruntime':>20}  {'onnxruntime script':>20}")
    print(f"{'':<22}{'':>6}  {'best / median s':>16}  {'best / median s':>20}  {'best / median s':>20}")
    with tempfile.TemporaryDirectory() as out:
        for name in args.models.split(","):
            model = os.path.join(CACHE, name + ".onnx")
            inputs = os.path.join(CACHE, name + ".inputs.npz")
            if not os.path.exists(model):
                sys.exit(f"{model} is missing: run bench/runtime_set.py once to write the models")
            runs: dict[str, list[float]] = {"modelc": [], "import": [], "script": []}
            for _ in range(args.rounds):
                runs["modelc"].append(wall([modelc, "run", model, "--inputs", inputs, "--output-dir", out]))
                runs["import"].append(wall([sys.executable, "-c", "import onnxruntime"]))
                runs["script"].append(wall([sys.executable, "-c", ORT_SCRIPT, model, inputs]))
            cells = [f"{min(v):.3f} / {statistics.median(v):.3f}" for v in runs.values()]
            size = os.path.getsize(model) / 1e6
            print(f"{name:<22}{size:>6.1f}  {cells[0]:>16}  {cells[1]:>20}  {cells[2]:>20}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
