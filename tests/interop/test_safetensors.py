"""safetensors: files modelc writes are read by the `safetensors` package with identical
arrays, files the package writes are read by modelc, round trips through PyTorch
checkpoints and ONNX initializers keep every bit, sharded checkpoints go in and out, and
bad files get exit code 4 with nothing left behind.

The oracle is the `safetensors` package (its Rust reader and writer); modelc is never
compared with itself alone.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from safetensors import TensorSpec

import harness

CORRUPT, USAGE = 4, 2

# The package's constructor names and the header names it writes, with each dtype's size
# in bits. F6_E2M3/F6_E3M2 are in the format but the package cannot write them (modelc can,
# and the package reads them back below).
DTYPES = [
    ("bool", "BOOL", 8), ("uint8", "U8", 8), ("int8", "I8", 8),
    ("float8_e5m2", "F8_E5M2", 8), ("float8_e4m3fn", "F8_E4M3", 8), ("float8_e8m0fnu", "F8_E8M0", 8),
    ("float8_e4m3fnuz", "F8_E4M3FNUZ", 8), ("float8_e5m2fnuz", "F8_E5M2FNUZ", 8),
    ("int16", "I16", 16), ("uint16", "U16", 16), ("float16", "F16", 16), ("bfloat16", "BF16", 16),
    ("int32", "I32", 32), ("uint32", "U32", 32), ("float32", "F32", 32), ("complex64", "C64", 64),
    ("float64", "F64", 64), ("int64", "I64", 64), ("uint64", "U64", 64),
]

RNG = np.random.default_rng(0)


def _random(nbytes: int, header: str) -> np.ndarray:
    data = RNG.integers(0, 256, nbytes, dtype=np.uint8)
    if header == "BOOL":
        data &= 1
    return data


def _package_file(path, tensors: dict[str, tuple[str, list[int], np.ndarray]], metadata=None):
    """Writes tensors {name: (package dtype, shape, bytes)} with the package's own writer."""
    specs = {
        name: TensorSpec(dtype=dt, shape=shape, data_ptr=buf.ctypes.data, data_len=buf.nbytes)
        for name, (dt, shape, buf) in tensors.items()
    }
    safetensors.serialize_file(specs, str(path), metadata=metadata)


def _every_dtype() -> dict:
    out = {}
    for i, (dt, header, bits) in enumerate(DTYPES):
        shape = [2, 3 + i % 4]
        nbytes = 2 * (3 + i % 4) * bits // 8
        out[f"w.{header.lower()}"] = (dt, shape, _random(nbytes, header))
    out["f4"] = ("float4_e2m1fn_x2", [3, 2], _random(6, "F4"))  # logical shape [3, 4]
    out["scalar"] = ("float32", [], np.frombuffer(np.float32(1.5).tobytes(), np.uint8).copy())
    out["empty"] = ("int64", [0, 7], np.zeros(0, np.uint8))
    return out


def _read_raw(path) -> dict:
    """{name: (header dtype, shape, bytes)} as the package's reader sees a file."""
    with open(path, "rb") as f:
        return {name: (v["dtype"], list(v["shape"]), bytes(v["data"])) for name, v in safetensors.deserialize(f.read())}


def _metadata(path) -> dict:
    with safetensors.safe_open(str(path), framework="np") as f:
        return f.metadata() or {}


def test_package_file_rewritten_byte_for_byte(tmp_path):
    """modelc reads every dtype the package writes, and writes the same file back: the
    reference layout (dtype alignment, then name; header padded to 8) and the same JSON."""
    src = tmp_path / "package.safetensors"
    _package_file(src, _every_dtype(), metadata={"format": "pt"})
    out = tmp_path / "modelc.safetensors"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    assert out.read_bytes() == src.read_bytes()
    harness.note("safetensors byte-identical rewrite", "every dtype")


def test_modelc_file_read_by_package(tmp_path):
    """modelc's file (from a PyTorch checkpoint) holds what the package reads back, and the
    package's numpy API gives the same arrays."""
    src = os.path.join(harness.REPO, "testdata", "torch", "dtypes.pt")
    out = tmp_path / "dtypes.safetensors"
    r = harness.run_modelc("convert", src, out)
    # complex128 has no safetensors dtype: modelc says so (exit 5) rather than lose it.
    assert r.returncode == 5 and "complex128" in r.stderr, harness.describe(r)
    assert not out.exists()

    src = tmp_path / "in.safetensors"
    tensors = {name: t for name, t in _every_dtype().items()}
    _package_file(src, tensors)
    pt = tmp_path / "via.pt"
    harness.expect_ok(harness.run_modelc("convert", src, tmp_path / "plain.safetensors"))
    raw = _read_raw(tmp_path / "plain.safetensors")
    for name, (dt, shape, buf) in tensors.items():
        assert raw[name][2] == buf.tobytes(), name
    # numpy's view of the dtypes numpy has, after a trip through a .pt
    numeric = {n: t for n, t in tensors.items() if t[0] in ("uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float32", "float64", "int64", "uint64", "complex64", "bool")}
    np_src = tmp_path / "numeric.safetensors"
    _package_file(np_src, numeric)
    np_out = tmp_path / "numeric.out.safetensors"
    harness.expect_ok(harness.run_modelc("convert", np_src, pt))
    harness.expect_ok(harness.run_modelc("convert", pt, np_out))
    want = safetensors.numpy.load_file(str(np_src))
    got = safetensors.numpy.load_file(str(np_out))
    assert want.keys() == got.keys()
    for k in want:
        assert want[k].dtype == got[k].dtype and want[k].shape == got[k].shape, k
        assert want[k].tobytes() == got[k].tobytes(), k
    harness.note("safetensors read by package", "every dtype")


def test_f6_written_by_modelc_read_by_package(tmp_path):
    """F6 types: the package cannot write them; modelc writes them and the package reads them."""
    import struct

    header = json.dumps({"a": {"dtype": "F6_E2M3", "shape": [8], "data_offsets": [0, 6]},
                         "b": {"dtype": "F6_E3M2", "shape": [4], "data_offsets": [6, 9]}}).encode()
    data = bytes(range(1, 10))
    src = tmp_path / "f6.safetensors"
    src.write_bytes(struct.pack("<Q", len(header)) + header + data)
    assert _read_raw(src)["a"][0] == "F6_E2M3"  # the package agrees the hand-made file is good
    out = tmp_path / "f6.out.safetensors"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    raw = _read_raw(out)
    assert raw["a"] == ("F6_E2M3", [8], data[:6]) and raw["b"] == ("F6_E3M2", [4], data[6:])


@pytest.mark.parametrize("chain", [("pt", "onnx"), ("onnx", "pt")])
def test_round_trip_through_torch_and_onnx(tmp_path, chain):
    """safetensors → .pt → .onnx → safetensors (and the other way round) keeps every bit
    of every dtype the three formats share, and the metadata where the formats can carry it."""
    shared = {n: t for n, t in _every_dtype().items() if t[0] not in ("float4_e2m1fn_x2",)}
    src = tmp_path / "src.safetensors"
    _package_file(src, shared)
    prev = src
    for i, ext in enumerate(chain):
        nxt = tmp_path / f"step{i}.{ext}"
        harness.expect_ok(harness.run_modelc("convert", prev, nxt))
        prev = nxt
    out = tmp_path / "back.safetensors"
    harness.expect_ok(harness.run_modelc("convert", prev, out))
    assert _read_raw(out) == _read_raw(src)
    harness.note("safetensors round trip", "→".join(chain))


def test_metadata_kept(tmp_path):
    src = tmp_path / "m.safetensors"
    _package_file(src, {"x": ("float32", [2], np.zeros(8, np.uint8))}, metadata={"format": "pt", "note": "héllo \"q\"\n"})
    out = tmp_path / "m2.safetensors"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    assert _metadata(out) == {"format": "pt", "note": "héllo \"q\"\n"}
    info = json.loads(harness.run_modelc("info", "--json", src).stdout)
    assert info["format"] == "safetensors" and info["metadata"]["format"] == "pt"


def _hf_shards(folder, tensors: dict, per_shard: int):
    """A sharded checkpoint as transformers writes one: shards by the package, plus the index."""
    names = list(tensors)
    groups = [names[i:i + per_shard] for i in range(0, len(names), per_shard)]
    weight_map, total = {}, 0
    for k, g in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
        _package_file(folder / fname, {n: tensors[n] for n in g}, metadata={"format": "pt"})
        for n in g:
            weight_map[n] = fname
            total += tensors[n][2].nbytes
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def test_sharded_in_and_out(tmp_path):
    tensors = {f"layers.{i}.weight": ("float16", [16, 32], _random(1024, "F16")) for i in range(10)}
    src = tmp_path / "hf"
    src.mkdir()
    _hf_shards(src, tensors, per_shard=3)
    # A folder and its index both read as the whole checkpoint.
    whole = tmp_path / "whole.safetensors"
    harness.expect_ok(harness.run_modelc("convert", src, whole))
    raw = _read_raw(whole)
    assert {n: raw[n][2] for n in raw} == {n: t[2].tobytes() for n, t in tensors.items()}
    harness.expect_ok(harness.run_modelc("convert", src / "model.safetensors.index.json", tmp_path / "again.safetensors"))
    assert (tmp_path / "again.safetensors").read_bytes() == whole.read_bytes()

    # Out: at most 3000 bytes of tensors per shard (two 1024-byte tensors), as HF names them.
    out = tmp_path / "out"
    out.mkdir()
    harness.expect_ok(harness.run_modelc("convert", whole, out / "model.safetensors", "--max-shard-size", "3KB"))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == [f"model-{k:05d}-of-00005.safetensors" for k in range(1, 6)]
    assert index["metadata"]["total_size"] == 10 * 1024
    seen = {}
    for s in shards:
        part = _read_raw(out / s)
        assert sum(len(v[2]) for v in part.values()) <= 3000
        assert _metadata(out / s) == {"format": "pt"}
        for n, v in part.items():
            assert index["weight_map"][n] == s
            seen[n] = v[2]
    assert seen == {n: t[2].tobytes() for n, t in tensors.items()}
    # and back into one file, identical
    harness.expect_ok(harness.run_modelc("convert", out, tmp_path / "joined.safetensors"))
    assert (tmp_path / "joined.safetensors").read_bytes() == whole.read_bytes()

    r = harness.run_modelc("convert", whole, out / "x.safetensors", "--max-shard-size", "lots")
    assert r.returncode == USAGE and "--max-shard-size" in r.stderr, harness.describe(r)


def _good() -> bytes:
    return safetensors.numpy.save({"a": np.arange(4, dtype=np.float32), "b": np.ones(3, np.int16)})


def _with_header(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + data


BAD = {
    "header past end": lambda: (10_000).to_bytes(8, "little") + b"{}",
    "header too large": lambda: (100_000_001).to_bytes(8, "little") + b"{}" + bytes(16),
    "not json": lambda: (4).to_bytes(8, "little") + b"{abc",
    "overlap": lambda: _with_header({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, bytes(3)),
    "hole": lambda: _with_header({"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, bytes(3)),
    "size mismatch": lambda: _with_header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),
    "truncated data": lambda: _good()[:-3],
    "unknown dtype": lambda: _with_header({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file(tmp_path, case):
    data = BAD[case]()
    src = tmp_path / "bad.safetensors"
    src.write_bytes(data)
    with pytest.raises(Exception):  # the package refuses it too: the file really is bad
        safetensors.deserialize(data)
    out = tmp_path / "out.safetensors"
    r = harness.run_modelc("convert", src, out)
    assert r.returncode == CORRUPT, harness.describe(r)
    assert str(src) in r.stderr
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["bad.safetensors"]
    assert src.read_bytes() == data
    harness.note("safetensors bad input refused", case)
