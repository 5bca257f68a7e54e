"""Tests of the test harness itself (no modelc involved): the semantic comparison must
equate typed-field and raw_data tensors everywhere in a model, and still see a change."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import harness

# (dtype, values): each is stored by make_tensor in a typed field (int32_data for
# float16, bfloat16, float8, int4 and bool; string_data for strings, ...).
TYPED = [
    (TensorProto.FLOAT, [1.5, -0.0, float("nan")]),
    (TensorProto.FLOAT16, [1.5, -2.0, 65504.0]),
    (TensorProto.BFLOAT16, [1.5, -2.0, 3.0]),
    (TensorProto.FLOAT8E4M3FN, [1.5, -2.0, 448.0]),
    (TensorProto.INT4, [1, -8, 7]),
    (TensorProto.UINT8, [0, 200, 255]),
    (TensorProto.BOOL, [True, False, True]),
    (TensorProto.INT64, [1, -(2**40), 3]),
    (TensorProto.DOUBLE, [1.5, -2.0, 1e300]),
    (TensorProto.COMPLEX64, [1.5 - 2j, 0.25j, 4.0]),
    (TensorProto.STRING, [b"a", b"", b"c"]),
]


def _model(raw: bool, change: float = 0.0) -> onnx.ModelProto:
    """A model with tensors in every kind of place, stored typed or as raw_data."""

    def t(name, dtype, vals):
        typed = helper.make_tensor(name, dtype, [len(vals)], vals)
        if not raw or dtype == TensorProto.STRING:  # strings have no raw_data form
            return typed
        tensor = numpy_helper.from_array(numpy_helper.to_array(typed), name)
        tensor.data_type = dtype  # keep the ONNX type where numpy's differs
        return tensor

    inits = [t(f"w{i}", d, v) for i, (d, v) in enumerate(TYPED)]
    inits[0] = t("w0", TensorProto.FLOAT, [1.5 + change, -0.0, float("nan")])
    sparse = helper.make_sparse_tensor(t("sv", TensorProto.FLOAT, [1.0, 2.0]), t("si", TensorProto.INT64, [0, 3]), [4])
    const = helper.make_node("Constant", [], ["c"], value=t("cv", TensorProto.FLOAT16, [1.0, 2.0]))
    body = helper.make_graph(
        [helper.make_node("Constant", [], ["b"], value=t("bv", TensorProto.INT64, [7]))],
        "body", [], [helper.make_tensor_value_info("b", TensorProto.INT64, [1])],
        [t("bw", TensorProto.BFLOAT16, [1.0])],
    )
    cond = helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=body)
    graph = helper.make_graph(
        [const, cond], "g",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1])],
        inits, sparse_initializer=[sparse],
    )
    fn = helper.make_function(
        "local", "F", [], ["o"],
        [helper.make_node("Constant", [], ["o"], value=t("fv", TensorProto.INT4, [1, 2, 3]))],
        [helper.make_opsetid("", 21)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], functions=[fn])
    ti = model.training_info.add()
    ti.initialization.CopyFrom(helper.make_graph([], "init", [], [], [t("tw", TensorProto.FLOAT, [3.0])]))
    return model


def test_typed_and_raw_are_equal():
    typed, raw = _model(raw=False), _model(raw=True)
    assert typed.SerializeToString() != raw.SerializeToString()  # else this proves nothing
    harness.assert_same_model(typed, raw)


def test_a_changed_value_is_seen():
    with pytest.raises(AssertionError, match="initializer: #0 'w0'"):
        harness.assert_same_model(_model(raw=False), _model(raw=True, change=1.0))


def test_empty_scalars_do_not_count_but_oneof_presence_does():
    a, b = _model(raw=False), _model(raw=False)
    b.graph.node[0].doc_string = ""  # explicit empty string: same meaning as absent
    harness.assert_same_model(a, b)
    # dim_value 0 (an empty axis) is not the same as an unknown axis.
    a.graph.input[0].type.tensor_type.shape.dim.add()
    b.graph.input[0].type.tensor_type.shape.dim.add().dim_value = 0
    with pytest.raises(AssertionError):
        harness.assert_same_model(a, b)


def test_same_value_is_bitwise():
    nan = np.array([np.nan], dtype=np.float32)
    assert harness.same_value([nan], [nan.copy()])
    assert not harness.same_value([np.array([0.0])], [np.array([-0.0])])
    assert not harness.same_value([np.array([1], np.int32)], [np.array([1], np.int64)])
    assert harness.same_value([[np.array(["x"], dtype=object)]], [[np.array(["x"], dtype=object)]])
