"""Sharded GGUF conversion: N separate `modelc convert --shard I/N` workers vs one process.

Generates a synthetic Llama-shaped Hugging Face checkpoint (F16, two safetensors shards +
index, SIZE_MIB, default 1100 MiB: ≥ 1 GB) with the generator of
tests/interop/test_gguf_split.py, warms the page cache, then, with --quantize QUANT
(default q4_k):

1. byte identity at full size, for N = 1, 2, 3, 4: N workers run at once (as a scheduler
   runs them) write files byte-identical to one `--splits N` process; the merged set is
   byte-identical to the unsplit conversion; gguf-py reads every split and the merged file;
2. timing (best of REPEAT, default 3): one process writing the 4-file set (`--splits 4`,
   all cores) vs 4 concurrent workers (`--shard I/4`, GOMAXPROCS = cores/4, at least 1),
   each timed by wait4: wall,
   CPU (user+sys), peak RSS, input bytes it quantized, throughput per worker. The sum of
   the workers' CPU against the one process's says whether work is done twice.

Run: .venv/bin/python bench/shard_convert.py [--json out.json]
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "interop"))

import gguf  # noqa: E402
from test_gguf_split import check_split_with_gguf_py, make_checkpoint, split_names  # noqa: E402

MODELC = os.environ.get("MODELC") or str(REPO / "bin" / "modelc")
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1100"))
QUANT = os.environ.get("QUANT", "q4_k")
REPEAT = int(os.environ.get("REPEAT", "3"))
CORES = os.cpu_count() or 1


def start(args, threads):
    # Under /usr/bin/time, whose %M is modelc's own peak RSS (wait4's ru_maxrss of a
    # direct child would start from this Python process's RSS at fork).
    env = dict(os.environ, GOMAXPROCS=str(threads))
    return subprocess.Popen(["/usr/bin/time", "-f", "maxrss_kib=%M", MODELC, *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), time.perf_counter()


def finish(p, t0):
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    if p.returncode != 0:
        raise SystemExit(f"{p.args}: exit {p.returncode}: {err}")
    rss = [int(x) for x in re.findall(r"maxrss_kib=(\d+)", err)]
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": rss[-1] / 1024 if rss else float("nan")}


def run_one(args, threads=CORES):
    return finish(*start(args, threads))


def run_workers(argss, threads):
    t0 = time.perf_counter()
    procs = [start(a, threads) for a in argss]
    res = [finish(p, t) for p, t in procs]
    return res, time.perf_counter() - t0


def same(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 24), fb.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


def main():
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        tmp = pathlib.Path(tmp)
        # Generated in a child process, so that this one stays small.
        ckpt = tmp / "llama"
        subprocess.run([sys.executable, "-c", "import pathlib, sys; sys.path.insert(0, sys.argv[1]); "
                        "from test_gguf_split import make_checkpoint; make_checkpoint(pathlib.Path(sys.argv[2]), mib=int(sys.argv[3]))",
                        str(REPO / "tests" / "interop"), str(ckpt), str(SIZE_MIB)], check=True)
        in_bytes = sum(f.stat().st_size for f in ckpt.glob("*.safetensors"))
        os.sync()  # the generator's dirty pages, written back now, not during a timed fsync
        for f in ckpt.glob("*.safetensors"):  # warm the page cache
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        print(f"checkpoint: {in_bytes / 1e9:.2f} GB F16, {CORES} cores, --quantize {QUANT}")
        unsplit = tmp / "one" / "model.gguf"
        unsplit.parent.mkdir()
        r_unsplit = run_one(["convert", ckpt, unsplit, "--quantize", QUANT])
        print(f"unsplit, one process: {r_unsplit['wall_s']:.2f} s wall, {r_unsplit['cpu_s']:.2f} s CPU")

        report = {"input_bytes": in_bytes, "cores": CORES, "quantize": QUANT, "unsplit": r_unsplit, "identity": {}}
        for n in (1, 2, 3, 4):
            one = tmp / f"splits{n}" / "model.gguf"
            one.parent.mkdir()
            r1 = run_one(["convert", ckpt, one, "--quantize", QUANT, "--splits", n])
            sh = tmp / f"shards{n}" / "model.gguf"
            sh.parent.mkdir()
            rw, wall = run_workers([["convert", ckpt, sh, "--quantize", QUANT, "--shard", f"{i}/{n}"]
                                    for i in range(1, n + 1)], max(1, CORES // n))
            identical = all(same(a, b) for a, b in zip(split_names(one, n), split_names(sh, n)))
            merged = tmp / f"merged{n}.gguf"
            run_one(["convert", split_names(sh, n)[0], merged])
            merged_same = same(merged, unsplit)
            check_split_with_gguf_py(split_names(sh, n), unsplit)
            gguf.GGUFReader(str(merged))
            ok = identical and merged_same
            print(f"N={n}: --splits {n} {r1['wall_s']:.2f} s; {n} workers {wall:.2f} s; "
                  f"files identical: {identical}; merged == unsplit: {merged_same}; gguf-py reads all: True")
            report["identity"][n] = {"splits_process": r1, "workers": rw, "workers_wall_s": wall,
                                     "identical": identical, "merged_identical": merged_same}
            if not ok:
                raise SystemExit("byte identity failed")

        # 4 workers vs one process, best wall of REPEAT runs each (the disk's writeback
        # makes single runs noisy); CPU from the same runs.
        sh = tmp / "shards4" / "model.gguf"
        plan = json.loads(subprocess.run([MODELC, "plan", str(ckpt), str(sh), "--quantize", QUANT, "--splits", "4", "--json"],
                                         capture_output=True, check=True).stdout)
        share = [sum(t["in_bytes"] for t in f["tensors"]) for f in plan["files"]]
        best1, best4 = None, None
        for _ in range(REPEAT):
            one = tmp / "splits4" / "model.gguf"
            r1 = run_one(["convert", ckpt, one, "--quantize", QUANT, "--splits", 4])
            if best1 is None or r1["wall_s"] < best1["wall_s"]:
                best1 = r1
            rw, wall = run_workers([["convert", ckpt, sh, "--quantize", QUANT, "--shard", f"{i}/4"] for i in range(1, 5)],
                                   max(1, CORES // 4))
            if best4 is None or wall < best4[1]:
                best4 = (rw, wall)
        r1, (rw, wall) = best1, best4
        tot_cpu = sum(w["cpu_s"] for w in rw)
        print(f"\n4 workers (GOMAXPROCS={max(1, CORES // 4)} each, at once) vs one process (--splits 4, GOMAXPROCS={CORES}), "
              f"best of {REPEAT}:")
        print(f"  one process: {r1['wall_s']:.2f} s wall, {r1['cpu_s']:.2f} s CPU, peak RSS {r1['peak_rss_mib']:.0f} MiB, "
              f"{in_bytes / 1e6 / r1['wall_s']:.0f} MB/s of input")
        for i, (w, b) in enumerate(zip(rw, share), 1):
            print(f"  worker {i}: {b / 1e6:.0f} MB input, {w['wall_s']:.2f} s wall, {w['cpu_s']:.2f} s CPU "
                  f"({b / 1e6 / max(w['cpu_s'], 1e-9):.0f} MB per CPU-s), peak RSS {w['peak_rss_mib']:.0f} MiB")
        print(f"  4 workers together: {wall:.2f} s wall ({r1['wall_s'] / wall:.2f}× the one process's speed), "
              f"{tot_cpu:.2f} s CPU ({tot_cpu / max(r1['cpu_s'], 1e-9):.2f}× the one process's CPU), "
              f"{in_bytes / 1e6 / wall:.0f} MB/s of input")
        report["four_vs_one"] = {"one": r1, "workers": rw, "worker_input_bytes": share, "workers_wall_s": wall,
                                 "workers_cpu_s": tot_cpu}
        if out_json:
            with open(out_json, "w") as f:
                json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
