"""Input downscaling on the digits: accuracy against MACs.

testdata/digits/cnn32.onnx is a CNN trained with gorgonia (testdata/digits/train) on the
digits upsampled to 32×32 by a fixed bilinear resize. `modelc compress --input-scale`
retargets it to 24×24 and 16×16, with and without `--recover` (distillation from the 32×32
model, which sees the 32×32 images while the student sees them resized). At 24×24 the
classifier's 8×8 feature map comes out 6×6, so retargeting inserts an adaptive average
pool (fixed averaging MatMuls); at 16×16 it is 4×4 and a nearest Resize restores it.
Accuracy by onnxruntime on the fixed test split, resized the same way; MACs from
`modelc info --macs`.

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
import onnxruntime as ort

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


def run(*args):
    return subprocess.run([MODELC, *args], check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10, help="epochs of --recover")
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
    teacher = os.path.join(REPO, "testdata", "digits", "cnn32.onnx")

    def report(path, size, what):
        out = ort.InferenceSession(path).run(None, {"image": resize_bilinear(x[test], size)})[0]
        acc = 100 * (out.argmax(1) == y[test]).mean()
        macs = json.loads(run("info", path, "--macs", "--json"))["macs"]["total"]
        print(f"{size:3d}×{size:<3d} {what:34s} accuracy {acc:6.2f} %   MACs {macs:9,d}")
        return acc, macs

    base, base_macs = report(teacher, 32, "trained at 32×32 (gorgonia)")
    for scale, size in [(0.75, 24), (0.5, 16)]:
        run("compress", teacher, p(f"r{size}.onnx"), "--input-scale", str(scale))
        report(p(f"r{size}.onnx"), size, "retargeted")
        run("compress", teacher, p(f"r{size}rec.onnx"), "--input-scale", str(scale), "--recover", "--data",
            p("train32.npz"), "--epochs", str(args.epochs))
        acc, macs = report(p(f"r{size}rec.onnx"), size, "retargeted + --recover")
        print(f"        {acc - base:+.2f} points at {100 * macs / base_macs:.1f} % of the MACs")


if __name__ == "__main__":
    main()
