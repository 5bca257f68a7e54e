"""Crafted files that cost a careless reader time or memory far beyond their size.

Each file is built here by hand (byte by byte; zip members written raw), small on disk:

- a 1 MB PyTorch checkpoint whose pickle uses protocol-0 text opcodes (it took 85 s when
  each opcode copied the rest of the pickle to find its newline);
- pickles whose memo references nest 60 levels deep, each level holding the one below
  twice ("billion laughs"; 2**60 paths through 1.4 KB), with and without a tensor at
  the bottom;
- a 28 KB checkpoint whose stride-0 storages "expand" to 200 x 60 MB;
- zip bombs: a .pt and an .npz of 4 members that inflate to 1 GiB each from ~4 MB.

modelc must end each at once with exit 4 (corrupt) naming the file, under a 2 GB
address-space limit (`ulimit -v 2000000`), with no Go "fatal error" (which through
libmodelc.so would kill the host process). Through the C ABI the host survives and gets
a CorruptFileError. torch itself (Debian's python3-torch, where installed) confirms the
text-opcode checkpoint is a genuine one.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
import zlib

import pytest

import harness

CORRUPT = 4
ADDRESS_SPACE = 2_000_000 * 1024  # ulimit -v 2000000
SYSTEM_PYTHON = "/usr/bin/python3"


# ---- building the files -----------------------------------------------------------------


def _zip(entries) -> bytes:
    """A zip of (name, body, deflated, size, crc, same_as) entries, laid out by hand so a
    member can carry a precompressed body (and share another's, same_as)."""
    out, central, offsets = bytearray(), bytearray(), {}
    for name, body, deflated, size, crc, same_as in entries:
        if same_as:
            continue
        offsets[name] = len(out)
        n = name.encode()
        out += struct.pack("<IHHHIIIIHH", 0x04034B50, 20, 0, 8 if deflated else 0, 0, crc, len(body), size, len(n), 0)
        out += n + body
    bodies = {e[0]: e[1] for e in entries}
    for name, body, deflated, size, crc, same_as in entries:
        n = name.encode()
        at = offsets[same_as or name]
        clen = len(bodies[same_as or name])
        central += struct.pack("<IHHHHIIIIHHHHHII", 0x02014B50, 20, 20, 0, 8 if deflated else 0, 0, crc, clen, size, len(n), 0, 0, 0, 0, 0, at)
        central += n
    cd = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd, 0)
    return bytes(out)


def _stored(name: str, data: bytes):
    return (name, data, False, len(data), zlib.crc32(data), None)


def _deflate_zeros(prefix: bytes, total: int):
    """A raw deflate stream of prefix + zeros (total bytes) and its CRC: one MiB is
    compressed and the flushed segment repeated (each segment starts afresh)."""
    seg = 1 << 20

    def segment(data: bytes) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)

    first = prefix + bytes(min(seg - len(prefix), total - len(prefix)))
    parts, crc = [segment(first)], zlib.crc32(first)
    left, zero = total - len(first), bytes(seg)
    body = segment(zero)
    while left >= seg:
        parts.append(body)
        crc = zlib.crc32(zero, crc)
        left -= seg
    if left:
        parts.append(segment(zero[:left]))
        crc = zlib.crc32(zero[:left], crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts.append(end.flush(zlib.Z_FINISH))
    return b"".join(parts), crc


def _unicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _rebuild(key: str, numel: int, size: int, stride: int) -> bytes:
    """_rebuild_tensor_v2 of a FloatStorage `key` of numel elements, viewed 1-D."""
    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n(("
        + _unicode("storage")
        + b"ctorch\nFloatStorage\n"
        + _unicode(key)
        + _unicode("cpu")
        + b"J" + struct.pack("<i", numel)
        + b"tQK\x00J" + struct.pack("<i", size) + b"\x85J" + struct.pack("<i", stride) + b"\x85\x89}tR"
    )


def _checkpoint(pkl: bytes, storages: dict) -> bytes:
    return _zip([_stored("archive/data.pkl", pkl)] + [_stored(f"archive/data/{k}", v) for k, v in storages.items()] + [_stored("archive/version", b"3\n")])


def text_pickle(min_bytes: int) -> bytes:
    """A state dict in protocol-0 text opcodes: 'layer<i>.weight' -> 2x2 float32 views of
    storage '0', beside an 'lr' float and an 'epoch' long."""
    out, memo = [], [0]

    def put() -> int:
        out.append(b"p%d\n" % memo[0])
        memo[0] += 1
        return memo[0] - 1

    out.append(b"ccollections\nOrderedDict\n")
    put()
    out.append(b"(tR")
    put()
    out.append(b"S'lr'\nF0.001\nsV\\u00e9poch\nL12L\ns")
    size, i, rebuild, storage = sum(map(len, out)), 0, None, None
    while size < min_bytes:
        start = len(out)
        out.append(b"S'layer%d.weight'\n" % i if i % 2 == 0 else b"Vlayer%d.weight\n" % i)
        put()
        if rebuild is None:
            out.append(b"ctorch._utils\n_rebuild_tensor_v2\n")
            rebuild = put()
        else:
            out.append(b"g%d\n" % rebuild)
        out.append(b"(")
        if storage is None:
            out.append(b"(S'storage'\nctorch\nFloatStorage\nS'0'\nS'cpu'\nI4\ntQ")
            storage = put()
        else:
            out.append(b"g%d\n" % storage)
        out.append(b"I0\n(I2\nI2\nt(I2\nI1\ntI00\n(dtR")
        put()
        out.append(b"s")
        size += sum(map(len, out[start:]))
        i += 1
    out.append(b".")
    return b"".join(out)


def memo_pickle(levels: int, tensor: bool) -> bytes:
    """Level 0 an empty list (or a tensor); each level a tuple, list or dict holding the
    level below twice, through the memo."""
    out = [b"\x80\x02", _rebuild("0", 4, 4, 1) if tensor else b"]", b"q\x00"]
    for i in range(1, levels + 1):
        get = b"h" + bytes([i - 1])
        out.append({0: get + get + b"\x86", 1: b"](" + get + get + b"e", 2: b"}(" + _unicode("a") + get + _unicode("b") + get + b"u"}[i % 3])
        out.append(b"q" + bytes([i]))
    out.append(b".")
    return b"".join(out)


def expand_pickle(n: int, elems: int) -> bytes:
    return b"\x80\x02}(" + b"".join(_unicode(f"w{i}") + _rebuild("0", 1, elems, 0) for i in range(n)) + b"u."


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    made = {}

    def put(name, data):
        p = d / name
        p.write_bytes(data)
        made[name] = str(p)

    f4 = b"\0" * 16
    put("text.pt", _checkpoint(text_pickle(1 << 20), {"0": f4}))
    put("laughs60.pt", _checkpoint(memo_pickle(60, False), {"0": f4}))
    put("laughs60_tensor.pt", _checkpoint(memo_pickle(60, True), {"0": f4}))
    put("laughs40_tensor.pt", _checkpoint(memo_pickle(40, True), {"0": f4}))
    put("expand.pt", _checkpoint(expand_pickle(200, 15 << 20), {"0": b"\0" * 4}))
    gib = 1 << 30
    body, crc = _deflate_zeros(b"", gib)
    pkl = b"\x80\x02}(" + b"".join(_unicode(f"w{i}") + _rebuild(str(i), gib // 4, gib // 4, 1) for i in range(4)) + b"u."
    put("zipbomb.pt", _zip([_stored("archive/data.pkl", pkl)] + [(f"archive/data/{i}", body, True, gib, crc, None) for i in range(4)]))
    d_ = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % (gib // 4)
    d_ += " " * (64 - (10 + len(d_) + 1) % 64) + "\n"
    hdr = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d_)) + d_.encode()
    body, crc = _deflate_zeros(hdr, len(hdr) + gib)
    put("zipbomb.npz", _zip([(f"a{i}.npy", body, True, len(hdr) + gib, crc, None) for i in range(4)]))
    return made


BOMBS = ["laughs60.pt", "laughs60_tensor.pt", "laughs40_tensor.pt", "expand.pt", "zipbomb.pt", "zipbomb.npz"]


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _run_limited(*args, env=None, limit=True):
    e = dict(os.environ)
    e.pop("MODELC_MAX_MEMORY", None)
    e.update(env or {})
    start = time.monotonic()
    r = subprocess.run([harness.modelc_path(), *map(str, args)], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, preexec_fn=_limit_address_space if limit else None, env=e)
    return r, time.monotonic() - start


# ---- the tests ----------------------------------------------------------------------------


def test_sizes(files):
    sizes = {n: os.path.getsize(p) for n, p in files.items()}
    assert sizes["text.pt"] >= 1 << 20
    assert sizes["laughs60.pt"] < 2048 and sizes["expand.pt"] < 32 << 10
    assert sizes["zipbomb.pt"] < 5 << 20 and sizes["zipbomb.npz"] < 5 << 20


def test_text_opcode_pickle_is_fast(files, tmp_path):
    r, took = _run_limited("info", files["text.pt"])
    harness.expect_ok(r)
    assert took < 1.0, f"info on a 1 MB text-opcode pickle took {took:.2f} s"
    r, took = _run_limited("convert", files["text.pt"], tmp_path / "text.safetensors")
    harness.expect_ok(r)
    assert took < 2.0, f"convert took {took:.2f} s"
    import safetensors.numpy

    got = safetensors.numpy.load_file(str(tmp_path / "text.safetensors"))
    assert "layer0.weight" in got and got["layer1.weight"].shape == (2, 2) and len(got) > 10000


@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="no /usr/bin/python3")
def test_text_opcode_pickle_is_a_real_checkpoint(files):
    """torch.load reads the crafted text-opcode file: it is a checkpoint, not noise."""
    code = "import sys, torch; sd = torch.load(sys.argv[1]); print(len([v for v in sd.values() if isinstance(v, torch.Tensor)]), sd['lr'])"
    r = subprocess.run([SYSTEM_PYTHON, "-c", code, files["text.pt"]], capture_output=True, text=True, timeout=300)
    if "No module named 'torch'" in r.stderr:
        pytest.skip("torch is not importable by /usr/bin/python3")
    assert r.returncode == 0, r.stderr[-2000:]
    n, lr = r.stdout.split()
    assert int(n) > 10000 and float(lr) == 0.001


@pytest.mark.parametrize("name", BOMBS)
def test_bomb_is_a_clean_error(files, name, tmp_path):
    r, took = _run_limited("info", files[name])
    assert r.returncode == CORRUPT, harness.describe(r)
    assert "fatal error" not in r.stderr and "goroutine" not in r.stderr, r.stderr[-3000:]
    assert name in r.stderr, harness.describe(r)
    assert took < 1.0, f"{name}: took {took:.2f} s"
    if name.startswith(("zipbomb", "expand")):
        assert "memory budget" in r.stderr and "ulimit -v" in r.stderr, r.stderr
    # convert as well, leaving nothing behind
    out = tmp_path / "out.safetensors"
    r, took = _run_limited("convert", files[name], out)
    assert r.returncode == CORRUPT and "fatal error" not in r.stderr, harness.describe(r)
    assert not out.exists() and took < 1.0


@pytest.mark.parametrize("name", ["zipbomb.pt", "zipbomb.npz", "expand.pt"])
def test_budget_names_size_and_setting(files, name):
    r, _ = _run_limited("info", files[name], env={"MODELC_MAX_MEMORY": "512MiB"}, limit=False)
    assert r.returncode == CORRUPT, harness.describe(r)
    assert "memory budget of 512.0 MiB" in r.stderr and "MODELC_MAX_MEMORY" in r.stderr, r.stderr
    assert "tensor" in r.stderr or "array" in r.stderr, r.stderr


def test_bad_budget_setting(files):
    r, _ = _run_limited("info", files["expand.pt"], env={"MODELC_MAX_MEMORY": "lots"})
    assert r.returncode == 2 and "MODELC_MAX_MEMORY" in r.stderr, harness.describe(r)


def test_host_process_survives_through_the_c_abi(files):
    """The Python binding (libmodelc.so in this process) under the same 2 GB address-space
    limit: every bomb raises CorruptFileError and the process lives on."""
    try:
        import modelc
    except ImportError:  # not installed: the source tree and the repository's build
        sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
        os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
        import modelc

    pkg_parent = os.path.dirname(os.path.dirname(modelc.__file__))
    code = f"""
import sys, time
sys.path.insert(0, {pkg_parent!r})
import modelc
for path in sys.argv[1:]:
    t = time.monotonic()
    try:
        modelc.inspect(path)
    except modelc.CorruptFileError as e:
        print("corrupt", round(time.monotonic() - t, 3), path, str(e)[:200].replace(chr(10), " "))
    else:
        print("accepted", path)
print("survived")
"""
    env = dict(os.environ)
    env.pop("MODELC_MAX_MEMORY", None)
    r = subprocess.run([sys.executable, "-c", code, *(files[n] for n in BOMBS)], capture_output=True, text=True,
                       timeout=120, preexec_fn=_limit_address_space, env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("survived"), f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    lines = r.stdout.strip().splitlines()[:-1]
    assert len(lines) == len(BOMBS) and all(l.startswith("corrupt") for l in lines), r.stdout
    assert all(float(l.split()[1]) < 1.0 for l in lines), r.stdout
