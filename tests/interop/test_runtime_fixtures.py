"""`modelc run` and `modelc verify` on the real-exporter models of testdata/onnx.

The oracle is onnxruntime: modelc's outputs must agree with it within 1e-4 relative.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import harness

FIXTURES = sorted(glob.glob(os.path.join(harness.REPO, "testdata", "onnx", "*.onnx")))
NAMES = [os.path.basename(p)[: -len(".onnx")] for p in FIXTURES]


def _path(name: str, suffix: str) -> str:
    return os.path.join(harness.REPO, "testdata", "onnx", f"{name}{suffix}")


def _inputs(name: str) -> dict:
    with np.load(_path(name, ".inputs.npz")) as z:
        return {k: z[k] for k in z.files}


def test_fixtures_present():
    assert {"cnn", "transformer", "lstm"} <= set(NAMES), NAMES


@pytest.mark.parametrize("name", NAMES)
def test_run_matches_onnxruntime(name, tmp_path):
    feeds = _inputs(name)
    sess = harness.ort_session(_path(name, ".onnx"))
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    r = harness.run_modelc("run", _path(name, ".onnx"), "--inputs", _path(name, ".inputs.npz"), "--output-dir", tmp_path, "--threads", 1)
    harness.expect_ok(r)
    for out, expected in want.items():
        got = np.load(tmp_path / f"{out}.npy")
        assert got.dtype == expected.dtype and got.shape == expected.shape, (out, got.dtype, got.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=f"{name}: output {out}")
    harness.note("runtime fixtures agreeing with onnxruntime", name)


def test_run_single_inputs_and_compressed_npz(tmp_path):
    """--input NAME=FILE.npy works alike, and numpy's compressed .npz is read too."""
    name = "cnn"
    feeds = _inputs(name)
    (key, arr), = feeds.items()
    np.save(tmp_path / "x.npy", np.asfortranarray(arr))  # Fortran order on purpose
    np.savez_compressed(tmp_path / "in.npz", **feeds)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    out1.mkdir(), out2.mkdir()
    harness.expect_ok(harness.run_modelc("run", _path(name, ".onnx"), "--input", f"{key}=" + str(tmp_path / "x.npy"), "--output-dir", out1))
    harness.expect_ok(harness.run_modelc("run", _path(name, ".onnx"), "--inputs", tmp_path / "in.npz", "--output-dir", out2))
    a, b = np.load(out1 / "logits.npy"), np.load(out2 / "logits.npy")
    np.testing.assert_array_equal(a, b)


def test_run_escapes_output_names(tmp_path):
    """An output name that is not a safe file name is escaped, and the mapping printed."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = onnx.helper.make_tensor_value_info("../y z", onnx.TensorProto.FLOAT, [2])
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["../y z"])], "g", [x], [y])
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.save(m, tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.array([-1, 2], np.float32))
    out = tmp_path / "out"
    out.mkdir()
    r = harness.run_modelc("run", tmp_path / "m.onnx", "--input", "x=" + str(tmp_path / "x.npy"), "--output-dir", out)
    harness.expect_ok(r)
    files = os.listdir(out)
    assert files == ["%2E.%2Fy%20z.npy"], files
    assert "../y z" in r.stdout
    np.testing.assert_array_equal(np.load(out / files[0]), [0, 2])


def test_run_reports_all_unsupported_ops(tmp_path):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    nodes = [onnx.helper.make_node("NoSuchOp", ["x"], ["t"], name="first", domain="example.com"),
             onnx.helper.make_node("NoSuchOpEither", ["t"], ["y"], name="second", domain="example.com")]
    g = onnx.helper.make_graph(nodes, "g", [x], [y])
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17), onnx.helper.make_opsetid("example.com", 1)])
    onnx.save(m, tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.zeros(2, np.float32))
    r = harness.run_modelc("run", tmp_path / "m.onnx", "--input", "x=" + str(tmp_path / "x.npy"), "--output-dir", tmp_path)
    assert r.returncode == 5, harness.describe(r)
    assert '"first"' in r.stderr and '"second"' in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "y.npy")


@pytest.mark.parametrize("name", NAMES)
def test_verify_self_is_exact(name):
    r = harness.run_modelc("verify", _path(name, ".onnx"), _path(name, ".onnx"), "--inputs", _path(name, ".inputs.npz"), "--json")
    harness.expect_ok(r)
    rep = json.loads(r.stdout)
    assert rep["pass"] and rep["outputs"]
    for o in rep["outputs"]:
        assert o["max_abs_error"] == 0 and o["mismatches"] == 0 and o["cosine"] == pytest.approx(1), o
    assert rep["reference"]["parameter_count"] == rep["candidate"]["parameter_count"] > 0


def test_verify_catches_a_perturbation(tmp_path):
    m = onnx.load(_path("cnn", ".onnx"))
    t = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(t).copy()
    w.flat[0] += 0.5
    t.CopyFrom(numpy_helper.from_array(w, t.name))
    onnx.save(m, tmp_path / "perturbed.onnx")
    r = harness.run_modelc("verify", _path("cnn", ".onnx"), tmp_path / "perturbed.onnx", "--samples", 4, "--seed", 7, "--json")
    assert r.returncode == 6, harness.describe(r)
    rep = json.loads(r.stdout)
    assert not rep["pass"] and rep["samples"] == 4
    (o,) = rep["outputs"]
    assert o["max_abs_error"] > 1e-3 and o["mismatches"] > 0 and o["top1_agreement"] is not None
    # A generous tolerance accepts the same pair.
    r = harness.run_modelc("verify", _path("cnn", ".onnx"), tmp_path / "perturbed.onnx", "--samples", 4, "--seed", 7, "--atol", 10)
    harness.expect_ok(r)


def test_verify_labels_accuracy(tmp_path):
    feeds = _inputs("cnn")
    sess = harness.ort_session(_path("cnn", ".onnx"))
    logits = sess.run(None, feeds)[0]
    labels = logits.argmax(axis=1).astype(np.int64)
    labels[0] = (labels[0] + 1) % logits.shape[1]  # one wrong label: accuracy 1/2
    np.save(tmp_path / "labels.npy", labels)
    r = harness.run_modelc("verify", _path("cnn", ".onnx"), _path("cnn", ".onnx"), "--inputs", _path("cnn", ".inputs.npz"),
                           "--labels", tmp_path / "labels.npy", "--json")
    harness.expect_ok(r)
    (o,) = json.loads(r.stdout)["outputs"]
    assert o["ref_accuracy"] == o["cand_accuracy"] == pytest.approx(1 - 1 / len(labels))


def test_npz_is_a_weight_only_format(tmp_path):
    np.savez(tmp_path / "w.npz", a=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.array([1, 2], np.int64))
    r = harness.run_modelc("info", tmp_path / "w.npz", "--json")
    harness.expect_ok(r)
    info = json.loads(r.stdout)
    assert info["format"] == "npy" and info["parameter_count"] == 8
    harness.expect_ok(harness.run_modelc("convert", tmp_path / "w.npz", tmp_path / "copy.npz"))
    with np.load(tmp_path / "copy.npz") as z:
        np.testing.assert_array_equal(z["a"], np.arange(6, dtype=np.float32).reshape(2, 3))
        np.testing.assert_array_equal(z["b"], [1, 2])
