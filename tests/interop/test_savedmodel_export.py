"""ONNX → SavedModel export, with TensorFlow as the oracle: the folder modelc writes is a
TF2 SavedModel whose weights are variables restored from variables/ (not constants
inlined in saved_model.pb); tf.saved_model.load's serving_default and the TF1 session
path of saved_model_cli both run it and agree with onnxruntime within 1e-4 relative to
the output's scale; variables/ stays an ordinary checkpoint for weights-only
conversions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

import harness

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover
    tf = None

pytestmark = pytest.mark.skipif(tf is None, reason="tensorflow not installed")

TOL = 1e-4
FIXTURES = ["onnx/cnn.onnx", "digits/mlp.onnx", "digits/cnn.onnx"]


def _max_rel(got, want) -> float:
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want))) / scale


def _feeds(sess, batch=2):
    rng = np.random.default_rng(11)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in i.shape]
        if "int" in i.type:
            feeds[i.name] = rng.integers(0, 20, shape).astype(np.int32 if "int32" in i.type else np.int64)
        else:
            feeds[i.name] = rng.normal(0, 1, shape).astype(np.float32)
    return feeds


def _export(onnx_path, tmp_path) -> str:
    out = tmp_path / "sm"
    out.mkdir()
    harness.expect_ok(harness.run_modelc("convert", onnx_path, str(out) + "/", "--to", "savedmodel"))
    return str(out)


def _check(onnx_path, sm_dir, batches=(2,)) -> float:
    """serving_default of tf.saved_model.load agrees with onnxruntime; returns the worst
    difference."""
    sess = harness.ort_session(onnx_path)
    fn = tf.saved_model.load(sm_dir).signatures["serving_default"]
    worst = 0.0
    for batch in batches:
        feeds = _feeds(sess, batch)
        want = sess.run(None, feeds)
        got = fn(**{k: tf.constant(v) for k, v in feeds.items()})
        for o, w in zip(sess.get_outputs(), want):
            d = _max_rel(got[o.name].numpy(), w)
            worst = max(worst, d)
            assert d <= TOL, f"{onnx_path} (batch {batch}): {o.name} differs from onnxruntime by {d:.3g}"
    return worst


@pytest.mark.parametrize("fixture", FIXTURES)
def test_weights_are_restored_variables(tmp_path, fixture):
    """The loaded object's variables hold the ONNX weights (permuted where TensorFlow's
    layout differs), saved_model.pb does not, and the signature agrees with onnxruntime."""
    src = os.path.join(harness.REPO, "testdata", fixture)
    sm = _export(src, tmp_path)
    d = _check(src, sm)
    harness.note("savedmodel_export_max_rel", fixture, f"{d:.2e}")

    loaded = tf.saved_model.load(sm)
    assert len(loaded.variables) > 0
    assert [v.name for v in loaded.trainable_variables] == [v.name for v in loaded.variables]
    by_name = {v.name.split(":")[0]: v.numpy() for v in loaded.variables}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(src).graph.initializer}
    matched = 0
    for name, value in inits.items():
        if value.dtype != np.float32 or value.size < 2:
            continue
        for suffix in ("", "_hwio", "_hwcm"):
            if name + suffix in by_name:
                got = by_name[name + suffix]
                assert got.size == value.size and np.array_equal(np.sort(got, axis=None), np.sort(value, axis=None)), name
                matched += 1
                break
    assert matched >= 2, f"no variable carries the ONNX weights: {sorted(by_name)}"

    pb = open(os.path.join(sm, "saved_model.pb"), "rb").read()
    biggest = max((v for v in inits.values() if v.dtype == np.float32), key=lambda v: v.size)
    assert biggest.tobytes()[:64] not in pb, "weights are inlined in saved_model.pb"
    data = os.path.join(sm, "variables", "variables.data-00000-of-00001")
    assert os.path.getsize(data) >= sum(v.nbytes for v in inits.values() if v.dtype == np.float32 and v.size > 1) // 2


@pytest.mark.parametrize("fixture", ["onnx/lstm.onnx", "onnx/transformer.onnx"])
def test_dynamic_fixture_export(tmp_path, fixture):
    """An LSTM over a sequence length known only at run time (a While loop, not an
    unrolled sequence) and a transformer whose shapes are computed from its input: both
    run at two sizes of their dynamic dimensions."""
    src = os.path.join(harness.REPO, "testdata", fixture)
    d = _check(src, _export(src, tmp_path), batches=(2, 5))
    harness.note("savedmodel_export_max_rel", fixture, f"{d:.2e}")


def _saved_model_cli():
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.access(cli, os.X_OK):
        pytest.skip("saved_model_cli not installed")
    return cli


def test_saved_model_cli_show_and_run(tmp_path):
    """saved_model_cli lists the signature and runs it through a TF1 session, which
    restores the variables through the SaverDef."""
    cli = _saved_model_cli()
    src = os.path.join(harness.REPO, "testdata/digits/cnn.onnx")
    sm = _export(src, tmp_path)
    r = subprocess.run([cli, "show", "--dir", sm, "--all"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "signature_def['serving_default']" in r.stdout and "inputs['input']" in r.stdout and "outputs['logits']" in r.stdout

    sess = harness.ort_session(src)
    feeds = _feeds(sess)
    np.save(tmp_path / "x.npy", feeds["input"])
    r = subprocess.run([cli, "run", "--dir", sm, "--tag_set", "serve", "--signature_def", "serving_default",
                        "--inputs", f"input={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.load(tmp_path / "out" / "logits.npy")
    d = _max_rel(got, sess.run(None, feeds)[0])
    assert d <= TOL, f"saved_model_cli run differs from onnxruntime by {d:.3g}"


def test_variables_folder_converts_as_checkpoint(tmp_path):
    """variables/ of an exported SavedModel → safetensors holds the loaded variables'
    values; safetensors → a checkpoint that TensorFlow reads back."""
    import safetensors.numpy

    sm = _export(os.path.join(harness.REPO, "testdata/digits/mlp.onnx"), tmp_path)
    loaded = {v.name.split(":")[0]: v.numpy() for v in tf.saved_model.load(sm).variables}
    st = str(tmp_path / "w.safetensors")
    harness.expect_ok(harness.run_modelc("convert", os.path.join(sm, "variables"), st))
    got = {k.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE"): v for k, v in safetensors.numpy.load_file(st).items()}
    assert sorted(got) == sorted(loaded)
    for k, v in loaded.items():
        assert np.array_equal(got[k], v), k
    back = tmp_path / "ck"
    back.mkdir()
    harness.expect_ok(harness.run_modelc("convert", st, str(back / "variables.index")))
    r = tf.train.load_checkpoint(str(back / "variables"))
    for k, v in loaded.items():
        assert np.array_equal(r.get_tensor(k + "/.ATTRIBUTES/VARIABLE_VALUE"), v), k


def test_export_reads_back(tmp_path):
    """modelc's own SavedModel reader takes the exported folder back to ONNX (variables
    matched through the restore function) with the same outputs."""
    _check_read_back(os.path.join(harness.REPO, "testdata/digits/cnn.onnx"), tmp_path)


def _check_read_back(src, tmp_path):
    """Exports src, converts the SavedModel back to ONNX, and compares both in onnxruntime."""
    sm = _export(src, tmp_path)
    back = str(tmp_path / "back.onnx")
    harness.expect_ok(harness.run_modelc("convert", sm, back))
    a, b = harness.ort_session(src), harness.ort_session(back)
    feeds = _feeds(a)
    got = b.run(None, {i.name: feeds[j.name] for i, j in zip(b.get_inputs(), a.get_inputs())})
    for g, w in zip(got, a.run(None, feeds)):
        assert _max_rel(g, w) <= TOL


# ---- torch models with the ops TensorFlow export used to refuse ---------------------------

SYSTEM_PYTHON = "/usr/bin/python3"
TORCH_MODELS = ["lstm", "gru", "bilstm", "bigru", "conv1d", "grouped_conv", "encoder"]


def _system_torch() -> bool:
    return os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def torch_onnx(tmp_path_factory):
    if not _system_torch():
        pytest.skip("torch is not importable by /usr/bin/python3")
    folder = tmp_path_factory.mktemp("torch_onnx")
    script = os.path.join(os.path.dirname(__file__), "savedmodel_torch_models.py")
    r = subprocess.run([SYSTEM_PYTHON, script, str(folder)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return str(folder)


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_model_export(torch_onnx, tmp_path, name):
    """LSTM/GRU classifiers, a Conv1d audio net, a grouped-convolution net and a
    transformer encoder, exported by torch with a dynamic batch: TensorFlow's outputs
    agree with onnxruntime's at two batch sizes."""
    src = os.path.join(torch_onnx, name + ".onnx")
    sm = _export(src, tmp_path)
    d = _check(src, sm, batches=(2, 3))
    harness.note("savedmodel_export_max_rel", name, f"{d:.2e}")


@pytest.mark.parametrize("name", ["conv1d", "grouped_conv"])
def test_torch_model_reads_back(torch_onnx, tmp_path, name):
    """modelc's SavedModel reader takes its own export of 1-D and grouped convolutions
    back (the per-group Split, the height-1 2-D convolution) with onnxruntime's outputs."""
    _check_read_back(os.path.join(torch_onnx, name + ".onnx"), tmp_path)


def test_runtime_reshape_copies_zero(tmp_path):
    """A Reshape to a shape computed at run time that holds ONNX's 0 (copy x's dimension)
    and a negative Gather index: TensorFlow, which reads 0 literally and refuses negative
    indices, gets the same result as onnxruntime."""
    from onnx import TensorProto, helper

    i64 = lambda name, v: helper.make_tensor(name, TensorProto.INT64, [len(v)], v)  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["dims"]),
        helper.make_node("Gather", ["dims", "first"], ["batch"], axis=0),
        helper.make_node("Concat", ["batch", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "reshape0", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [i64("first", [-3]), i64("rest", [0, 2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    src = str(tmp_path / "reshape0.onnx")
    onnx.save(model, src)
    _check(src, _export(src, tmp_path), batches=(2, 3))


def test_prelu_and_sum(tmp_path):
    """PRelu with a per-channel slope after a (channels-last) convolution, and a Sum of
    three tensors."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.uniform(0.1, 0.5, (4, 1, 1)).astype(np.float32), "slope")]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["p"]),
        helper.make_node("Sum", ["p", "c", "x4"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "prelu_sum", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 6, 6]),
                                                   helper.make_tensor_value_info("x4", TensorProto.FLOAT, ["n", 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    src = str(tmp_path / "prelu_sum.onnx")
    onnx.save(model, src)
    _check(src, _export(src, tmp_path), batches=(2,))
