"""`modelc convert --opset N`, checked by onnx.checker and onnxruntime.

1. Models written the way exporters write them (torch.onnx at opsets 9-13, tf2onnx at
   13): converted up and back down, every result must pass
   onnx.checker.check_model(full_check=True), load in onnxruntime and give the original
   model's outputs. onnx.version_converter's result on the same model is reported beside.
2. A representative subset of the ONNX node-test models (every case of the ops whose
   signature changes between opsets, and a spread of the others) at a few target opsets:
   whatever modelc converts must pass the checker, load in onnxruntime and match the
   case's expected outputs; what it refuses must be refused with exit 5 and a message
   naming the node. The full sweep over every case and target is bench/opset_convert.py.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper, version_converter

import harness
import onnx_node_cases

sys.path.insert(0, os.path.join(harness.REPO, "bench"))
import opset_convert  # noqa: E402

F = TensorProto.FLOAT


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def _model(nodes, inputs, outputs, inits, opset, name):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="exporter-like")
    m.ir_version = {9: 4, 11: 6, 12: 7, 13: 7}[opset]
    # Outputs declared without a shape get the one shape inference finds, as exporters write.
    im = onnx.shape_inference.infer_shapes(m)
    inferred = {vi.name: vi for vi in list(im.graph.value_info) + list(im.graph.output)}
    for o in m.graph.output:
        if not o.type.tensor_type.HasField("shape") and o.name in inferred:
            o.type.CopyFrom(inferred[o.name].type)
    onnx.checker.check_model(m, full_check=True)
    return m


def torch_cnn_11():
    """torch.onnx opset 11: Pad/Clip with inputs, ReduceMean/Squeeze with axes attributes."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Pad", ["x", "pads", "zero"], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", "w", "b"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["r6"]),
        helper.make_node("ReduceMean", ["r6"], ["gap"], axes=[2, 3], keepdims=1),
        helper.make_node("Squeeze", ["gap"], ["flat"], axes=[2, 3]),
        helper.make_node("Gemm", ["flat", "fw", "fb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
        helper.make_node("Split", ["logits"], ["s0", "s1"], axis=1, split=[2, 3]),
        helper.make_node("ReduceSum", ["s1"], ["z"], axes=[1], keepdims=0),
    ]
    inits = [
        _init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
        _init("zero", np.array(0, np.float32)),
        _init("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        _init("b", rng.standard_normal(4).astype(np.float32)),
        _init("lo", np.array(0, np.float32)),
        _init("hi", np.array(6, np.float32)),
        _init("fw", rng.standard_normal((5, 4)).astype(np.float32)),
        _init("fb", rng.standard_normal(5).astype(np.float32)),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 8, 8])],
                  [helper.make_tensor_value_info("y", F, [2, 5]), helper.make_tensor_value_info("z", F, [2]),
                   helper.make_tensor_value_info("s0", F, [2, 2])], inits, 11, "torch_cnn_11")


def tf2onnx_13():
    """tf2onnx opset 13: Unsqueeze/Squeeze/ReduceSum/Split with their axes and split inputs."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", ["t", "ax0"], ["u"]),
        helper.make_node("Squeeze", ["u", "ax0"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "ax2"], ["rs"], keepdims=1),
        helper.make_node("Split", ["t", "sizes"], ["a", "b"], axis=1),
        helper.make_node("Pad", ["a", "pads", "cval"], ["pa"], mode="constant"),
        helper.make_node("ReduceMax", ["b"], ["mx"], axes=[-1], keepdims=0),
        helper.make_node("Softmax", ["rs"], ["y"], axis=1),
        helper.make_node("Slice", ["pa", "st", "en", "sax", "step"], ["sl"]),
        helper.make_node("TopK", ["mx", "k"], ["tv", "ti"], axis=-1),
    ]
    inits = [
        _init("ax0", np.array([0], np.int64)),
        _init("ax2", np.array([2], np.int64)),
        _init("sizes", np.array([1, 3], np.int64)),
        _init("pads", np.array([0, 0, 1, 0, 0, 2], np.int64)),
        _init("cval", np.array(1.5, np.float32)),
        _init("st", np.array([0], np.int64)),
        _init("en", np.array([3], np.int64)),
        _init("sax", np.array([-1], np.int64)),
        _init("step", np.array([1], np.int64)),
        _init("k", np.array([2], np.int64)),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 5, 4])],
                  [helper.make_value_info(n, helper.make_tensor_type_proto(F, None)) for n in ("y", "sl", "tv")], inits, 13, "tf2onnx_13")


def torch_9():
    """An opset-9 export: Upsample, Slice/TopK attributes, Dropout, BatchNormalization."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["bn"], epsilon=1e-5),
        helper.make_node("Upsample", ["bn", "scales"], ["up"], mode="nearest"),
        helper.make_node("Slice", ["up"], ["sl"], starts=[1], ends=[5], axes=[3]),
        helper.make_node("Dropout", ["sl"], ["dr"], ratio=0.25),
        helper.make_node("Flatten", ["dr"], ["fl"], axis=1),
        helper.make_node("TopK", ["fl"], ["y", "yi"], k=3),
        helper.make_node("Softmax", ["dr"], ["sm"], axis=2),
    ]
    inits = [
        _init("s", rng.random(2).astype(np.float32) + 0.5),
        _init("bb", rng.standard_normal(2).astype(np.float32)),
        _init("m", rng.standard_normal(2).astype(np.float32)),
        _init("v", rng.random(2).astype(np.float32) + 0.5),
        _init("scales", np.array([1, 1, 2, 2], np.float32)),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [1, 2, 3, 3])],
                  [helper.make_value_info(n, helper.make_tensor_type_proto(F, None)) for n in ("y", "sm")],
                  inits, 9, "torch_9")


def transformer_12():
    """An opset-12 attention block: MatMul/Softmax over the last axis, LayerNorm written out."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "xt"], ["att"]),
        helper.make_node("Softmax", ["att"], ["p"], axis=2),
        helper.make_node("MatMul", ["p", "x"], ["ctx"]),
        helper.make_node("ReduceMean", ["ctx"], ["mu"], axes=[-1]),
        helper.make_node("Sub", ["ctx", "mu"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["var"], axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["sd"]),
        helper.make_node("Div", ["d", "sd"], ["y"]),
        helper.make_node("Unsqueeze", ["y"], ["y4"], axes=[1]),
        helper.make_node("Squeeze", ["y4"], ["out"], axes=[1]),
    ]
    inits = [_init("wq", rng.standard_normal((8, 8)).astype(np.float32) * 0.3), _init("eps", np.array(1e-5, np.float32))]
    return _model(nodes, [helper.make_tensor_value_info("x", F, [2, 4, 8])],
                  [helper.make_value_info("out", helper.make_tensor_type_proto(F, None))], inits, 12, "transformer_12")


EXPORTERS = {f.__name__: f for f in (torch_cnn_11, tf2onnx_13, torch_9, transformer_12)}
ROUNDS = {  # source opset → the targets tried, in order (each from the previous result)
    "torch_cnn_11": [13, 18, 21, 23, 11, 9, 18],
    "tf2onnx_13": [18, 21, 11, 13, 23],
    "torch_9": [11, 13, 18, 21, 9, 7, 17],
    "transformer_12": [13, 18, 21, 23, 12, 10],
}


def _feeds(m):
    rng = np.random.default_rng(3)
    out = {}
    for vi in m.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def _ort(path_or_model, feeds):
    if isinstance(path_or_model, onnx.ModelProto):
        path_or_model = path_or_model.SerializeToString()
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_exporter_models_round_trip(name, tmp_path):
    m = EXPORTERS[name]()
    src = tmp_path / "src.onnx"
    onnx.save(m, src)
    feeds = _feeds(m)
    want = _ort(m, feeds)
    cur = src
    for target in ROUNDS[name]:
        out = tmp_path / f"{target}.onnx"
        harness.expect_ok(harness.run_modelc("convert", cur, out, "--opset", target))
        conv = onnx.load(out)
        assert [o.version for o in conv.opset_import if o.domain == ""] == [target]
        onnx.checker.check_model(conv, full_check=True)
        got = _ort(str(out), feeds)
        for w, g, vi in zip(want, got, m.graph.output):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=f"{name} at opset {target}: output {vi.name}")
        # onnx.version_converter on the same step, for the record (not a requirement).
        try:
            vc = version_converter.convert_version(onnx.load(cur), target)
            onnx.checker.check_model(vc, full_check=True)
            vc_ok = all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(_ort(vc, feeds), want))
            harness.note(f"opset exporter: version_converter {'ok' if vc_ok else 'wrong outputs'}", f"{name}->{target}")
        except Exception as e:  # noqa: BLE001
            harness.note("opset exporter: version_converter fails", f"{name}->{target}", str(e).splitlines()[0][:200])
        harness.note("opset exporter: modelc ok", f"{name}->{target}")
        cur = out


def test_refusal_names_the_node(tmp_path):
    """A downgrade the target cannot express: exit 5, the node and the reason named, no file."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "st", "en"], ["ax"]),
        helper.make_node("ReduceMean", ["x", "ax"], ["y"], name="mean_dyn"),
    ]
    inits = [_init("st", np.array([0], np.int64)), _init("en", np.array([1], np.int64))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [2, 3])],
                          [helper.make_tensor_value_info("y", F, [])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    src, out = tmp_path / "m.onnx", tmp_path / "out.onnx"
    onnx.save(m, src)
    r = harness.run_modelc("convert", src, out, "--opset", 13)
    assert r.returncode == 5, harness.describe(r)
    assert "mean_dyn" in r.stderr and "ReduceMean" in r.stderr and "computed at run time" in r.stderr
    assert not out.exists()
    r = harness.run_modelc("convert", src, out, "--opset", 30)
    assert r.returncode == 2, harness.describe(r)
    r = harness.run_modelc("convert", src, tmp_path / "out.safetensors", "--opset", 13)
    assert r.returncode == 2 and "opset" in r.stderr, harness.describe(r)


# ---- the node-test subset ----------------------------------------------------------

# Ops whose signature or meaning changes between opsets: every case of these is checked.
_ADAPTED = ("reduce", "squeeze", "split", "pad", "clip", "resize", "upsample", "slice", "top_k", "batchnorm",
            "dropout", "softmax", "hardmax", "gelu", "layer_norm", "hardswish", "mish", "cast", "scatter",
            "shape", "gemm", "argmax", "argmin", "constant", "quantizelinear", "roialign", "flatten", "concat")
_TARGETS = (11, 13, 18, 21)


def _subset():
    cases = onnx_node_cases.ensure_cases()
    picked = [c for c in cases if any(k in os.path.basename(c) for k in _ADAPTED) and "expanded" not in c]
    rest = [c for c in cases if c not in picked]
    picked += rest[::12]  # a spread of the others
    return sorted(picked)


SUBSET = _subset()


@pytest.mark.parametrize("case", SUBSET, ids=[os.path.basename(c) for c in SUBSET])
def test_node_case_subset(case, tmp_path):
    warnings.simplefilter("ignore")
    name = os.path.basename(case)
    model, sets = opset_convert.load_case(case)
    try:
        reference = opset_convert.run_ort(os.path.join(case, "model.onnx"), sets)
    except Exception:  # noqa: BLE001
        pytest.skip("onnxruntime cannot run the original model")
    for t in _TARGETS:
        out = tmp_path / f"{t}.onnx"
        r = harness.run_modelc("convert", os.path.join(case, "model.onnx"), out, "--opset", t)
        if r.returncode != 0:
            assert r.returncode == 5 and "cannot convert to opset" in r.stderr, harness.describe(r)
            harness.note(f"opset {t}: refused", name, r.stderr.strip().splitlines()[-1][:200])
            continue
        res = opset_convert.evaluate(str(out), sets, reference)
        if not opset_convert.original_passes_checker(case):
            harness.note("opset: original fails onnx.checker", name)
        else:
            assert res["checker"], f"{name} at opset {t}: onnx.checker refuses modelc's output: {res.get('checker_error')}"
        assert res["ort"], f"{name} at opset {t}: onnxruntime refuses modelc's output: {res.get('ort_error')}"
        assert res["match"], f"{name} at opset {t}: outputs differ from the case's expected outputs"
        harness.note(f"opset {t}: converted and matches", name)


def test_python_and_c_abi_take_the_opset_option():
    """The option reaches the core through the C ABI's JSON options, as "opset"."""
    try:
        import modelc
    except ImportError:
        sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
        os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
        import modelc
    m = torch_cnn_11()
    out = modelc.convert_bytes(m.SerializeToString(), "onnx", from_format="onnx", opset=18)
    conv = onnx.load_from_string(out)
    assert [o.version for o in conv.opset_import if o.domain == ""] == [18]
    onnx.checker.check_model(conv, full_check=True)
    feeds = _feeds(m)
    for w, g in zip(_ort(m, feeds), _ort(conv, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    g = helper.make_graph([helper.make_node("Trilu", ["x"], ["y"], name="tri")], "g",
                          [helper.make_tensor_value_info("x", F, [2, 2])], [helper.make_tensor_value_info("y", F, [2, 2])])
    tri = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    with pytest.raises(modelc.UnsupportedError, match="tri"):
        modelc.convert_bytes(tri.SerializeToString(), "onnx", opset=13)
    with pytest.raises(modelc.InvalidArgumentError, match="opset"):
        modelc.convert_bytes(tri.SerializeToString(), "onnx", opset=99)


CORPUS = os.path.join(harness.REPO, "testdata", "corpus")
CORPUS_MODELS = sorted(f[:-5] for f in os.listdir(CORPUS) if f.endswith(".onnx"))
CORPUS_TARGETS = (11, 13, 17, 18, 21)


@pytest.mark.parametrize("name", CORPUS_MODELS)
def test_corpus_models_convert_or_refuse(name, tmp_path):
    """The third-party corpus (PyTorch, tf2onnx, skl2onnx, onnxruntime's quantizer) to
    each target: a converted file passes onnx.checker and gives onnxruntime's outputs of
    the original; a refusal is a clean error (exit 5) and leaves no file."""
    src = os.path.join(CORPUS, name + ".onnx")
    with np.load(os.path.join(CORPUS, name + ".inputs.npz")) as z:
        feeds = {k: z[k] for k in z.files}
    want = _ort(src, feeds)
    for target in CORPUS_TARGETS:
        dst = tmp_path / f"{name}-{target}.onnx"
        r = harness.run_modelc("convert", src, dst, "--opset", target)
        if r.returncode != 0:
            assert r.returncode == 5 and "cannot convert to opset" in r.stderr, harness.describe(r)
            assert not dst.exists()
            harness.note("opset corpus refused", f"{name}->{target}", r.stderr.strip().splitlines()[-1][:200])
            continue
        harness.STATS["opset corpus converted"] += 1
        m = onnx.load(str(dst))
        assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [target]
        onnx.checker.check_model(m, full_check=True)
        got = _ort(str(dst), feeds)
        for a, b in zip(want, got):
            np.testing.assert_allclose(np.asarray(b, np.float64), np.asarray(a, np.float64), rtol=1e-4, atol=1e-5)
