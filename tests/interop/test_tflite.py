"""modelc's TFLite writer and reader, with the LiteRT interpreter (ai-edge-litert) and
onnxruntime as the oracles.

Export: the digits models and three synthetic ones (tflite_models.py: MobileNet-class CNN,
UNet-like net with transposed convs and resizes, transformer encoder) go ONNX -> .tflite;
LiteRT's outputs must match onnxruntime's on the ONNX within 1e-4 (float32), the
fp16-rounded-weights ONNX within 1e-4 (fp16), and keep the digits accuracy (int8). The
number of TRANSPOSE ops in each exported model is printed (pytest -s) and bounded.
Round trip: the .tflite read back to ONNX runs in onnxruntime with the same outputs.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import harness
import tflite_models

Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter

DIGITS = os.path.join(harness.REPO, "testdata", "digits")
X = np.load(os.path.join(DIGITS, "test_inputs.npz"))["input"]
Y = np.load(os.path.join(DIGITS, "test_labels.npy"))
CALIB = os.path.join(DIGITS, "calib.npz")

# name: (path maker, pure CNN?, most TRANSPOSE ops allowed)
SYNTHETIC = {"mobilenet": 1, "unet": 2, "transformer": 8}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("tflite")
    paths = {"cnn": os.path.join(DIGITS, "cnn.onnx"), "mlp": os.path.join(DIGITS, "mlp.onnx")}
    for name in SYNTHETIC:
        p = str(d / f"{name}.onnx")
        onnx.save(getattr(tflite_models, name)(), p)
        paths[name] = p
    return d, paths


def sample_input(name: str, sess):
    rng = np.random.default_rng(7)
    i = sess.get_inputs()[0]
    if name in ("cnn", "mlp"):
        return X
    if name == "transformer":
        return rng.integers(0, 50, (1, 8)).astype(np.int32)
    return rng.standard_normal(i.shape).astype(np.float32)


def litert(path: str, x: np.ndarray):
    it = Interpreter(model_path=path)
    d = it.get_input_details()[0]
    if tuple(d["shape"]) != x.shape:
        it.resize_tensor_input(d["index"], x.shape)
    it.allocate_tensors()
    if d["dtype"] != x.dtype and d["quantization"][0]:
        s, z = d["quantization"]
        x = np.clip(np.round(x / s) + z, -128, 127).astype(d["dtype"])
    it.set_tensor(d["index"], x)
    it.invoke()
    o = it.get_output_details()[0]
    y = it.get_tensor(o["index"])
    if o["quantization"][0] and y.dtype != np.float32:
        s, z = o["quantization"]
        y = (y.astype(np.float32) - z) * s
    ops = [op["op_name"] for op in it._get_ops_details()]
    return y, ops


def convert(src, dst, *flags):
    r = harness.run_modelc("convert", src, dst, *flags)
    harness.expect_ok(r)


def ort_run(path, x):
    sess = ort.InferenceSession(path)
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("name", ["cnn", "mlp", *SYNTHETIC])
def test_export_float(models, name):
    d, paths = models
    out = str(d / f"{name}.tflite")
    convert(paths[name], out)
    sess = ort.InferenceSession(paths[name])
    x = sample_input(name, sess)
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    y, ops = litert(out, x)
    diff = float(np.abs(y - ref).max())
    n_t = ops.count("TRANSPOSE")
    print(f"\n{name}: LiteRT vs onnxruntime max abs diff {diff:.2e}, TRANSPOSE ops {n_t}, ops {len(ops)}")
    assert diff <= 1e-4, diff
    assert n_t <= SYNTHETIC.get(name, 0), ops
    if name in ("cnn", "mlp"):
        assert (y.argmax(1) == ref.argmax(1)).all()
    # round trip: the .tflite read back to ONNX, run by onnxruntime
    back = str(d / f"{name}.back.onnx")
    convert(out, back)
    onnx.checker.check_model(onnx.load(back))
    rb = ort_run(back, x)
    print(f"{name}: round trip ONNX -> TFLite -> ONNX max abs diff {np.abs(rb - ref).max():.2e}")
    assert np.abs(rb - ref).max() <= 1e-4


def test_export_nhwc_io(models):
    d, paths = models
    out = str(d / "mobilenet_nhwc.tflite")
    convert(paths["mobilenet"], out, "--nhwc-io")
    sess = ort.InferenceSession(paths["mobilenet"])
    x = sample_input("mobilenet", sess)
    ref = sess.run(None, {"image": x})[0]
    y, ops = litert(out, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    print(f"\nmobilenet --nhwc-io: TRANSPOSE ops {ops.count('TRANSPOSE')}, max abs diff {np.abs(y - ref).max():.2e}")
    assert ops.count("TRANSPOSE") == 0
    assert np.abs(y - ref).max() <= 1e-4


def fp16_reference(path: str, dst: str) -> str:
    """The ONNX model with its conv and matmul weights rounded to float16."""
    m = onnx.load(path)
    weights = {n.input[1] for n in m.graph.node if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and len(n.input) > 1}
    for i, t in enumerate(m.graph.initializer):
        if t.name in weights and t.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(t).astype(np.float16).astype(np.float32)
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, dst)
    return dst


@pytest.mark.parametrize("name", ["cnn", "mobilenet", "unet"])
def test_export_fp16(models, name):
    d, paths = models
    out = str(d / f"{name}_fp16.tflite")
    convert(paths[name], out, "--quantize", "fp16")
    ref_path = fp16_reference(paths[name], str(d / f"{name}_fp16ref.onnx"))
    sess = ort.InferenceSession(ref_path)
    x = sample_input(name, sess)
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    y, ops = litert(out, x)
    size = os.path.getsize(out) / os.path.getsize(str(d / f"{name}.tflite")) if os.path.exists(str(d / f"{name}.tflite")) else 0
    diff = float(np.abs(y - ref).max())
    print(f"\n{name} fp16: vs fp16-rounded ONNX max abs diff {diff:.2e}, DEQUANTIZE ops {ops.count('DEQUANTIZE')}, size ratio {size:.2f}")
    assert diff <= 1e-4
    assert "DEQUANTIZE" in ops


def accuracy(logits):
    return float((logits.argmax(1) == Y).mean())


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_export_int8_dynamic(models, name):
    d, paths = models
    out = str(d / f"{name}_dyn.tflite")
    convert(paths[name], out, "--quantize", "int8", "--mode", "dynamic")
    ref = ort_run(paths[name], X)
    y, ops = litert(out, X)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    print(f"\n{name} int8 dynamic: accuracy {accuracy(y):.4f} (float {accuracy(ref):.4f}), top-1 agreement {agree:.4f}")
    assert accuracy(y) >= accuracy(ref) - 0.01
    assert agree >= 0.99


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_export_int8_full(models, name):
    d, paths = models
    out = str(d / f"{name}_int8.tflite")
    convert(paths[name], out, "--quantize", "int8", "--calibration", CALIB)
    ref = ort_run(paths[name], X)
    y, ops = litert(out, X)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    it = Interpreter(model_path=out)
    types = {t["dtype"].__name__ for t in it.get_tensor_details()}
    print(f"\n{name} full int8: accuracy {accuracy(y):.4f} (float {accuracy(ref):.4f}), top-1 agreement {agree:.4f}, tensor types {sorted(types)}")
    assert accuracy(y) >= accuracy(ref) - 0.01
    assert agree >= 0.99
    # read back: QDQ ONNX reproduces the interpreter within a quantization step
    back = str(d / f"{name}_int8.back.onnx")
    convert(out, back)
    rb = ort_run(back, X)
    # the int8 output's step (the tensor the final DEQUANTIZE reads)
    step = max((t["quantization"][0] for t in it.get_tensor_details() if t["name"].endswith("_int8")), default=1e-4)
    print(f"{name} full int8 read back: max abs diff vs LiteRT {np.abs(rb - y).max():.3e} (output step {step:.3e})")
    assert np.abs(rb - y).max() <= step * 1.01 + 1e-6


def test_unsupported_op_names_node(tmp_path):
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Einsum", ["x", "x"], ["y"], name="the_einsum", equation="ij,ij->i")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    p = str(tmp_path / "e.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    r = harness.run_modelc("convert", p, str(tmp_path / "e.tflite"))
    assert r.returncode == 5, harness.describe(r)
    assert "the_einsum" in r.stderr and "Einsum" in r.stderr
    assert not os.path.exists(tmp_path / "e.tflite")


def test_bad_files(models, tmp_path):
    d, paths = models
    good = str(d / "cnn.tflite")
    if not os.path.exists(good):
        convert(paths["cnn"], good)
    data = open(good, "rb").read()
    cases = {
        "truncated": data[: len(data) // 3],
        "header_only": data[:16],
        "bad_root": data[:4].replace(data[:4], b"\xff\xff\xff\x7f") + data[4:],
        "garbage": data[:8] + bytes((i * 37) & 0xFF for i in range(len(data) - 8)),
    }
    for name, blob in cases.items():
        p = str(tmp_path / f"{name}.tflite")
        open(p, "wb").write(blob)
        r = harness.run_modelc("info", p)
        assert r.returncode in (4, 5), f"{name}: {harness.describe(r)}"
        assert "panic" not in r.stderr and "goroutine" not in r.stderr, r.stderr


def _modelc_package():
    import sys
    try:
        import modelc
    except ImportError:  # not installed: the source tree and the repository's build
        sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
        os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
        import modelc
    return modelc


def test_python_doors(models, tmp_path):
    """convert_bytes (modelc_convert_bytes) both ways and convert() with TFLite options."""
    modelc = _modelc_package()
    d, paths = models
    data = open(paths["cnn"], "rb").read()
    tfl = modelc.convert_bytes(data, "tflite")
    assert tfl[4:8] == b"TFL3"
    p = str(tmp_path / "cnn.tflite")
    open(p, "wb").write(tfl)
    ref = ort_run(paths["cnn"], X)
    y, _ = litert(p, X)
    assert np.abs(y - ref).max() <= 1e-4
    back = modelc.convert_bytes(tfl, "onnx")
    sess = ort.InferenceSession(back)
    assert np.abs(sess.run(None, {"input": X})[0] - ref).max() <= 1e-4
    q = str(tmp_path / "cnn_int8.tflite")
    modelc.convert(paths["cnn"], q, quantize="int8", calibration=CALIB)
    yq, ops = litert(q, X)
    assert (yq.argmax(1) == ref.argmax(1)).mean() >= 0.99
    with pytest.raises(modelc.InvalidArgumentError):
        modelc.convert(paths["cnn"], str(tmp_path / "x.tflite"), quantize="int4")


def test_qdq_model(models, tmp_path):
    """A model modelc compressed to QDQ form: exported as float (the DequantizeLinear of
    each weight folded), and as full int8 with its QuantizeLinear scales kept."""
    d, paths = models
    qdq = str(tmp_path / "cnn_qdq.onnx")
    r = harness.run_modelc("compress", paths["cnn"], qdq, "--quantize", "int8", "--mode", "static", "--calibration", CALIB)
    harness.expect_ok(r)
    ref = ort_run(qdq, X)
    for flags in ([], ["--quantize", "int8", "--calibration", CALIB]):
        out = str(tmp_path / f"cnn_qdq{len(flags)}.tflite")
        convert(qdq, out, *flags)
        y, ops = litert(out, X)
        agree = float((y.argmax(1) == ref.argmax(1)).mean())
        print(f"\nQDQ cnn -> tflite {flags[:2]}: accuracy {accuracy(y):.4f} (QDQ ONNX {accuracy(ref):.4f}), top-1 agreement {agree:.4f}")
        assert agree >= 0.99 and accuracy(y) >= accuracy(ref) - 0.01


def test_export_int8_full_mobilenet(tmp_path):
    """Full-integer MobileNet-class CNN (BatchNorm folded, ReLU6 fused, HardSwish, residual
    add, sigmoid, pools): top-1 agreement with onnxruntime's float model ≥ 99%."""
    src = str(tmp_path / "mobilenet_n.onnx")
    onnx.save(tflite_models.mobilenet("N"), src)
    rng = np.random.default_rng(3)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, image=rng.standard_normal((32, 3, 32, 32)).astype(np.float32))
    out = str(tmp_path / "mobilenet_int8.tflite")
    convert(src, out, "--quantize", "int8", "--calibration", calib)
    x = rng.standard_normal((200, 3, 32, 32)).astype(np.float32)
    ref = ort_run(src, x)
    y, ops = litert(out, x)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    print(f"\nmobilenet full int8: top-1 agreement {agree:.4f} on 200 inputs, max abs diff {np.abs(y - ref).max():.2e}, TRANSPOSE ops {ops.count('TRANSPOSE')}")
    assert agree >= 0.99


def test_export_int8_full_unet(models, tmp_path):
    """Full-integer UNet-like net: TRANSPOSE_CONV with int32 bias, resizes, and
    concatenations whose inputs are requantized to the output's grid."""
    d, paths = models
    rng = np.random.default_rng(4)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, image=rng.standard_normal((1, 3, 16, 16)).astype(np.float32))
    out = str(tmp_path / "unet_int8.tflite")
    convert(paths["unet"], out, "--quantize", "int8", "--calibration", calib)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    ref = ort_run(paths["unet"], x)
    y, ops = litert(out, x)
    err = float(np.abs(y - ref).mean())
    print(f"\nunet full int8: mean abs diff {err:.4f} (sigmoid output, step 1/256), max {np.abs(y - ref).max():.4f}, ops {sorted(set(ops))}")
    assert err <= 0.02


def test_export_int8_full_transformer(tmp_path):
    """Full-integer transformer encoder (float input x[N, 8, 32]): int8 BATCH_MATMUL,
    SOFTMAX, GELU; LayerNorm's MEAN / SQUARED_DIFFERENCE / RSQRT in float between a
    DEQUANTIZE and a QUANTIZE."""
    src = str(tmp_path / "transformer_x.onnx")
    onnx.save(tflite_models.transformer(ids=False), src)
    rng = np.random.default_rng(3)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, x=rng.standard_normal((64, 8, 32)).astype(np.float32))
    out = str(tmp_path / "transformer_int8.tflite")
    convert(src, out, "--quantize", "int8", "--calibration", calib)
    x = rng.standard_normal((100, 8, 32)).astype(np.float32)
    ref = ort_run(src, x)
    ys = [litert(out, x[i:i + 1])[0] for i in range(len(x))]
    y = np.concatenate(ys)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    rel = float(np.abs(y - ref).max() / np.abs(ref).max())
    print(f"\ntransformer full int8: top-1 agreement {agree:.3f} on 100 inputs, max error {rel:.3f} of the output range")
    assert agree >= 0.99


CORPUS = os.path.join(harness.REPO, "testdata", "corpus")
# real-world exports (testdata/corpus/README.md) that convert: name -> tolerance
CORPUS_CASES = {
    "cnn_dim_minus1_op11": 1e-4, "dwsep_hswish_const_op13": 1e-4, "dwsep_hswish_const_op17": 1e-4,
    "keras_cnn_bn_op13": 1e-4, "keras_mlp_op15": 1e-4, "skl_mlp_regressor_op15": 1e-4,
    "torch_cnn_op11": 1e-4, "torch_reduce_squeeze_op12": 1e-4,
    # QDQ: activations stay float (their rounding is not replayed), the clamps are kept
    "ort_static_qdq_cnn": 2e-2,
}


@pytest.mark.parametrize("name", list(CORPUS_CASES))
def test_corpus_export(name, tmp_path):
    src = os.path.join(CORPUS, name + ".onnx")
    out = str(tmp_path / (name + ".tflite"))
    convert(src, out)
    feeds = dict(np.load(os.path.join(CORPUS, name + ".inputs.npz")))
    sess = ort.InferenceSession(src)
    ref = sess.run(None, feeds)[0]
    it = Interpreter(model_path=out)
    res = it.get_signature_runner()(**feeds)
    y = res[sess.get_outputs()[0].name]
    ops = [o["op_name"] for o in it._get_ops_details()]
    diff = float(np.abs(y - ref).max())
    print(f"\ncorpus {name}: max abs diff {diff:.2e}, TRANSPOSE ops {ops.count('TRANSPOSE')} of {len(ops)}")
    assert diff <= CORPUS_CASES[name]


def test_export_int8_io(models, tmp_path):
    """--int8-io: the full-integer digits CNN takes and gives int8 (no QUANTIZE/DEQUANTIZE)."""
    d, paths = models
    out = str(tmp_path / "cnn_int8_io.tflite")
    convert(paths["cnn"], out, "--quantize", "int8", "--calibration", CALIB, "--int8-io")
    it = Interpreter(model_path=out)
    assert it.get_input_details()[0]["dtype"] == np.int8 and it.get_output_details()[0]["dtype"] == np.int8
    ref = ort_run(paths["cnn"], X)
    y, ops = litert(out, X)  # quantizes X with the input's parameters, dequantizes the output
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops
    print(f"\ncnn --int8-io: accuracy {accuracy(y):.4f} (float {accuracy(ref):.4f})")
    assert accuracy(y) >= accuracy(ref) - 0.01


@pytest.mark.parametrize("name", ["cnn_dim_minus1_op11", "dwsep_hswish_const_op13", "dwsep_hswish_const_op17",
                                  "keras_cnn_bn_op13", "torch_cnn_op11", "torch_reduce_squeeze_op12", "keras_mlp_op15"])
def test_corpus_export_int8(name, tmp_path):
    """Full-integer export of the real-world corpus models, calibrated on their own sample
    inputs (intermediates of multi-op lowerings bounded from their operands' ranges)."""
    src = os.path.join(CORPUS, name + ".onnx")
    feeds_path = os.path.join(CORPUS, name + ".inputs.npz")
    out = str(tmp_path / (name + ".tflite"))
    convert(src, out, "--quantize", "int8", "--calibration", feeds_path)
    feeds = dict(np.load(feeds_path))
    sess = ort.InferenceSession(src)
    ref = sess.run(None, feeds)[0]
    y = Interpreter(model_path=out).get_signature_runner()(**feeds)[sess.get_outputs()[0].name]
    rel = float(np.abs(y - ref).max() / np.abs(ref).max())
    print(f"\ncorpus {name} full int8: max abs error {rel:.3f} of the output range")
    assert rel <= 0.05


def test_export_int8_full_token_ids(tmp_path):
    """Full integer with int32 token ids in: calibration takes the integer input as it is,
    the ids reach GATHER unquantized (the embedding table is int8), top-1 agreement with
    onnxruntime's float model ≥ 99%."""
    src = str(tmp_path / "transformer_ids.onnx")
    onnx.save(tflite_models.transformer(ids=True, batch="N"), src)
    rng = np.random.default_rng(3)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, ids=rng.integers(0, 50, (64, 8)).astype(np.int32))
    out = str(tmp_path / "transformer_ids_int8.tflite")
    convert(src, out, "--quantize", "int8", "--calibration", calib)
    x = rng.integers(0, 50, (100, 8)).astype(np.int32)
    ref = ort_run(src, x)
    it = Interpreter(model_path=out)
    d = it.get_input_details()[0]
    assert d["dtype"] == np.int32 and not d["quantization"][0]
    ys = []
    for i in range(len(x)):
        it.resize_tensor_input(d["index"], (1, 8))
        it.allocate_tensors()
        it.set_tensor(d["index"], x[i:i + 1])
        it.invoke()
        ys.append(it.get_tensor(it.get_output_details()[0]["index"]))
    y = np.concatenate(ys)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    gather = [t for t in it.get_tensor_details() if t["dtype"] == np.int8 and t["shape"].tolist() == [50, 32]]
    print(f"\ntransformer token ids full int8: top-1 agreement {agree:.3f} on 100 inputs, int8 embedding table {bool(gather)}")
    assert agree >= 0.99


@pytest.mark.parametrize("ids", [True, False])
def test_dynamic_sequence_length(ids, tmp_path):
    """A transformer with free batch and sequence dimensions keeps both dynamic
    (shape_signature -1): LiteRT resizes it (strict) to two sequence lengths and agrees
    with onnxruntime within 1e-4 (float) and on the top-1 class (full int8). With token
    ids, learned positions are sliced to the sequence length as torch exports them
    (Shape, Gather, Slice): the slice end is read from the input's SHAPE at run time."""
    src = str(tmp_path / "transformer_dyn.onnx")
    onnx.save(tflite_models.transformer(ids=ids, batch="N", dyn_seq=True, positions=ids), src)
    rng = np.random.default_rng(5)

    def sample(n, s):
        if ids:
            return rng.integers(0, 50, (n, s)).astype(np.int32)
        return rng.standard_normal((n, s, 32)).astype(np.float32)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, **{"ids" if ids else "x": sample(32, 8)})
    out, q = str(tmp_path / "dyn.tflite"), str(tmp_path / "dyn_int8.tflite")
    convert(src, out)
    convert(src, q, "--quantize", "int8", "--calibration", calib)
    for path in (out, q):
        it = Interpreter(model_path=path)
        d = it.get_input_details()[0]
        assert list(d["shape_signature"][:2]) == [-1, -1]
        agree = []
        for shape in ((1, 5), (3, 12)):
            x = sample(*shape)
            ref = ort_run(src, x)
            it.resize_tensor_input(d["index"], x.shape, strict=True)
            it.allocate_tensors()
            it.set_tensor(d["index"], x)
            it.invoke()
            y = it.get_tensor(it.get_output_details()[0]["index"])
            assert y.shape == ref.shape
            if path == out:
                np.testing.assert_allclose(y, ref, atol=1e-4)
            agree.append((y.argmax(1) == ref.argmax(1)).mean())
        ops = [o["op_name"] for o in it._get_ops_details()]
        if path == out:  # read back: the computed RESHAPE targets become Shape / Concat / Gather
            back = str(tmp_path / "dyn.back.onnx")
            convert(out, back)
            x = sample(2, 7)
            np.testing.assert_allclose(ort_run(back, x), ort_run(src, x), atol=1e-4)
        print(f"\n{os.path.basename(path)} (ids={ids}) at sequence lengths 5 and 12: top-1 agreement {agree}, SHAPE ops {ops.count('SHAPE')}")
        if path == q:
            assert min(agree) >= 2 / 3


RNN_CASES = {
    "lstm forward": lambda: tflite_models.lstm("forward"),
    "lstm reverse peepholes": lambda: tflite_models.lstm("reverse", peepholes=True),
    "lstm bidirectional peepholes init": lambda: tflite_models.lstm("bidirectional", peepholes=True, init=True),
    "gru forward": lambda: tflite_models.gru("forward"),
    "gru bidirectional linear_before_reset=0 init": lambda: tflite_models.gru("bidirectional", linear_before_reset=0, init=True),
}


@pytest.mark.parametrize("case", list(RNN_CASES))
def test_rnn(case, tmp_path):
    """ONNX LSTM and GRU, unrolled: LiteRT gives Y, Y_h (and Y_c) within 1e-5 of
    onnxruntime, the same on a second invocation (no state carried over), and the .tflite
    reads back to ONNX."""
    src, out = str(tmp_path / "rnn.onnx"), str(tmp_path / "rnn.tflite")
    onnx.save(RNN_CASES[case](), src)
    direction = case
    convert(src, out)
    x = np.random.default_rng(2).standard_normal((6, 2, 5)).astype(np.float32)
    sess = ort.InferenceSession(src)
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    it = Interpreter(model_path=out)
    it.allocate_tensors()
    for _ in range(2):
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        for o in it.get_output_details():
            np.testing.assert_allclose(it.get_tensor(o["index"]), ref[o["name"]], atol=1e-5)
    back = str(tmp_path / "rnn.back.onnx")
    convert(out, back)
    rb = ort.InferenceSession(back).run(None, {"x": x})
    for y, name in zip(rb, ("Y", "Y_h", "Y_c")[:len(rb)]):
        np.testing.assert_allclose(y, ref[name], atol=1e-5)
    ops = [o["op_name"] for o in it._get_ops_details()]
    print(f"\n{direction}: {len(ops)} ops ({sorted(set(ops))})")


def test_lstm_int8_full(tmp_path):
    """A bidirectional LSTM classifier in full int8: the LSTM runs in float between
    DEQUANTIZE and QUANTIZE, the classifier in int8; top-1 agreement ≥ 99%."""
    src, out = str(tmp_path / "lstm_clf.onnx"), str(tmp_path / "lstm_clf_int8.tflite")
    onnx.save(tflite_models.lstm("bidirectional", batch=32, hidden=8, classes=5), src)
    rng = np.random.default_rng(4)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, x=rng.standard_normal((6, 32, 5)).astype(np.float32))
    convert(src, out, "--quantize", "int8", "--calibration", calib)
    x = rng.standard_normal((6, 32, 5)).astype(np.float32)
    y, ops = litert(out, x)
    ref = ort_run(src, x)
    agree = float((y.argmax(1) == ref.argmax(1)).mean())
    print(f"\nLSTM classifier full int8: top-1 agreement {agree:.3f} on 32 sequences")
    assert agree >= 0.99 and "FULLY_CONNECTED" in ops
