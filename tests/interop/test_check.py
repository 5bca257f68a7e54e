"""modelc check against onnxruntime's loader: models that break the operator schemas.

Each model below is one onnxruntime refuses to load. `modelc check` must call it invalid
(exit 4) and name the node and the rule, and `modelc convert` must refuse to write it
(exit 4, no output file). The ONNX node-test round trip (test_onnx_roundtrip.py) covers
the other side: every one of those 1,884 valid models passes the same check on its way
through `modelc convert`.
"""

from __future__ import annotations

import json
import os

import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import harness

X = h.make_tensor_value_info("x", T.FLOAT, [2, 3])
Y = h.make_tensor_value_info("y", T.FLOAT, None)


def _model(nodes, opset, inits=(), outputs=(Y,), inputs=(X,), extra_opsets=()):
    g = h.make_graph(nodes, "g", list(inputs), list(outputs), list(inits))
    # IR 8: new enough for opset 18, old enough for onnxruntime (whose refusal must be
    # about the schemas, not the IR version).
    return h.make_model(g, ir_version=8, opset_imports=[h.make_opsetid("", opset), *extra_opsets])


def _if_model(branch_type):
    then = h.make_graph([h.make_node("Identity", ["x"], ["t"])], "then", [], [h.make_tensor_value_info("t", T.FLOAT, None)])
    els = h.make_graph([h.make_node("Cast", ["x"], ["e"], to=branch_type)], "else", [], [h.make_tensor_value_info("e", branch_type, None)])
    cond = h.make_tensor("cond", T.BOOL, [], [True])
    return _model([h.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=els, name="if")], 17, inits=[cond])


# name: (model, words the problem must contain)
INVALID = {
    "reduce-axes-attribute-at-18": (
        _model([h.make_node("ReduceMean", ["x"], ["y"], axes=[1], name="rm")], 18),
        'node "rm" (ReduceMean): ReduceMean-18 has no attribute "axes"',
    ),
    "squeeze-axes-attribute-at-13": (
        _model([h.make_node("Squeeze", ["x"], ["y"], axes=[0], name="sq")], 13),
        'Squeeze-13 has no attribute "axes"',
    ),
    "bfloat16-cast-at-12": (
        _model([h.make_node("Cast", ["x"], ["b"], to=T.BFLOAT16, name="c1"), h.make_node("Cast", ["b"], ["y"], to=T.FLOAT, name="c2")], 12),
        'node "c1" (Cast): output "b" is tensor(bfloat16), which Cast-9 does not allow',
    ),
    "gemm-float16-weight-float-input": (
        _model([h.make_node("Gemm", ["x", "w"], ["y"], name="gemm")], 13, inits=[h.make_tensor("w", T.FLOAT16, [3, 3], [0] * 9)]),
        "type parameter T of Gemm is bound to different types (tensor(float) and tensor(float16))",
    ),
    "if-branches-disagree": (_if_model(T.FLOAT16), "tensor(float) in then_branch but tensor(float16) in else_branch"),
    "op-newer-than-opset": (_model([h.make_node("Gelu", ["x"], ["y"], name="g")], 17), "Gelu does not exist in opset 17"),
    "missing-required-attribute": (_model([h.make_node("Cast", ["x"], ["y"], name="c")], 13), 'required attribute "to" of Cast-13 is missing'),
    "attribute-of-wrong-type": (
        _model([h.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=2)], 13),
        'attribute "alpha" is of type INT, LeakyRelu-6 wants FLOAT',
    ),
    "undefined-input": (_model([h.make_node("Relu", ["nope"], ["y"], name="r")], 13), 'input "nope" is not produced by any node'),
    "domain-not-imported": (
        _model([h.make_node("Relu", ["x"], ["r"], name="r"), h.make_node("Custom", ["r"], ["y"], domain="my.ops", name="c")], 13),
        'domain "my.ops" is not imported',
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_check_refuses_what_onnxruntime_refuses(name, tmp_path):
    model, words = INVALID[name]
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(Exception) as refused:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert "IR version" not in str(refused.value)

    r = harness.run_modelc("check", path, "--json")
    assert r.returncode == 4, harness.describe(r)
    rep = json.loads(r.stdout)
    assert not rep["valid"]
    rules = [f'node "{p["node"]}" ({p["op"]}): {p["rule"]}' if p.get("node") else p["rule"] for p in rep["problems"]]
    assert any(words in rule for rule in rules), rules

    r = harness.run_modelc("check", path)
    assert r.returncode == 4 and "INVALID" in r.stdout, harness.describe(r)
    r = harness.run_modelc("info", path, "--json")
    harness.expect_ok(r)
    info = json.loads(r.stdout)
    assert info["valid"] is False and info["problems"], info

    out = tmp_path / "out.onnx"
    r = harness.run_modelc("convert", path, out)
    assert r.returncode == 4, harness.describe(r)
    assert "not written" in r.stderr and words.split(":")[-1].strip()[:30] in r.stderr, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"], "convert left files behind"


def test_check_accepts_valid_models_with_subgraphs_and_other_domains(tmp_path):
    model = _if_model(T.FLOAT)
    # A com.microsoft op: not covered by the ONNX schemas, so not checked.
    model.graph.node.append(h.make_node("FastGelu", ["y"], ["r"], name="fg", domain="com.microsoft"))
    model.graph.output.append(h.make_tensor_value_info("r", T.FLOAT, None))
    model.opset_import.append(h.make_opsetid("com.microsoft", 1))
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    r = harness.run_modelc("check", path)
    assert r.returncode == 0 and "valid" in r.stdout, harness.describe(r)
    assert json.loads(harness.run_modelc("info", path, "--json").stdout)["valid"] is True
    for fixture in ("cnn", "lstm", "loop", "transformer"):
        r = harness.run_modelc("check", os.path.join(harness.REPO, "testdata", "onnx", fixture + ".onnx"))
        assert r.returncode == 0, harness.describe(r)


def test_unsorted_nodes_are_sorted_on_load(tmp_path):
    # onnxruntime's quantizer writes graphs like this: onnxruntime runs them, onnx.checker
    # refuses them. modelc reads them in order and writes them sorted.
    nodes = [h.make_node("Relu", ["a"], ["y"], name="second"), h.make_node("Neg", ["x"], ["a"], name="first")]
    src = tmp_path / "unsorted.onnx"
    onnx.save(_model(nodes, 13, outputs=[h.make_tensor_value_info("y", T.FLOAT, [2, 3])]), src)
    ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    assert harness.run_modelc("check", src).returncode == 0
    out = tmp_path / "sorted.onnx"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    onnx.checker.check_model(str(out), full_check=True)
    assert [n.name for n in onnx.load(str(out)).graph.node] == ["first", "second"]


def test_schema_table_is_generated_from_the_pinned_onnx(tmp_path):
    # The checker's table must follow the onnx release the tests pin: upgrading onnx in
    # requirements-test.txt without `go generate ./engine/ir/schema` fails here.
    import subprocess
    import sys

    out = tmp_path / "schemas.json.gz"
    subprocess.run([sys.executable, os.path.join(harness.REPO, "scripts", "gen_onnx_schemas.py"), str(out)],
                   check=True, capture_output=True)
    committed = os.path.join(harness.REPO, "engine", "ir", "schema", "onnx_schemas.json.gz")
    assert out.read_bytes() == open(committed, "rb").read(), "run: go generate ./engine/ir/schema"
