"""Keras import: models built here with Keras (random weights), saved as .keras and legacy
.h5, converted by modelc to ONNX; onnxruntime's and modelc's own outputs on the converted
model agree with TensorFlow's (the oracle) within 1e-4 relative to the output's scale.
Corrupt files are refused with exit 4 and a message, not a crash."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import onnx
import pytest

import harness

tf_missing = False
try:
    import keras_models  # noqa: F401  (imports nothing heavy by itself)
    import keras  # noqa: F401
except ImportError:  # pragma: no cover
    tf_missing = True

pytestmark = pytest.mark.skipif(tf_missing, reason="tensorflow/keras not installed")

MODELS = ["digits_mlp", "digits_cnn", "mobilenetv2", "resnet_style", "transformer", "lstm_gru", "conv1d", "multi_io", "built"]
CORRUPT = 4
TOL = 1e-4


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras")
    return keras_models.save_all(str(folder))


def _max_rel(got, want) -> float:
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) / scale


def _convert(src, tmp_path, name):
    out = str(tmp_path / (name + ".onnx"))
    harness.expect_ok(harness.run_modelc("convert", src, out))
    return out


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", MODELS)
def test_keras_to_onnx_matches_tensorflow(saved, tmp_path, name, fmt):
    case = saved[name]
    out = _convert(case[fmt], tmp_path, name)
    model = onnx.load(out)
    onnx.checker.check_model(model)
    feeds = [case["inputs"][k] for k in case["inputs"]]
    names = [i.name for i in model.graph.input]
    assert len(names) == len(feeds)
    sess = harness.ort_session(out)
    got = sess.run(None, dict(zip(names, feeds)))
    for g, w in zip(got, case["expected"]):
        assert g.shape == w.shape
        d = _max_rel(g, w)
        harness.note("keras_ort_max_rel", f"{name}.{fmt}", f"{d:.2e}")
        assert d <= TOL, f"{name}.{fmt}: onnxruntime differs from TensorFlow by {d:.3g}"
    # modelc's own runtime on the converted model.
    np.savez(tmp_path / "in.npz", **dict(zip(names, feeds)))
    od = tmp_path / "out"
    harness.expect_ok(harness.run_modelc("run", out, "--inputs", str(tmp_path / "in.npz"), "--output-dir", str(od)))
    for o, w in zip(model.graph.output, case["expected"]):
        g = np.load(od / (o.name + ".npy"))
        d = _max_rel(g, w)
        assert d <= TOL, f"{name}.{fmt}: modelc run differs from TensorFlow by {d:.3g}"


def test_keras_channels_last_handled_once(saved, tmp_path):
    """NHWC → NCHW once at the input edge and back once before Flatten: no Transpose
    pairs around each convolution."""
    out = _convert(saved["mobilenetv2"]["keras"], tmp_path, "mnv2")
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops.count("Conv") > 20
    assert ops.count("Transpose") <= 1, ops.count("Transpose")


def test_keras_info(saved):
    r = harness.run_modelc("info", saved["resnet_style"]["keras"])
    harness.expect_ok(r)
    assert "keras" in r.stdout and "Conv" in r.stdout


def test_keras_unsupported_layer_named(tmp_path):
    import keras

    m = keras.Sequential([keras.Input((4, 4, 4, 1)), keras.layers.Conv3D(2, 2, name="my_conv3d")])
    p = str(tmp_path / "c3.keras")
    m.save(p)
    r = harness.run_modelc("convert", p, str(tmp_path / "c3.onnx"))
    assert r.returncode == 5, harness.describe(r)
    assert "my_conv3d" in r.stderr and "Conv3D" in r.stderr


def test_keras_corrupt_inputs(saved, tmp_path):
    src = saved["digits_cnn"]
    data = open(src["h5"], "rb").read()
    cases = {"trunc.h5": data[: len(data) // 2], "head.h5": data[:100]}
    # A .keras whose weights file is cut short, and one whose config is not JSON.
    with zipfile.ZipFile(src["keras"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    for label, change in {"trunc.keras": ("model.weights.h5", members["model.weights.h5"][:3000]),
                          "badcfg.keras": ("config.json", b"{not json")}.items():
        p = tmp_path / label
        with zipfile.ZipFile(p, "w") as zf:
            for n, b in members.items():
                zf.writestr(n, change[1] if n == change[0] else b)
        cases[label] = None
    for label, blob in cases.items():
        p = tmp_path / label
        if blob is not None:
            p.write_bytes(blob)
        r = harness.run_modelc("convert", str(p), str(tmp_path / (label + ".onnx")))
        assert r.returncode == CORRUPT, f"{label}: {harness.describe(r)}"
        assert "panic" not in r.stderr


SYSTEM_PYTHON = "/usr/bin/python3"

TORCH_MODULE = r'''
import sys, numpy as np, torch
from torch import nn

class DigitsCNN(nn.Module):
    """The Keras model below, written by hand: Keras NHWC in, NHWC flatten before dense."""
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3, track_running_stats=True)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.dense1 = nn.Linear(16 * 2 * 2, 32)
        self.ln = nn.LayerNorm(32, eps=1e-3)
        self.out = nn.Linear(32, 10)
    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        x = torch.max_pool2d(self.bn1(torch.relu(self.conv1(x))), 2)
        x = torch.relu(self.conv2(x))
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = self.ln(torch.relu(self.dense1(x)))
        return torch.softmax(self.out(x), -1)

m = DigitsCNN().eval()
sd = torch.load(sys.argv[1], weights_only=True)
sd["bn1.num_batches_tracked"] = torch.tensor(0)  # a torch-only counter Keras has no value for
m.load_state_dict(sd, strict=True)
x = torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    np.save(sys.argv[3], m(x).numpy())
'''


def _system_torch() -> bool:
    import subprocess

    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _system_torch(), reason="torch is not importable by /usr/bin/python3")
def test_keras_to_torch_state_dict(tmp_path):
    """A Keras model converted to a PyTorch state dict loads (strict) into a hand-written
    torch.nn.Module of the same architecture and computes TensorFlow's outputs. Layout
    changes: Dense kernel (in, out) → Linear.weight (out, in); Conv2D HWIO → OIHW;
    BatchNormalization gamma/beta/moving_* → weight/bias/running_*."""
    import subprocess

    import keras

    L = keras.layers
    m = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
                          L.BatchNormalization(name="bn1"), L.MaxPooling2D(name="pool"),
                          L.Conv2D(16, 3, activation="relu", name="conv2"), L.Flatten(name="flat"),
                          L.Dense(32, activation="relu", name="dense1"), L.LayerNormalization(name="ln"),
                          L.Dense(10, activation="softmax", name="out")])
    keras_models._randomize(m, np.random.default_rng(3))
    x = np.random.default_rng(4).normal(0, 1, (3, 8, 8, 1)).astype(np.float32)
    want = np.asarray(m(x, training=False))
    src = str(tmp_path / "digits.keras")
    m.save(src)
    pt = str(tmp_path / "digits.pt")
    harness.expect_ok(harness.run_modelc("convert", src, pt))
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "load.py"
    script.write_text(TORCH_MODULE)
    r = subprocess.run([SYSTEM_PYTHON, str(script), pt, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.load(tmp_path / "y.npy")
    d = _max_rel(got, want)
    assert d <= TOL, f"torch module differs from TensorFlow by {d:.3g}"


# ---- TensorFlow checkpoint bundles -----------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("ckpt")
    rng = np.random.default_rng(5)
    values = {"w": rng.normal(0, 1, (3, 4, 5)).astype(np.float32), "i": np.arange(7, dtype=np.int64),
              "h": rng.normal(0, 1, (6,)).astype(np.float16), "d": rng.normal(0, 1, (2, 2)),
              "big": rng.normal(0, 1, (300, 40)).astype(np.float32)}
    ck = tf.train.Checkpoint(**{k: tf.Variable(v) for k, v in values.items()})
    ck.write(str(folder / "model"))
    return str(folder / "model"), {f"{k}/.ATTRIBUTES/VARIABLE_VALUE": v for k, v in values.items()}


def test_checkpoint_to_safetensors_and_back(checkpoint, tmp_path):
    """variables → safetensors holds exactly what TensorFlow wrote; safetensors → a bundle
    that tf.train.load_checkpoint reads back with the same values."""
    import safetensors.numpy
    import tensorflow as tf

    prefix, want = checkpoint
    st = str(tmp_path / "w.safetensors")
    harness.expect_ok(harness.run_modelc("convert", prefix + ".index", st))
    got = safetensors.numpy.load_file(st)
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v), k
    # The folder names the checkpoint too.
    harness.expect_ok(harness.run_modelc("convert", os.path.dirname(prefix), str(tmp_path / "w2.safetensors")))
    back = str(tmp_path / "variables.index")
    harness.expect_ok(harness.run_modelc("convert", st, back))
    r = tf.train.load_checkpoint(str(tmp_path / "variables"))
    assert sorted(r.get_variable_to_shape_map()) == sorted(want)
    for k, v in want.items():
        assert np.array_equal(r.get_tensor(k), v), k


def test_checkpoint_corrupt(checkpoint, tmp_path):
    """A flipped data byte (crc32c), a data file cut short (offsets past its end), a
    missing shard and a cut index are each refused (exit 4) with a message."""
    import shutil

    prefix, _ = checkpoint
    data = prefix + ".data-00000-of-00001"
    cases = {}
    for label in ["crc", "short", "missing", "index"]:
        d = tmp_path / label
        d.mkdir()
        shutil.copy(prefix + ".index", d / "model.index")
        shutil.copy(data, d / "model.data-00000-of-00001")
        cases[label] = d
    blob = bytearray(open(data, "rb").read())
    blob[len(blob) // 2] ^= 0x40
    (cases["crc"] / "model.data-00000-of-00001").write_bytes(bytes(blob))
    (cases["short"] / "model.data-00000-of-00001").write_bytes(bytes(blob[: len(blob) // 3]))
    (cases["missing"] / "model.data-00000-of-00001").unlink()
    idx = open(prefix + ".index", "rb").read()
    (cases["index"] / "model.index").write_bytes(idx[:-10])
    words = {"crc": "crc32c", "short": "past the end", "missing": "missing data shard", "index": "magic"}
    for label, d in cases.items():
        r = harness.run_modelc("convert", str(d / "model.index"), str(tmp_path / f"{label}.safetensors"))
        assert r.returncode == CORRUPT, f"{label}: {harness.describe(r)}"
        assert words[label] in r.stderr, f"{label}: {r.stderr}"


# ---- ONNX → SavedModel -----------------------------------------------------------------

EXPORT_FIXTURES = ["onnx/cnn.onnx", "digits/mlp.onnx", "digits/cnn.onnx"]


def _check_savedmodel(onnx_path, sm_dir, tmp_path):
    """tf.saved_model.load runs serving_default and agrees with onnxruntime within 1e-4
    relative to the output's scale; returns the largest difference."""
    import tensorflow as tf

    sess = harness.ort_session(onnx_path)
    rng = np.random.default_rng(11)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        if "int" in i.type:
            feeds[i.name] = rng.integers(0, 20, shape).astype(np.int32 if "int32" in i.type else np.int64)
        else:
            feeds[i.name] = rng.normal(0, 1, shape).astype(np.float32)
    want = sess.run(None, feeds)
    fn = tf.saved_model.load(sm_dir).signatures["serving_default"]
    got = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    worst = 0.0
    for o, w in zip(sess.get_outputs(), want):
        d = _max_rel(got[o.name].numpy(), w)
        worst = max(worst, d)
        assert d <= TOL, f"{onnx_path}: TensorFlow differs from onnxruntime by {d:.3g}"
    return worst


@pytest.mark.parametrize("fixture", EXPORT_FIXTURES)
def test_onnx_to_savedmodel(tmp_path, fixture):
    src = os.path.join(harness.REPO, "testdata", fixture)
    out = tmp_path / "sm"
    out.mkdir()
    harness.expect_ok(harness.run_modelc("convert", src, str(out) + "/", "--to", "savedmodel"))
    d = _check_savedmodel(src, str(out), tmp_path)
    harness.note("savedmodel_max_rel", fixture, f"{d:.2e}")


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "mobilenetv2", "resnet_style", "transformer", "lstm_gru", "conv1d", "multi_io", "built"])
def test_keras_onnx_savedmodel_chain(saved, tmp_path, name):
    """Keras → ONNX → SavedModel: TensorFlow runs modelc's SavedModel and agrees with
    onnxruntime on modelc's ONNX (and so with the Keras original)."""
    onnx_path = _convert(saved[name]["keras"], tmp_path, name)
    out = tmp_path / "sm"
    out.mkdir()
    harness.expect_ok(harness.run_modelc("convert", onnx_path, str(out), "--to", "savedmodel"))
    _check_savedmodel(onnx_path, str(out), tmp_path)


def test_savedmodel_cli_lists_signature(tmp_path):
    import shutil
    import subprocess
    import sys

    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.access(cli, os.X_OK):
        pytest.skip("saved_model_cli not installed")
    out = tmp_path / "sm"
    out.mkdir()
    harness.expect_ok(harness.run_modelc("convert", os.path.join(harness.REPO, "testdata/digits/cnn.onnx"), str(out), "--to", "savedmodel"))
    r = subprocess.run([cli, "show", "--dir", str(out), "--tag_set", "serve", "--signature_def", "serving_default"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "inputs['input']" in r.stdout and "outputs['logits']" in r.stdout


def test_savedmodel_unmapped_op_named(tmp_path):
    src = os.path.join(harness.REPO, "testdata/onnx/loop.onnx")
    (tmp_path / "sm").mkdir()
    r = harness.run_modelc("convert", src, str(tmp_path / "sm"), "--to", "savedmodel")
    assert r.returncode == 5, harness.describe(r)
    assert "no TensorFlow mapping" in r.stderr and "(Loop)" in r.stderr


# ---- the other doors: Python package over libmodelc -------------------------------------


PY_CHECK = r"""
import sys, modelc, onnx
keras_path, h5_path, ckpt, out_dir = sys.argv[1:5]
modelc.convert(keras_path, out_dir + "/py.onnx")
assert modelc.inspect(h5_path)["format"] == "keras"
blob = modelc.convert_bytes(open(keras_path, "rb").read(), to="onnx")
assert onnx.load_from_string(bytes(blob)).graph.node
modelc.convert(ckpt, out_dir + "/ck.safetensors")
print("ok")
"""


def test_python_package_reads_keras_and_checkpoints(saved, checkpoint, tmp_path):
    """The Python package of this tree (bindings/python over lib/libmodelc.so, in a fresh
    interpreter) converts a .keras file by path and from bytes, inspects a .h5 and converts
    a checkpoint bundle, through the same core as the CLI."""
    import subprocess
    import sys

    lib = os.path.join(harness.REPO, "lib", "libmodelc.so")
    if not os.path.exists(lib):
        pytest.skip("lib/libmodelc.so not built (make lib)")
    env = dict(os.environ, PYTHONPATH=os.path.join(harness.REPO, "bindings", "python"), MODELC_LIBRARY=lib)
    case = saved["digits_cnn"]
    prefix, _ = checkpoint
    r = subprocess.run([sys.executable, "-c", PY_CHECK, case["keras"], case["h5"], prefix + ".index", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]
    sess = harness.ort_session(str(tmp_path / "py.onnx"))
    got = sess.run(None, {sess.get_inputs()[0].name: next(iter(case["inputs"].values()))})[0]
    assert _max_rel(got, case["expected"][0]) <= TOL


# ---- SavedModel → ONNX -----------------------------------------------------------------

SAVEDMODEL_IMPORT = ["digits_mlp", "digits_cnn", "mobilenetv2", "conv1d", "transformer", "resnet_style", "lstm_gru", "multi_io"]


def _check_savedmodel_import(keras_model, feeds, expected, tmp_path, name):
    """Exports keras_model as a SavedModel (model.export), converts it to ONNX, and checks
    that onnxruntime and modelc run agree with TensorFlow's outputs within 1e-4. feeds is
    keyed by input name: a SavedModel's signature does not keep the inputs' order."""
    sm = tmp_path / "sm"
    keras_model.export(str(sm), verbose=False)
    out = _convert(str(sm), tmp_path, name)
    model = onnx.load(out)
    onnx.checker.check_model(model)
    assert sorted(i.name for i in model.graph.input) == sorted(feeds)
    sess = harness.ort_session(out)
    got = sess.run(None, feeds)
    for g, w in zip(got, expected):
        d = _max_rel(g, w)
        harness.note("savedmodel_import_max_rel", name, f"{d:.2e}")
        assert d <= TOL, f"{name}: onnxruntime on the imported SavedModel differs from TensorFlow by {d:.3g}"
    np.savez(tmp_path / "in.npz", **feeds)
    od = tmp_path / "out"
    harness.expect_ok(harness.run_modelc("run", out, "--inputs", str(tmp_path / "in.npz"), "--output-dir", str(od)))
    for o, w in zip(model.graph.output, expected):
        d = _max_rel(np.load(od / (o.name + ".npy")), w)
        assert d <= TOL, f"{name}: modelc run on the imported SavedModel differs from TensorFlow by {d:.3g}"
    return model


@pytest.mark.parametrize("name", SAVEDMODEL_IMPORT)
def test_savedmodel_to_onnx_matches_tensorflow(saved, tmp_path, name):
    """A Keras model exported as a SavedModel converts to ONNX and agrees with TensorFlow."""
    case = saved[name]
    _check_savedmodel_import(case["model"], case["inputs"], case["expected"], tmp_path, name)


def test_savedmodel_grouped_conv2d_matches_tensorflow(tmp_path):
    """Grouped Conv2D (groups 2, 4 and 8: after a pool, strided, after a BatchNorm) in a
    SavedModel: TensorFlow's Conv2D only says the filter's input depth, so the group count
    comes from the input's channel count; the ONNX Conv gets it and agrees with TensorFlow."""
    L = keras.layers
    x = keras.Input((12, 12, 8), name="image")
    y = L.Conv2D(12, 3, padding="same", groups=2, activation="relu")(x)
    y = L.MaxPooling2D()(y)
    y = L.Conv2D(8, 1, strides=2, groups=4)(y)
    y = L.Conv2D(8, 3, padding="valid", groups=8, use_bias=False)(L.BatchNormalization()(y))
    m = keras.Model(x, L.Flatten()(y))
    rng = np.random.default_rng(16)
    for w in m.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype(np.float32) if "variance" not in w.path else np.ones(w.shape, np.float32) * 1.5)
    feed = rng.normal(size=(2, 12, 12, 8)).astype(np.float32)
    model = _check_savedmodel_import(m, {"image": feed}, [np.asarray(m(feed, training=False))], tmp_path, "grouped_conv2d")
    groups = sorted(a.i for n in model.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group")
    assert groups == [2, 4, 8], groups


def test_savedmodel_unmapped_tf_op_named(tmp_path):
    """A recurrent loop that is not a default Keras cell (here a relu LSTM) is refused,
    naming the While node and the op in its body."""
    import keras

    s = keras.Input((4, 3))
    m = keras.Model(s, keras.layers.LSTM(2, activation="relu")(s))
    sm = tmp_path / "sm"
    m.export(str(sm), verbose=False)
    r = harness.run_modelc("convert", str(sm), str(tmp_path / "x.onnx"))
    assert r.returncode == 5, harness.describe(r)
    assert "TensorFlow node" in r.stderr and "While" in r.stderr and "Relu" in r.stderr, r.stderr


def test_savedmodel_recurrent_variants(tmp_path):
    """Keras 3 recurrent layers in a SavedModel become ONNX LSTM/GRU nodes: Bidirectional
    (both merge of sequences and of last states), go_backwards, GRU without reset_after,
    LSTM without bias; outputs match TensorFlow's."""
    import keras

    L = keras.layers
    s = keras.Input((7, 5), name="seq")
    y = L.Bidirectional(L.LSTM(4, return_sequences=True))(s)
    y = L.GRU(3, go_backwards=True, return_sequences=True, reset_after=False)(y)
    y2 = L.Bidirectional(L.GRU(3), merge_mode="sum")(y)
    y3 = L.LSTM(5, use_bias=False)(s)
    m = keras.Model(s, [y, y2, y3])
    keras_models._randomize(m, np.random.default_rng(8))
    x = np.random.default_rng(9).normal(0, 1, (2, 7, 5)).astype(np.float32)
    want = [np.asarray(v) for v in m(x, training=False)]
    sm = tmp_path / "sm"
    m.export(str(sm), verbose=False)
    _savedmodel_matches(sm, [x], want, tmp_path, "rnn_variants")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "rnn_variants.onnx")).graph.node]
    assert ops.count("LSTM") == 3 and ops.count("GRU") == 3, ops
    assert "Loop" not in ops


def _savedmodel_matches(sm_dir, feeds, want, tmp_path, label):
    """Converts a SavedModel folder to ONNX and checks onnxruntime and modelc run against
    TensorFlow's outputs (a list in signature output order)."""
    out = _convert(str(sm_dir), tmp_path, label)
    model = onnx.load(out)
    onnx.checker.check_model(model)
    names = [i.name for i in model.graph.input]
    if isinstance(feeds, dict):  # by input name: signatures order their inputs by name
        feeds = [feeds[k] for k in names]
    sess = harness.ort_session(out)
    got = sess.run(None, dict(zip(names, feeds)))
    assert len(got) == len(want)
    for o, g, w in zip(model.graph.output, got, want):
        assert g.shape == w.shape, f"{label} {o.name}: {g.shape} vs {w.shape}"
        d = _max_rel(g, w)
        harness.note("savedmodel_import_max_rel", f"{label}.{o.name}", f"{d:.2e}")
        assert d <= TOL, f"{label} {o.name}: onnxruntime differs from TensorFlow by {d:.3g}"
    np.savez(tmp_path / "in.npz", **dict(zip(names, feeds)))
    od = tmp_path / ("out_" + label)
    harness.expect_ok(harness.run_modelc("run", out, "--inputs", str(tmp_path / "in.npz"), "--output-dir", str(od)))
    for o, w in zip(model.graph.output, want):
        d = _max_rel(np.load(od / (o.name + ".npy")), w)
        assert d <= TOL, f"{label} {o.name}: modelc run differs from TensorFlow by {d:.3g}"


def test_savedmodel_resize_ops(tmp_path):
    """ResizeBilinear and ResizeNearestNeighbor in each align_corners / half_pixel_centers
    setting, up and down, as TensorFlow computes them."""
    import tensorflow as tf

    class Resizes(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 5, 6, 3], tf.float32, name="image")])
        def serve(self, x):
            outs = {}
            for op in ["bilinear", "nearest"]:
                fn = tf.raw_ops.ResizeBilinear if op == "bilinear" else tf.raw_ops.ResizeNearestNeighbor
                for label, align, half in [("plain", False, False), ("align", True, False), ("half", False, True)]:
                    for size in [(9, 13), (3, 4)]:
                        outs[f"{op}_{label}_{size[0]}"] = fn(images=x, size=size, align_corners=align, half_pixel_centers=half)
            return outs

    mod = Resizes()
    sm = tmp_path / "sm"
    tf.saved_model.save(mod, str(sm), signatures={"serving_default": mod.serve})
    x = np.random.default_rng(2).normal(0, 1, (2, 5, 6, 3)).astype(np.float32)
    want = mod.serve(tf.constant(x))
    loaded = tf.saved_model.load(str(sm)).signatures["serving_default"]
    keys = list(loaded.structured_outputs)
    # modelc's ONNX keeps the signature's output order.
    out = _convert(str(sm), tmp_path, "order")
    order = [o.name for o in onnx.load(out).graph.output]
    assert sorted(order) == sorted(keys)
    _savedmodel_matches(sm, [x], [want[k].numpy() for k in order], tmp_path, "resize")


def test_keras_npz_weights_refused(tmp_path):
    """Keras 3 can write a .keras archive with model.weights.npz (saving_lib's
    weights_format="npz"); each member is a pickled dict in an object array, which Keras'
    own load_model refuses (allow_pickle=False) and modelc does not unpickle: a clear
    "unsupported" error, not a crash or a model with missing weights."""
    import keras
    from keras.src.saving import saving_lib

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    p = str(tmp_path / "npz.keras")
    saving_lib.save_model(m, p, weights_format="npz")
    with zipfile.ZipFile(p) as zf:
        assert "model.weights.npz" in zf.namelist()
    with pytest.raises(ValueError, match="allow_pickle"):
        keras.saving.load_model(p)
    r = harness.run_modelc("convert", p, str(tmp_path / "npz.onnx"))
    assert r.returncode == 5, harness.describe(r)
    assert "model.weights.npz" in r.stderr and "pickled" in r.stderr and "panic" not in r.stderr


def test_savedmodel_efficientnet(tmp_path):
    """keras.applications.EfficientNetB0 (weights=None builds offline) at a small input,
    exported as a SavedModel: Normalization/Rescaling, swish, squeeze-and-excitation
    (Mean with keep_dims, Mul), DepthwiseConv2D, BatchNormalization."""
    import keras

    m = keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10, classifier_activation=None)
    keras_models._randomize(m, np.random.default_rng(12))
    x = np.random.default_rng(13).normal(0, 1, (2, 32, 32, 3)).astype(np.float32)
    want = [np.asarray(m(x, training=False))]
    sm = tmp_path / "sm"
    m.export(str(sm), verbose=False)
    _savedmodel_matches(sm, [x], want, tmp_path, "efficientnetb0")


def test_savedmodel_dilated_convolutions(tmp_path):
    """TensorFlow lowers dilated convolutions to SpaceToBatchND → conv → BatchToSpaceND;
    they import as dilated Conv nodes (Conv1D valid and same, Conv2D same,
    DepthwiseConv2D with unequal rates)."""
    import keras

    L = keras.layers
    a = keras.Input((20, 3), name="signal")
    b = keras.Input((9, 10, 3), name="image")
    outs = [L.Conv1D(4, 3, dilation_rate=2)(a), L.Conv1D(4, 3, dilation_rate=3, padding="same")(a),
            L.Conv2D(4, 3, dilation_rate=2, padding="same")(b), L.DepthwiseConv2D(3, dilation_rate=(2, 3))(b)]
    m = keras.Model([a, b], outs)
    keras_models._randomize(m, np.random.default_rng(14))
    rng = np.random.default_rng(15)
    feeds = [rng.normal(0, 1, (2, 20, 3)).astype(np.float32), rng.normal(0, 1, (2, 9, 10, 3)).astype(np.float32)]
    want = [np.asarray(v) for v in m(feeds, training=False)]
    sm = tmp_path / "sm"
    m.export(str(sm), verbose=False)
    _savedmodel_matches(sm, {"signal": feeds[0], "image": feeds[1]}, want, tmp_path, "dilated")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "dilated.onnx")).graph.node]
    assert ops.count("Conv") == 4, ops


def test_savedmodel_recurrent_corrupt(tmp_path):
    """A recurrent SavedModel whose saved_model.pb is cut short, or whose variables data
    file is cut short, is refused (exit 4) with a message, not a crash."""
    import shutil

    src = os.path.join(harness.REPO, "testdata", "keras", "tiny_rnn_savedmodel")
    cases = {}
    for label in ["pb", "data"]:
        d = tmp_path / label
        shutil.copytree(src, d)
        cases[label] = d
    pb = (cases["pb"] / "saved_model.pb").read_bytes()
    (cases["pb"] / "saved_model.pb").write_bytes(pb[: len(pb) // 2])
    data = cases["data"] / "variables" / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    for label, d in cases.items():
        r = harness.run_modelc("convert", str(d), str(tmp_path / (label + ".onnx")))
        assert r.returncode == CORRUPT, f"{label}: {harness.describe(r)}"
        assert "panic" not in r.stderr, r.stderr
        assert {"pb": "saved_model.pb", "data": "past the end"}[label] in r.stderr, r.stderr
