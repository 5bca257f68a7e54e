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


def test_tf_keras_recurrent_variants_savedmodel(tmp_path):
    """tf_keras' Bidirectional LSTM (sequences) and GRU (last states, reset_after off),
    and a backwards LSTM, saved as a Keras-2 SavedModel: standard_lstm / standard_gru
    loops become ONNX LSTM/GRU and agree with TensorFlow."""
    import tf_keras as keras

    L = keras.layers
    s = keras.Input((6, 4), name="seq")
    y = L.Bidirectional(L.LSTM(3, return_sequences=True))(s)
    y2 = L.Bidirectional(L.GRU(2, reset_after=False))(y)
    y3 = L.LSTM(2, go_backwards=True)(s)
    m = keras.Model(s, [y, y2, y3])
    keras_models._randomize(m, np.random.default_rng(21))
    x = np.random.default_rng(22).normal(0, 1, (2, 6, 4)).astype(np.float32)
    want = [np.asarray(v) for v in m(x, training=False)]
    sm = str(tmp_path / "sm")
    m.save(sm, save_format="tf")
    out = str(tmp_path / "rnn.onnx")
    harness.expect_ok(harness.run_modelc("convert", sm, out))
    model = onnx.load(out)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LSTM") == 3 and ops.count("GRU") == 2, ops
    sess = harness.ort_session(out)
    got = sess.run(None, {model.graph.input[0].name: x})
    # The signature orders its outputs by name; TensorFlow's own call gives the model's order.
    import tensorflow as tf

    sig = tf.saved_model.load(sm).signatures["serving_default"]
    ref = sig(tf.constant(x))
    names = [o.name for o in model.graph.output]
    for name, g in zip(names, got):
        w = ref[name].numpy()
        assert any(w.shape == v.shape and np.allclose(w, v, atol=1e-6) for v in want), name
        d = _max_rel(g, w)
        assert d <= TOL, f"{name}: onnxruntime differs from TensorFlow by {d:.3g}"
    np.savez(tmp_path / "in.npz", **{model.graph.input[0].name: x})
    od = tmp_path / "out"
    harness.expect_ok(harness.run_modelc("run", out, "--inputs", str(tmp_path / "in.npz"), "--output-dir", str(od)))
    for name in names:
        assert _max_rel(np.load(od / (name + ".npy")), ref[name].numpy()) <= TOL, name
