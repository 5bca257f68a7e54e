"""ONNX test models for the TFLite tests, built with onnx.helper and seeded random weights:
a MobileNet-class CNN, a UNet-like net with transposed convolution and resizes, and a
small transformer encoder (embedding gather, LayerNormalization, attention, GELU)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _G:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def const(self, arr, p="w") -> str:
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def w(self, *shape, scale=None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        s = scale if scale is not None else np.sqrt(2.0 / max(fan_in, 1))
        return self.const((self.rng.standard_normal(shape) * s).astype(np.float32))

    def op(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower() + "_") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name("n_" + op), **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k=3, s=1, p=1, group=1, bias=True):
        ins = [x, self.w(cout, cin // group, k, k)]
        if bias:
            ins.append(self.const((self.rng.standard_normal(cout) * 0.1).astype(np.float32)))
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], group=group)

    def bn(self, x, c):
        r = self.rng
        return self.op("BatchNormalization", [
            x,
            self.const((1 + 0.1 * r.standard_normal(c)).astype(np.float32)),
            self.const((0.1 * r.standard_normal(c)).astype(np.float32)),
            self.const((0.1 * r.standard_normal(c)).astype(np.float32)),
            self.const((1 + 0.1 * r.random(c)).astype(np.float32)),
        ], epsilon=1e-5)

    def relu6(self, x):
        return self.op("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))])

    def model(self, inputs, outputs, opset=17):
        g = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="modelc-tests")
        m.ir_version = 8 if opset <= 17 else 9
        onnx.checker.check_model(m)
        return m


def mobilenet(batch=1) -> onnx.ModelProto:
    """MobileNetV2/V3-style: stem conv+BN+ReLU6, depthwise-separable block, an inverted
    residual block with HardSwish, global average pool, classifier, softmax."""
    g = _G(1)
    x = "image"
    h = g.relu6(g.bn(g.conv(x, 3, 16, s=2, bias=False), 16))                 # 16x16
    h = g.relu6(g.conv(h, 16, 16, group=16))                                   # depthwise
    h = g.conv(h, 16, 24, k=1, p=0)                                            # pointwise
    e = g.op("HardSwish", [g.conv(h, 24, 72, k=1, p=0)])
    e = g.relu6(g.conv(e, 72, 72, s=1, group=72))
    e = g.conv(e, 72, 24, k=1, p=0)
    h = g.op("Add", [h, e])                                                    # residual
    h = g.relu6(g.conv(h, 24, 48, k=3, s=2))                                   # 8x8
    h = g.op("Sigmoid", [g.conv(h, 48, 48, k=1, p=0)])
    h = g.op("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2])         # 4x4
    h = g.op("GlobalAveragePool", [h])
    h = g.op("Flatten", [h], axis=1)
    h = g.op("Gemm", [h, g.w(10, 48), g.const(np.zeros(10, np.float32))], transB=1)
    out = g.op("Softmax", [h], axis=-1)
    g.nodes[-1].output[0] = "probs"
    return g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 32, 32])],
                   [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 10])])


def unet() -> onnx.ModelProto:
    """Encoder-decoder with a skip connection: conv, max pool, transposed conv (k2 s2 and
    k4 s2 p1), concat, bilinear and nearest resizes, sigmoid."""
    g = _G(2)
    e1 = g.op("Relu", [g.conv("image", 3, 8)])                                  # 16x16
    p1 = g.op("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2])             # 8x8
    e2 = g.op("Relu", [g.conv(p1, 8, 16)])
    p2 = g.op("MaxPool", [e2], kernel_shape=[2, 2], strides=[2, 2])             # 4x4
    b = g.op("Relu", [g.conv(p2, 16, 16)])
    u2 = g.op("ConvTranspose", [b, g.w(16, 16, 2, 2), g.const(np.zeros(16, np.float32))], kernel_shape=[2, 2], strides=[2, 2])  # 8x8
    d2 = g.op("Relu", [g.conv(g.op("Concat", [u2, e2], axis=1), 32, 16)])
    u1 = g.op("ConvTranspose", [d2, g.w(16, 8, 4, 4)], kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])  # 16x16
    d1 = g.op("Relu", [g.conv(g.op("Concat", [u1, e1], axis=1), 16, 8)])
    empty = g.const(np.zeros(0, np.float32), "roi")
    up = g.op("Resize", [d1, empty, g.const(np.array([1, 1, 2, 2], np.float32), "scales")], mode="linear",
              coordinate_transformation_mode="half_pixel")                     # 32x32
    side = g.op("Resize", [b, empty, g.const(np.array([1, 1, 8, 8], np.float32), "scales")], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")  # 32x32
    side = g.conv(side, 16, 8, k=1, p=0)
    h = g.op("Add", [up, side])
    h = g.op("Pad", [h, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")])
    h = g.conv(h, 8, 2, k=3, p=0)
    g.op("Sigmoid", [h])
    g.nodes[-1].output[0] = "mask"
    return g.model([helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
                   [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 2, 32, 32])])


def transformer(seq=8, d=32, heads=4, vocab=50, layers=2, ids=True, batch=None, dyn_seq=False,
                positions=False) -> onnx.ModelProto:
    """Token embedding (Gather) plus positions, pre-LN encoder layers with multi-head
    self-attention and a GELU MLP, final LayerNorm, mean pooling, classifier. ids=False:
    the input is the embedded sequence x[N, seq, d] (float, any batch) instead of token ids.
    batch: the leading dimension (default 1 for ids, "N" for x). dyn_seq: the sequence
    length is a free dimension "S" (reshapes say -1); positions: learned positions sliced to
    the sequence length, as torch exports them."""
    g = _G(3)
    dh = d // heads
    h = g.op("Gather", [g.w(vocab, d, scale=0.5), "ids"], axis=0) if ids else "x"  # [1, seq, d]
    if not dyn_seq:
        h = g.op("Add", [h, g.w(1, seq, d, scale=0.1)])
    elif positions:  # as torch exports pos[:, :x.size(1)]: Shape, Gather, Unsqueeze, Slice
        n = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", [h]), g.const(np.array(1, np.int64), "i")], axis=0),
                               g.const(np.array([0], np.int64), "axes")])
        p = g.op("Slice", [g.w(1, 4 * seq, d, scale=0.1), g.const(np.array([0], np.int64), "starts"), n,
                           g.const(np.array([1], np.int64), "axes")])
        h = g.op("Add", [h, p])
    s_dim = -1 if dyn_seq else seq

    def ln(x):
        return g.op("LayerNormalization", [x, g.const((1 + 0.1 * g.rng.standard_normal(d)).astype(np.float32)),
                                           g.const((0.1 * g.rng.standard_normal(d)).astype(np.float32))], axis=-1, epsilon=1e-5)

    def lin(x, i, o):
        return g.op("Add", [g.op("MatMul", [x, g.w(i, o, scale=1 / np.sqrt(i))]),
                            g.const((0.02 * g.rng.standard_normal(o)).astype(np.float32))])

    for _ in range(layers):
        a = ln(h)
        qkv = []
        for _ in range(3):
            t = g.op("Reshape", [lin(a, d, d), g.const(np.array([0, s_dim, heads, dh], np.int64), "shape")])
            qkv.append(g.op("Transpose", [t], perm=[0, 2, 1, 3]))             # [1, H, S, dh]
        q, k, v = qkv
        s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])
        s = g.op("Mul", [s, g.const(np.float32(1 / np.sqrt(dh)))])
        p = g.op("Softmax", [s], axis=-1)
        o = g.op("Transpose", [g.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
        o = g.op("Reshape", [o, g.const(np.array([0, s_dim, d], np.int64), "shape")])
        h = g.op("Add", [h, lin(o, d, d)])
        f = g.op("Gelu", [lin(ln(h), d, 2 * d)])
        h = g.op("Add", [h, lin(f, 2 * d, d)])
    h = g.op("ReduceMean", [ln(h), g.const(np.array([1], np.int64), "axes")], keepdims=0)
    h = g.op("Gemm", [h, g.w(d, 5), g.const(np.zeros(5, np.float32))])
    g.nodes[-1].output[0] = "logits"
    b = batch if batch is not None else (1 if ids else "N")
    sq = "S" if dyn_seq else seq
    inp = helper.make_tensor_value_info("ids", TensorProto.INT32, [b, sq]) if ids else \
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, sq, d])
    return g.model([inp],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [b, 5])], opset=20)


def lstm(direction="forward", seq=6, batch=2, inp=5, hidden=4, peepholes=False, init=False, classes=0) -> onnx.ModelProto:
    """One ONNX LSTM (layout 0: x[seq, batch, inp]) with outputs Y, Y_h, Y_c; peepholes P,
    non-zero constant initial states; classes > 0: Y_h of both directions into a MatMul
    classifier whose output is the only one ("logits")."""
    rng = np.random.default_rng(11)
    d = 2 if direction == "bidirectional" else 1

    def arr(*shape, s=0.5):
        return numpy_helper.from_array((s * rng.standard_normal(shape)).astype(np.float32))
    inits = {"W": arr(d, 4 * hidden, inp), "R": arr(d, 4 * hidden, hidden), "B": arr(d, 8 * hidden, s=0.3)}
    ins = ["x", "W", "R", "B", "", "", "", ""]
    if init:
        inits["h0"], inits["c0"] = arr(d, batch, hidden), arr(d, batch, hidden)
        ins[5], ins[6] = "h0", "c0"
    if peepholes:
        inits["P"] = arr(d, 3 * hidden, s=0.3)
        ins[7] = "P"
    while ins[-1] == "":
        ins.pop()
    for k, t in inits.items():
        t.name = k
    nodes = [helper.make_node("LSTM", ins, ["Y", "Y_h", "Y_c"], hidden_size=hidden, direction=direction)]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("Y", "Y_h", "Y_c")]
    if classes:
        nodes[0].output[2] = ""
        nodes += [helper.make_node("Transpose", ["Y_h"], ["h_t"], perm=[1, 0, 2]),
                  helper.make_node("Reshape", ["h_t", "flat"], ["h_flat"]),
                  helper.make_node("MatMul", ["h_flat", "Wc"], ["logits"])]
        inits["flat"] = numpy_helper.from_array(np.array([batch, d * hidden], np.int64), "flat")
        inits["Wc"] = numpy_helper.from_array(rng.standard_normal((d * hidden, classes)).astype(np.float32), "Wc")
        outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)]
    g = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp])],
                          outs, list(inits.values()))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def gru(direction="forward", seq=6, batch=2, inp=5, hidden=4, linear_before_reset=1, init=False) -> onnx.ModelProto:
    """One ONNX GRU (layout 0: x[seq, batch, inp]) with outputs Y, Y_h; init: a non-zero
    constant initial state."""
    rng = np.random.default_rng(12)
    d = 2 if direction == "bidirectional" else 1

    def arr(name, *shape, s=0.5):
        return numpy_helper.from_array((s * rng.standard_normal(shape)).astype(np.float32), name)
    inits = [arr("W", d, 3 * hidden, inp), arr("R", d, 3 * hidden, hidden), arr("B", d, 6 * hidden, s=0.3)]
    ins = ["x", "W", "R", "B"]
    if init:
        inits.append(arr("h0", d, batch, hidden))
        ins += ["", "h0"]
    node = helper.make_node("GRU", ins, ["Y", "Y_h"], hidden_size=hidden, direction=direction,
                            linear_before_reset=linear_before_reset)
    g = helper.make_graph([node], "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("Y", "Y_h")], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
