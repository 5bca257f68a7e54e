"""Every ONNX backend node test case survives `modelc convert` unchanged.

For each case (one test each, named after the case):
  (a) onnx.checker accepts modelc's copy (skipped, and counted, where the original
      itself fails the checker);
  (b) the copy is semantically equal to the original (harness.assert_same_model);
  (c) where onnxruntime loads and runs the original on the case's inputs, and does
      so deterministically, the copy gives bitwise identical outputs.
"""

from __future__ import annotations

import glob
import os

import onnx
import pytest

import harness
import onnx_node_cases

CASES = onnx_node_cases.ensure_cases()  # generated at collection, cached per onnx version


def _checker_ok(path: str) -> str:
    """'' when onnx.checker accepts the file, else its complaint."""
    try:
        onnx.checker.check_model(path, full_check=False)
        return ""
    except Exception as e:  # noqa: BLE001 - any complaint counts
        return str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__


def _data_sets(case_dir: str, model: onnx.ModelProto):
    """[(feeds, expected outputs)] from test_data_set_N/input_K.pb."""
    sets = []
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
        feeds = {}
        for k, vi in enumerate(model.graph.input):
            path = os.path.join(ds, f"input_{k}.pb")
            if os.path.exists(path):  # an omitted optional input has no file
                feeds[vi.name] = harness.read_value(path, vi.type)
        sets.append(feeds)
    return sets


def _run_original(path: str, sets):
    """Original's outputs per data set, or (None, why) when ORT can't be the oracle."""
    try:
        sess = harness.ort_session(path)
        results = [harness.ort_run(sess, feeds) for feeds in sets]
        again = [harness.ort_run(sess, feeds) for feeds in sets]
    except Exception as e:  # noqa: BLE001
        return None, f"ort: {str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}"
    # Random ops (Bernoulli, RandomNormal without seed, Dropout in training mode) give
    # a fresh answer on every run: nothing to compare a copy against.
    if not all(harness.same_value(a, b) for a, b in zip(results, again)):
        return None, "nondeterministic"
    return results, ""


@pytest.mark.parametrize("case_dir", CASES, ids=os.path.basename)
def test_node_case(case_dir, tmp_path):
    name = os.path.basename(case_dir)
    src = os.path.join(case_dir, "model.onnx")
    out = str(tmp_path / "out.onnx")

    r = harness.run_modelc("convert", src, out)
    harness.expect_ok(r)
    original = onnx.load(src)
    copy = onnx.load(out)
    harness.note("node cases converted", name)

    # (b) first: on a failure its diff says more than the checker would.
    harness.assert_same_model(original, copy)
    harness.note("node cases semantically equal", name)

    # (a)
    why = _checker_ok(src)
    if why:
        harness.note("node cases whose original fails the checker", name, why)
    else:
        onnx.checker.check_model(out, full_check=False)
        harness.note("node cases checker-passed", name)

    # (c)
    sets = _data_sets(case_dir, original)
    expected, why = _run_original(src, sets)
    if expected is None:
        kind = "nondeterministic in ORT" if why == "nondeterministic" else "not runnable by ORT"
        harness.note(f"node cases {kind}", name, why)
        return
    sess = harness.ort_session(out)
    names = [o.name for o in original.graph.output]
    for feeds, want in zip(sets, expected):
        got = harness.ort_run(sess, feeds)
        assert harness.same_value(want, got), harness.first_mismatch(names, want, got)
    harness.note("node cases ORT-compared", name)
