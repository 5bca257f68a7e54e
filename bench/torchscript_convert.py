"""TorchScript → ONNX: modelc vs torch.onnx.export of the same module, in the same run.

Traces the models of tests/interop/torchscript_fixtures.py with Debian's python3-torch
(/usr/bin/python3; the torchvision CNNs when python3-torchvision is installed) and saves
them with torch.jit.save. Then, for each, best of RUNS:

    modelc convert M.pt M.onnx                       (wall time and peak RSS of the process)
    torch.jit.load(M.pt) + torch.onnx.export(...)    (timed inside the process, import torch
                                                      excluded; peak RSS of the process,
                                                      and the same minus a process that only
                                                      imports torch)

onnxruntime checks that modelc's ONNX agrees with torch's outputs (max abs diff reported).
Run: .venv/bin/python bench/torchscript_convert.py  (skips when /usr/bin/python3 has no torch)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

ort.set_default_logger_severity(3)  # the archive's unused raw LSTM weights are warned about

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELC = os.environ.get("MODELC") or os.path.join(REPO, "bin", "modelc")
SYSTEM_PYTHON = "/usr/bin/python3"
RUNS = int(os.environ.get("RUNS", "3"))
MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "transformer", "transformer_fused", "lstm", "digits_cnn"]

PEER = r"""
import sys, time, resource, numpy as np, torch
path, inp, out = sys.argv[1:4]
z = np.load(inp)
xs = tuple(torch.from_numpy(z[k]) for k in sorted(z.files))
t0 = time.perf_counter()
m = torch.jit.load(path)
torch.onnx.export(m, xs, out, opset_version=17)
t1 = time.perf_counter()
print(t1 - t0)
"""


def timed(cmd: list[str], may_fail: bool = False):
    """Runs cmd under /usr/bin/time -v: wall seconds, max RSS (KiB), stdout (None when
    a command that may fail does, e.g. torch.onnx.export of an op it cannot export)."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        if may_fail:
            err = [l for l in r.stderr.splitlines() if "Error" in l]
            return None, 0, err[-1] if err else "failed"
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return h * 3600 + m * 60 + s, rss, r.stdout


def main():
    if subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode != 0:
        print("skipped: torch is not importable by /usr/bin/python3")
        return
    if not os.path.exists(MODELC):
        raise SystemExit(f"build modelc first (make build): {MODELC} is missing")
    work = tempfile.mkdtemp(prefix="modelc-bench-ts-", dir=os.environ.get("BENCH_DIR"))
    digits = os.path.join(REPO, "testdata", "digits", "test_inputs.npz")
    subprocess.run([SYSTEM_PYTHON, os.path.join(REPO, "tests", "interop", "torchscript_fixtures.py"), work, digits],
                   check=True, capture_output=True)
    peer = os.path.join(work, "peer.py")
    open(peer, "w").write(PEER)
    _, base_rss, _ = timed([SYSTEM_PYTHON, "-c", "import torch, numpy"])
    rows = []
    for name in MODELS:
        src = os.path.join(work, name + ".pt")
        if not os.path.exists(src):
            continue
        inp = os.path.join(work, name + ".in.npz")
        best_m, best_p = None, None
        for _ in range(RUNS):
            w, rss, _ = timed([MODELC, "convert", src, os.path.join(work, name + ".modelc.onnx")])
            if best_m is None or w < best_m[0]:
                best_m = (w, rss)
            ok, prss, out = timed([SYSTEM_PYTHON, peer, src, inp, os.path.join(work, name + ".torch.onnx")], may_fail=True)
            if ok is None:
                best_p = (None, 0, out)
                continue
            t = float(out.strip().splitlines()[-1])
            if best_p is None or best_p[0] is None or t < best_p[0]:
                best_p = (t, prss, "")
        z = np.load(inp)
        s = ort.InferenceSession(os.path.join(work, name + ".modelc.onnx"), providers=["CPUExecutionProvider"])
        got = s.run(None, {i.name: z[k] for i, k in zip(s.get_inputs(), sorted(z.files))})
        want = np.load(os.path.join(work, name + ".out.npz"))
        diff = max(float(np.abs(g - want[k]).max()) for g, k in zip(got, sorted(want.files)))
        scale = max(float(np.abs(want[k]).max()) for k in want.files)
        rows.append({"model": name, "modelc_s": best_m[0], "modelc_rss_mib": best_m[1] / 1024,
                     "torch_s": best_p[0], "torch_rss_mib": best_p[1] / 1024, "torch_error": best_p[2],
                     "torch_rss_over_import_mib": (best_p[1] - base_rss) / 1024, "max_abs_diff": diff, "max_abs_output": scale})
    print(f"import torch alone: {base_rss / 1024:.0f} MiB peak RSS")
    print(f"{'model':<20} {'modelc':>9} {'RSS':>8} {'torch.onnx.export':>18} {'RSS':>8} {'(over import)':>14} {'speed':>8} {'max|diff|':>10} {'max|y|':>9}")
    for r in rows:
        if r["torch_s"] is None:
            print(f"{r['model']:<20} {r['modelc_s']:>8.3f}s {r['modelc_rss_mib']:>6.0f}Mi   torch.onnx.export fails: {r['torch_error'][:90]}"
                  f"  max|diff| {r['max_abs_diff']:.2e}")
            continue
        print(f"{r['model']:<20} {r['modelc_s']:>8.3f}s {r['modelc_rss_mib']:>6.0f}Mi {r['torch_s']:>17.3f}s {r['torch_rss_mib']:>6.0f}Mi "
              f"{r['torch_rss_over_import_mib']:>12.0f}Mi {r['torch_s'] / max(r['modelc_s'], 1e-9):>7.1f}x {r['max_abs_diff']:>10.2e} {r['max_abs_output']:>9.2e}")
    if "--json" in sys.argv:
        json.dump(rows, open(sys.argv[sys.argv.index("--json") + 1], "w"), indent=1)


if __name__ == "__main__":
    main()
