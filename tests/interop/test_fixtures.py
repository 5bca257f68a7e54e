"""The real-exporter models in testdata/onnx survive modelc, and `modelc info` tells the truth.

Each fixture <name>.onnx comes with <name>.inputs.npz (see testdata/onnx/README.md).
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import onnx
import pytest

import harness

FIXTURES = sorted(glob.glob(os.path.join(harness.REPO, "testdata", "onnx", "*.onnx")))
NAMES = [os.path.basename(p)[: -len(".onnx")] for p in FIXTURES]


def test_fixtures_present():
    # Guards against a glob that silently finds nothing and so tests nothing.
    assert len(FIXTURES) >= 3, f"expected the testdata/onnx fixtures, found {FIXTURES}"


def _inputs(name: str) -> dict:
    with np.load(os.path.join(harness.REPO, "testdata", "onnx", f"{name}.inputs.npz")) as z:
        return {k: z[k] for k in z.files}


def _convert(src: str, out: str, external: bool) -> None:
    args = ["convert", src, out] + (["--external-data"] if external else [])
    r = harness.run_modelc(*args)
    harness.expect_ok(r)


@pytest.mark.parametrize("external", [False, True], ids=["plain", "external-data"])
@pytest.mark.parametrize("name", NAMES)
def test_roundtrip(name, external, tmp_path):
    src = os.path.join(harness.REPO, "testdata", "onnx", f"{name}.onnx")
    out = str(tmp_path / f"{name}.onnx")
    _convert(src, out, external)

    if external:
        data = out + ".data"
        raw = onnx.load(out, load_external_data=False)
        moved = [t for t in raw.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        # Small initializers may stay inline (modelc's --size-threshold, 1024 bytes by
        # default); every larger one must be in OUT.data.
        big_inline = [
            t.name for t in raw.graph.initializer
            if t.data_location != onnx.TensorProto.EXTERNAL and len(t.raw_data) >= 1024
        ]
        assert not big_inline, f"--external-data left large initializers inline: {big_inline}"
        if moved:
            assert os.path.isfile(data), f"--external-data wrote no {data}"
        # The locations must be relative to the model, named as the contract says.
        locations = {e.value for t in moved for e in t.external_data if e.key == "location"}
        assert locations <= {os.path.basename(data)}, f"external data locations: {locations}"

    onnx.checker.check_model(out, full_check=False)  # a path, so external data is resolved
    harness.assert_same_model(onnx.load(src), onnx.load(out))

    feeds = _inputs(name)
    want = harness.ort_session(src).run(None, feeds)
    got = harness.ort_session(out).run(None, feeds)
    names = [o.name for o in onnx.load(src, load_external_data=False).graph.output]
    assert harness.same_value(want, got), harness.first_mismatch(names, want, got)
    harness.note("fixtures round-tripped", f"{name}-{'external' if external else 'plain'}")


@pytest.mark.parametrize("external", [False, True], ids=["plain", "external-data"])
@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, external, tmp_path):
    """Converting twice gives byte-identical files (same file name, two folders,
    because the external data file's name is written into the model)."""
    src = os.path.join(harness.REPO, "testdata", "onnx", f"{name}.onnx")
    outs = []
    for run in ("a", "b"):
        os.makedirs(tmp_path / run)
        outs.append(str(tmp_path / run / "model.onnx"))
        _convert(src, outs[-1], external)
    suffixes = [""] + ([".data"] if external and os.path.exists(outs[0] + ".data") else [])
    for s in suffixes:
        with open(outs[0] + s, "rb") as a, open(outs[1] + s, "rb") as b:
            assert a.read() == b.read(), f"model.onnx{s} differs between two runs"
    # Nothing else left beside the outputs (temporary files must be renamed or removed).
    assert sorted(os.listdir(tmp_path / "a")) == sorted("model.onnx" + s for s in suffixes)


@pytest.mark.parametrize("name", NAMES)
def test_info(name):
    src = os.path.join(harness.REPO, "testdata", "onnx", f"{name}.onnx")
    r = harness.run_modelc("info", src, "--json")
    harness.expect_ok(r)
    info = json.loads(r.stdout)
    model = onnx.load(src)
    count, per_dtype = harness.parameter_stats(model)
    want = {
        "format": "onnx",
        "ir_version": model.ir_version,
        "opsets": {o.domain: o.version for o in model.opset_import},
        "producer": {"name": model.producer_name, "version": model.producer_version},
        "inputs": harness.value_infos(model.graph.input),
        "outputs": harness.value_infos(model.graph.output),
        "op_histogram": harness.op_histogram(model),
        "parameter_count": count,
        "bytes_per_dtype": per_dtype,
    }
    # Key by key, so a failure names the field that is wrong.
    for key, value in want.items():
        assert info.get(key) == value, f"info[{key!r}]: modelc says {info.get(key)!r}, onnx says {value!r}"
    harness.note("fixtures info checked", name)
