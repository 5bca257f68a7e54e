"""Converting a large F16 safetensors file: modelc vs a plain copy of the same bytes.

Generates a safetensors file of 64 F16 tensors (1 GiB by default; SIZE_MIB overrides),
checks it with the `safetensors` package, then times, in the same run and best of RUNS:

    cp SRC DST                      the peer: a plain copy, no sync
    cp SRC DST && sync DST          the same, with the data on disk (modelc syncs its outputs)
    modelc convert SRC out.safetensors
    modelc convert SRC out.pt

each under /usr/bin/time -v (peak RSS), while a sampler reads /proc/PID/status for the
peak RssAnon (anonymous memory: the mapped input's page-cache pages are not in it).
The page cache is warm for every run (the file is read once first), so the numbers compare
the work, not the disk. Run: .venv/bin/python bench/safetensors_convert.py
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
import safetensors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
RUNS = int(os.environ.get("RUNS", "3"))
TENSORS = 64


def generate(path: str) -> int:
    """Writes TENSORS F16 tensors of SIZE_MIB/TENSORS MiB each, streaming the data."""
    per = SIZE_MIB * (1 << 20) // TENSORS
    rows = per // 2 // 4096
    header, off = {}, 0
    for i in range(TENSORS):
        header[f"model.layers.{i:02d}.weight"] = {"dtype": "F16", "shape": [rows, 4096], "data_offsets": [off, off + rows * 4096 * 2]}
        off += rows * 4096 * 2
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _ in range(TENSORS):
            f.write(rng.standard_normal(rows * 4096, dtype=np.float32).astype(np.float16).tobytes())
    with safetensors.safe_open(path, framework="np") as f:  # the package accepts it
        assert len(list(f.keys())) == TENSORS
    return off


def run(cmd: list[str]) -> dict:
    """Runs cmd under /usr/bin/time -v; returns wall seconds, max RSS and peak RssAnon (KiB)."""
    p = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_anon = 0

    def sample():
        nonlocal peak_anon
        while p.poll() is None:
            try:  # the child of /usr/bin/time
                kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
                for k in kids:
                    m = re.search(r"RssAnon:\s+(\d+)", open(f"/proc/{k}/status").read())
                    if m:
                        peak_anon = max(peak_anon, int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    _, err = p.communicate()
    t.join()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", err)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    return {"wall": h * 3600 + m * 60 + s, "rss_kib": rss, "anon_kib": peak_anon}


def main():
    if not os.path.exists(MODELC):
        raise SystemExit(f"build modelc first (make build): {MODELC} is missing")
    work = tempfile.mkdtemp(prefix="modelc-bench-st-", dir=os.environ.get("BENCH_DIR"))
    try:
        src = os.path.join(work, "model.safetensors")
        data_bytes = generate(src)
        size = os.path.getsize(src)
        subprocess.run(["cat", src], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        cases = {
            "cp": ["cp", src, os.path.join(work, "copy.bin")],
            "cp + sync": ["sh", "-c", f"cp {src} {work}/copy2.bin && sync {work}/copy2.bin"],
            "modelc → safetensors": [MODELC, "convert", src, os.path.join(work, "out.safetensors")],
            "modelc → .pt": [MODELC, "convert", src, os.path.join(work, "out.pt")],
        }
        best = {}
        for _ in range(RUNS):
            for name, cmd in cases.items():
                r = run(cmd)
                if name not in best or r["wall"] < best[name]["wall"]:
                    best[name] = r
        # The outputs are what they should be: same bytes as the input (safetensors), and the
        # .pt holds each tensor's bytes (checked through modelc → safetensors back, byte for byte).
        with open(src, "rb") as a, open(os.path.join(work, "out.safetensors"), "rb") as b:
            assert a.read() == b.read(), "modelc's safetensors output differs from its input"
        back = os.path.join(work, "back.safetensors")
        subprocess.run([MODELC, "convert", os.path.join(work, "out.pt"), back], check=True, stdout=subprocess.DEVNULL)
        with open(src, "rb") as a, open(back, "rb") as b:
            assert a.read() == b.read(), ".pt round trip changed the bytes"

        gb = size / 1e9
        print(f"input: {size / (1 << 30):.2f} GiB F16 safetensors ({TENSORS} tensors, {data_bytes} bytes of data), best of {RUNS}, warm page cache")
        print(f"{'what':24s} {'wall s':>8s} {'GB/s':>7s} {'vs cp':>7s} {'vs cp+sync':>10s} {'max RSS MiB':>12s} {'RssAnon MiB':>12s}")
        for name, r in best.items():
            print(f"{name:24s} {r['wall']:8.2f} {gb / r['wall']:7.2f} {best['cp']['wall'] / r['wall']:7.2f} {best['cp + sync']['wall'] / r['wall']:10.2f} {r['rss_kib'] / 1024:12.1f} {r['anon_kib'] / 1024:12.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
