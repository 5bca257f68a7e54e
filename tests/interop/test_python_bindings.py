"""The Python package (bindings/python) over the freshly built libmodelc.

`make test-py` installs the package into the venv (`pip install ./bindings/python`, which
bundles lib/libmodelc.so); run by hand, the tests fall back to the source tree and the
repository's lib/. The oracle for what the package writes is onnx and onnxruntime.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import ctypes.util
import io
import os
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest

import harness

FIXTURES = pathlib.Path(harness.REPO, "testdata", "onnx")
LIBRARY = os.path.join(harness.REPO, "lib", "libmodelc.so")

try:
    import modelc
except ImportError:  # not installed: use the source tree and the repository's build
    sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
    os.environ.setdefault("MODELC_LIBRARY", LIBRARY)
    import modelc

NAMES = ["cnn", "lstm", "loop", "transformer"]
CNN = FIXTURES / "cnn.onnx"


def _listing(d: pathlib.Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ---- loading and versions --------------------------------------------------------------


def test_versions():
    assert modelc.abi_version() >= modelc.ABI_VERSION == 3
    assert modelc.version()  # the library's release string
    assert modelc.__version__
    assert os.path.isfile(modelc.library_path)


def _import_in_subprocess(env_library: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("MODELC_LIBRARY", None)
    if env_library is not None:
        env["MODELC_LIBRARY"] = env_library
    pkg_parent = os.path.dirname(os.path.dirname(modelc.__file__))
    code = f"import sys; sys.path.insert(0, {pkg_parent!r}); import modelc; print(modelc.library_path)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_library_override_and_clear_load_error(tmp_path):
    r = _import_in_subprocess(LIBRARY)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == LIBRARY
    missing = str(tmp_path / "nope" / "libmodelc.so")
    r = _import_in_subprocess(missing)
    assert r.returncode != 0
    assert "cannot load libmodelc" in r.stderr and missing in r.stderr and "MODELC_LIBRARY" in r.stderr
    # Not a libmodelc at all: a library without the functions is refused by name.
    r = _import_in_subprocess(ctypes.util.find_library("m") or "libm.so.6")
    assert r.returncode != 0 and "not a compatible libmodelc" in r.stderr


def test_bundled_library_is_found_without_override():
    if not os.path.isfile(os.path.join(os.path.dirname(modelc.__file__), "libmodelc.so")):
        pytest.skip("the package is used from the source tree, without a bundled library")
    r = _import_in_subprocess(None)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(os.path.dirname(modelc.__file__), "libmodelc.so")


# ---- convert and inspect, checked with onnx and onnxruntime ---------------------------


@pytest.mark.parametrize("name", NAMES)
def test_convert_matches_onnx(name, tmp_path):
    src = FIXTURES / f"{name}.onnx"
    dst = tmp_path / "out.onnx"
    modelc.convert(src, dst)  # pathlib paths
    onnx.checker.check_model(str(dst), full_check=True)
    harness.assert_same_model(onnx.load(str(src)), onnx.load(str(dst)))
    with np.load(FIXTURES / f"{name}.inputs.npz") as z:
        feeds = {k: z[k] for k in z.files}
    with np.load(FIXTURES / f"{name}.outputs.npz") as z:
        want = [z[k] for k in z.files]
    got = harness.ort_run(harness.ort_session(str(dst)), feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_convert_external_data_options(tmp_path):
    dst = tmp_path / "ext.onnx"
    modelc.convert(str(CNN), str(dst), external_data=True, external_data_file=pathlib.Path("w.bin"),
                   size_threshold=np.int64(16))
    assert (tmp_path / "w.bin").stat().st_size > 0
    onnx.checker.check_model(str(dst), full_check=True)
    harness.assert_same_model(onnx.load(str(CNN)), onnx.load(str(dst)))  # loads the external data


def test_bytes_paths(tmp_path):
    dst = os.fsencode(tmp_path / "b.onnx")
    modelc.convert(os.fsencode(CNN), dst)
    assert os.path.isfile(dst)


@pytest.mark.parametrize("name", NAMES)
def test_inspect_agrees_with_onnx(name):
    path = FIXTURES / f"{name}.onnx"
    info = modelc.inspect(path)
    m = onnx.load(str(path))
    init = {t.name for t in m.graph.initializer}
    assert info["format"] == "onnx" and info["path"] == str(path)
    assert info["ir_version"] == m.ir_version
    assert info["opsets"] == {o.domain: o.version for o in m.opset_import}
    assert [i["name"] for i in info["inputs"]] == [i.name for i in m.graph.input if i.name not in init]
    assert [o["name"] for o in info["outputs"]] == [o.name for o in m.graph.output]
    assert info["producer"] == {"name": m.producer_name, "version": m.producer_version}
    # Parameters: every initializer and Constant node's value of the graph and its
    # subgraphs, counted by onnx.
    assert (info["parameter_count"], info["bytes_per_dtype"]) == harness.parameter_stats(m)


def test_backends():
    b = modelc.backends()
    assert b["backend"] in b["available"]
    assert {"cpu", "features", "kernels", "threads"} <= b.keys()


# ---- compress and verify ------------------------------------------------------------------


def _fixture_io(name: str) -> tuple[dict, list]:
    with np.load(FIXTURES / f"{name}.inputs.npz") as z:
        feeds = {k: z[k] for k in z.files}
    with np.load(FIXTURES / f"{name}.outputs.npz") as z:
        want = [z[k] for k in z.files]
    return feeds, want


def test_compress_checked_by_onnxruntime(tmp_path):
    dst = tmp_path / "int8.onnx"
    seen = []
    report = modelc.compress(CNN, dst, quantize="int8", per_channel=True, progress=lambda s, f: seen.append(s))
    assert seen[0] == "read" and seen[-1] == "done" and "write" in seen
    assert report["bytes_after"] == dst.stat().st_size < report["bytes_before"] == CNN.stat().st_size
    assert any("int8" in p["pass"] for p in report["passes"])
    # The oracle: onnx accepts the file, onnxruntime runs it, and it still computes
    # nearly what the original does.
    onnx.checker.check_model(str(dst), full_check=True)
    feeds, want = _fixture_io("cnn")
    got = harness.ort_run(harness.ort_session(str(dst)), feeds)
    for g, w in zip(got, want):
        cos = float(np.dot(g.ravel(), w.ravel()) / np.linalg.norm(g) / np.linalg.norm(w))
        assert cos > 0.999, cos


def test_verify(tmp_path):
    copy, q = tmp_path / "copy.onnx", tmp_path / "q.onnx"
    modelc.convert(CNN, copy)
    modelc.compress(CNN, q, quantize="int8")
    feeds, want = _fixture_io("cnn")
    labels = want[0].argmax(axis=1)  # what PyTorch predicted: both models must agree
    labels[0] = (labels[0] + 1) % want[0].shape[1]  # ...except on one row, to see it counted
    rep = modelc.verify(CNN, copy, inputs=feeds, labels=labels, atol=0.0, rtol=0.0)  # numpy arrays
    out = rep["outputs"][0]
    assert rep["pass"] and out["max_abs_error"] == 0 and out["top1_agreement"] == 1
    assert out["ref_accuracy"] == out["cand_accuracy"] == 1 - 1 / len(labels)
    with pytest.raises(modelc.VerificationFailedError, match="beyond tolerance") as e:
        modelc.verify(CNN, q, samples=2, seed=3)
    assert e.value.status == 6 and e.value.report["pass"] is False and e.value.report["samples"] == 2
    rep = modelc.verify(CNN, q, check=False)
    assert rep["pass"] is False and rep["outputs"][0]["max_abs_error"] > 0
    assert modelc.verify(CNN, q, atol=1.0, rtol=1.0)["pass"]
    # compress's own check, with a bar int4 cannot meet: the output is kept, the report says why.
    with pytest.raises(modelc.VerificationFailedError) as e:
        modelc.compress(CNN, tmp_path / "int4.onnx", quantize="int4", verify=True, min_cosine=1.0)
    assert e.value.report["verify"]["pass"] is False and (tmp_path / "int4.onnx").exists()
    with pytest.raises(modelc.InvalidArgumentError, match="samples"):
        modelc.verify(CNN, copy, samples="two")
    with pytest.raises(modelc.InvalidArgumentError, match="int3"):
        modelc.compress(CNN, tmp_path / "x.onnx", quantize="int3")
    with pytest.raises(TypeError):
        modelc.verify(CNN, copy, inputs=42)
    with pytest.raises(modelc.ModelcIOError):
        modelc.verify(CNN, tmp_path / "missing.onnx")


@pytest.mark.parametrize("stage", ["read", "write"])
def test_cancel_compress(stage, tmp_path):
    with pytest.raises(modelc.CancelledError):
        modelc.compress(CNN, tmp_path / "q.onnx", quantize="int8", progress=lambda s, f: s != stage)
    assert _listing(tmp_path) == []
    with pytest.raises(modelc.CancelledError):
        modelc.verify(CNN, CNN, progress=lambda s, f: False)


# ---- in memory ------------------------------------------------------------------------


def test_convert_bytes_matches_file_conversion(tmp_path):
    dst = tmp_path / "out.onnx"
    modelc.convert(CNN, dst)
    want = dst.read_bytes()
    data = CNN.read_bytes()
    for buf in (data, bytearray(data), memoryview(data), np.frombuffer(data, dtype=np.uint8)):
        assert modelc.convert_bytes(buf, "onnx") == want, type(buf)
    assert modelc.convert_bytes(data, from_format="onnx", to="onnx") == want
    onnx.checker.check_model(onnx.load_from_string(want))
    # A non-contiguous view is refused rather than copied wrongly.
    with pytest.raises(modelc.InvalidArgumentError):
        modelc.convert_bytes(np.frombuffer(data, dtype=np.uint8)[::2], "onnx")


def _initializers(model: onnx.ModelProto) -> dict:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


def test_convert_bytes_weight_formats(tmp_path):
    """ONNX to every weight format and back, in memory, each result read by the package
    its users read it with: safetensors, gguf, numpy, onnx."""
    import gguf
    from safetensors.numpy import load as st_load

    data = CNN.read_bytes()
    want = _initializers(onnx.load_from_string(data))

    st = modelc.convert_bytes(data, "safetensors")
    got = st_load(st)
    assert got.keys() == want.keys()
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v)
    dst = tmp_path / "cnn.safetensors"
    modelc.convert(CNN, dst)
    assert st == dst.read_bytes()  # the same bytes as the file conversion

    g = modelc.convert_bytes(data, "gguf")
    (tmp_path / "mem.gguf").write_bytes(g)
    r = gguf.GGUFReader(str(tmp_path / "mem.gguf"))
    assert {t.name for t in r.tensors} == set(want)
    for t in r.tensors:
        np.testing.assert_array_equal(np.asarray(t.data).reshape(want[t.name].shape), want[t.name])

    z = modelc.convert_bytes(st, "npy")  # weights only: NumPy holds no graph
    with np.load(io.BytesIO(z)) as npz:
        assert set(npz.files) == set(want)
        for k in npz.files:
            np.testing.assert_array_equal(npz[k], want[k])

    # Back from a weight format (detected from the bytes, and named) to ONNX.
    for back in (modelc.convert_bytes(st, "onnx"), modelc.convert_bytes(g, "onnx", from_format="gguf")):
        m = onnx.load_from_string(back)  # weights only: no graph for onnx.checker to check
        got = _initializers(m)
        assert got.keys() == want.keys()
        for k, v in want.items():
            np.testing.assert_array_equal(got[k], v)
    # A lone .npy array has no file name in memory: it is called arr_0.
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(st_load(modelc.convert_bytes(buf.getvalue(), "safetensors"))["arr_0"],
                                  np.arange(6, dtype=np.float32).reshape(2, 3))
    # GGUF quantization in memory.
    q = modelc.convert_bytes(st, "gguf", quantize="q8_0")
    assert len(q) < len(g)

    with pytest.raises(modelc.InvalidArgumentError, match="folder"):
        modelc.convert_bytes(data, "onnx", from_format="hf")
    with pytest.raises(modelc.InvalidArgumentError, match="max_shard_size"):
        modelc.convert_bytes(data, "safetensors", max_shard_size="1KB")
    with pytest.raises(modelc.UnsupportedError, match="weights only"):
        modelc.convert_bytes(data, "npy")
    with pytest.raises(modelc.CorruptFileError):
        modelc.convert_bytes(data, "onnx", from_format="safetensors")


def test_compress_bytes_checked_by_onnxruntime(tmp_path):
    dst = tmp_path / "int8.onnx"
    file_report = modelc.compress(CNN, dst, quantize="int8", per_channel=True)
    data = bytearray(CNN.read_bytes())
    before = bytes(data)
    seen = []
    model, report = modelc.compress_bytes(data, quantize="int8", per_channel=True, progress=lambda s, f: seen.append(s))
    assert bytes(data) == before  # the host's buffer is never written
    assert model == dst.read_bytes()  # the same bytes as the file
    assert seen[0] == "read" and seen[-1] == "done"
    assert report["input"] == "<memory>" and report["bytes_before"] == len(data) and report["bytes_after"] == len(model)
    assert report["passes"] == file_report["passes"]
    onnx.checker.check_model(onnx.load_from_string(model), full_check=True)
    feeds, want = _fixture_io("cnn")
    import onnxruntime as ort

    got = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(got, want):
        cos = float(np.dot(g.ravel(), w.ravel()) / np.linalg.norm(g) / np.linalg.norm(w))
        assert cos > 0.999, cos

    # Static quantization with calibration arrays, verified on the fixture's inputs.
    model, report = modelc.compress_bytes(
        memoryview(before), from_format="onnx", quantize="int8", mode="static", calibration=feeds,
        verify=True, inputs=feeds, min_cosine=0.9,
    )
    assert report["verify"]["pass"] and report["verify"]["reference"]["path"] == "<memory>"
    ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    # A bar int4 cannot meet: the output and the report ride on the exception, or come back.
    with pytest.raises(modelc.VerificationFailedError) as e:
        modelc.compress_bytes(before, quantize="int4", verify=True, min_cosine=1.0)
    assert e.value.report["verify"]["pass"] is False and e.value.output
    ort.InferenceSession(e.value.output, providers=["CPUExecutionProvider"])
    model, report = modelc.compress_bytes(before, quantize="int4", verify=True, min_cosine=1.0, check=False)
    assert model == e.value.output and report["verify"]["pass"] is False

    with pytest.raises(modelc.InvalidArgumentError, match="nothing to do"):
        modelc.compress_bytes(before)
    with pytest.raises(modelc.InvalidArgumentError, match="bogus"):
        modelc.compress_bytes(before, bogus=1)
    with pytest.raises(modelc.InvalidArgumentError, match="no graph"):
        modelc.compress_bytes(modelc.convert_bytes(before, "safetensors"), quantize="int8")
    with pytest.raises(modelc.CorruptFileError, match="not a model"):
        modelc.compress_bytes(b"garbage", quantize="int8")
    with pytest.raises(modelc.ModelcIOError, match="missing.json"):
        modelc.compress_bytes(before, recipe=tmp_path / "missing.json")
    for stage in ("read", "quantize", "write"):
        with pytest.raises(modelc.CancelledError, match=stage):
            modelc.compress_bytes(before, quantize="int8", progress=lambda s, f: s != stage)


# ---- errors: one class per status ----------------------------------------------------


def test_invalid_argument_errors(tmp_path):
    dst = tmp_path / "out.onnx"
    with pytest.raises(modelc.InvalidArgumentError, match="bogus_option") as e:
        modelc.convert(CNN, dst, bogus_option=1)
    assert isinstance(e.value, ValueError) and e.value.status == 2
    with pytest.raises(modelc.InvalidArgumentError, match="external_data"):
        modelc.convert(CNN, dst, external_data="yes")
    with pytest.raises(modelc.InvalidArgumentError, match="never overwrites its input"):
        modelc.convert(CNN, CNN)
    with pytest.raises(modelc.InvalidArgumentError, match="name the output format"):
        modelc.convert_bytes(CNN.read_bytes())
    assert not dst.exists()
    with pytest.raises(TypeError):
        modelc.convert(CNN, 42)
    with pytest.raises(TypeError):
        modelc.convert(CNN, dst, progress="yes")
    with pytest.raises(TypeError):
        modelc.convert(CNN, dst, to=object())


def test_io_error(tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(modelc.ModelcIOError) as e:
        modelc.inspect(missing)
    assert isinstance(e.value, OSError) and isinstance(e.value, modelc.ModelcError)
    assert e.value.status == 3 and str(missing) in str(e.value) and e.value.message == str(e.value)
    with pytest.raises(modelc.ModelcIOError):
        modelc.convert(CNN, tmp_path / "no" / "such" / "dir" / "out.onnx")


def test_corrupt_file_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 10)  # a field claiming 4 GiB
    with pytest.raises(modelc.CorruptFileError) as e:
        modelc.inspect(bad)
    assert e.value.status == 4 and str(bad) in str(e.value)
    with pytest.raises(modelc.CorruptFileError):
        modelc.convert_bytes(CNN.read_bytes()[:1000], "onnx", from_format="onnx")


def test_every_status_has_its_class():
    """The package's table against the library's own names for each status code."""
    lib = modelc._lib.lib
    classes = {
        1: modelc.InternalError,
        2: modelc.InvalidArgumentError,
        3: modelc.ModelcIOError,
        4: modelc.CorruptFileError,
        5: modelc.UnsupportedError,
        6: modelc.VerificationFailedError,
        7: modelc.CancelledError,
    }
    names = {1: "internal", 2: "invalid argument", 3: "I/O", 4: "corrupt", 5: "unsupported", 6: "verification", 7: "cancelled"}
    for status, cls in classes.items():
        assert cls.status == status
        assert names[status] in lib.modelc_status_string(status).decode()
        err = modelc.errors.error_for(status, "msg")
        assert type(err) is cls and isinstance(err, modelc.ModelcError) and str(err) == "msg"
    newer = modelc.errors.error_for(42, "from a newer library")
    assert type(newer) is modelc.ModelcError and newer.status == 42


# ---- progress and cancellation ---------------------------------------------------------


def test_progress_callback(tmp_path):
    seen = []
    modelc.convert(CNN, tmp_path / "out.onnx", progress=lambda stage, f: seen.append((stage, f)))
    stages = [s for i, (s, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != s]  # "write" per piece
    assert stages == ["read", "write", "done"]
    assert [f for _, f in seen] == sorted(f for _, f in seen) and seen[0][1] == 0 and seen[-1][1] == 1
    seen.clear()
    modelc.convert_bytes(CNN.read_bytes(), "onnx", progress=lambda stage, f: seen.append(stage))
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == ["read", "write", "done"]


def test_progress_true_draws_a_bar(tmp_path, capfd, monkeypatch):
    pytest.importorskip("tqdm")  # pinned in requirements-test.txt
    modelc.convert(CNN, tmp_path / "a.onnx", progress=True)
    err = capfd.readouterr().err
    assert "modelc write" in err and "%" in err and "|" in err  # tqdm's bar
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    modelc.convert(CNN, tmp_path / "b.onnx", progress=True)
    err = capfd.readouterr().err
    assert "modelc done: 100%" in err and "|" not in err


@pytest.mark.parametrize("stage", ["read", "write"])
def test_cancel(stage, tmp_path):
    src = tmp_path / "src.onnx"
    src.write_bytes(CNN.read_bytes())
    before = _listing(tmp_path)
    with pytest.raises(modelc.CancelledError, match=stage) as e:
        modelc.convert(src, tmp_path / "out.onnx", progress=lambda s, f: s != stage)
    assert e.value.status == 7
    assert _listing(tmp_path) == before  # no output, no temporary file
    with pytest.raises(modelc.CancelledError):
        modelc.convert_bytes(src.read_bytes(), "onnx", progress=lambda s, f: s != stage)


def test_callback_exception_cancels_and_is_reraised(tmp_path):
    class Stop(Exception):
        pass

    def progress(stage, f):
        if stage == "write":
            raise Stop("from the callback")

    with pytest.raises(Stop, match="from the callback"):
        modelc.convert(CNN, tmp_path / "out.onnx", progress=progress)
    assert _listing(tmp_path) == []


# ---- threads ---------------------------------------------------------------------------


def test_threads(tmp_path):
    """8 threads at once (ctypes releases the GIL): results right, errors each thread's own."""
    data = CNN.read_bytes()
    want = modelc.convert_bytes(data, "onnx")

    def work(i: int) -> None:
        for j in range(10):
            dst = tmp_path / f"t{i}.onnx"
            modelc.convert(CNN, dst, progress=lambda s, f: True)
            assert modelc.inspect(dst)["node_count"] == modelc.inspect(CNN)["node_count"]
            assert modelc.convert_bytes(data, "onnx") == want
            missing = tmp_path / f"missing-{i}-{j}.onnx"
            with pytest.raises(modelc.ModelcIOError, match=f"missing-{i}-{j}"):
                modelc.inspect(missing)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(work, i) for i in range(8)]:
            f.result()
