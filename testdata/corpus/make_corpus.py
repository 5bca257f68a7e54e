"""Makes the real-world ONNX corpus in this folder. Run by hand, not by make test.

The files are written by producers other than modelc: PyTorch's exporter, tf2onnx,
skl2onnx and onnxruntime's quantizer. A few are then edited with onnx.helper into
forms that other exporters write (weights in Constant nodes, Constant nodes inside an
If body, a dim_value of -1, nodes out of topological order); README.md says which.

Three stages, each in the interpreter that has its producer (see README.md):

    /usr/bin/python3 testdata/corpus/make_corpus.py torch            # Debian's python3-torch 1.13
    /work/corpus-venv/bin/python testdata/corpus/make_corpus.py tf sklearn derived

or both at once (the torch stage is run with $TORCH_PYTHON, default /usr/bin/python3):

    /work/corpus-venv/bin/python testdata/corpus/make_corpus.py all

The derived stage reads the torch and tf stages' files, so it runs last. Every model
gets <name>.inputs.npz beside it: fixed-seed inputs keyed by graph input name, of the
input's dtype. Weights are random from fixed seeds (sklearn models are fitted on
random data); nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    return os.path.join(HERE, name + ".onnx")


def save_inputs(name: str, **arrays) -> None:
    np.savez(os.path.join(HERE, name + ".inputs.npz"), **arrays)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- PyTorch 1.13, torch.onnx.export (TorchScript-based exporter) --------------------


def stage_torch() -> None:
    import torch
    from torch import nn

    def export(name, model, inputs, input_names, output_names, dynamic_axes, opset):
        model.eval()
        torch.onnx.export(model, tuple(inputs), path(name), opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes)
        save_inputs(name, **{n: t.numpy() for n, t in zip(input_names, inputs)})
        print(f"{name}: {os.path.getsize(path(name))} bytes")

    def randomise_batchnorm(model):
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)

    class CNN(nn.Module):
        # BatchNorm after ReLU so the exporter cannot fold it into the Conv.
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(16),
                nn.AdaptiveAvgPool2d(1))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x):
            return self.head(self.features(x))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)
            self.head = nn.Linear(32, 4)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y)

    class GRUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(8, 24, num_layers=2, batch_first=True)
            self.head = nn.Linear(24, 3)

        def forward(self, x):
            y, h = self.rnn(x)
            return self.head(y[:, -1])

    class Branchy(nn.Module):
        """An If on the data: each branch has its own Linear, so weights are used inside
        the If bodies (torch.jit.script keeps the branch)."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(12, 16)
            self.pos = nn.Linear(16, 16)
            self.neg = nn.Linear(16, 16)
            self.out = nn.Linear(16, 5)

        def forward(self, x):
            h = torch.relu(self.stem(x))
            if bool(x.mean() > 0):
                h = torch.tanh(self.pos(h))
            else:
                h = torch.sigmoid(self.neg(h)) * 2.0
            return self.out(h)

    class Looped(nn.Module):
        """An RNN cell written as a Python loop, scripted: a Loop whose body holds the
        MatMul/Gemm weights and an If."""

        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(8, 16)
            self.rec = nn.Linear(16, 16)
            self.out = nn.Linear(16, 4)

        def forward(self, x):
            h = torch.zeros(x.size(1), 16)
            for i in range(x.size(0)):
                h = torch.tanh(self.inp(x[i]) + self.rec(h))
                if bool(h.sum() > 0):
                    h = h * 0.9
            return self.out(h)

    class ReduceSqueeze(nn.Module):
        """At opset 12, ReduceMean/ReduceSum and Squeeze/Unsqueeze carry `axes` as an
        attribute (an input from opset 13/18)."""

        def __init__(self):
            super().__init__()
            self.a = nn.Linear(16, 32)
            self.b = nn.Linear(32, 4)

        def forward(self, x):  # x: [N, 1, 16]
            y = self.a(x)
            y = y - y.mean(-1, keepdim=True)
            y = y / (y.pow(2).sum(-1, keepdim=True) + 1.0).sqrt()
            y = y.squeeze(1)
            return self.b(torch.relu(y)).unsqueeze(1)

    class DWSep(nn.Module):
        """MobileNet-like: stem conv, depthwise-separable blocks with hard-swish, an
        inverted residual, global pool and a classifier."""

        def __init__(self):
            super().__init__()
            hs = nn.Hardswish
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), hs())
            self.dw1 = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), hs(),
                                     nn.Conv2d(16, 24, 1, bias=False), nn.BatchNorm2d(24))
            self.ir = nn.Sequential(nn.Conv2d(24, 48, 1, bias=False), nn.BatchNorm2d(48), hs(),
                                    nn.Conv2d(48, 48, 3, 1, 1, groups=48, bias=False), nn.BatchNorm2d(48), hs(),
                                    nn.Conv2d(48, 24, 1, bias=False), nn.BatchNorm2d(24))
            self.head = nn.Sequential(nn.Conv2d(24, 64, 1), hs(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(64, 10))

        def forward(self, x):
            y = self.dw1(self.stem(x))
            y = y + self.ir(y)
            return self.head(y)

    torch.manual_seed(0)
    cnn = CNN()
    randomise_batchnorm(cnn)
    export("torch_cnn_op11", cnn, [torch.randn(2, 3, 16, 16)], ["image"], ["logits"],
           {"image": {0: "batch"}, "logits": {0: "batch"}}, 11)

    export("torch_lstm_op11", LSTMNet(), [torch.randn(2, 6, 8)], ["sequence"], ["scores"],
           {"sequence": {0: "batch", 1: "steps"}, "scores": {0: "batch", 1: "steps"}}, 11)

    # opset 13: no LayerNormalization op yet, so the exporter spells it out
    # (ReduceMean, Sub, Pow, Sqrt, Div); Gelu as Erf.
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                       activation="gelu", batch_first=True)
    export("torch_transformer_op13", layer, [torch.randn(2, 5, 32)], ["tokens"], ["encoded"],
           {"tokens": {0: "batch", 1: "sequence"}, "encoded": {0: "batch", 1: "sequence"}}, 13)

    export("torch_gru_op17", GRUNet(), [torch.randn(3, 7, 8)], ["sequence"], ["scores"],
           {"sequence": {0: "batch", 1: "steps"}, "scores": {0: "batch"}}, 17)

    export("torch_if_op13", torch.jit.script(Branchy()), [torch.randn(4, 12) + 0.3], ["x"], ["y"],
           {"x": {0: "batch"}, "y": {0: "batch"}}, 13)

    export("torch_loop_op17", torch.jit.script(Looped()), [torch.randn(5, 3, 8)], ["steps"], ["state"],
           {"steps": {0: "steps", 1: "batch"}, "state": {0: "batch"}}, 17)

    export("torch_reduce_squeeze_op12", ReduceSqueeze(), [torch.randn(3, 1, 16)], ["x"], ["y"],
           {"x": {0: "batch"}, "y": {0: "batch"}}, 12)

    # Float sources for the Constant-node variants made in the derived stage (these
    # two files are removed there). opset 13 writes hard-swish as x * HardSigmoid(x),
    # opset 14+ as the HardSwish op.
    dw = DWSep()
    randomise_batchnorm(dw)
    x = torch.randn(1, 3, 32, 32)
    for opset in (13, 17):
        export(f"_dwsep_op{opset}", dw, [x], ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}},
               opset)


# ---- TensorFlow/Keras through tf2onnx --------------------------------------------------


def stage_tf() -> None:
    import tensorflow as tf
    import tf2onnx

    keras = tf.keras
    keras.utils.set_random_seed(0)  # Python, NumPy and TensorFlow seeds: the same weights every run

    def convert(name, model, x, opset):
        spec = (tf.TensorSpec((None,) + tuple(x.shape[1:]), tf.float32, name="input"),)

        @tf.function(input_signature=spec)
        def serve(inp):
            return model(inp, training=False)

        tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset, output_path=path(name))
        import onnx

        m = onnx.load(path(name))
        save_inputs(name, **{m.graph.input[0].name: x})
        print(f"{name}: {os.path.getsize(path(name))} bytes")

    cnn = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])
    for layer in cnn.layers:  # real BatchNorm statistics, not 0 and 1
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            r = rng(1)
            layer.set_weights([r.uniform(0.5, 1.5, g.shape).astype(np.float32), r.uniform(-0.5, 0.5, b.shape).astype(np.float32),
                               r.uniform(-0.5, 0.5, m.shape).astype(np.float32), r.uniform(0.5, 1.5, v.shape).astype(np.float32)])
    convert("keras_cnn_bn_op13", cnn, rng(10).standard_normal((2, 16, 16, 3)).astype(np.float32), 13)

    mlp = keras.Sequential([
        keras.Input((20,)),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(32, activation="tanh"),
        keras.layers.Dense(5, activation="softmax"),
    ])
    convert("keras_mlp_op15", mlp, rng(11).standard_normal((4, 20)).astype(np.float32), 15)

    lstm = keras.Sequential([
        keras.Input((6, 8)),
        keras.layers.LSTM(16, return_sequences=True), keras.layers.GRU(12),
        keras.layers.Dense(3),
    ])
    convert("keras_lstm_gru_op13", lstm, rng(12).standard_normal((2, 6, 8)).astype(np.float32), 13)


# ---- scikit-learn through skl2onnx ---------------------------------------------------


def stage_sklearn() -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    r = rng(20)
    X = r.standard_normal((200, 10)).astype(np.float32)
    y = (X @ r.standard_normal(10) + 0.1 * r.standard_normal(200)).astype(np.float32)
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)

    def convert(name, model, options=None, opset=15):
        onx = to_onnx(model, X[:1], target_opset={"": opset, "ai.onnx.ml": 3}, options=options)
        with open(path(name), "wb") as f:
            f.write(onx.SerializeToString())
        save_inputs(name, **{onx.graph.input[0].name: rng(21).standard_normal((8, 10)).astype(np.float32)})
        print(f"{name}: {os.path.getsize(path(name))} bytes")

    # MLPRegressor: MatMul, Add, Relu only (plain ai.onnx).
    convert("skl_mlp_regressor_op15",
            MLPRegressor(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0).fit(X, y))
    # StandardScaler + LinearRegression: ai.onnx.ml Scaler and LinearRegressor.
    convert("skl_scaler_linreg_ml", make_pipeline(StandardScaler(), LinearRegression()).fit(X, y))
    # MLPClassifier without ZipMap: MatMul/Add/Relu/Softmax, then ArgMax and the
    # ai.onnx.ml ArrayFeatureExtractor that maps class indices to labels.
    clf = MLPClassifier(hidden_layer_sizes=(24,), max_iter=300, random_state=0).fit(X, labels)
    convert("skl_mlp_classifier_ml", clf, options={id(clf): {"zipmap": False}})


# ---- edits with onnx.helper, and onnxruntime's quantizer ------------------------------


def initializers_to_constants(graph) -> None:
    """Every initializer of graph becomes a Constant node at the top of the graph, as
    exporters that do not use initializers write weights."""
    from onnx import helper

    consts = [helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t) for t in graph.initializer]
    nodes = consts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]


def uses(graph, name: str) -> bool:
    from onnx import AttributeProto

    for n in graph.node:
        if name in n.input:
            return True
        for a in n.attribute:
            if a.type == AttributeProto.GRAPH and uses(a.g, name):
                return True
            if a.type == AttributeProto.GRAPHS and any(uses(g, name) for g in a.graphs):
                return True
    return False


def check_runs(name: str) -> None:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path(name), so, providers=["CPUExecutionProvider"])
    feeds = dict(np.load(os.path.join(HERE, name + ".inputs.npz")))
    outs = sess.run(None, feeds)
    print(f"  {name}: onnxruntime runs it, outputs {[np.asarray(o).shape for o in outs]}")


def stage_derived() -> None:
    import shutil

    import onnx
    from onnx import helper

    def copy_inputs(src, dst):
        shutil.copyfile(os.path.join(HERE, src + ".inputs.npz"), os.path.join(HERE, dst + ".inputs.npz"))

    # Depthwise-separable hard-swish nets with every weight in a Constant node.
    for opset in (13, 17):
        src = f"_dwsep_op{opset}"
        m = onnx.load(path(src))
        initializers_to_constants(m.graph)
        dst = f"dwsep_hswish_const_op{opset}"
        onnx.save(m, path(dst))
        copy_inputs(src, dst)
        os.remove(path(src))
        os.remove(os.path.join(HERE, src + ".inputs.npz"))
        print(f"{dst}: {os.path.getsize(path(dst))} bytes")

    # The If model with each branch's weights moved into that branch as Constant nodes.
    m = onnx.load(path("torch_if_op13"))
    g = m.graph
    ifs = [n for n in g.node if n.op_type == "If"]
    keep = []
    for t in g.initializer:
        branches = [a.g for n in ifs for a in n.attribute if a.type == onnx.AttributeProto.GRAPH and uses(a.g, t.name)]
        main = any(t.name in n.input for n in g.node)
        if branches and not main:
            for b in branches:
                nodes = [helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t)] + list(b.node)
                del b.node[:]
                b.node.extend(nodes)
        else:
            keep.append(t)
    moved = len(g.initializer) - len(keep)
    assert moved >= 2, "expected the branch weights to be used only inside the If bodies"
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.save(m, path("torch_if_const_body_op13"))
    copy_inputs("torch_if_op13", "torch_if_const_body_op13")
    print(f"torch_if_const_body_op13: {moved} initializers moved into the If bodies")

    # An input dimension written as dim_value -1 (onnxruntime takes it as dynamic).
    m = onnx.load(path("torch_cnn_op11"))
    for vi in list(m.graph.input) + list(m.graph.output):
        d = vi.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = -1
    onnx.save(m, path("cnn_dim_minus1_op11"))
    copy_inputs("torch_cnn_op11", "cnn_dim_minus1_op11")

    # Nodes in reverse order (onnxruntime sorts on load; onnx.checker refuses).
    m = onnx.load(path("torch_transformer_op13"))
    nodes = list(m.graph.node)[::-1]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.save(m, path("transformer_unsorted_op13"))
    copy_inputs("torch_transformer_op13", "transformer_unsorted_op13")

    # onnxruntime's quantizer.
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self, name, n=8, seed=30):
            feeds = dict(np.load(os.path.join(HERE, name + ".inputs.npz")))
            r = rng(seed)
            self.items = iter([{k: r.standard_normal(v.shape).astype(v.dtype) for k, v in feeds.items()}
                               for _ in range(n)])

        def get_next(self):
            return next(self.items, None)

    quantize_dynamic(path("torch_transformer_op13"), path("ort_dynamic_transformer"), weight_type=QuantType.QInt8)
    copy_inputs("torch_transformer_op13", "ort_dynamic_transformer")
    quantize_dynamic(path("keras_mlp_op15"), path("ort_dynamic_mlp_perchannel"), weight_type=QuantType.QInt8,
                     per_channel=True)
    copy_inputs("keras_mlp_op15", "ort_dynamic_mlp_perchannel")
    quantize_static(path("keras_cnn_bn_op13"), path("ort_static_qdq_cnn"), Reader("keras_cnn_bn_op13"),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    copy_inputs("keras_cnn_bn_op13", "ort_static_qdq_cnn")
    quantize_static(path("torch_cnn_op11"), path("ort_static_qop_cnn"), Reader("torch_cnn_op11"),
                    quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    copy_inputs("torch_cnn_op11", "ort_static_qop_cnn")

    for f in sorted(os.listdir(HERE)):
        if f.endswith(".onnx"):
            check_runs(f[:-5])


def main(argv) -> None:
    stages = argv or ["all"]
    if stages == ["all"]:
        torch_python = os.environ.get("TORCH_PYTHON", "/usr/bin/python3")
        subprocess.run([torch_python, os.path.abspath(__file__), "torch"], check=True)
        stages = ["tf", "sklearn", "derived"]
    for s in stages:
        {"torch": stage_torch, "tf": stage_tf, "sklearn": stage_sklearn, "derived": stage_derived}[s]()
    for f in os.listdir(HERE):  # onnxruntime's quantizer leaves these behind
        if f.endswith("-opt.onnx") or f == "augmented_model.onnx":
            os.remove(os.path.join(HERE, f))


if __name__ == "__main__":
    main(sys.argv[1:])
