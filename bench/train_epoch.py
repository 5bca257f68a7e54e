"""Time per epoch of distillation: `modelc distill` vs the same loop in torch.

The digits CNN distils into a copy of itself (KD at temperature 2, Adam, batch 32, the
1,437 training images, no held-out split) for 3 epochs; torch (Debian's python3-torch,
run by /usr/bin/python3) runs the same graph, loss, optimiser and batches with the same
number of threads (torch.set_num_threads, GOMAXPROCS for modelc), in float32 and in
float64 (modelc keeps values in float64 and rounds the operands of its matrix products to
float32 for accel's SGEMM).

usage: .venv/bin/python bench/train_epoch.py [--model digits|mlp|big] [--threads T] [--epochs N] [--rounds R]
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
torch.set_num_threads(int(sys.argv[7]))
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


def big_cnn(path: str) -> None:
    """A 5 M-parameter CNN for [N, 3, 32, 32] images: three Conv 3×3 + ReLU + MaxPool
    (64, 128, 256 channels), Flatten, Gemm 4096→1152, ReLU, Gemm 1152→10."""
    from onnx import TensorProto, helper as h

    rng = np.random.default_rng(0)

    def he(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)

    inits, nodes, prev, c = [], [], "input", 3
    for i, m in enumerate([64, 128, 256]):
        inits += [numpy_helper.from_array(he(m, c, 3, 3), f"w{i}"), numpy_helper.from_array(np.zeros(m, np.float32), f"b{i}")]
        nodes += [h.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  h.make_node("Relu", [f"c{i}"], [f"r{i}"]),
                  h.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        prev, c = f"p{i}", m
    inits += [numpy_helper.from_array(he(1152, 4096), "fc1.w"), numpy_helper.from_array(np.zeros(1152, np.float32), "fc1.b"),
              numpy_helper.from_array(he(10, 1152), "fc2.w"), numpy_helper.from_array(np.zeros(10, np.float32), "fc2.b")]
    nodes += [h.make_node("Flatten", [prev], ["f"]), h.make_node("Gemm", ["f", "fc1.w", "fc1.b"], ["g1"], transB=1),
              h.make_node("Relu", ["g1"], ["a1"]), h.make_node("Gemm", ["a1", "fc2.w", "fc2.b"], ["logits"], transB=1)]
    g = h.make_graph(nodes, "big", [h.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                     [h.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", choices=["digits", "mlp", "big"], default="digits",
                    help="digits: testdata/digits/cnn.onnx on the 1,437 training images; mlp: testdata/digits/"
                         "mlp.onnx on the same images; big: a 5 M-parameter CNN on 256 random 3×32×32 images")
    ap.add_argument("--threads", type=int, default=1, help="threads of both tools (default 1)")
    ap.add_argument("--torch-dtypes", default="float32,float64",
                    help="torch runs to time, comma-separated (float64 takes ten times longer on the big CNN)")
    ap.add_argument("--baseline", metavar="BIN", help="another modelc binary (an earlier build) timed in the same rounds")
    args = ap.parse_args()
    from test_train import _graph_json, _weights

    tmp = tempfile.mkdtemp(prefix="bench-train-")
    if args.model in ("digits", "mlp"):
        rows = np.loadtxt(gzip.open(os.path.join(DIGITS, "digits.csv.gz")), delimiter=",")
        x = (rows[np.arange(len(rows)) % 5 != 0, :64] / 16).astype(np.float32)
        src = os.path.join(DIGITS, "cnn.onnx" if args.model == "digits" else "mlp.onnx")
    else:
        x = np.random.default_rng(1).random((256, 3, 32, 32), dtype=np.float32)
        src = os.path.join(tmp, "big.onnx")
        big_cnn(src)
    model = onnx.load(src)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"{args.model}: {params:,} parameters, {len(x)} samples, batch 32, {args.threads} thread(s)")
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
        def distill(binary):
            r = subprocess.run([binary, "distill", src, src, os.path.join(d, "s.onnx"),
                                "--data", os.path.join(d, "train.npz"), "--epochs", str(args.epochs), "--held-out", "0",
                                "--json"], capture_output=True, text=True, check=True,
                               env={**os.environ, "GOMAXPROCS": str(args.threads)})  # as many threads as torch
            return [e["seconds"] for e in json.loads(r.stdout)["train"]["epochs"]]

        for _ in range(args.rounds):
            keep("modelc (float64, SGEMM float32)", distill(os.path.join(REPO, "bin", "modelc")))
            if args.baseline:
                keep("modelc baseline", distill(args.baseline))
            for dt in args.torch_dtypes.split(","):
                out = subprocess.run(["/usr/bin/python3", "-c", TORCH, os.path.join(REPO, "tests", "interop", "torch_train"),
                                      os.path.join(d, "g.json"), os.path.join(d, "w.npz"), os.path.join(d, "train.npz"),
                                      str(args.epochs), dt, str(args.threads)], capture_output=True, text=True,
                                     check=True)
                keep(f"torch {dt}", json.loads(out.stdout))
    base = res["modelc (float64, SGEMM float32)"]
    for k, v in res.items():
        print(f"{k:32s} {v:7.3f} s/epoch   modelc/this {base / v:5.2f}×")


if __name__ == "__main__":
    main()
