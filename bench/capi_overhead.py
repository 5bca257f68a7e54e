"""The cost of going through the C ABI and the Python package, against the same Go call.

Times the same operations on the same small model (testdata/onnx/cnn.onnx) through three
doors, in the same run: the engine called from Go (bench/capi_overhead, go test -bench),
libmodelc called from C (bench/capi_overhead/c/bench_capi.c) and the modelc Python
package. Each door is timed ROUNDS times, alternating, and the best ns/op is kept (the
machine is shared, and the minimum is the least disturbed estimate).

    .venv/bin/python bench/capi_overhead.py      (make bench; needs make lib)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import timeit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(REPO, "lib")
MODEL = os.environ.get("MODELC_BENCH_MODEL", os.path.join(REPO, "testdata", "onnx", "cnn.onnx"))
ITER = int(os.environ.get("ITER", "1000"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))

os.environ.setdefault("MODELC_LIBRARY", os.path.join(LIB, "libmodelc.so"))
sys.path.insert(0, os.path.join(REPO, "bindings", "python"))
import modelc  # noqa: E402

GO_NAMES = {
    "BenchmarkInspect": "inspect",
    "BenchmarkInspectJSON": "inspect+json",
    "BenchmarkConvertBytes": "convert_bytes",
    "BenchmarkBackends": "backends",
    "BenchmarkBackendsJSON": "backends+json",
}


def go_round() -> dict[str, float]:
    out = subprocess.run(
        ["go", "test", "./bench/capi_overhead", "-run", "^$", "-bench", ".", "-benchtime", f"{ITER}x"],
        cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "MODELC_BENCH_MODEL": MODEL},
    ).stdout
    res = {}
    for m in re.finditer(r"^(Benchmark\w+)-\d+\s+\d+\s+([\d.]+) ns/op", out, re.M):
        res[GO_NAMES[m.group(1)]] = float(m.group(2))
    return res


def c_round(binary: str) -> dict[str, float]:
    out = subprocess.run([binary, MODEL, str(ITER), "1"], capture_output=True, text=True, check=True).stdout
    return {name: float(ns) for name, ns in (line.split() for line in out.splitlines())}


def py_round(data: bytes) -> dict[str, float]:
    ops = {
        "abi_version": (modelc.abi_version, ITER * 100),
        "backends": (modelc.backends, ITER),
        "inspect": (lambda: modelc.inspect(MODEL), ITER),
        "convert_bytes": (lambda: modelc.convert_bytes(data, "onnx"), ITER),
    }
    return {name: timeit.timeit(fn, number=n) / n * 1e9 for name, (fn, n) in ops.items()}


def main() -> None:
    binary = os.path.join(REPO, "bin", "bench_capi")
    subprocess.run(
        ["gcc", "-O2", "-std=c11", "-I", LIB, os.path.join(REPO, "bench", "capi_overhead", "c", "bench_capi.c"),
         "-L", LIB, "-lmodelc", f"-Wl,-rpath,{LIB}", "-o", binary],
        check=True,
    )
    with open(MODEL, "rb") as f:
        data = f.read()
    best: dict[str, dict[str, float]] = {"go": {}, "c": {}, "py": {}}
    for _ in range(ROUNDS):
        for door, res in (("go", go_round()), ("c", c_round(binary)), ("py", py_round(data))):
            for k, v in res.items():
                best[door][k] = min(v, best[door].get(k, float("inf")))
    print(f"model {os.path.relpath(MODEL, REPO)} ({len(data)} bytes), best of {ROUNDS} rounds x {ITER} calls")
    # For inspect and backends the C ABI and Python return JSON text; "Go+JSON" is the Go
    # call plus json.Marshal of its result, the same work, and the overheads are against it.
    print("µs per call")
    print(f"{'operation':14s} {'Go':>9s} {'Go+JSON':>9s} {'C ABI':>9s} {'Python':>9s} {'C-Go':>8s} {'Py-Go':>8s} {'C/Go':>6s} {'Py/Go':>6s}")
    for op in ("abi_version", "backends", "inspect", "convert_bytes"):
        g, gj, c, p = best["go"].get(op), best["go"].get(op + "+json"), best["c"][op], best["py"][op]
        if g is None:  # no work behind it: the bare cost of a call through each door
            print(f"{op:14s} {'-':>9s} {'-':>9s} {c / 1e3:9.3f} {p / 1e3:9.3f}")
            continue
        ref = gj if gj is not None else g
        print(f"{op:14s} {g / 1e3:9.2f} {(f'{gj / 1e3:9.2f}' if gj else '-'):>9s} {c / 1e3:9.2f} {p / 1e3:9.2f} "
              f"{(c - ref) / 1e3:8.2f} {(p - ref) / 1e3:8.2f} {c / ref:6.3f} {p / ref:6.3f}")


if __name__ == "__main__":
    main()
