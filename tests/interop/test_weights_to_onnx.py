"""Weights-only checkpoints converted to ONNX are valid ONNX models.

A safetensors, PyTorch or NumPy file carries no ONNX versions; modelc gives the model an
IR version and an opset import, and onnx.checker (the oracle) must accept the result.
"""

import glob
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness import REPO, expect_ok, run_modelc

TORCH = sorted(p for p in glob.glob(os.path.join(REPO, "testdata", "torch", "*.pt")) if "evil" not in p)


@pytest.mark.parametrize("src", TORCH, ids=os.path.basename)
def test_torch_checkpoint_to_onnx_passes_the_checker(tmp_path, src):
    st = tmp_path / "w.safetensors"
    out = tmp_path / "w.onnx"
    expect_ok(run_modelc("convert", src, out))
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version >= 7 and model.opset_import
    assert len(model.graph.initializer) > 0
    # The same weights through safetensors give the same initializers, bit for bit.
    r = run_modelc("convert", src, st)
    if r.returncode == 0:  # complex dtypes have no safetensors form
        out2 = tmp_path / "w2.onnx"
        expect_ok(run_modelc("convert", st, out2))
        a = {t.name: numpy_helper.to_array(t).tobytes() for t in model.graph.initializer}
        b = {t.name: numpy_helper.to_array(t).tobytes() for t in onnx.load(str(out2)).graph.initializer}
        assert a == b


def test_npz_to_onnx_passes_the_checker(tmp_path):
    src = tmp_path / "arrays.npz"
    np.savez(src, w=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.array([1, 2], dtype=np.int64))
    out = tmp_path / "arrays.onnx"
    expect_ok(run_modelc("convert", src, out))
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    got = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(got["b"], [1, 2])
