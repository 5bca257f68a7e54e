"""Writes the ONNX backend node test cases to disk, in the standard layout.

Recent onnx wheels no longer ship onnx/backend/test/data/node, but every case is
still defined in Python: onnx.backend.test.case.node.collect_testcases() builds
them (model plus input/output data sets). We write them out once per onnx version:

    <repo>/.cache/onnx-node-tests/<onnx version>/<case name>/model.onnx
                                                 /test_data_set_N/input_K.pb
                                                 /test_data_set_N/output_K.pb

The layout and the way each value is serialised follow onnx's own
onnx/backend/test/cmd_tools.py (generate_data), which does the same for the
"model" cases only. A file named COMPLETE marks a finished cache: it is written
last, so an interrupted run regenerates everything.

Run by hand to (re)generate:  python tests/interop/onnx_node_cases.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings

import onnx
from onnx import TensorProto, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE_ROOT = os.path.join(REPO, ".cache", "onnx-node-tests")
COMPLETE = "COMPLETE"


def cache_dir() -> str:
    """Folder holding the cases for the installed onnx version."""
    return os.path.join(CACHE_ROOT, onnx.__version__)


def _serialise_value(value, value_info: onnx.ValueInfoProto) -> bytes:
    """One input or output value as the .pb file the backend test runner expects.

    The proto kind follows the graph's declared type, exactly as cmd_tools does.
    """
    t = value_info.type
    name = value_info.name
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if isinstance(value, TensorProto):  # some cases give exotic dtypes as protos
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def _write_case(case, folder: str) -> None:
    os.makedirs(folder)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(ds)
        for kind, values, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
            for j, value in enumerate(values):
                with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                    f.write(_serialise_value(value, infos[j]))


def generate(dest: str) -> int:
    """Builds every node case into dest (which must not exist). Returns the count."""
    from onnx.backend.test.case.node import collect_testcases

    # Several case builders overflow on purpose (casts to narrow types, log(0)).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    # Build in a sibling temp folder and rename, so a half-written cache is never seen.
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        for case in cases:
            _write_case(case, os.path.join(tmp, case.name))
        with open(os.path.join(tmp, COMPLETE), "w") as f:
            f.write(f"{len(cases)}\n")
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(cases)


def ensure_cases() -> list[str]:
    """Sorted list of case folders, generating the cache when missing.

    The cache key is the onnx version (part of the path): a new onnx version gets a
    fresh folder, older ones are removed to keep .cache small.
    """
    dest = cache_dir()
    if not os.path.exists(os.path.join(dest, COMPLETE)):
        generate(dest)
        for old in os.listdir(CACHE_ROOT):
            p = os.path.join(CACHE_ROOT, old)
            if old != onnx.__version__ and os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
    return sorted(
        os.path.join(dest, d)
        for d in os.listdir(dest)
        if os.path.isfile(os.path.join(dest, d, "model.onnx"))
    )


if __name__ == "__main__":
    if "--force" in sys.argv and os.path.exists(cache_dir()):
        shutil.rmtree(cache_dir())
    dirs = ensure_cases()
    print(f"{len(dirs)} node cases in {cache_dir()}")
