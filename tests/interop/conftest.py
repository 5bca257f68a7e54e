"""pytest setup for the interop tests: finds the modelc binary, reports the counts."""

from __future__ import annotations

import json
import os

import onnx
import pytest

import corpus_table
import harness
import onnx_node_cases


def pytest_configure(config):
    # Fail the whole run at once, with a clear message, instead of 2,000 times.
    path = harness.modelc_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise pytest.UsageError(
            f"modelc binary not found at {path}: build it (make build) or set MODELC=/path/to/modelc"
        )


def _summary() -> dict:
    return {
        "onnx": onnx.__version__,
        "modelc": harness.modelc_path(),
        "counts": dict(sorted(harness.STATS.items())),
        # Which cases were left out of a check, and why: worth a look when onnx changes.
        "cases": {k: dict(sorted(v.items())) for k, v in sorted(harness.NOTES.items())},
    }


def pytest_sessionfinish(session, exitstatus):
    if not harness.STATS:
        return
    os.makedirs(onnx_node_cases.CACHE_ROOT, exist_ok=True)
    with open(os.path.join(onnx_node_cases.CACHE_ROOT, "summary.json"), "w") as f:
        json.dump(_summary(), f, indent=1)
        f.write("\n")


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    table = corpus_table.write()
    if table:
        tr.write_sep("-", "real-world corpus: model × compress mode")
        tr.write_line(table)
        tr.write_line(f"(also in {corpus_table.TABLE_PATH})")
    if not harness.STATS:
        return
    tr.write_sep("-", "interop counts")
    for key, n in sorted(harness.STATS.items()):
        tr.write_line(f"{key:40s} {n}")
    tr.write_line(f"(details: {os.path.join(onnx_node_cases.CACHE_ROOT, 'summary.json')})")
