#!/usr/bin/env python3
"""Writes the runtime benchmark set: real model architectures exported to ONNX by torch's
own exporter, random weights (seeded), each with <name>.inputs.npz beside it.

Run with Debian's torch (python3-torch 1.13, python3-torchvision 0.14):

    /usr/bin/python3 bench/models/make_models.py [OUT_DIR]   # default .cache/bench_models

Nothing here is committed but this script: ResNet-18 alone is 45 MB. The models:

| name | producer | input |
|---|---|---|
| squeezenet1_1, mobilenet_v2, mobilenet_v3_small, shufflenet_v2_x0_5, resnet18, efficientnet_b0 | torchvision.models, random weights | 1×3×224×224 |
| bert_tiny | nn.Embedding + 2 × nn.TransformerEncoderLayer (d 128, 4 heads, ff 512) + pooler | int64 ids 1×64 |
| lstm, gru | 2-layer nn.LSTM / nn.GRU, 64 → 128, 20 steps | 20×1×64 |
| unet | 3-level UNet: Conv-BN-ReLU blocks, ConvTranspose up, one bilinear Resize | 1×3×64×64 |
| ocr_det | depthwise-separable backbone with hard-swish, FPN-style Resize + sigmoid head | 1×3×96×320 |
| ocr_rec | CRNN: depthwise-separable conv backbone, 2-layer bidirectional LSTM, linear | 1×3×32×160 |
| audio_conv1d | 1-D conv classifier on raw audio (strided Conv1d, BN, ReLU, pooling) | 1×1×8000 |
| small_cnn_b16 | small CNN on 8×8 images | batch 16 × 3×8×8 |
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

OPSET = 13


def export(model: nn.Module, args: tuple, path: str, names: list[str]) -> None:
    model.eval()
    # Gradients stay on: under no_grad nn.TransformerEncoderLayer takes a fused fast path
    # that the exporter cannot write.
    torch.onnx.export(model, args, path, input_names=names, output_names=["output"], opset_version=OPSET,
                      do_constant_folding=True)
    np.savez(path[:-5] + ".inputs.npz", **{n: a.numpy() for n, a in zip(names, args)})


def randomize_bn(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so folding them is tested for real."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def dw_sep(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.Hardswish(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.Hardswish())


class OCRDet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.s1 = nn.Sequential(dw_sep(16, 24, 2), dw_sep(24, 24, 1))  # /4
        self.s2 = nn.Sequential(dw_sep(24, 48, 2), dw_sep(48, 48, 1))  # /8
        self.s3 = nn.Sequential(dw_sep(48, 96, 2), dw_sep(96, 96, 1))  # /16
        self.l1, self.l2, self.l3 = nn.Conv2d(24, 32, 1), nn.Conv2d(48, 32, 1), nn.Conv2d(96, 32, 1)
        self.head = nn.Sequential(nn.Conv2d(32, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.ConvTranspose2d(16, 8, 2, 2), nn.ReLU(), nn.ConvTranspose2d(8, 1, 2, 2))

    def forward(self, x):
        c1 = self.s1(self.stem(x))
        c2 = self.s2(c1)
        c3 = self.s3(c2)
        p3 = self.l3(c3)
        p2 = self.l2(c2) + F.interpolate(p3, scale_factor=2.0, mode="nearest")
        p1 = self.l1(c1) + F.interpolate(p2, scale_factor=2.0, mode="nearest")
        return torch.sigmoid(self.head(p1))


class CRNN(nn.Module):
    def __init__(self, classes: int = 97):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.Hardswish(),
            dw_sep(32, 64, 2),  # 16×80
            dw_sep(64, 96, (2, 1)),  # 8×80
            dw_sep(96, 128, (2, 1)),  # 4×80
            dw_sep(128, 128, (2, 2)),  # 2×40
            nn.MaxPool2d((2, 1)))  # 1×40
        self.rnn = nn.LSTM(128, 96, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(192, classes)

    def forward(self, x):
        f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # T×N×C
        y, _ = self.rnn(f)
        return self.fc(y).log_softmax(-1)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

        self.e1, self.e2, self.e3 = block(3, 16), block(16, 32), block(32, 64)
        self.up2, self.d2 = nn.ConvTranspose2d(64, 32, 2, 2), block(64, 32)
        self.up1, self.d1 = nn.ConvTranspose2d(32, 16, 2, 2), block(32, 16)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        d2 = self.d2(torch.cat([self.up2(e3), e2], 1))
        d1 = self.d1(torch.cat([self.up1(d2), e1], 1))
        y = self.out(d1)
        return F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)


class Bert(nn.Module):
    def __init__(self, vocab=8000, d=128, layers=2, seq=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.ln = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, 4, 512, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pool = nn.Linear(d, d)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        h = self.enc(self.ln(self.tok(ids) + self.pos(pos)))
        return torch.tanh(self.pool(h[:, 0]))


class RNNModel(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(64, 128, num_layers=2)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[-1])


class Audio(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c = [], 1
        for o, k, s in ((32, 80, 4), (32, 3, 1), (64, 3, 1), (128, 3, 1)):
            layers += [nn.Conv1d(c, o, k, s, k // 2), nn.BatchNorm1d(o), nn.ReLU(), nn.MaxPool1d(4 if k == 80 else 2)]
            c = o
        self.f = nn.Sequential(*layers)
        self.fc = nn.Linear(128, 12)

    def forward(self, x):
        return self.fc(self.f(x).mean(-1))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(),
                               nn.MaxPool2d(2), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.Flatten(),
                               nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.f(x)


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), ".cache", "bench_models")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    img = torch.randn(1, 3, 224, 224)
    tv = torchvision.models
    models = {
        "squeezenet1_1": (tv.squeezenet1_1(), (img,)),
        "mobilenet_v2": (tv.mobilenet_v2(), (img,)),
        "mobilenet_v3_small": (tv.mobilenet_v3_small(), (img,)),
        "shufflenet_v2_x0_5": (tv.shufflenet_v2_x0_5(), (img,)),
        "resnet18": (tv.resnet18(), (img,)),
        "efficientnet_b0": (tv.efficientnet_b0(), (img,)),
        "bert_tiny": (Bert(), (torch.randint(0, 8000, (1, 64), dtype=torch.int64),)),
        "lstm": (RNNModel(nn.LSTM), (torch.randn(20, 1, 64),)),
        "gru": (RNNModel(nn.GRU), (torch.randn(20, 1, 64),)),
        "unet": (UNet(), (torch.randn(1, 3, 64, 64),)),
        "ocr_det": (OCRDet(), (torch.randn(1, 3, 96, 320),)),
        "ocr_rec": (CRNN(), (torch.randn(1, 3, 32, 160),)),
        "audio_conv1d": (Audio(), (torch.randn(1, 1, 8000),)),
        "small_cnn_b16": (SmallCNN(), (torch.randn(16, 3, 8, 8),)),
    }
    only = set(os.environ.get("MODELC_BENCH_ONLY", "").split(",")) - {""}
    for name, (model, args) in models.items():
        if only and name not in only:
            continue
        path = os.path.join(out, name + ".onnx")
        if os.path.exists(path) and os.path.exists(path[:-5] + ".inputs.npz"):
            continue
        randomize_bn(model)
        names = ["ids"] if name == "bert_tiny" else ["input"]
        export(model, args, path, names)
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
