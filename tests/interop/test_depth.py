"""modelc distill TEACHER auto:depth=F: the student derived by removing repeated blocks
computes what torch computes with those blocks removed from the module (a ResNet-style
CNN without its middle residual block, a two-layer transformer encoder without its second
layer), and it trains. Oracles: torch for the shallow modules, onnxruntime to run the
students.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

import harness
from test_torch import SYSTEM_PYTHON, needs_torch

NETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_depth", "nets.py")
INPUT = {"resnet": "image", "transformer": "tokens"}
# what the report must name as removed: the middle residual block, the second layer
REMOVED = {"resnet": "removed block /2/body/body.0/Conv … /2/Relu", "transformer": "removed block /1/ln1/"}


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("depth")
    r = subprocess.run([SYSTEM_PYTHON, NETS, str(d)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    for name, inp in INPUT.items():
        np.savez(d / f"{name}_x.npz", **{inp: np.load(d / f"{name}.npz")["x"]})
    return d


@needs_torch
@pytest.mark.parametrize("name", sorted(INPUT))
def test_auto_depth_student_equals_torch_without_blocks(nets, tmp_path, name):
    out = tmp_path / "student.onnx"
    # every weight frozen: the student is the derived graph as it is
    r = harness.run_modelc("distill", nets / f"{name}.onnx", "auto:depth=0.5", out, "--data", nets / f"{name}_x.npz",
                           "--freeze", "*", "--epochs", "1", "--held-out", "0")
    harness.expect_ok(r)
    assert REMOVED[name] in r.stdout, r.stdout
    ref = np.load(nets / f"{name}.npz")
    got = ort.InferenceSession(str(out)).run(None, {INPUT[name]: ref["x"]})[0]
    np.testing.assert_allclose(got, ref["shallow"], atol=1e-5, rtol=1e-5)
    assert np.abs(got - ref["full"]).max() > 1e-3  # the removed block did compute something
    harness.note("auto:depth student equals torch without the block", name, float(np.abs(got - ref["shallow"]).max()))


@needs_torch
@pytest.mark.parametrize("name", sorted(INPUT))
def test_auto_depth_student_trains(nets, tmp_path, name):
    out = tmp_path / "student.onnx"
    rng = np.random.default_rng(2)
    x = np.load(nets / f"{name}.npz")["x"]
    data = np.concatenate([x + 0.1 * rng.standard_normal(x.shape).astype(np.float32) for _ in range(16)])
    np.savez(tmp_path / "data.npz", **{INPUT[name]: data})
    r = harness.run_modelc("distill", nets / f"{name}.onnx", "auto:depth=0.5", out, "--data", tmp_path / "data.npz",
                           "--epochs", "3", "--json", timeout=300)
    harness.expect_ok(r)
    rep = json.loads(r.stdout)
    assert rep["student_params"] < 0.75 * rep["teacher_params"]
    assert any(d.startswith("removed block") for d in rep["derived"])
    losses = [e["loss"] for e in rep["train"]["epochs"]]
    assert losses[-1] < losses[0], losses
    y = ort.InferenceSession(str(out)).run(None, {INPUT[name]: x})[0]
    assert y.shape == np.load(nets / f"{name}.npz")["full"].shape


@needs_torch
def test_auto_depth_through_python(nets, tmp_path):
    """The Python door: distill() with auto:depth, the removed blocks in its report."""
    if not os.environ.get("MODELC_LIBRARY"):
        os.environ["MODELC_LIBRARY"] = os.path.join(harness.REPO, "lib", "libmodelc.so")
    sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
    import modelc

    x = np.load(nets / "resnet.npz")["x"]
    rep = modelc.distill(nets / "resnet.onnx", "auto:depth=0.5", tmp_path / "s.onnx", data={"image": x}, epochs=1,
                         held_out=0)
    assert rep["student"] == "auto:depth=0.5"
    assert [d for d in rep["derived"] if d.startswith("removed block")] == [
        "removed block /2/body/body.0/Conv … /2/Relu (5 nodes, /1/Relu_output_0 → /2/Relu_output_0)"]
    with pytest.raises(modelc.UnsupportedError):
        modelc.distill(os.path.join(harness.REPO, "testdata", "digits", "cnn.onnx"), "auto:depth=0.5",
                       tmp_path / "c.onnx", data={"input": x.reshape(4, 64)}, epochs=1)
