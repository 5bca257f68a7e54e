"""Training (engine/train) against torch: the same graph, weights, batch and optimiser
give the same weights after a few steps (torch.autograd in float64 is the oracle; modelc
trains in float64 and stores float32). Then the digits accuracy numbers of compress
--recover and distill, measured by onnxruntime on the fixed test split.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import harness
from test_torch import SYSTEM_PYTHON, needs_torch

DIGITS = os.path.join(harness.REPO, "testdata", "digits")
STEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_train", "step.py")


def _graph_json(model: onnx.ModelProto) -> dict:
    nodes = []
    for n in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else list(v) if isinstance(v, (list, tuple)) else v)
                 for k, v in attrs.items()}
        nodes.append({"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output), "attrs": attrs})
    return {"nodes": nodes, "output": model.graph.output[0].name}


def _weights(model: onnx.ModelProto) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


@needs_torch
@pytest.mark.parametrize("name,opt,lr,momentum,wd", [
    ("cnn", "sgd", 0.05, 0.9, 0.0),
    ("cnn", "adam", 0.001, 0.0, 0.01),
    ("mlp", "sgd", 0.1, 0.5, 0.001),
])
def test_training_steps_equal_torch(tmp_path, name, opt, lr, momentum, wd):
    """Three full-batch steps (cross-entropy with labels, no distillation term) of modelc
    distill and of torch.optim on the same graph give the same weights (--float64: the
    matrix products in float64 too, as torch computes them here)."""
    src = os.path.join(DIGITS, f"{name}.onnx")
    model = onnx.load(src)
    x = np.load(os.path.join(DIGITS, "test_inputs.npz"))["input"][:48]
    y = np.load(os.path.join(DIGITS, "test_labels.npy"))[:48]
    np.savez(tmp_path / "batch.npz", input=x)
    np.save(tmp_path / "labels.npy", y)
    np.savez(tmp_path / "weights.npz", **_weights(model))
    (tmp_path / "graph.json").write_text(json.dumps(_graph_json(model)))
    out = tmp_path / "out.onnx"
    r = harness.run_modelc("distill", src, src, str(out), "--data", str(tmp_path / "batch.npz"),
                           "--labels", str(tmp_path / "labels.npy"), "--alpha", "0", "--held-out", "0",
                           "--epochs", "3", "--batch-size", "48", "--optimizer", opt, "--lr", str(lr),
                           "--momentum", str(momentum), "--weight-decay", str(wd), "--schedule", "constant", "--float64",
                           "--json")
    harness.expect_ok(r)
    subprocess.run([SYSTEM_PYTHON, STEP, str(tmp_path / "graph.json"), str(tmp_path / "weights.npz"),
                    str(tmp_path / "batch.npz"), str(tmp_path / "labels.npy"), str(tmp_path / "torch.npz"),
                    opt, str(lr), "3", str(momentum), str(wd)], check=True)
    want = dict(np.load(tmp_path / "torch.npz"))
    got = _weights(onnx.load(str(out)))
    before = _weights(model)
    for k, w in want.items():
        moved = np.abs(w - before[k]).max()
        assert moved > 1e-4, f"{k}: torch's steps moved it only {moved}"
        np.testing.assert_allclose(got[k], w, rtol=1e-5, atol=2e-6, err_msg=k)


@needs_torch
@pytest.mark.parametrize("mode,fresh", [("train", False), ("auto", True)])
def test_batchnorm_train_mode_equals_torch(tmp_path, mode, fresh):
    """BatchNormalization in train mode (--batchnorm train, or auto on a layer whose
    statistics are fresh): two SGD steps give torch's weights and torch's running mean and
    variance (momentum 0.8 here: ONNX's attribute, torch's 0.2)."""
    from onnx import TensorProto, helper as h

    rng = np.random.default_rng(7)
    w = {"g": rng.standard_normal(4), "b": rng.standard_normal(4),
         "mean": np.zeros(4) if fresh else rng.standard_normal(4),
         "var": np.ones(4) if fresh else 1.5 + np.abs(rng.standard_normal(4)),
         "wout": rng.standard_normal((3, 144)) / 12}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    x = (2 + 3 * rng.standard_normal((8, 4, 6, 6))).astype(np.float32)
    nodes = [h.make_node("BatchNormalization", ["x", "g", "b", "mean", "var"], ["y"], momentum=0.8),
             h.make_node("Flatten", ["y"], ["flat"]), h.make_node("Gemm", ["flat", "wout"], ["logits"], transB=1)]
    model = h.make_model(h.make_graph(nodes, "bn", [h.make_tensor_value_info("x", TensorProto.FLOAT, [8, 4, 6, 6])],
                                      [h.make_tensor_value_info("logits", TensorProto.FLOAT, [8, 3])],
                                      [numpy_helper.from_array(v, k) for k, v in w.items()]),
                         opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    src = tmp_path / "m.onnx"
    onnx.save(model, str(src))
    np.savez(tmp_path / "batch.npz", x=x)
    np.save(tmp_path / "labels.npy", np.array([0, 2, 1, 2, 1, 0, 0, 1], np.int64))
    np.savez(tmp_path / "weights.npz", **w)
    (tmp_path / "graph.json").write_text(json.dumps(_graph_json(model)))
    out = tmp_path / "out.onnx"
    harness.expect_ok(harness.run_modelc("distill", str(src), str(src), str(out), "--data", str(tmp_path / "batch.npz"),
                                         "--labels", str(tmp_path / "labels.npy"), "--alpha", "0", "--held-out", "0",
                                         "--epochs", "2", "--batch-size", "8", "--optimizer", "sgd", "--lr", "0.5",
                                         "--schedule", "constant", "--float64", "--batchnorm", mode))
    subprocess.run([SYSTEM_PYTHON, STEP, str(tmp_path / "graph.json"), str(tmp_path / "weights.npz"),
                    str(tmp_path / "batch.npz"), str(tmp_path / "labels.npy"), str(tmp_path / "torch.npz"),
                    "sgd", "0.5", "2", "0", "0", "mean,var"], check=True, env={**os.environ, "BN_TRAIN": "1"})
    want = dict(np.load(tmp_path / "torch.npz"))
    got = _weights(onnx.load(str(out)))
    assert set(want) == {"g", "b", "wout", "mean", "var"}
    for k, v in want.items():
        assert np.abs(v - w[k]).max() > 1e-3, f"{k} did not move"
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5, err_msg=k)
    # frozen (and auto on trained statistics): the running statistics stay
    out2 = tmp_path / "frozen.onnx"
    harness.expect_ok(harness.run_modelc("distill", str(src), str(src), str(out2), "--data", str(tmp_path / "batch.npz"),
                                         "--labels", str(tmp_path / "labels.npy"), "--alpha", "0", "--held-out", "0",
                                         "--epochs", "1", "--batchnorm", "frozen"))
    got = _weights(onnx.load(str(out2)))
    np.testing.assert_array_equal(got["mean"], w["mean"])
    np.testing.assert_array_equal(got["var"], w["var"])


def test_python_distill_and_cancel(tmp_path):
    """The Python door: distill() with arrays for data, its report, and cancelling from
    the progress callback (no output left)."""
    if not os.environ.get("MODELC_LIBRARY"):
        os.environ["MODELC_LIBRARY"] = os.path.join(harness.REPO, "lib", "libmodelc.so")
    sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
    import modelc

    x = np.load(os.path.join(DIGITS, "test_inputs.npz"))["input"][:64]
    src = os.path.join(DIGITS, "mlp.onnx")
    stages = []
    rep = modelc.distill(src, "auto:width=0.5", tmp_path / "s.onnx", data={"input": x}, epochs=2,
                         progress=lambda stage, f: stages.append(stage))
    assert rep["student_params"] < rep["teacher_params"]
    assert [e["epoch"] for e in rep["train"]["epochs"]] == [1, 2]
    assert any(s.startswith("epoch 2/2") for s in stages)
    with pytest.raises(modelc.CancelledError):
        modelc.distill(src, "auto:width=0.5", tmp_path / "c.onnx", data={"input": x}, epochs=5,
                       progress=lambda stage, f: not stage.startswith("epoch 1/"))
    assert not (tmp_path / "c.onnx").exists()
    with pytest.raises(modelc.InvalidArgumentError, match="epoch"):
        modelc.distill(src, src, tmp_path / "d.onnx", data={"input": x}, epoch=3)


# ---- the digits numbers ----------------------------------------------------------------------
#
# Training data: the digits training split (sample i of digits.csv.gz with i mod 5 != 0, pixels
# / 16), as testdata/digits/train wrote it; accuracy by onnxruntime on the fixed test split.


@pytest.fixture(scope="module")
def digits_train(tmp_path_factory):
    rows = np.loadtxt(gzip.open(os.path.join(DIGITS, "digits.csv.gz")), delimiter=",")
    train = np.arange(len(rows)) % 5 != 0
    d = tmp_path_factory.mktemp("digits")
    np.savez(d / "train.npz", input=(rows[train, :64] / 16).astype(np.float32))
    np.save(d / "train_labels.npy", rows[train, 64].astype(np.int64))
    return d


def _accuracy(path) -> float:
    x = np.load(os.path.join(DIGITS, "test_inputs.npz"))["input"]
    y = np.load(os.path.join(DIGITS, "test_labels.npy"))
    out = harness.ort_session(str(path)).run(None, {"input": x})[0]
    return 100 * float((out.argmax(1) == y).mean())


def _params(path) -> int:
    return sum(int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer)


@pytest.mark.parametrize("flags", [["--prune", "magnitude", "--sparsity", "0.5"], ["--prune", "2:4"], ["--quantize", "int4"]],
                         ids=["prune50", "2of4", "int4"])
def test_recover_digits_cnn(tmp_path, digits_train, flags):
    """compress --recover brings the pruned or int4 digits CNN back within 0.5 point of the
    original (measured: 95.00, 94.44, 98.61 % before recovery; 98.89 % after; original
    99.17 %), and the compression is kept."""
    src = os.path.join(DIGITS, "cnn.onnx")
    out = tmp_path / "out.onnx"
    harness.expect_ok(harness.run_modelc("compress", src, str(out), *flags, "--recover",
                                         "--data", str(digits_train / "train.npz"), timeout=300))
    base = _accuracy(src)
    assert _accuracy(out) >= base - 0.5
    m = onnx.load(str(out))
    if "--prune" in flags:
        w = numpy_helper.to_array(next(t for t in m.graph.initializer if t.name == "fc1.weight"))
        assert (w == 0).mean() >= 0.5
    else:
        assert any(t.data_type == onnx.TensorProto.INT4 for t in m.graph.initializer)


def test_distill_auto_width_student(tmp_path, digits_train):
    """An auto:width=0.5 student distilled from the CNN (no labels) keeps within 1 point of
    it at at most 35 % of its parameters (measured: 98.61 % at 25.6 %)."""
    src = os.path.join(DIGITS, "cnn.onnx")
    out = tmp_path / "student.onnx"
    harness.expect_ok(harness.run_modelc("distill", src, "auto:width=0.5", str(out), "--data",
                                         str(digits_train / "train.npz"), "--epochs", "20", timeout=300))
    assert _params(out) <= 0.35 * _params(src)
    assert _accuracy(out) >= _accuracy(src) - 1


def test_distill_mlp_without_labels(tmp_path, digits_train):
    """An MLP trained from scratch by distillation from the CNN, without labels, is at least
    as accurate as the same MLP trained on the labels alone (same start, same epochs), or
    within 0.3 point (measured: 98.33 % vs 98.06 %)."""
    model = onnx.load(os.path.join(DIGITS, "mlp.onnx"))
    rng = np.random.default_rng(0)
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        b = (rng.standard_normal(a.shape) * np.sqrt(2 / a.shape[0])).astype(np.float32) if a.ndim == 2 else np.zeros_like(a)
        t.CopyFrom(numpy_helper.from_array(b, t.name))
    init = tmp_path / "mlp_init.onnx"
    onnx.save(model, str(init))
    cnn = os.path.join(DIGITS, "cnn.onnx")
    common = ["--data", str(digits_train / "train.npz"), "--epochs", "40"]
    harness.expect_ok(harness.run_modelc("distill", cnn, str(init), str(tmp_path / "kd.onnx"), *common, timeout=300))
    harness.expect_ok(harness.run_modelc("distill", cnn, str(init), str(tmp_path / "ce.onnx"), *common, "--labels",
                                         str(digits_train / "train_labels.npy"), "--alpha", "0", timeout=300))
    assert _accuracy(tmp_path / "kd.onnx") >= _accuracy(tmp_path / "ce.onnx") - 0.3


# ---- every backward op against torch.autograd ------------------------------------------------

def _op_cases():
    from onnx import helper as h

    def mul(act, **attrs):  # x·s, then the op: s trains through the op's backward
        return [h.make_node("Mul", ["x", "s"], ["m"]), h.make_node(act, ["m"], ["y"], **attrs)], {"s": (1, 4, 1, 1)}

    cases = {
        "conv_grouped": ([h.make_node("Conv", ["x", "w", "b"], ["y"], group=2, pads=[1, 1, 1, 1], strides=[2, 2])],
                         {"w": (6, 2, 3, 3), "b": (6,)}),
        "conv_depthwise_dilated": ([h.make_node("Conv", ["x", "w"], ["y"], group=4, pads=[2, 2, 2, 2], dilations=[2, 2])],
                                   {"w": (4, 1, 3, 3)}),
        "conv_transpose": ([h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], group=2, strides=[2, 2], pads=[1, 1, 1, 1])],
                           {"w": (4, 3, 3, 3), "b": (6,)}),
        "matmul": ([h.make_node("MatMul", ["x", "w"], ["y"])], {"w": (6, 5)}),
        "gemm_transA": ([h.make_node("Flatten", ["x"], ["f"]), h.make_node("Transpose", ["f"], ["ft"], perm=[1, 0]),
                         h.make_node("Gemm", ["ft", "w", "c"], ["y"], transA=1, alpha=0.5, beta=2.0)],
                        {"w": (144, 7), "c": (7,)}),
        "sub_div_broadcast": ([h.make_node("Sub", ["x", "a"], ["u"]), h.make_node("Div", ["u", "d"], ["y"])],
                              {"a": (4, 1, 1), "d": (1, 1, 6)}),
        "clip": ([h.make_node("Mul", ["x", "s"], ["m"]), h.make_node("Clip", ["m", "lo", "hi"], ["y"])],
                 {"s": (1, 4, 1, 1), "lo": (), "hi": ()}),
        "maxpool": mul("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        "averagepool": mul("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        "globalaveragepool": mul("GlobalAveragePool"),
        "softmax": mul("Softmax", axis=1),
        "logsoftmax": mul("LogSoftmax", axis=-1),
        "transpose": mul("Transpose", perm=[0, 2, 3, 1]),
        "resize_nearest": ([h.make_node("Mul", ["x", "s"], ["m"]),
                            h.make_node("Resize", ["m", "", "scales"], ["y"], mode="nearest",
                                        coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
                           {"s": (1, 4, 1, 1), "scales": (4,)}),
        "concat": ([h.make_node("Mul", ["x", "s"], ["m"]), h.make_node("Concat", ["m", "x"], ["y"], axis=1)],
                   {"s": (1, 4, 1, 1)}),
        "batchnorm": ([h.make_node("BatchNormalization", ["x", "g", "b", "mean", "var"], ["y"])],
                      {"g": (4,), "b": (4,), "mean": (4,), "var": (4,)}),
        "layernorm": ([h.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-2)],
                      {"g": (6, 6), "b": (6, 6)}),
    }
    # The activations in one chain x·s0 → Relu → ·s1 → LeakyRelu → ...: each s_i's gradient
    # passes through every later activation's backward.
    acts = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"]
    chain, shapes, prev = [], {}, "x"
    for i, act in enumerate(acts):
        chain += [h.make_node("Mul", [prev, f"s{i}"], [f"m{i}"]), h.make_node(act, [f"m{i}"], [f"a{i}"])]
        shapes[f"s{i}"] = (1, 4, 1, 1)
        prev = f"a{i}"
    chain[-1].output[0] = "y"
    cases["activations"] = (chain, shapes)
    cases["gelu"] = mul("Gelu")
    return cases


OP_CASES = _op_cases()


@needs_torch
@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_backward_ops_equal_torch_autograd(tmp_path, case):
    """Each op's backward, inside x → op → Flatten → Gemm → cross-entropy: one SGD step of
    learning rate 100 in modelc (float64) and in torch.autograd (float64) moves every
    weight the same (the step is 100 × the gradient, so the float32 storage of the result
    costs nothing)."""
    from onnx import TensorProto, helper as h

    nodes, shapes = OP_CASES[case]
    rng = np.random.default_rng(zlib.crc32(case.encode()) + 1)  # fixed: hash() of a str differs per process
    weights = {}
    for name, shape in shapes.items():
        w = rng.standard_normal(shape).astype(np.float32)
        if name in ("var", "d"):
            w = (1.5 + np.abs(w)).astype(np.float32)
        weights[name] = w
    if case == "clip":
        weights["lo"], weights["hi"] = np.array(-0.5, np.float32), np.array(0.7, np.float32)
    if case == "resize_nearest":
        weights["scales"] = np.array([1, 1, 2, 3], np.float32)
    x = rng.standard_normal((4, 4, 6, 6)).astype(np.float32)
    inits = [numpy_helper.from_array(w, n) for n, w in weights.items()]
    xin = h.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4, 6, 6])
    opset = 20 if case == "gelu" else 17  # Gelu is opset 20
    probe = h.make_model(h.make_graph(nodes, "probe", [xin], [h.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits),
                         opset_imports=[h.make_opsetid("", opset)])
    probe.ir_version = 8
    onnx.save(probe, str(tmp_path / "probe.onnx"))
    feat = int(np.prod(harness.ort_session(str(tmp_path / "probe.onnx")).run(None, {"x": x})[0].shape[1:]))
    weights["wout"] = (rng.standard_normal((3, feat)) / np.sqrt(feat)).astype(np.float32)
    inits.append(numpy_helper.from_array(weights["wout"], "wout"))
    full = nodes + [h.make_node("Flatten", ["y"], ["flat"]), h.make_node("Gemm", ["flat", "wout"], ["logits"], transB=1)]
    model = h.make_model(h.make_graph(full, case, [xin], [h.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 3])], inits),
                         opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8
    src = tmp_path / "m.onnx"
    onnx.save(model, str(src))
    labels = np.array([0, 2, 1, 2], np.int64)
    np.savez(tmp_path / "batch.npz", x=x)
    np.save(tmp_path / "labels.npy", labels)
    np.savez(tmp_path / "weights.npz", **weights)
    (tmp_path / "graph.json").write_text(json.dumps(_graph_json(model)))
    out = tmp_path / "out.onnx"
    harness.expect_ok(harness.run_modelc("distill", str(src), str(src), str(out), "--data", str(tmp_path / "batch.npz"),
                                         "--labels", str(tmp_path / "labels.npy"), "--alpha", "0", "--held-out", "0",
                                         "--epochs", "1", "--batch-size", "4", "--optimizer", "sgd", "--lr", "100",
                                         "--schedule", "constant", "--float64"))
    subprocess.run([SYSTEM_PYTHON, STEP, str(tmp_path / "graph.json"), str(tmp_path / "weights.npz"),
                    str(tmp_path / "batch.npz"), str(tmp_path / "labels.npy"), str(tmp_path / "torch.npz"),
                    "sgd", "100", "1", "0", "0", "mean,var,lo,hi,scales"], check=True)
    want = dict(np.load(tmp_path / "torch.npz"))
    got = _weights(onnx.load(str(out)))
    assert set(want) == set(shapes) - {"mean", "var", "lo", "hi", "scales"} | {"wout"}
    for k, w in want.items():
        assert np.abs(w - weights[k]).max() > 1e-3, f"{k} did not move"
        np.testing.assert_allclose(got[k], w, rtol=1e-5, atol=1e-4, err_msg=k)
