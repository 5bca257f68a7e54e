#!/usr/bin/env python3
"""modelc's reference runtime vs onnxruntime on the testdata/onnx fixtures, same machine,
same run, same thread count; prints the latency of one inference and the ratio.

Also times a dynamically quantized copy of the transformer (onnxruntime's own
quantize_dynamic: MatMulInteger + DynamicQuantizeLinear) against its float32 original,
and a larger case where integer GEMMs can pay: one transformer block (sequence 128,
hidden 256, feed-forward 1024, random weights) generated here, float32 and quantized by
quantize_dynamic (nothing of it is committed).

Usage: .venv/bin/python bench/runtime.py [--threads N] [--iters N]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ort_latency(path: str, feeds: dict, threads: int, iters: int) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    best = float("inf")
    for _ in range(3):  # best of three batches of iters
        t = time.perf_counter()
        for _ in range(iters):
            sess.run(None, feeds)
        best = min(best, (time.perf_counter() - t) / iters)
    return best


def modelc_latency(models: list[str], threads: int, iters: int) -> dict[str, float]:
    env = dict(os.environ, MODELC_BENCH_MODELS=",".join(models), MODELC_BENCH_THREADS=str(threads))
    r = subprocess.run(["go", "test", "./bench", "-run", "^$", "-bench", "^BenchmarkRuntime$",
                        f"-benchtime={iters}x", "-count=3"], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    out: dict[str, float] = {}
    for m in re.finditer(r"BenchmarkRuntime/(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op", r.stdout):
        out[m.group(1)] = min(out.get(m.group(1), float("inf")), float(m.group(2)) / 1e9)
    return out


def block_model(path: str, seq: int = 128, d: int = 256, ff: int = 1024) -> None:
    """One pre-norm transformer block (single-head attention, GELU feed-forward)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = []

    def weight(name, shape):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name))
        return name

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    const("scale", 1 / np.sqrt(d))
    const("ones", np.ones(d))
    const("zeros", np.zeros(d))
    mk = helper.make_node
    nodes = [mk("LayerNormalization", ["x", "ones", "zeros"], ["ln1"], axis=-1)]
    nodes += [mk("MatMul", ["ln1", weight(p, (d, d))], [p + "_out"]) for p in "qkv"]
    nodes += [
        mk("Transpose", ["k_out"], ["kt"], perm=[0, 2, 1]),
        mk("MatMul", ["q_out", "kt"], ["scores"]),
        mk("Mul", ["scores", "scale"], ["scaled"]),
        mk("Softmax", ["scaled"], ["attn"], axis=-1),
        mk("MatMul", ["attn", "v_out"], ["ctx"]),
        mk("MatMul", ["ctx", weight("o", (d, d))], ["o_out"]),
        mk("Add", ["x", "o_out"], ["res1"]),
        mk("LayerNormalization", ["res1", "ones", "zeros"], ["ln2"], axis=-1),
        mk("MatMul", ["ln2", weight("ff1", (d, ff))], ["ff1_out"]),
        mk("Gelu", ["ff1_out"], ["gelu"]),
        mk("MatMul", ["gelu", weight("ff2", (ff, d))], ["ff2_out"]),
        mk("Add", ["res1", "ff2_out"], ["y"]),
    ]
    g = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, d])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, d])], inits)
    onnx.save(helper.make_model(g, ir_version=9, opset_imports=[helper.make_opsetid("", 20)]), path)
    np.savez(path[:-5] + ".inputs.npz", x=rng.standard_normal((1, seq, d)).astype(np.float32))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters", type=int, default=200)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    try:
        models = sorted(glob.glob(os.path.join(REPO, "testdata", "onnx", "*.onnx")))
        # A quantized transformer, written by onnxruntime's quantizer.
        from onnxruntime.quantization import QuantType, quantize_dynamic

        src = os.path.join(REPO, "testdata", "onnx", "transformer.onnx")
        q = os.path.join(tmp, "transformer_int8.onnx")
        quantize_dynamic(src, q, weight_type=QuantType.QInt8)
        shutil.copy(os.path.join(REPO, "testdata", "onnx", "transformer.inputs.npz"), os.path.join(tmp, "transformer_int8.inputs.npz"))
        models.append(q)
        # The larger block, float32 and int8.
        blk = os.path.join(tmp, "block_s128_d256.onnx")
        block_model(blk)
        qb = os.path.join(tmp, "block_s128_d256_int8.onnx")
        quantize_dynamic(blk, qb, weight_type=QuantType.QInt8)
        shutil.copy(blk[:-5] + ".inputs.npz", qb[:-5] + ".inputs.npz")
        models += [blk, qb]
        mc = modelc_latency(models, a.threads, a.iters)
        print(f"threads {a.threads}, best of 3 × {a.iters} runs; ratio = modelc / onnxruntime")
        print(f"{'model':22s} {'modelc':>10s} {'onnxruntime':>12s} {'ratio':>7s}")
        for path in models:
            name = os.path.basename(path)[:-5]
            with np.load(path[:-5] + ".inputs.npz") as z:
                feeds = {k: z[k] for k in z.files}
            o = ort_latency(path, feeds, a.threads, a.iters)
            m = mc[name]
            print(f"{name:22s} {m * 1e6:8.1f}µs {o * 1e6:10.1f}µs {m / o:7.2f}")
        for f32, q8 in (("transformer", "transformer_int8"), ("block_s128_d256", "block_s128_d256_int8")):
            if f32 in mc and q8 in mc:
                print(f"modelc: {q8} / {f32} float32 latency = {mc[q8] / mc[f32]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
