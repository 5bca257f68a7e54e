"""Keras models built with random weights for the TensorFlow/Keras import tests: each is
saved as .keras and legacy .h5, and run by TensorFlow on fixed random inputs (the oracle).

Imported only by the tests that need TensorFlow (importing it costs seconds)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402


def _randomize(model, rng) -> None:
    """Random weights everywhere, so that no layer is an identity: variances positive."""
    for v in model.weights:
        shape = tuple(v.shape)
        name = v.path if hasattr(v, "path") else v.name
        if "variance" in name:
            val = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in name:
            val = rng.uniform(0.5, 1.5, shape)
        elif "count" in name:
            continue
        else:
            fan = max(1, int(np.prod(shape[:-1])) if len(shape) > 1 else 1)
            val = rng.normal(0, 1.0 / np.sqrt(fan), shape)
            if len(shape) == 1:
                val = rng.normal(0, 0.2, shape)
        v.assign(val.astype(np.dtype(getattr(v.dtype, "as_numpy_dtype", v.dtype))))


def build_all() -> dict:
    """name -> (model, inputs dict keyed by input name)."""
    import keras

    L = keras.layers
    rng = np.random.default_rng(7)
    keras.utils.set_random_seed(7)
    models = {}

    # Digits classifiers (8x8 images): an MLP and a small CNN.
    m = keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu"), L.Dropout(0.3),
                          L.Dense(16, activation="tanh"), L.Dense(10, activation="softmax")], name="digits_mlp")
    models["digits_mlp"] = m
    m = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                          L.MaxPooling2D(), L.Conv2D(16, 3, activation="relu"), L.Flatten(),
                          L.Dense(10, activation="softmax")], name="digits_cnn")
    models["digits_cnn"] = m

    # MobileNetV2-class CNN: ZeroPadding2D, DepthwiseConv2D, BatchNorm, ReLU6, Add, GAP.
    models["mobilenetv2"] = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None)

    # ResNet-style: residual Adds with BatchNorm, and the rest of the CNN layers.
    x, y = _residual_trunk(keras, L)
    a = L.SeparableConv2D(8, 3, padding="same", activation="elu")(y)
    c = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    y = L.Concatenate()([a, c])
    y = L.AveragePooling2D(2, padding="same")(y)
    y = L.PReLU()(y)
    y = L.Conv2DTranspose(6, 3, strides=2, padding="same")(y)
    y = L.LeakyReLU(negative_slope=0.1)(y)
    y = L.MaxPooling2D(3, strides=2, padding="same")(y)
    y = L.UpSampling2D()(y)
    y = L.ZeroPadding2D(((1, 0), (2, 1)))(y)
    y = L.Conv2D(4, 2, strides=2, activation="hard_swish")(y)
    y = L.Multiply()([y, L.Activation("sigmoid")(y)])
    g = L.GlobalAveragePooling2D()(y)
    h = L.GlobalMaxPooling2D()(y)
    f = L.Flatten()(y)
    out = L.Dense(5)(L.Concatenate()([g, h, f]))
    models["resnet_style"] = keras.Model(x, out, name="resnet_style")

    _add_sequence_models(keras, L, models)

    # 1-D convolutions and the shape layers.
    s = keras.Input((12, 4), name="signal")
    y = L.Rescaling(0.5, offset=0.1)(s)
    y = L.Conv1D(6, 3, padding="causal", activation="relu")(y)
    y = L.MaxPooling1D()(y)
    y = L.Conv1D(6, 3, padding="same")(y)
    y = L.BatchNormalization()(y)
    y = L.Permute((2, 1))(y)
    y = L.Reshape((36,))(y)
    y = L.Dense(4, activation="selu")(y)
    models["conv1d"] = keras.Model(s, L.Softmax()(y), name="conv1d")

    # Two inputs, two outputs, and the less common layers and settings.
    a = keras.Input((8, 8, 4), name="img")
    b = keras.Input((8, 8, 4), name="img2")
    y = L.Conv2D(4, 3, padding="same", groups=2, activation="relu6")(a)
    z = L.DepthwiseConv2D(1, use_bias=False)(b)
    y = L.Average()([L.Subtract()([y, z]), L.Maximum()([y, z]), L.Minimum()([y, z])])
    y = L.UpSampling2D(interpolation="bilinear")(y)
    y = L.ReLU(max_value=6.0, negative_slope=0.1)(y)
    y = L.Activation("hard_sigmoid")(y)
    y = L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(6, 1)(y))
    y = L.Dense(5, activation="gelu")(y)
    out1 = L.Flatten(name="first")(y)
    s2 = L.Reshape((64, 4))(L.ELU()(b))
    s2 = L.ZeroPadding1D(2)(s2)
    s2 = L.AveragePooling1D(3, strides=2)(s2)
    s2 = L.Conv1D(3, 3, dilation_rate=2, activation="mish")(s2)
    s2 = L.GRU(4, reset_after=False, return_sequences=True)(s2)
    out2 = L.Activation("log_softmax", name="second")(L.GlobalAveragePooling1D()(L.LeakyReLU()(s2)))
    models["multi_io"] = keras.Model([a, b], [out1, out2], name="multi_io")

    # A Sequential model built without an Input layer.
    m = keras.Sequential([L.Dense(6, activation="softplus"), L.Dense(3, activation="softsign")], name="built")
    m.build((None, 5))
    models["built"] = m

    inputs = {}
    for name, m in models.items():
        _randomize(m, rng)
        feeds = {}
        for t in m.inputs:
            shape = [2] + list(t.shape[1:])
            if "int" in str(t.dtype):
                feeds[t.name] = rng.integers(0, 20, shape).astype(np.int32)
            else:
                feeds[t.name] = rng.normal(0, 1, shape).astype(np.float32)
        inputs[name] = feeds
    return {name: (models[name], inputs[name]) for name in models}


def save_all(folder: str) -> dict:
    """Saves every model as .keras and .h5 in folder, with its inputs and TensorFlow's
    outputs: name -> {"keras", "h5", "inputs" (dict), "expected" (list of arrays)}."""
    built = build_all()
    out = {}
    for name, (m, feeds) in built.items():
        base = os.path.join(folder, name)
        m.save(base + ".keras")
        m.save(base + ".h5")
        args = [feeds[t.name] for t in m.inputs]
        ys = m(args if len(args) > 1 else args[0], training=False)
        ys = ys if isinstance(ys, (list, tuple)) else [ys]
        out[name] = {"keras": base + ".keras", "h5": base + ".h5", "inputs": feeds,
                     "expected": [np.asarray(y) for y in ys], "model": m}
    return out


def build_keras2() -> dict:
    """The issue's test models built with tf_keras (the Keras 2 API TensorFlow 2.21 still
    ships as a separate package): name -> (model, inputs dict keyed by input name)."""
    import tf_keras as keras

    L = keras.layers
    rng = np.random.default_rng(17)
    keras.utils.set_random_seed(17)
    models = {}
    models["digits_mlp"] = keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu"), L.Dropout(0.3),
                                             L.Dense(10, activation="softmax")], name="digits_mlp")
    models["digits_cnn"] = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                                             L.MaxPooling2D(), L.Conv2D(16, 3, activation="relu"), L.Flatten(),
                                             L.Dense(10, activation="softmax")], name="digits_cnn")
    models["mobilenetv2"] = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10, classifier_activation=None)

    x, y = _residual_trunk(keras, L)
    y = L.SeparableConv2D(8, 3, padding="same", activation="elu")(y)
    y = L.UpSampling2D(interpolation="bilinear")(y)
    y = L.MaxPooling2D(3, strides=2, padding="same")(y)
    out = L.Dense(5)(L.GlobalAveragePooling2D()(y))
    models["resnet_style"] = keras.Model(x, out, name="resnet_style")

    _add_sequence_models(keras, L, models)

    inputs = {}
    for name, m in models.items():
        _randomize(m, rng)
        feeds = {}
        for t in m.inputs:
            shape = [2] + list(t.shape[1:])
            if "int" in str(t.dtype):
                feeds[t.name] = rng.integers(0, 20, shape).astype(np.int32)
            else:
                feeds[t.name] = rng.normal(0, 1, shape).astype(np.float32)
        inputs[name] = feeds
    return {name: (models[name], inputs[name]) for name in models}

def _add_sequence_models(keras, L, models: dict) -> None:
    """The transformer encoder block (token embeddings, MultiHeadAttention, LayerNorm, gelu)
    and the LSTM-then-GRU model, built the same way with Keras 3 and with tf_keras."""
    tok = keras.Input((6,), dtype="int32", name="tokens")
    e = L.Embedding(20, 16)(tok)
    att = L.MultiHeadAttention(num_heads=2, key_dim=8)(e, e)
    y = L.LayerNormalization(epsilon=1e-6)(L.Add()([e, att]))
    ff = L.Dense(32, activation="gelu")(y)
    ff = L.Dense(16)(ff)
    y = L.LayerNormalization()(L.Add()([y, ff]))
    y = L.GlobalAveragePooling1D()(y)
    models["transformer"] = keras.Model(tok, L.Dense(3)(y), name="transformer")

    s = keras.Input((7, 5), name="seq")
    y = L.LSTM(8, return_sequences=True)(s)
    y = L.GRU(6)(y)
    models["lstm_gru"] = keras.Model(s, L.Dense(2)(y), name="lstm_gru")


def _residual_trunk(keras, L):
    """The ResNet-style model's input and trunk: a stem and two residual blocks with
    BatchNorm and swish, built the same way with Keras 3 and with tf_keras."""
    x = keras.Input((16, 16, 3), name="image")
    y = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    for _ in range(2):
        r = L.Conv2D(8, 3, padding="same")(y)
        r = L.BatchNormalization(epsilon=1e-5)(r)
        r = L.Activation("swish")(r)
        r = L.Conv2D(8, 3, padding="same")(r)
        r = L.BatchNormalization()(r)
        y = L.ReLU()(L.Add()([y, r]))
    return x, y
