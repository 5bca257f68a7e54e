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
        attrs = {k: (list(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") and not isinstance(v, (str, bytes)) else v) for k, v in attrs.items()}
        nodes.append({"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output), "attrs": attrs})
    return {"nodes": nodes, "output": model.graph.output[0].name}


def _weights(model: onnx.ModelProto) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


@needs_torch
@pytest.mark.parametrize("name,opt,lr,momentum,wd", [
    ("cnn", "sgd", 0.05, 0.9, 0.0),
    ("cnn", "adam", 0.001, 0.0, 0.01),
    ("mlp", "sgd", 0.1, 0.5, 0.001),
    ("mlp", "adam", 0.002, 0.0, 0.0),
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
                                         str(digits_train / "train.npz"), "--epochs", "30", timeout=300))
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
