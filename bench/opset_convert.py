"""Opset conversion: `modelc convert --opset N` against onnx.version_converter, on the
ONNX backend node-test models (every case onnx ships) and on a few models written the
way exporters write them.

For each target opset and each tool, over the same models:
  converted  the tool produced a model (modelc exit 0 / convert_version raised nothing)
  checker    onnx.checker.check_model(full_check=True) accepts it
  ort        onnxruntime loads it
  match      onnxruntime's outputs on every data set of the case equal the case's expected
             outputs within rtol 1e-3 / atol 1e-5 (or equal, bit for bit, onnxruntime's
             outputs on the original model)
  wrong      converted (and loaded) but the outputs differ: the worst outcome
Cases whose original model onnxruntime cannot run are counted apart ("ort can't run the
original"): neither tool can be judged on them by outputs.

Run: .venv/bin/python bench/opset_convert.py [--targets 11,13,...] [--jobs N] [--limit K]
     [--json FILE] [--cases SUBSTR] [--show-wrong]
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import onnx
from onnx import helper, version_converter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
import harness  # noqa: E402
import onnx_node_cases  # noqa: E402

MODELC = os.environ.get("MODELC", os.path.join(ROOT, "bin", "modelc"))
DEFAULT_TARGETS = [11, 13, 15, 17, 18, 21, 23]


def onnx_opset(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 0


def load_case(folder: str):
    """(model bytes, [(feeds, expected outputs)]) of a node-test case."""
    model = onnx.load(os.path.join(folder, "model.onnx"))
    sets = []
    for ds in sorted(d for d in os.listdir(folder) if d.startswith("test_data_set_")):
        p = os.path.join(folder, ds)
        feeds = {}
        for i, vi in enumerate(model.graph.input):
            f = os.path.join(p, f"input_{i}.pb")
            if os.path.exists(f):
                feeds[vi.name] = harness.read_value(f, vi.type)
        outs = []
        for i, vi in enumerate(model.graph.output):
            f = os.path.join(p, f"output_{i}.pb")
            outs.append(harness.read_value(f, vi.type) if os.path.exists(f) else None)
        sets.append((feeds, outs))
    return model, sets


def close(a, b) -> bool:
    if harness.same_value(a, b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and not isinstance(a, harness.RawTensor):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    try:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype == object or b.dtype == object:
            return False
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            return bool(np.allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-3, atol=1e-5, equal_nan=True))
        return a.dtype == b.dtype and np.array_equal(a, b)
    except Exception:  # noqa: BLE001
        return False


def run_ort(path, sets):
    sess = harness.ort_session(path)
    return [harness.ort_run(sess, feeds) for feeds, _ in sets]


def evaluate(path: str, sets, reference) -> dict:
    """checker / ort / match of the model at path."""
    r = {"checker": False, "ort": False, "match": False}
    try:
        onnx.checker.check_model(path, full_check=True)
        r["checker"] = True
    except Exception as e:  # noqa: BLE001
        r["checker_error"] = str(e).splitlines()[0][:300]
    try:
        outs = run_ort(path, sets)
        r["ort"] = True
    except Exception as e:  # noqa: BLE001
        r["ort_error"] = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        return r
    ok = True
    for i, (_, expected) in enumerate(sets):
        got = outs[i]
        good = len(got) >= len(expected) and all(e is None or close(g, e) for g, e in zip(got, expected))
        if not good and reference is not None:
            good = len(got) == len(reference[i]) and all(harness.same_value(g, e) for g, e in zip(got, reference[i]))
        ok = ok and good
    r["match"] = ok
    return r


def original_passes_checker(folder: str) -> bool:
    try:
        onnx.checker.check_model(os.path.join(folder, "model.onnx"), full_check=True)
        return True
    except Exception:  # noqa: BLE001
        return False


def work(job):
    """One case at every target, with both tools."""
    folder, targets, tmp = job
    name = os.path.basename(folder)
    warnings.simplefilter("ignore")
    try:
        model, sets = load_case(folder)
    except Exception as e:  # noqa: BLE001
        return name, None, {"error": f"cannot load the case: {e}"}
    src = onnx_opset(model)
    try:
        reference = run_ort(os.path.join(folder, "model.onnx"), sets)
        orig_ok = True
    except Exception:  # noqa: BLE001
        reference, orig_ok = None, False
    res = {"source": src, "orig_ort": orig_ok, "orig_checker": original_passes_checker(folder), "targets": {}}
    for t in targets:
        per = {}
        out = os.path.join(tmp, f"{name}.{t}.modelc.onnx")
        p = subprocess.run([MODELC, "convert", os.path.join(folder, "model.onnx"), out, "--opset", str(t)],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode == 0:
            per["modelc"] = {"converted": True, **evaluate(out, sets, reference)}
        else:
            per["modelc"] = {"converted": False, "error": p.stderr.strip().splitlines()[-1][:400] if p.stderr.strip() else f"exit {p.returncode}"}
        if os.path.exists(out):
            os.remove(out)
        out = os.path.join(tmp, f"{name}.{t}.vc.onnx")
        try:
            conv = version_converter.convert_version(model, t)
            onnx.save(conv, out)
            per["vc"] = {"converted": True, **evaluate(out, sets, reference)}
        except Exception as e:  # noqa: BLE001
            per["vc"] = {"converted": False, "error": (str(e).splitlines() or [type(e).__name__])[0][:300]}
        if os.path.exists(out):
            os.remove(out)
        res["targets"][t] = per
    return name, src, res


def table(results, targets, only_orig_ok: bool):
    rows = []
    for t in targets:
        for tool in ("modelc", "vc"):
            c = collections.Counter()
            for name, r in results.items():
                if "targets" not in r or (only_orig_ok and not r["orig_ort"]):
                    continue
                p = r["targets"][t][tool]
                c["cases"] += 1
                c["converted"] += p["converted"]
                c["checker"] += p.get("checker", False)
                c["ort"] += p.get("ort", False)
                c["match"] += p.get("match", False)
                c["wrong"] += p.get("ort", False) and not p.get("match", False)
            rows.append((t, tool, c))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default=",".join(map(str, DEFAULT_TARGETS)))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--cases", default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--show-wrong", action="store_true")
    args = ap.parse_args()
    targets = [int(x) for x in args.targets.split(",")]
    folders = [f for f in onnx_node_cases.ensure_cases() if args.cases in os.path.basename(f)]
    if args.limit:
        folders = folders[: args.limit]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        with multiprocessing.Pool(args.jobs) as pool:
            results = {name: r for name, _, r in pool.imap_unordered(work, [(f, targets, tmp) for f in folders], chunksize=4)}
    ok = sum(1 for r in results.values() if r.get("orig_ort"))
    print(f"{len(results)} node-test models (onnx {onnx.__version__}); onnxruntime runs {ok} of the originals; "
          f"{time.time() - t0:.0f} s")
    bad = sum(1 for r in results.values() if r.get("orig_ort") and not r.get("orig_checker"))
    print()
    print(f"Over the models whose original onnxruntime runs ({bad} of them fail onnx.checker themselves):")
    print()
    print("| target | tool | converted | onnx.checker | ort loads | outputs match | ort runs, outputs differ |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for t, tool, c in table(results, targets, True):
        label = "modelc" if tool == "modelc" else "version_converter"
        print(f"| {t} | {label} | {c['converted']}/{c['cases']} | {c['checker']} | {c['ort']} | {c['match']} | {c['wrong']} |")
    if args.show_wrong:
        for name, r in sorted(results.items()):
            for t, per in r.get("targets", {}).items():
                p = per["modelc"]
                if p["converted"] and r["orig_ort"] and not p.get("match"):
                    print(f"  modelc {name} -> {t}: {p}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
            f.write("\n")


if __name__ == "__main__":
    main()
