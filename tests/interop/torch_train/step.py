"""Runs an ONNX graph in torch (float64) and takes optimiser steps on it: the oracle of
tests/interop/test_train.py. Run by /usr/bin/python3 (Debian's python3-torch), which has
no onnx package: the graph comes as JSON and the weights as .npz, written by the test.

usage: step.py GRAPH.json WEIGHTS.npz BATCH.npz LABELS.npy OUT.npz OPTIMIZER LR STEPS [MOMENTUM WEIGHT_DECAY [FIXED,NAMES]]
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


# BN_TRAIN=1: BatchNormalization in train mode (batch statistics; the running mean and
# variance updated in place and written to OUT.npz too).
BN_TRAIN = os.environ.get("BN_TRAIN") == "1"


def run(graph, values):
    v = dict(values)
    for n in graph["nodes"]:
        a = n["attrs"]
        x = [v[i] if i else None for i in n["inputs"]]
        op = n["op"]
        if op == "Reshape":
            y = x[0].reshape([int(d) for d in x[1].tolist()])
        elif op == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            b = x[2] if len(x) > 2 else None
            y = F.conv2d(x[0], x[1], b, stride=a.get("strides", [1, 1]), padding=(p[0], p[1]),
                         dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        elif op == "ConvTranspose":
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            b = x[2] if len(x) > 2 else None
            y = F.conv_transpose2d(x[0], x[1], b, stride=a.get("strides", [1, 1]), padding=(p[0], p[1]),
                                   output_padding=a.get("output_padding", [0, 0]), groups=a.get("group", 1))
        elif op in ("Sigmoid", "Tanh"):
            y = getattr(torch, op.lower())(x[0])
        elif op == "LeakyRelu":
            y = F.leaky_relu(x[0], a.get("alpha", 0.01))
        elif op == "HardSigmoid":
            y = torch.clamp(a.get("alpha", 0.2) * x[0] + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            y = F.hardswish(x[0])
        elif op == "Gelu":
            y = F.gelu(x[0])
        elif op == "Clip":
            y = torch.clamp(x[0], x[1].item(), x[2].item())
        elif op in ("Softmax", "LogSoftmax"):
            f = F.softmax if op == "Softmax" else F.log_softmax
            y = f(x[0], a.get("axis", -1))
        elif op in ("Sub", "Mul", "Div"):
            y = {"Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op](x[0], x[1])
        elif op == "AveragePool":
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            y = F.avg_pool2d(x[0], a["kernel_shape"], a.get("strides", [1, 1]), (p[0], p[1]),
                             count_include_pad=bool(a.get("count_include_pad", 0)))
        elif op == "Resize":
            assert a.get("mode") in (b"nearest", "nearest")
            sc = x[2].tolist()
            y = F.interpolate(x[0], scale_factor=(sc[2], sc[3]), mode="nearest")
        elif op == "GlobalAveragePool":
            y = x[0].mean((2, 3), keepdim=True)
        elif op == "Transpose":
            y = x[0].permute(*a["perm"])
        elif op == "Concat":
            y = torch.cat(x, a["axis"])
        elif op == "BatchNormalization":
            y = F.batch_norm(x[0], x[3], x[4], x[1], x[2], training=BN_TRAIN, momentum=1 - a.get("momentum", 0.9),
                             eps=a.get("epsilon", 1e-5))
        elif op == "LayerNormalization":
            axis = a.get("axis", -1) % x[0].dim()
            y = F.layer_norm(x[0], x[0].shape[axis:], x[1], x[2], a.get("epsilon", 1e-5))
        elif op == "Relu":
            y = torch.relu(x[0])
        elif op == "MaxPool":
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3]
            y = F.max_pool2d(x[0], a["kernel_shape"], a.get("strides", [1, 1]), (p[0], p[1]))
        elif op == "Flatten":
            y = torch.flatten(x[0], a.get("axis", 1))
        elif op == "Gemm":
            w = x[1].t() if a.get("transB", 0) else x[1]
            u = x[0].t() if a.get("transA", 0) else x[0]
            y = a.get("alpha", 1.0) * (u @ w)
            if len(x) > 2 and x[2] is not None:
                y = y + a.get("beta", 1.0) * x[2]
        elif op == "MatMul":
            y = x[0] @ x[1]
        elif op == "Add":
            y = x[0] + x[1]
        elif op == "Gather":  # indices arrive as float64 like every array here
            y = torch.index_select(x[0], a.get("axis", 0), x[1].long().reshape(-1))
            axis = a.get("axis", 0) % x[0].dim()
            y = y.reshape(list(x[0].shape[:axis]) + list(x[1].shape) + list(x[0].shape[axis + 1:]))
        elif op == "Identity":
            y = x[0]
        elif op == "Unsqueeze":
            y = x[0]
            for axis in sorted(int(d) for d in x[1].tolist()):
                y = y.unsqueeze(axis)
        elif op == "Equal":
            y = x[0] == x[1]
        elif op == "Cast":  # only to bool here (an attention mask's condition)
            assert a["to"] == 9, a
            y = x[0] != 0
        elif op == "Where":
            y = torch.where(x[0], x[1], x[2])
        elif op in ("Erf", "Sqrt"):
            y = getattr(torch, op.lower())(x[0])
        elif op == "Pow":
            y = torch.pow(x[0], x[1])
        elif op == "ReduceMean":
            y = x[0].mean(dim=a["axes"], keepdim=bool(a.get("keepdims", 1)))
        elif op == "Split":
            y = torch.split(x[0], [int(s) for s in x[1].tolist()], a.get("axis", 0))
        else:
            raise SystemExit(f"step.py: no {op}")
        for name, out in zip(n["outputs"], y if isinstance(y, tuple) else (y,)):
            v[name] = out
    return v[graph["output"]]


def main():
    graph = json.load(open(sys.argv[1]))
    weights = dict(np.load(sys.argv[2]))
    batch = dict(np.load(sys.argv[3]))
    labels = torch.from_numpy(np.load(sys.argv[4]))
    opt_name, lr, steps = sys.argv[6], float(sys.argv[7]), int(sys.argv[8])
    momentum = float(sys.argv[9]) if len(sys.argv) > 9 else 0.0
    wd = float(sys.argv[10]) if len(sys.argv) > 10 else 0.0
    fixed = set(sys.argv[11].split(",")) if len(sys.argv) > 11 else set()
    params = {k: torch.tensor(w.astype(np.float64), requires_grad=w.dtype == np.float32 and k not in fixed)
              for k, w in weights.items()}
    trainable = [p for p in params.values() if p.requires_grad]
    if opt_name == "sgd":
        opt = torch.optim.SGD(trainable, lr=lr, momentum=momentum, weight_decay=wd)
    else:
        opt = torch.optim.Adam(trainable, lr=lr, weight_decay=wd)
    inputs = {k: torch.from_numpy(x.astype(np.float64)) for k, x in batch.items()}
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(run(graph, {**params, **inputs}), labels)
        loss.backward()
        opt.step()
    keep = {k for k, p in params.items() if p.requires_grad}
    if BN_TRAIN:
        keep |= {i for n in graph["nodes"] if n["op"] == "BatchNormalization" for i in n["inputs"][3:5]}
    np.savez(sys.argv[5], **{k: p.detach().numpy() for k, p in params.items() if k in keep})


if __name__ == "__main__":
    main()
