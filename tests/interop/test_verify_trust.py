"""Issue 11, "verify you can trust" and "loading real exporters' files", checked against
onnxruntime: graphs written out of topological order and inputs declared with
dim_value -1 run in modelc as in onnxruntime; verify feeds a float16 model made by
`modelc compress --quantize fp16` float32 inputs; labels whose count does not match are
an error; NaN and Inf never break the JSON reports (CLI, C ABI through Python); `modelc
info` counts Constant-node and subgraph weights.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import harness

DIGITS = os.path.join(harness.REPO, "testdata", "digits")
MLP = os.path.join(DIGITS, "mlp.onnx")
CNN = os.path.join(DIGITS, "cnn.onnx")
TEST_INPUTS = os.path.join(DIGITS, "test_inputs.npz")
TEST_LABELS = os.path.join(DIGITS, "test_labels.npy")


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which Python's parser would take."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def _save(model: onnx.ModelProto, path) -> str:
    model.ir_version = 8  # what the venv's onnxruntime loads
    onnx.save(model, str(path))
    return str(path)


def _run_both(path: str, feeds: dict, tmp_path) -> tuple[list, list]:
    """onnxruntime's and modelc run's outputs for feeds."""
    sess = harness.ort_session(path)
    want = sess.run(None, feeds)
    npz = tmp_path / "in.npz"
    np.savez(npz, **feeds)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    harness.expect_ok(harness.run_modelc("run", path, "--inputs", npz, "--output-dir", out))
    got = [np.load(out / f"{o.name}.npy") for o in sess.get_outputs()]
    return want, got


def _unsorted_model(dim: int) -> onnx.ModelProto:
    """y = If(sum(x) > 0, then: relu(x)·w + late, else: -late), late = x·2, with the
    main graph's nodes in reverse order: late is made after the If that reads it from
    inside its branches. (onnxruntime sorts a main graph but insists that subgraphs come
    sorted; modelc sorts both, which engine/runtime's tests check.)"""
    w = numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), "w")
    two = numpy_helper.from_array(np.array(2, np.float32), "two")
    then = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["t_relu"], name="t_relu"),
            helper.make_node("MatMul", ["t_relu", "w"], ["t_mm"], name="t_mm"),
            helper.make_node("Add", ["t_mm", "late3"], ["t_out"], name="t_add"),
        ],
        "then", [], [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)])
    els = helper.make_graph(
        [helper.make_node("Neg", ["late3"], ["e_out"], name="e_neg")],
        "else", [], [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then, else_branch=els),
        helper.make_node("Slice", ["late", "s0", "s3", "s1"], ["late3"], name="slice"),
        helper.make_node("Mul", ["x", "two"], ["late"], name="late"),
        helper.make_node("Greater", ["sum", "zero"], ["cond"], name="gt"),
        helper.make_node("ReduceSum", ["x"], ["sum"], name="sum", keepdims=0),
        helper.make_node("Constant", [], ["zero"], name="zero", value=numpy_helper.from_array(np.array(0, np.float32))),
    ]
    inits = [w, two] + [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in (("s0", 0), ("s3", 3), ("s1", 1))]
    g = helper.make_graph(nodes, "unsorted", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [dim, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("rows", [1, 5])
def test_unsorted_graph_and_free_dim_agree_with_onnxruntime(rows, tmp_path):
    path = _save(_unsorted_model(-1), tmp_path / "unsorted.onnx")
    rng = np.random.default_rng(rows)
    for sign in (1, -1):  # both branches
        x = (sign * np.abs(rng.standard_normal((rows, 4)))).astype(np.float32)
        want, got = _run_both(path, {"x": x}, tmp_path)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    info = json.loads(harness.run_modelc("info", "--json", path).stdout)
    assert info["inputs"][0]["shape"] == [None, 4]  # as onnxruntime shows it


def test_zero_dim_is_fixed_as_in_onnxruntime(tmp_path):
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [0, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "zero.onnx")
    sess = harness.ort_session(path)
    np.savez(tmp_path / "one.npz", x=np.ones((1, 3), np.float32))
    with pytest.raises(Exception, match="invalid dimensions"):
        sess.run(None, {"x": np.ones((1, 3), np.float32)})
    r = harness.run_modelc("run", path, "--inputs", tmp_path / "one.npz", "--output-dir", tmp_path)
    assert r.returncode == 2 and "dimension 0 must be 0" in r.stderr, harness.describe(r)
    want, got = _run_both(path, {"x": np.ones((0, 3), np.float32)}, tmp_path)
    assert got[0].shape == want[0].shape == (0, 3)


def test_cycle_and_missing_input_are_named(tmp_path):
    def model(nodes):
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "bad.onnx")

    np.savez(tmp_path / "x.npz", x=np.ones(2, np.float32))
    path = model([helper.make_node("Add", ["x", "b"], ["a"], name="A"), helper.make_node("Relu", ["a"], ["b"], name="B"),
                  helper.make_node("Identity", ["a"], ["y"], name="C")])
    r = harness.run_modelc("run", path, "--inputs", tmp_path / "x.npz", "--output-dir", tmp_path)
    assert r.returncode == 4 and 'node "A" (Add): input "b"' in r.stderr and "cycle" in r.stderr, harness.describe(r)
    path = model([helper.make_node("Add", ["x", "ghost"], ["y"], name="A")])
    r = harness.run_modelc("run", path, "--inputs", tmp_path / "x.npz", "--output-dir", tmp_path)
    assert r.returncode == 4 and 'node "A" (Add)' in r.stderr and '"ghost"' in r.stderr, harness.describe(r)


def test_onnxruntime_quantized_model_runs(tmp_path):
    """onnxruntime's own quantize_dynamic output (its quantizer is the writer the issue
    names for out-of-order graphs) runs in modelc as in onnxruntime."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    q = tmp_path / "mlp-ort-dyn.onnx"
    quantization.quantize_dynamic(MLP, str(q))
    x = np.load(TEST_INPUTS)["input"][:8]
    want, got = _run_both(str(q), {"input": x}, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-4)


def test_verify_feeds_a_float16_model_from_compress(tmp_path):
    fp16 = tmp_path / "mlp-fp16.onnx"
    harness.expect_ok(harness.run_modelc("compress", MLP, fp16, "--quantize", "fp16"))
    assert onnx.load(str(fp16)).graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    for extra in ([], ["--inputs", TEST_INPUTS, "--labels", TEST_LABELS]):
        r = harness.run_modelc("verify", MLP, fp16, "--atol", "0.05", "--rtol", "0.05", "--json", *extra)
        harness.expect_ok(r)
        rep = json.loads(r.stdout)
        assert rep["pass"] and rep["input_casts"] == ['candidate input "input": float32 → float16']
        assert rep["outputs"][0]["non_finite"] == 0
    out = rep["outputs"][0]
    assert abs(out["ref_accuracy"] - out["cand_accuracy"]) < 0.01
    # onnxruntime agrees that the fp16 model computes what modelc says.
    x = np.load(TEST_INPUTS)["input"][:16]
    want = harness.ort_session(str(fp16)).run(None, {"input": x.astype(np.float16)})[0]
    ref = harness.ort_session(MLP).run(None, {"input": x})[0]
    np.testing.assert_allclose(want.astype(np.float32), ref, atol=0.05, rtol=0.05)
    # compress's own check states its rule beside verify's.
    r = harness.run_modelc("compress", MLP, tmp_path / "again.onnx", "--quantize", "fp16", "--verify")
    harness.expect_ok(r)
    assert "cosine ≥ 0.95" in r.stdout and "atol 1e-05" in r.stdout and "float32 → float16" in r.stdout


def test_labels_count_must_match(tmp_path):
    labels = np.load(TEST_LABELS)
    short = tmp_path / "short.npy"
    np.save(short, labels[:-1])
    r = harness.run_modelc("verify", CNN, CNN, "--inputs", TEST_INPUTS, "--labels", short)
    assert r.returncode == 2, harness.describe(r)
    for s in (str(short), TEST_INPUTS, f"{len(labels) - 1} labels for {len(labels)} rows"):
        assert s in r.stderr, r.stderr
    r = harness.run_modelc("compress", CNN, tmp_path / "q.onnx", "--quantize", "int8", "--verify",
                           "--inputs", TEST_INPUTS, "--labels", short)
    assert r.returncode == 2 and f"{len(labels) - 1} labels" in r.stderr, harness.describe(r)


def _div_by_zero(tmp_path) -> tuple[str, str]:
    """ref: y = x; cand: y = x / 0 (±Inf, NaN at 0)."""
    def model(name, nodes, inits):
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], inits)
        return _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / name)

    ref = model("ref.onnx", [helper.make_node("Identity", ["x"], ["y"])], [])
    cand = model("cand.onnx", [helper.make_node("Div", ["x", "z"], ["y"])], [numpy_helper.from_array(np.array(0, np.float32), "z")])
    return ref, cand


def test_verify_json_with_nan(tmp_path):
    ref, cand = _div_by_zero(tmp_path)
    np.savez(tmp_path / "x.npz", x=np.array([1, 0, -2, 3], np.float32))
    r = harness.run_modelc("verify", ref, cand, "--inputs", tmp_path / "x.npz", "--json")
    assert r.returncode == 6, harness.describe(r)
    rep = strict_json(r.stdout)
    out = rep["outputs"][0]
    assert rep["pass"] is False and out["non_finite"] == 4 and out["max_abs_error"] is None
    r = harness.run_modelc("verify", ref, cand, "--inputs", tmp_path / "x.npz")
    assert r.returncode == 6 and "NaN/Inf 4" in r.stdout and "4 NaN/Inf" in r.stderr, harness.describe(r)


def test_compress_json_with_inf(tmp_path):
    """x·W overflows float16 (|y| ≈ 3.6e5 > 65504): the fp16 model's outputs are Inf
    where the original's are finite. compress --verify --json reports it, in JSON."""
    w = numpy_helper.from_array(np.full((4, 3), 300, np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w])
    src = _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "big.onnx")
    np.savez(tmp_path / "x.npz", x=np.full((2, 4), 300, np.float32))
    r = harness.run_modelc("compress", src, tmp_path / "h.onnx", "--quantize", "fp16", "--keep-io-types",
                           "--verify", "--inputs", tmp_path / "x.npz", "--json")
    assert r.returncode in (0, 6), harness.describe(r)
    rep = strict_json(r.stdout)
    v = rep["verify"]["outputs"][0]
    if r.returncode == 6:  # the MatMul was converted and overflows
        assert v["non_finite"] == 6 and v["max_abs_error"] is None
    else:  # a compressor that keeps overflowing ops in float32 is right too
        assert v["non_finite"] == 0 and rep["verify"]["pass"]


def test_python_reports_with_nan(tmp_path):
    sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
    os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
    import modelc

    ref, cand = _div_by_zero(tmp_path)
    rep = modelc.verify(ref, cand, inputs={"x": np.array([1, 0, -2, 3], np.float32)}, check=False)
    assert rep["pass"] is False and rep["outputs"][0]["non_finite"] == 4 and rep["outputs"][0]["cosine"] is None
    with pytest.raises(modelc.VerificationFailedError) as e:
        modelc.verify(ref, cand, inputs={"x": np.array([1, 0, -2, 3], np.float32)})
    assert e.value.report["outputs"][0]["non_finite"] == 4


def test_info_counts_constant_and_subgraph_weights(tmp_path):
    k = numpy_helper.from_array(np.ones((5, 3), np.float32))
    b = numpy_helper.from_array(np.ones(3, np.float16), "b")
    branch = helper.make_graph([helper.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0])], "br", [],
                               [helper.make_tensor_value_info("c", TensorProto.FLOAT, None)], [b])
    g = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=k),
         helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)],
        "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None), helper.make_tensor_value_info("k", TensorProto.FLOAT, None)])
    path = _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "consts.onnx")
    r = harness.run_modelc("info", "--json", path)
    harness.expect_ok(r)
    info = json.loads(r.stdout)
    assert info["parameter_count"] == 15 + 2 * (3 + 3)
    assert info["bytes_per_dtype"] == {"float32": 4 * (15 + 2 * 3), "float16": 2 * 2 * 3}
    assert (info["parameter_count"], info["bytes_per_dtype"]) == harness.parameter_stats(onnx.load(path))


def test_candidate_onnxruntime_refuses_fails_verification(tmp_path):
    """ReduceMean's axes attribute is gone in opset 18: onnxruntime refuses the file, so
    verify must fail it (exit 6), however close its numbers would be."""
    def model(opset, name):
        g = helper.make_graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=[1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        return _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), tmp_path / name)

    ref, cand = model(17, "ref.onnx"), model(18, "cand.onnx")
    with pytest.raises(Exception):
        harness.ort_session(cand)
    r = harness.run_modelc("verify", ref, cand, "--json")
    assert r.returncode == 6, harness.describe(r)
    rep = strict_json(r.stdout)
    assert rep["pass"] is False and "axes" in rep["problems"][0]
