"""Input downscaling on the digits: accuracy against MACs.

A CNN is trained by modelc itself (`modelc distill` with labels only, from a seeded He
initialisation) on the digits upsampled to 32×32 by a fixed bilinear resize; then
`modelc compress --input-scale` retargets it to 16×16 and 8×8, with and without
`--recover` (distillation from the 32×32 model, which sees the 32×32 images while the
student sees them resized). Accuracy by onnxruntime on the test split, resized the same
way; MACs from `modelc info --macs`. 24×24 is not a whole factor of the 8×8 feature map
the classifier reads, so retargeting refuses it.

usage: .venv/bin/python scripts/downscale_digits.py [--epochs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper as h, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.path.join(REPO, "bin", "modelc")


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """[N, C, H, W] to size×size, half-pixel centres (ONNX Resize linear, torch
    align_corners=False, no antialiasing): the same as engine/train.ResizeBilinear."""
    n, c, ih, iw = x.shape

    def coords(insz):
        f = np.maximum((np.arange(size) + 0.5) * insz / size - 0.5, 0)
        i0 = np.minimum(f.astype(int), insz - 1)
        return i0, np.minimum(i0 + 1, insz - 1), f - i0

    y0, y1, fy = coords(ih)
    x0, x1, fx = coords(iw)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bot = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return (top * (1 - fy)[:, None] + bot * fy[:, None]).astype(np.float32)


def cnn32(path: str) -> None:
    rng = np.random.default_rng(0)

    def he(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)

    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("conv1.weight", he(8, 1, 3, 3)), ("conv1.bias", np.zeros(8, np.float32)),
        ("conv2.weight", he(16, 8, 3, 3)), ("conv2.bias", np.zeros(16, np.float32)),
        ("fc.weight", he(10, 1024)), ("fc.bias", np.zeros(10, np.float32))]]
    nodes = [
        h.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        h.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        h.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Flatten", ["p2"], ["flat"], name="flatten"),
        h.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    g = h.make_graph(nodes, "cnn32", [h.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 32, 32])],
                     [h.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def run(*args):
    return subprocess.run([MODELC, *args], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--keep", help="keep the files in this folder")
    args = ap.parse_args()
    rows = np.loadtxt(gzip.open(os.path.join(REPO, "testdata", "digits", "digits.csv.gz")), delimiter=",")
    x = resize_bilinear((rows[:, :64] / 16).reshape(-1, 1, 8, 8).astype(np.float32), 32)
    y = rows[:, 64].astype(np.int64)
    test = np.arange(len(rows)) % 5 == 0
    d = args.keep or tempfile.mkdtemp(prefix="downscale-")
    os.makedirs(d, exist_ok=True)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    np.savez(p("train32.npz"), image=x[~test])
    np.save(p("train_labels.npy"), y[~test])
    cnn32(p("init.onnx"))
    run("distill", p("init.onnx"), p("init.onnx"), p("cnn32.onnx"), "--data", p("train32.npz"), "--labels",
        p("train_labels.npy"), "--alpha", "0", "--epochs", str(args.epochs))

    def report(path, size, what):
        out = ort.InferenceSession(path).run(None, {"image": resize_bilinear(x[test], size)})[0]
        acc = 100 * (out.argmax(1) == y[test]).mean()
        macs = json.loads(run("info", path, "--macs", "--json"))["macs"]["total"]
        print(f"{size:3d}×{size:<3d} {what:34s} accuracy {acc:6.2f} %   MACs {macs:9,d}")
        return acc, macs

    base, base_macs = report(p("cnn32.onnx"), 32, "trained at 32×32")
    for scale, size in [(0.5, 16), (0.25, 8)]:
        run("compress", p("cnn32.onnx"), p(f"r{size}.onnx"), "--input-scale", str(scale))
        report(p(f"r{size}.onnx"), size, "retargeted")
        run("compress", p("cnn32.onnx"), p(f"r{size}rec.onnx"), "--input-scale", str(scale), "--recover", "--data",
            p("train32.npz"))
        acc, macs = report(p(f"r{size}rec.onnx"), size, "retargeted + --recover")
        print(f"        {acc - base:+.2f} points at {100 * macs / base_macs:.1f} % of the MACs")


if __name__ == "__main__":
    main()
