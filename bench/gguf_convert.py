"""F16 safetensors → GGUF Q8_0 and Q4_K: modelc vs a plain copy and vs gguf-py's quantizer.

Generates a Llama-shaped F16 safetensors file (SIZE_MIB, default 4096 MiB: ≥ 4 GiB), reads
it once to warm the page cache, then times in the same run:

    cp SRC DST                                  the floor: a plain copy of the same bytes
    modelc convert SRC out.gguf --quantize q8_0 (all threads, and GOMAXPROCS=1)
    modelc convert SRC out.gguf --quantize q4_k (all threads; per thread: GB/CPU-s)
    gguf.quants.quantize(x, Q8_0)               gguf-py's numpy quantizer, on a SLICE_MIB
                                                slice of the same F16 data (read + f32 + quantize)

each under /usr/bin/time -v (peak RSS) with a sampler of /proc/PID/status for the peak
RssAnon (anonymous memory; the mapped input's page-cache pages are not in it). Throughput is
GB/s of F16 input. Run: .venv/bin/python bench/gguf_convert.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
SIZE_MIB = int(os.environ.get("SIZE_MIB", "4096"))
SLICE_MIB = int(os.environ.get("SLICE_MIB", "256"))
HIDDEN, FFN = 4096, 11008


def generate(path: str) -> None:
    """Llama-7B-shaped layers (F16) until SIZE_MIB is reached, streamed to disk."""
    shapes = []
    total, layer = 0, 0
    while total < SIZE_MIB << 20:
        p = f"blk.{layer}."
        for name, shape in [("attn_q.weight", (HIDDEN, HIDDEN)), ("attn_k.weight", (HIDDEN, HIDDEN)),
                            ("attn_v.weight", (HIDDEN, HIDDEN)), ("attn_output.weight", (HIDDEN, HIDDEN)),
                            ("ffn_gate.weight", (FFN, HIDDEN)), ("ffn_up.weight", (FFN, HIDDEN)),
                            ("ffn_down.weight", (HIDDEN, FFN)), ("attn_norm.weight", (HIDDEN,)),
                            ("ffn_norm.weight", (HIDDEN,))]:
            shapes.append((p + name, shape))
            total += 2 * int(np.prod(shape))
        layer += 1
    header, off = {"__metadata__": {"general.architecture": "llama"}}, 0
    for name, shape in shapes:
        n = 2 * int(np.prod(shape))
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(0)
    block = (rng.standard_normal(1 << 22, dtype=np.float32) * 0.02).astype(np.float16).tobytes()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        left = off
        while left:  # a random block repeated: realistic values, quick to make
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def run(cmd: list[str], env=None) -> dict:
    """Runs cmd under /usr/bin/time -v; wall seconds, max RSS and peak RssAnon (KiB)."""
    p = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env=env)
    peak = 0

    def sample():
        nonlocal peak
        while p.poll() is None:
            try:
                for k in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split():
                    m = re.search(r"RssAnon:\s+(\d+)", open(f"/proc/{k}/status").read())
                    if m:
                        peak = max(peak, int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    _, err = p.communicate()
    t.join()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    h, m, s = (float(x) if x else 0.0 for x in
               re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", err).groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", err).group(1)) for k in ("User", "System"))
    return {"wall": h * 3600 + m * 60 + s, "cpu": cpu, "rss_kib": rss, "anon_kib": peak}


def gguf_py_q8_0(src: str, data_start: int) -> float:
    """Seconds gguf-py takes to quantize SLICE_MIB of the F16 data to Q8_0 (as its
    convert_hf_to_gguf.py does: f16 → f32 → gguf.quants.quantize)."""
    import gguf
    n = (SLICE_MIB << 20) // 2
    x = np.fromfile(src, dtype=np.float16, count=n, offset=data_start).reshape(-1, HIDDEN)
    t0 = time.perf_counter()
    gguf.quants.quantize(x.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    return time.perf_counter() - t0


def check_q8_0(out: str, src: str, data_start: int) -> None:
    """The output is right, not just fast: gguf-py reads it, and its first matrix is
    byte-identical to gguf-py's own Q8_0 of the same input."""
    import gguf
    t = {t.name: t for t in gguf.GGUFReader(out).tensors}["blk.0.attn_q.weight"]
    x = np.fromfile(src, dtype=np.float16, count=HIDDEN * HIDDEN, offset=data_start).reshape(HIDDEN, HIDDEN)
    want = gguf.quants.quantize(x.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    assert np.asarray(t.data).tobytes() == want.tobytes(), "modelc's Q8_0 differs from gguf-py's"


def main():
    if not os.path.exists(MODELC):
        raise SystemExit(f"build modelc first (make build): {MODELC} is missing")
    work = tempfile.mkdtemp(prefix="modelc-bench-gguf-", dir=os.environ.get("BENCH_DIR"))
    try:
        src = os.path.join(work, "model.safetensors")
        generate(src)
        size = os.path.getsize(src)
        with open(src, "rb") as f:
            data_start = 8 + struct.unpack("<Q", f.read(8))[0]
        subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        one = dict(os.environ, GOMAXPROCS="1")
        out = os.path.join(work, "out.gguf")
        cases = [
            ("cp", ["cp", src, os.path.join(work, "copy.bin")], None),
            ("modelc q8_0", [MODELC, "convert", src, out, "--quantize", "q8_0"], None),
            ("modelc q8_0, 1 thread", [MODELC, "convert", src, out, "--quantize", "q8_0"], one),
            ("modelc q4_k", [MODELC, "convert", src, out, "--quantize", "q4_k"], None),
        ]
        res = {}
        for name, cmd, env in cases:
            res[name] = run(cmd, env)
            if name == "cp":
                os.remove(os.path.join(work, "copy.bin"))
            if name == "modelc q8_0":
                check_q8_0(out, src, data_start)
        py = gguf_py_q8_0(src, data_start)
        gb = size / 1e9
        print(f"input: {size / (1 << 30):.2f} GiB F16 safetensors, {os.cpu_count()} CPUs, warm page cache")
        # CPU seconds too: on a shared machine the wall time also measures the neighbours.
        print(f"{'what':24s} {'wall s':>8s} {'GB/s':>7s} {'vs cp':>7s} {'CPU s':>8s} {'GB/CPU-s':>9s} {'max RSS MiB':>12s} {'RssAnon MiB':>12s}")
        for name, r in res.items():
            print(f"{name:24s} {r['wall']:8.2f} {gb / r['wall']:7.3f} {res['cp']['wall'] / r['wall']:7.2f} "
                  f"{r['cpu']:8.2f} {gb / max(r['cpu'], 1e-3):9.3f} {r['rss_kib'] / 1024:12.1f} {r['anon_kib'] / 1024:12.1f}")
        print(f"load average after the runs: {os.getloadavg()[0]:.1f}")
        py_gbs = (SLICE_MIB << 20) / 1e9 / py
        print(f"{'gguf-py q8_0 (numpy)':24s} {py:8.2f} {py_gbs:7.3f}   ({SLICE_MIB} MiB slice, quantize only)")
        print(f"modelc q8_0 / gguf-py q8_0: {gb / res['modelc q8_0']['wall'] / py_gbs:.1f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
