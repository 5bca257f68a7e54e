"""PyTorch checkpoints: what a real torch.save wrote (testdata/torch, with shared storages,
strided views, bf16/f16, nested dicts) reads as torch said it holds; a pickle that asks
for os.system is refused without running it; and a .pt modelc writes is accepted by
torch.load(weights_only=True) with the same tensors.

The oracles are torch itself (expected.json, written by testdata/torch/make_fixtures.py
from torch's own tensors; torch.load where Debian's python3-torch is installed) and the
`safetensors` package, which reads modelc's output here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile

import pytest
import safetensors

import harness

FIXTURES = os.path.join(harness.REPO, "testdata", "torch")
EXPECTED = json.load(open(os.path.join(FIXTURES, "expected.json")))["files"]
UNSUPPORTED, CORRUPT = 5, 4

# torch is not in the test virtualenv (it is ~1 GB from PyPI); Debian's python3-torch, for
# /usr/bin/python3, is used where it is installed.
SYSTEM_PYTHON = "/usr/bin/python3"


def _system_torch() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


needs_torch = pytest.mark.skipif(not _system_torch(), reason="torch is not importable by /usr/bin/python3 (apt-get install python3-torch)")

DTYPE_HEADER = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
                "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "complex64": "C64"}
ONNX_TYPES = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16", "bfloat16": "BFLOAT16", "int64": "INT64",
              "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL",
              "complex64": "COMPLEX64", "complex128": "COMPLEX128"}


def _read_raw(path) -> dict:
    with open(path, "rb") as f:
        return {name: (v["dtype"], list(v["shape"]), bytes(v["data"])) for name, v in safetensors.deserialize(f.read())}


@pytest.mark.parametrize("route", ["safetensors", "onnx"])
@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_reads_as_torch_wrote_it(tmp_path, fixture, route):
    """modelc converts the torch.save fixture to safetensors (read back by the package) or
    to ONNX (read back by onnx); either way exactly the tensors torch had come out: names
    flattened with dots, contiguous values, dtypes, shapes."""
    want = EXPECTED[fixture]
    src = os.path.join(FIXTURES, fixture)
    if route == "safetensors" and any(e["dtype"] == "complex128" for e in want.values()):
        pytest.skip("safetensors has no complex128; the ONNX route checks this fixture")
    out = tmp_path / f"out.{route}"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    if route == "safetensors":
        got = {n: (d, s, b) for n, (d, s, b) in _read_raw(out).items()}
        header = DTYPE_HEADER
    else:
        import onnx
        got = {t.name: (t.data_type, list(t.dims), t.raw_data) for t in onnx.load(str(out)).graph.initializer}
        header = {k: getattr(onnx.TensorProto, v) for k, v in ONNX_TYPES.items()}
    assert sorted(got) == sorted(want)
    for name, e in want.items():
        dtype, shape, data = got[name]
        assert dtype == header[e["dtype"]] and shape == e["shape"], name
        assert hashlib.sha256(data).hexdigest() == e["sha256"], name
    harness.note(f"torch fixture read ({route})", fixture)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = "/tmp/modelc-torch-evil-marker"
    if os.path.exists(marker):
        os.remove(marker)
    src = os.path.join(FIXTURES, "evil.pt")
    out = tmp_path / "out.safetensors"
    r = harness.run_modelc("convert", src, out)
    assert r.returncode == UNSUPPORTED, harness.describe(r)
    assert "os.system" in r.stderr and "offset" in r.stderr and src in r.stderr
    assert not os.path.exists(marker), "the pickle's command ran"
    assert not out.exists()


def _spoil(tmp_path, edit) -> str:
    """A copy of views.pt with its data.pkl replaced by edit(pickle)."""
    src = zipfile.ZipFile(os.path.join(FIXTURES, "views.pt"))
    path = tmp_path / "bad.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = edit(data)
            z.writestr(info, data)
    return str(path)


@pytest.mark.parametrize("case,edit,code", [
    ("truncated pickle", lambda p: p[: len(p) // 2], CORRUPT),
    ("forbidden global", lambda p: p.replace(b"collections\nOrderedDict", b"subprocess\nPopen"), UNSUPPORTED),
])
def test_bad_checkpoint(tmp_path, case, edit, code):
    src = _spoil(tmp_path, edit)
    before = open(src, "rb").read()
    out = tmp_path / "out.safetensors"
    r = harness.run_modelc("convert", src, out)
    assert r.returncode == code, harness.describe(r)
    assert src in r.stderr and "data.pkl offset" in r.stderr
    assert not out.exists() and open(src, "rb").read() == before


def test_zip_path_outside_archive(tmp_path):
    path = tmp_path / "escape.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../x/data.pkl", b"\x80\x02}.")
    r = harness.run_modelc("convert", path, tmp_path / "o.safetensors")
    assert r.returncode == CORRUPT and "outside the archive" in r.stderr, harness.describe(r)


_LOAD_AND_COMPARE = r"""
import sys, torch
ref = torch.load(sys.argv[1])                     # the fixture torch wrote (trusted: ours)
got = torch.load(sys.argv[2], weights_only=True)  # what modelc wrote, through torch's restricted loader
def flat(o, p=""):
    if isinstance(o, torch.Tensor):
        yield p, o
    elif isinstance(o, dict):
        for k, v in o.items():
            yield from flat(v, f"{p}.{k}" if p else str(k))
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            yield from flat(v, f"{p}.{i}" if p else str(i))
ref = dict(flat(ref))
assert list(ref) == list(got), (list(ref), list(got))
for k in ref:
    a, b = ref[k], got[k]
    assert a.dtype == b.dtype and a.shape == b.shape, k
    assert b.is_contiguous(), k
    if a.dtype == torch.bfloat16:
        a, b = a.view(torch.int16), b.view(torch.int16)
    assert torch.equal(a.contiguous().view(-1).view(torch.uint8) if a.numel() else a, b.view(-1).view(torch.uint8) if b.numel() else b), k
print(len(ref))
"""


@needs_torch
@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_modelc_checkpoint_loads_in_torch(tmp_path, fixture):
    out = tmp_path / "out.pt"
    harness.expect_ok(harness.run_modelc("convert", os.path.join(FIXTURES, fixture), out))
    r = subprocess.run([SYSTEM_PYTHON, "-c", _LOAD_AND_COMPARE, os.path.join(FIXTURES, fixture), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.strip()) == len(EXPECTED[fixture])
    harness.note("torch.load(weights_only=True) accepts modelc's .pt", fixture)
