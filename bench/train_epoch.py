"""Time per epoch of distillation: `modelc distill` vs the same loop in torch.

The digits CNN distils into a copy of itself (KD at temperature 2, Adam, batch 32, the
1,437 training images, no held-out split) for 3 epochs; torch (Debian's python3-torch,
run by /usr/bin/python3) runs the same graph, loss, optimiser and batches with one
thread, in float32 and in float64 (modelc keeps values in float64 and rounds the operands
of its matrix products to float32 for accel's SGEMM).

usage: .venv/bin/python bench/train_epoch.py [--epochs N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(REPO, "testdata", "digits")
sys.path.insert(0, os.path.join(REPO, "tests", "interop"))

TORCH = r'''
import json, sys, time
import numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from step import run
torch.set_num_threads(1)
graph = json.load(open(sys.argv[2])); w = dict(np.load(sys.argv[3])); x = np.load(sys.argv[4])["input"]
epochs, dtype = int(sys.argv[5]), {"float32": torch.float32, "float64": torch.float64}[sys.argv[6]]
params = {k: torch.tensor(v.astype(np.float64), dtype=dtype if v.dtype == np.float32 else torch.int64,
                          requires_grad=v.dtype == np.float32) for k, v in w.items()}
teacher = {k: p.detach().clone() for k, p in params.items()}
X = torch.tensor(x, dtype=dtype)
with torch.no_grad():
    T = run(graph, {**teacher, "input": X})
opt = torch.optim.Adam([p for p in params.values() if p.requires_grad], lr=0.003)
g = torch.Generator().manual_seed(0)
times = []
for ep in range(epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(len(X), generator=g)
    for b in range(0, len(X), 32):
        idx = perm[b:b + 32]
        opt.zero_grad()
        s = run(graph, {**params, "input": X[idx]})
        loss = 4 * F.kl_div(F.log_softmax(s / 2, 1), F.log_softmax(T[idx] / 2, 1), reduction="batchmean", log_target=True)
        loss.backward()
        opt.step()
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from test_train import _graph_json, _weights

    rows = np.loadtxt(gzip.open(os.path.join(DIGITS, "digits.csv.gz")), delimiter=",")
    x = (rows[np.arange(len(rows)) % 5 != 0, :64] / 16).astype(np.float32)
    src = os.path.join(DIGITS, "cnn.onnx")
    model = onnx.load(src)
    with tempfile.TemporaryDirectory() as d:
        np.savez(os.path.join(d, "train.npz"), input=x)
        np.savez(os.path.join(d, "w.npz"), **_weights(model))
        with open(os.path.join(d, "g.json"), "w") as f:
            json.dump(_graph_json(model), f)
        res = {}

        def keep(name, times):
            res[name] = min(res.get(name, float("inf")), min(times))

        # Alternate the tools, best epoch of each over the rounds: a busy machine slows
        # whichever runs at the wrong moment, not one tool throughout.
        for _ in range(args.rounds):
            r = subprocess.run([os.path.join(REPO, "bin", "modelc"), "distill", src, src, os.path.join(d, "s.onnx"),
                                "--data", os.path.join(d, "train.npz"), "--epochs", str(args.epochs), "--held-out", "0",
                                "--json"], capture_output=True, text=True, check=True)
            keep("modelc (float64, SGEMM float32)", [e["seconds"] for e in json.loads(r.stdout)["train"]["epochs"]])
            for dt in ("float32", "float64"):
                out = subprocess.run(["/usr/bin/python3", "-c", TORCH, os.path.join(REPO, "tests", "interop", "torch_train"),
                                      os.path.join(d, "g.json"), os.path.join(d, "w.npz"), os.path.join(d, "train.npz"),
                                      str(args.epochs), dt], capture_output=True, text=True, check=True)
                keep(f"torch {dt}, 1 thread", json.loads(out.stdout))
    base = res["modelc (float64, SGEMM float32)"]
    for k, v in res.items():
        print(f"{k:32s} {v:7.3f} s/epoch   modelc/this {base / v:5.2f}×")


if __name__ == "__main__":
    main()
