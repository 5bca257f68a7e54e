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
    distill and of torch.optim on the same graph give the same weights."""
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
                           "--momentum", str(momentum), "--weight-decay", str(wd), "--schedule", "constant", "--json")
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
