"""modelc reads .tflite files written by the real converter: tf.lite.TFLiteConverter
(tensorflow-cpu) on Keras models built here with seeded random weights, as float32,
dynamic-range int8 and full-integer int8. Each is converted to ONNX by modelc and run by
onnxruntime and by modelc's own runtime; the LiteRT interpreter's outputs on the .tflite
are the reference (float within 1e-4; full-integer within one output quantization step;
dynamic range within 2% of the output range, LiteRT's hybrid kernels quantizing the
activations on the fly where the QDQ graph does not).

TensorFlow takes seconds to import: the models are built and converted once per module.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import harness

tf = pytest.importorskip("tensorflow")
Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter


def keras_cnn():
    k = tf.keras
    x = k.Input((16, 16, 3), batch_size=1, name="image")
    h = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = k.layers.DepthwiseConv2D(3, padding="same")(h)
    h = k.layers.BatchNormalization()(h)
    h = k.layers.ReLU(6.0)(h)
    h = k.layers.MaxPooling2D()(h)
    s = k.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    u = k.layers.UpSampling2D()(s)
    t = k.layers.Conv2DTranspose(8, 3, strides=1, padding="same")(u)
    h = k.layers.Concatenate()([h, t])
    h = k.layers.AveragePooling2D(2)(h)
    h = k.layers.GlobalAveragePooling2D()(h)
    h = k.layers.Dense(10)(h)
    y = k.layers.Softmax()(h)
    return k.Model(x, y)


def keras_mlp():
    k = tf.keras
    x = k.Input((8, 16), batch_size=1, name="seq")
    h = k.layers.Dense(64, activation="tanh")(x)
    h = k.layers.LayerNormalization()(h)
    h = k.layers.Dense(32, activation="sigmoid")(h)
    h = k.layers.Flatten()(h)
    y = k.layers.Dense(5)(h)
    return k.Model(x, y)


MODELS = {"cnn": keras_cnn, "mlp": keras_mlp}
MODES = ["float", "dynamic", "int8"]


def sample(model, n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *model.input_shape[1:])).astype(np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    d = tmp_path_factory.mktemp("tflite_import")
    tf.keras.utils.set_random_seed(5)
    out = {}
    for name, build in MODELS.items():
        model = build()
        for mode in MODES:
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
            if mode != "float":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "int8":
                calib = sample(model, 32, 1)
                conv.representative_dataset = lambda: ([calib[i:i + 1]] for i in range(len(calib)))
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            p = str(d / f"{name}_{mode}.tflite")
            with open(p, "wb") as f:
                f.write(conv.convert())
            out[(name, mode)] = (p, sample(model, 1, 2))
    return d, out


def litert(path, x):
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    o = it.get_output_details()[0]
    ops = sorted({op["op_name"] for op in it._get_ops_details()})
    # the step of the last quantized tensor before the float output
    steps = [t["quantization"][0] for t in it.get_tensor_details() if t["dtype"] == np.int8 and t["quantization"][0]]
    return it.get_tensor(o["index"]), ops, steps


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MODELS))
def test_import(converted, name, mode):
    d, out = converted
    path, x = out[(name, mode)]
    ref, ops, steps = litert(path, x)
    onnx_path = str(d / f"{name}_{mode}.onnx")
    r = harness.run_modelc("convert", path, onnx_path)
    harness.expect_ok(r)
    onnx.checker.check_model(onnx.load(onnx_path))
    sess = ort.InferenceSession(onnx_path)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    # modelc's runtime on the .tflite itself
    np.savez(str(d / "in.npz"), **{sess.get_inputs()[0].name: x})
    od = str(d / f"run_{name}_{mode}")
    r = harness.run_modelc("run", path, "--inputs", str(d / "in.npz"), "--output-dir", od)
    harness.expect_ok(r)
    ym = np.load(os.path.join(od, os.listdir(od)[0]))
    diff, diff_m = float(np.abs(y - ref).max()), float(np.abs(ym - ref).max())
    if mode == "float":
        tol = 1e-4
    elif mode == "int8":
        tol = 1.01 * steps[-1] if steps else 1e-2
    else:
        tol = 0.02 * float(np.abs(ref).max() + 1e-6)
    print(f"\n{name} {mode}: ops {ops}\n  onnxruntime vs LiteRT max abs diff {diff:.3e}, modelc runtime {diff_m:.3e} (tolerance {tol:.3e})")
    assert diff <= tol
    assert diff_m <= tol


def test_tflite_to_tflite(converted):
    """The converter's float CNN read into modelc (NHWC values, Transposes around the
    ONNX convs) and written again: the writer's layout pass cancels those Transposes."""
    d, out = converted
    path, x = out[("cnn", "float")]
    again = str(d / "cnn_again.tflite")
    harness.expect_ok(harness.run_modelc("convert", path, again))
    ref, ops_ref, _ = litert(path, x)
    y, ops, _ = litert(again, x)
    it = Interpreter(model_path=again)
    n_t = [o["op_name"] for o in it._get_ops_details()].count("TRANSPOSE")
    print(f"\nTFLiteConverter cnn -> modelc -> .tflite: max abs diff {np.abs(y - ref).max():.2e}, TRANSPOSE ops {n_t}")
    assert np.abs(y - ref).max() <= 1e-4
    assert n_t == 0
