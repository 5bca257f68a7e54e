"""Makes the real-exporter ONNX fixtures in this folder. Run by hand, not by make test.

    /usr/bin/python3 testdata/onnx/make_fixtures.py     # Debian's python3-torch, see README.md

Every model is ours: a small architecture with random weights from a fixed seed.
Each <name>.onnx gets <name>.inputs.npz (fixed-seed inputs, keyed by graph input
name) and <name>.outputs.npz (PyTorch's outputs for them, keyed by output name).
"""

import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17  # the newest opset torch 1.13's exporter writes


class CNN(nn.Module):
    """Conv/BatchNorm/ReLU/MaxPool twice, then Flatten and Gemm."""

    def __init__(self):
        super().__init__()
        # BatchNorm after ReLU: the exporter folds a BatchNorm that follows a Conv
        # directly into the Conv's weights, and we want the op in the file.
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(16), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class Recurrent(nn.Module):
    """A one-layer LSTM over a sequence, then a Linear head on every step."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=8, hidden_size=16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y)


class Looped(nn.Module):
    """Control flow: a Loop over the steps with an If inside, so the file has
    nested subgraphs (exported from TorchScript, which keeps the loop)."""

    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(8, 8)

    def forward(self, x):
        h = torch.zeros_like(x[0])
        for i in range(x.size(0)):
            h = torch.tanh(self.cell(x[i]) + h)
            if bool(h.sum() > 0):
                h = h * 0.5
        return h


def randomise_batchnorm(model):
    # Fresh BatchNorm statistics are 0 and 1: make them real numbers so the op matters.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def export(name, model, inputs, input_names, output_names, dynamic_axes):
    model.eval()
    path = os.path.join(HERE, f"{name}.onnx")
    # Export with autograd on: under no_grad, TransformerEncoderLayer takes a fused
    # "fast path" kernel that the exporter cannot translate.
    torch.onnx.export(
        model, tuple(inputs), path, opset_version=OPSET,
        input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
    )
    with torch.no_grad():
        outputs = model(*inputs)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    np.savez(os.path.join(HERE, f"{name}.inputs.npz"),
             **{n: t.numpy() for n, t in zip(input_names, inputs)})
    np.savez(os.path.join(HERE, f"{name}.outputs.npz"),
             **{n: t.numpy() for n, t in zip(output_names, outputs)})
    print(f"{path}: {os.path.getsize(path)} bytes")


def main():
    torch.manual_seed(0)

    cnn = CNN()
    randomise_batchnorm(cnn)
    export("cnn", cnn, [torch.randn(2, 3, 16, 16)], ["image"], ["logits"],
           {"image": {0: "batch"}, "logits": {0: "batch"}})

    # Tiny transformer encoder layer: MatMul/Softmax/LayerNormalization, Gelu as Erf.
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                       activation="gelu", batch_first=True)
    export("transformer", layer, [torch.randn(2, 5, 32)], ["tokens"], ["encoded"],
           {"tokens": {0: "batch", 1: "sequence"}, "encoded": {0: "batch", 1: "sequence"}})

    export("lstm", Recurrent(), [torch.randn(2, 6, 8)], ["sequence"], ["scores"],
           {"sequence": {0: "batch", 1: "steps"}, "scores": {0: "batch", 1: "steps"}})

    export("loop", torch.jit.script(Looped()), [torch.randn(5, 3, 8)], ["steps"], ["state"],
           {"steps": {0: "steps", 1: "batch"}, "state": {0: "batch"}})


if __name__ == "__main__":
    main()
