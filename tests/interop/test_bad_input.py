"""Bad input gets a clear error, not a crash, and nothing is lost.

Each bad file is built here, with the onnx package or by byte surgery, and where it
can be, onnx itself is asked to confirm that the file is bad. For every case
`modelc convert` must exit with the contract's code (2 usage, 3 I/O, 4 corrupt),
name the file on stderr, leave no output behind and leave the input untouched.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import harness

USAGE, IO, CORRUPT = 2, 3, 4

WEIGHT = np.arange(256, dtype=np.float32).reshape(16, 16)


def _model(weight: TensorProto) -> onnx.ModelProto:
    """Y = X + W: the smallest model with an initializer to spoil."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "bad",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [16, 16])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [16, 16])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _good_bytes() -> bytes:
    return _model(numpy_helper.from_array(WEIGHT, "W")).SerializeToString()


def _external_model(location: str) -> bytes:
    """The model with W's data in an external file at `location`."""
    w = numpy_helper.from_array(WEIGHT, "W")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(WEIGHT.nbytes))):
        w.external_data.add(key=k, value=v)
    return _model(w).SerializeToString()


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _snapshot(folder) -> dict:
    """Every file below folder with its bytes (links not followed), to prove nothing changed."""
    snap = {}
    for root, dirs, files in os.walk(folder):
        for f in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, f)
            snap[p] = os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
    return snap


def _expect_failure(tmp_path, src: str, code: int, names=(), out=None) -> None:
    """Runs convert on src and checks the failure contract."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    out = out or str(out_dir / "converted.onnx")
    before = _snapshot(tmp_path)
    r = harness.run_modelc("convert", src, out)
    assert r.returncode == code, f"want exit {code}\n{harness.describe(r)}"
    mentioned = [os.path.basename(src), *names]
    assert any(n in r.stderr for n in mentioned), f"stderr names none of {mentioned}\n{harness.describe(r)}"
    after = _snapshot(tmp_path)
    # Nothing written (output, .data, temporary file) and nothing changed or removed.
    assert after == before, f"files changed: {sorted(set(after) ^ set(before)) or 'contents'}"


# ---- corrupt files (exit 4) ----------------------------------------------------------


def _truncated() -> bytes:
    good = _good_bytes()
    return good[: len(good) // 2]  # mid-graph: the graph's declared length runs past the end


def _length_past_end() -> bytes:
    # A well-formed file followed by field 7 (graph, wire type 2) declaring 1 MiB
    # of payload where only 3 bytes follow.
    return _good_bytes() + bytes([7 << 3 | 2]) + _varint(1 << 20) + b"abc"


def _raw_data_size(delta: int):
    def make() -> bytes:
        w = numpy_helper.from_array(WEIGHT, "W")
        w.raw_data = w.raw_data[:delta] if delta < 0 else w.raw_data + b"\0" * delta
        return _model(w).SerializeToString()

    return make


CORRUPT_FILES = {
    "truncated": _truncated,
    "length-past-end": _length_past_end,
    "raw-data-short": _raw_data_size(-4),
    "raw-data-long": _raw_data_size(+4),
}


@pytest.mark.parametrize("kind", CORRUPT_FILES)
def test_corrupt_file(kind, tmp_path):
    data = CORRUPT_FILES[kind]()
    # The oracle agrees the file is bad: unparsable, or a tensor onnx can't decode.
    with pytest.raises(Exception):
        m = onnx.load_model_from_string(data)
        numpy_helper.to_array(m.graph.initializer[0])
    src = tmp_path / "in" / "model.onnx"
    src.parent.mkdir()
    src.write_bytes(data)
    _expect_failure(tmp_path, str(src), CORRUPT)
    if kind in ("truncated", "length-past-end"):
        # No reader can parse these, so `info` must refuse them too (it writes nothing,
        # so only the code and message are checked). A raw_data size mismatch is left
        # out here: info may report a model without decoding its tensors.
        r = harness.run_modelc("info", src, "--json")
        assert r.returncode == CORRUPT and "model.onnx" in r.stderr, harness.describe(r)


# ---- external data ---------------------------------------------------------------------


def _layout(tmp_path, location: str):
    """in/model.onnx pointing at `location`; the real data lies outside in/ at elsewhere/w.bin."""
    (tmp_path / "in").mkdir()
    (tmp_path / "elsewhere").mkdir()
    outside = tmp_path / "elsewhere" / "w.bin"
    outside.write_bytes(WEIGHT.tobytes())
    src = tmp_path / "in" / "model.onnx"
    src.write_bytes(_external_model(location))
    return str(src), str(outside)


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_external_data_escaping_folder(how, tmp_path):
    # The data exists and is the right size: the only fault is where it lies.
    if how == "dotdot":
        src, outside = _layout(tmp_path, "../elsewhere/w.bin")
    elif how == "absolute":
        src, outside = _layout(tmp_path, str(tmp_path / "elsewhere" / "w.bin"))
    else:
        src, outside = _layout(tmp_path, "w.bin")
        os.symlink(outside, tmp_path / "in" / "w.bin")
    _expect_failure(tmp_path, src, CORRUPT, names=["w.bin"])


def test_external_data_missing(tmp_path):
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "model.onnx"
    src.write_bytes(_external_model("w.bin"))
    _expect_failure(tmp_path, str(src), IO, names=["w.bin"])


def test_external_data_inside_folder_is_fine(tmp_path):
    # The counterpart of the cases above: a relative location inside the folder works,
    # so they fail for the path and not for external data as such.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "w.bin").write_bytes(WEIGHT.tobytes())
    src = tmp_path / "in" / "model.onnx"
    src.write_bytes(_external_model("w.bin"))
    out = tmp_path / "out.onnx"
    r = harness.run_modelc("convert", src, out)
    harness.expect_ok(r)
    copy = onnx.load(str(out))
    assert np.array_equal(numpy_helper.to_array(copy.graph.initializer[0]), WEIGHT)


# ---- usage errors (exit 2) -------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "equivalent"])
def test_output_is_input(spelling, tmp_path):
    (tmp_path / "in").mkdir()
    src = tmp_path / "in" / "model.onnx"
    src.write_bytes(_good_bytes())
    out = str(src) if spelling == "same" else str(tmp_path / "in" / "." / "model.onnx")
    _expect_failure(tmp_path, str(src), USAGE, out=out)
