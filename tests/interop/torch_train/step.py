"""Runs an ONNX graph in torch (float64) and takes optimiser steps on it: the oracle of
tests/interop/test_train.py. Run by /usr/bin/python3 (Debian's python3-torch), which has
no onnx package: the graph comes as JSON and the weights as .npz, written by the test.

usage: step.py GRAPH.json WEIGHTS.npz BATCH.npz LABELS.npy OUT.npz OPTIMIZER LR STEPS [MOMENTUM WEIGHT_DECAY]
"""

import json
import sys

import numpy as np
import torch
import torch.nn.functional as F


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
            y = F.conv2d(x[0], x[1], x[2], stride=a.get("strides", [1, 1]), padding=(p[0], p[1]),
                         dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        elif op == "Relu":
            y = torch.relu(x[0])
        elif op == "MaxPool":
            y = F.max_pool2d(x[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
        elif op == "Flatten":
            y = torch.flatten(x[0], a.get("axis", 1))
        elif op == "Gemm":
            w = x[1].t() if a.get("transB", 0) else x[1]
            y = x[0] @ w
            if len(x) > 2 and x[2] is not None:
                y = y + x[2]
        elif op == "MatMul":
            y = x[0] @ x[1]
        elif op == "Add":
            y = x[0] + x[1]
        else:
            raise SystemExit(f"step.py: no {op}")
        v[n["outputs"][0]] = y
    return v[graph["output"]]


def main():
    graph = json.load(open(sys.argv[1]))
    weights = dict(np.load(sys.argv[2]))
    batch = dict(np.load(sys.argv[3]))
    labels = torch.from_numpy(np.load(sys.argv[4]))
    opt_name, lr, steps = sys.argv[6], float(sys.argv[7]), int(sys.argv[8])
    momentum = float(sys.argv[9]) if len(sys.argv) > 9 else 0.0
    wd = float(sys.argv[10]) if len(sys.argv) > 10 else 0.0
    params = {k: torch.tensor(w.astype(np.float64), requires_grad=w.dtype == np.float32) for k, w in weights.items()}
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
    np.savez(sys.argv[5], **{k: p.detach().numpy() for k, p in params.items() if p.requires_grad})


if __name__ == "__main__":
    main()
