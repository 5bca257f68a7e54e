#!/usr/bin/env python3
"""modelc's runtime vs onnxruntime on the benchmark set of real models (bench/models/
make_models.py: torchvision CNNs, a BERT-style encoder, LSTM, GRU, UNet, OCR detector and
recognizer, 1-D conv audio, a batch-16 classifier), at 1 and 2 threads, same machine,
same run.

For every model and thread count the two runtimes take turns: a batch of modelc runs (a
Go benchmark process, `go test -c` once), then a batch of onnxruntime runs, repeated
--rounds times; each side's latency is its best batch (mean of one batch). Prints each
model's latencies and ratio (modelc / onnxruntime) and the geometric mean of the ratios,
and the first-inference cost (read + plan + first run) of both.

Usage: .venv/bin/python bench/runtime_set.py [--threads 1,2] [--rounds 3] [--only a,b]
       [--time 0.3] [--int8] [--int8-static]
The models are written on first use into .cache/bench_models by /usr/bin/python3 (which
must have torch and torchvision). --int8 also benchmarks each model's int8 copy written
by `modelc compress --quantize int8 --mode dynamic`, --int8-static the one written by
`--mode static` (QDQ, calibrated on the model's benchmark inputs); bin/modelc must exist.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, ".cache", "bench_models")
ORDER = ["squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "resnet18", "efficientnet_b0",
         "bert_tiny", "lstm", "gru", "unet", "ocr_det", "ocr_rec", "audio_conv1d", "small_cnn_b16"]


def feeds_of(path: str) -> dict:
    with np.load(path[:-5] + ".inputs.npz") as z:
        return {k: z[k] for k in z.files}


class ORT:
    def __init__(self, path: str, threads: int):
        t = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.feeds = feeds_of(path)
        self.sess.run(None, self.feeds)
        self.first = time.perf_counter() - t

    def batch(self, seconds: float) -> float:
        n, t0 = 0, time.perf_counter()
        while True:
            self.sess.run(None, self.feeds)
            n += 1
            el = time.perf_counter() - t0
            if el >= seconds and n >= 2:
                return el / n


def modelc_batch(binary: str, path: str, threads: int, seconds: float) -> tuple[float, float]:
    env = dict(os.environ, MODELC_BENCH_MODELS=path, MODELC_BENCH_THREADS=str(threads), GOMAXPROCS=str(max(threads, 2)))
    r = subprocess.run([binary, "-test.run", "^$", "-test.bench", "^BenchmarkRuntime$", f"-test.benchtime={seconds}s",
                        "-test.count=1"], cwd=os.path.join(REPO, "bench"), env=env, capture_output=True, text=True)
    m = re.search(r"BenchmarkRuntime/\S+\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) first-ms", r.stdout)
    if not m:
        raise RuntimeError(f"modelc failed on {path}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return float(m.group(1)) / 1e9, float(m.group(2)) / 1e3


def quantize(path: str, out: str, static: bool = False) -> bool:
    if os.path.exists(out):
        return True
    mode = ["--mode", "static", "--calibration", path[:-5] + ".inputs.npz"] if static else ["--mode", "dynamic"]
    r = subprocess.run([os.path.join(REPO, "bin", "modelc"), "compress", path, out, "--quantize", "int8"] + mode,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  (modelc compress failed on {os.path.basename(path)}: {r.stderr.strip()[:200]})")
        return False
    if not os.path.exists(out[:-5] + ".inputs.npz"):
        os.link(path[:-5] + ".inputs.npz", out[:-5] + ".inputs.npz")
    return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=0.3, help="seconds per batch")
    ap.add_argument("--only", default="")
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--int8-static", action="store_true")
    a = ap.parse_args()
    names = [n for n in ORDER if not a.only or n in a.only.split(",")]
    missing = [n for n in names if not os.path.exists(os.path.join(CACHE, n + ".onnx"))]
    if missing:
        subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "models", "make_models.py"), CACHE], check=True,
                       env=dict(os.environ, MODELC_BENCH_ONLY=",".join(missing)), stderr=subprocess.DEVNULL)
    paths = [os.path.join(CACHE, n + ".onnx") for n in names]
    if a.int8:
        for n in list(names):
            q = os.path.join(CACHE, n + "_int8.onnx")
            if quantize(os.path.join(CACHE, n + ".onnx"), q):
                paths.append(q)
    if a.int8_static:
        for n in list(names):
            q = os.path.join(CACHE, n + "_int8s.onnx")
            if quantize(os.path.join(CACHE, n + ".onnx"), q, static=True):
                paths.append(q)
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "bench.test")
        subprocess.run(["go", "test", "-c", "-o", binary, "./bench"], cwd=REPO, check=True)
        for threads in [int(t) for t in a.threads.split(",")]:
            print(f"\nthreads {threads}: best of {a.rounds} alternating batches of ≥{a.time}s; ratio = modelc / onnxruntime")
            print(f"{'model':24s} {'modelc':>10s} {'onnxruntime':>12s} {'ratio':>7s}   {'first run: modelc':>18s} {'ort':>8s}")
            ratios = []
            for path in paths:
                name = os.path.basename(path)[:-5]
                o = ORT(path, threads)
                bm, bo, first = math.inf, math.inf, math.inf
                for _ in range(a.rounds):
                    m, f = modelc_batch(binary, path, threads, a.time)
                    bm, first = min(bm, m), min(first, f)
                    bo = min(bo, o.batch(a.time))
                ratios.append(bm / bo)
                print(f"{name:24s} {bm * 1e3:8.2f}ms {bo * 1e3:10.2f}ms {bm / bo:7.2f}   {first * 1e3:16.0f}ms {o.first * 1e3:6.0f}ms",
                      flush=True)
                del o
            for label, sel in (("float32", [r for p, r in zip(paths, ratios) if not p.endswith(("_int8.onnx", "_int8s.onnx"))]),
                               ("int8", [r for p, r in zip(paths, ratios) if p.endswith("_int8.onnx")]),
                               ("int8 static", [r for p, r in zip(paths, ratios) if p.endswith("_int8s.onnx")])):
                if sel:
                    gm = math.exp(sum(math.log(r) for r in sel) / len(sel))
                    print(f"{'geometric mean, ' + label:24s} {'':10s} {'':12s} {gm:7.2f}   (worst {max(sel):.2f}, {len(sel)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
