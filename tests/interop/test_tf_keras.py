"""Keras 2 (tf_keras) models in: legacy .h5 files and Keras-2 SavedModels (which use
FusedBatchNormV3 and tf_keras' standard_lstm/standard_gru While loops), built here with
random weights, converted by modelc to ONNX; onnxruntime and modelc run agree with
TensorFlow's outputs within 1e-4 relative to the output's scale."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

import harness

try:
    import keras_models
    import tf_keras  # noqa: F401
except ImportError:  # pragma: no cover
    pytest.skip("tf_keras not installed", allow_module_level=True)

MODELS = ["digits_mlp", "digits_cnn", "mobilenetv2", "resnet_style", "transformer", "lstm_gru"]
TOL = 1e-4


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tf_keras")
    out = {}
    for name, (m, feeds) in keras_models.build_keras2().items():
        base = os.path.join(folder, name)
        m.save(base + ".h5")
        m.save(base + "_savedmodel", save_format="tf")
        args = [feeds[t.name] for t in m.inputs]
        ys = m(args if len(args) > 1 else args[0], training=False)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        out[name] = {"h5": base + ".h5", "savedmodel": base + "_savedmodel", "inputs": [feeds[t.name] for t in m.inputs],
                     "expected": [np.asarray(y) for y in ys]}
    return out


def _max_rel(got, want) -> float:
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) / scale


@pytest.mark.parametrize("fmt", ["h5", "savedmodel"])
@pytest.mark.parametrize("name", MODELS)
def test_tf_keras_to_onnx_matches_tensorflow(saved, tmp_path, name, fmt):
    case = saved[name]
    out = str(tmp_path / (name + ".onnx"))
    harness.expect_ok(harness.run_modelc("convert", case[fmt], out))
    model = onnx.load(out)
    onnx.checker.check_model(model)
    names = [i.name for i in model.graph.input]
    assert len(names) == len(case["inputs"])
    sess = harness.ort_session(out)
    got = sess.run(None, dict(zip(names, case["inputs"])))
    for g, w in zip(got, case["expected"]):
        assert g.shape == w.shape
        d = _max_rel(g, w)
        harness.note("tf_keras_ort_max_rel", f"{name}.{fmt}", f"{d:.2e}")
        assert d <= TOL, f"{name}.{fmt}: onnxruntime differs from TensorFlow by {d:.3g}"
    np.savez(tmp_path / "in.npz", **dict(zip(names, case["inputs"])))
    od = tmp_path / "out"
    harness.expect_ok(harness.run_modelc("run", out, "--inputs", str(tmp_path / "in.npz"), "--output-dir", str(od)))
    for o, w in zip(model.graph.output, case["expected"]):
        d = _max_rel(np.load(od / (o.name + ".npy")), w)
        assert d <= TOL, f"{name}.{fmt}: modelc run differs from TensorFlow by {d:.3g}"
