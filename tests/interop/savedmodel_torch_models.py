"""Torch models exported to ONNX for the SavedModel export tests (run by the system
Python, which has torch): python3 savedmodel_torch_models.py OUT_DIR writes NAME.onnx for
each model below, with a dynamic batch dimension."""

import os
import sys

import torch
from torch import nn


class RNNClassifier(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(input_size=6, hidden_size=8, num_layers=1, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1])


class BiRNN(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(input_size=5, hidden_size=4, num_layers=2, batch_first=False, bidirectional=True)

    def forward(self, x):
        return self.rnn(x)[0]


class Conv1dAudio(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(2, 8, 5, stride=2, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
            nn.Conv1d(8, 8, 3, padding=1, groups=4), nn.ReLU(),
            nn.Conv1d(8, 16, 3, dilation=2), nn.ReLU(), nn.MaxPool1d(2),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x):
        return self.net(x)


class GroupedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4), nn.ReLU(),
            nn.Conv2d(12, 12, 3, padding=1, groups=12), nn.ReLU(),
            nn.Conv2d(12, 12, 1, groups=3), nn.ReLU(),
            nn.ConvTranspose2d(12, 6, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))

    def forward(self, x):
        return self.net(x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.enc(x).mean(dim=1))


def models():
    return {
        "lstm": (RNNClassifier(nn.LSTM), torch.randn(2, 7, 6)),
        "gru": (RNNClassifier(nn.GRU), torch.randn(2, 7, 6)),
        "bilstm": (BiRNN(nn.LSTM), torch.randn(7, 2, 5)),
        "bigru": (BiRNN(nn.GRU), torch.randn(7, 2, 5)),
        "conv1d": (Conv1dAudio(), torch.randn(2, 2, 64)),
        "grouped_conv": (GroupedConv(), torch.randn(2, 4, 16, 16)),
        "encoder": (Encoder(), torch.randn(2, 5, 16)),
    }


def main(out):
    torch.manual_seed(0)
    for name, (model, x) in models().items():
        model.eval()
        batch_axis = 1 if name.startswith("bi") else 0
        with torch.no_grad():
            # Randomize BatchNorm statistics so folding them is tested.
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 1.5)
        # Outside no_grad: the transformer layers' fused inference kernel has no ONNX
        # export, and it is only taken when gradients are off.
        torch.onnx.export(model, (x,), os.path.join(out, name + ".onnx"), opset_version=14,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {batch_axis: "batch"}, "y": {batch_axis: "batch"}})


if __name__ == "__main__":
    main(sys.argv[1])
