"""Writes the TorchScript fixtures of test_torchscript.py (run by /usr/bin/python3 with
Debian's python3-torch; torchvision models when python3-torchvision is installed).

    torchscript_fixtures.py OUT_DIR [DIGITS_INPUTS.npz]

For each model NAME it writes, into OUT_DIR: NAME.pt (torch.jit.trace + torch.jit.save,
or torch.jit.script for the scripted ones), NAME.in.npz (the inputs, x0, x1, ...),
NAME.out.npz (torch's outputs, y0, ...), NAME.state.npz (the state dict), and a line of
index.json saying which are traced (a graph to convert) and which scripted (weights only).
Weights are random with a fixed seed; the digits inputs are the real test split.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1]
DIGITS = sys.argv[2] if len(sys.argv) > 2 else None
torch.manual_seed(0)
index = {}


def save(name, module, inputs, scripted=False, no_grad=False):
    module = module.eval()
    # BatchNorm statistics and affine drawn at random, so the layers are no identities
    # (torchvision's MobileNets would otherwise give outputs of about 1e-9).
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    if scripted:
        m = torch.jit.script(module)
    else:
        # Gradients enabled while tracing: nn.TransformerEncoderLayer then records its
        # ops, not the fused inference kernel (aten::_transformer_encoder_layer_fwd).
        if no_grad:  # the fused inference kernels (aten::_transformer_encoder_layer_fwd)
            with torch.no_grad():
                m = torch.jit.trace(module, tuple(inputs), check_trace=False)
        else:
            m = torch.jit.trace(module, tuple(inputs), check_trace=False)
    path = os.path.join(OUT, name + ".pt")
    m.save(path)
    with torch.no_grad():
        y = m(*inputs)
    ys = list(y) if isinstance(y, (tuple, list)) else [y]
    np.savez(os.path.join(OUT, name + ".in.npz"), **{f"x{i}": t.numpy() for i, t in enumerate(inputs)})
    np.savez(os.path.join(OUT, name + ".out.npz"), **{f"y{i}": t.detach().numpy() for i, t in enumerate(ys)})
    np.savez(os.path.join(OUT, name + ".state.npz"), **{k: v.detach().numpy() for k, v in module.state_dict().items()})
    index[name] = {"scripted": scripted}


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 128), nn.Linear(128, 64), nn.Linear(64, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(512, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = x.view(-1, 1, 8, 8)
        x = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class SmallLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(32, 12, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, h = self.gru(y)
        return self.fc(z[:, -1]), h


class Mixed(nn.Module):
    """Ops the CNNs do not use: cat/stack, permute, chunk, split, upsample, softmax, ..."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.ln = nn.LayerNorm(8)
        self.emb = nn.Embedding(10, 8)

    def forward(self, x):
        y = F.hardswish(self.bn(self.dw(self.conv(x))))
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.avg_pool2d(y, 2) + F.max_pool2d(y, 3, stride=2, padding=1)
        a, b = torch.chunk(y, 2, dim=1)
        c = torch.cat([F.silu(a), F.gelu(b), torch.sigmoid(a) * torch.tanh(b)], dim=1)
        c = c.permute(0, 2, 3, 1)
        c = self.ln(c[:, :, :, :8]).transpose(1, 2).contiguous()
        s = torch.stack([c.mean(dim=(1, 2)), c.sum(dim=1).mean(1)], dim=1)
        p, q = torch.split(s, [1, 1], dim=1)
        out = F.softmax(p.squeeze(1), dim=-1) - F.log_softmax(q.squeeze(1) / 2, dim=-1)
        return F.hardsigmoid(out).unsqueeze(0).reshape(-1, 8) + F.relu6(out * 3 - 1)


class TextClassifier(nn.Module):
    """Token ids (an int64 input) through an embedding, a learned position table, a GELU
    transformer encoder, mean pooling and a linear head."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 32)
        self.pos = nn.Parameter(torch.randn(1, 6, 32))
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, activation="gelu"), 2)
        self.fc = nn.Linear(32, 3)

    def forward(self, ids):
        return self.fc(self.enc(self.emb(ids) + self.pos).mean(1))


class Scripted(nn.Module):
    """A scripted module with control flow: its weights convert, its graph does not."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
        self.register_buffer("scale", torch.arange(4, dtype=torch.float64))

    def forward(self, x):
        y = self.bn(self.conv(x)).mean(dim=(2, 3))
        if bool(y.sum() > 0):
            y = y * 2
        return self.head(y)


def transformer():
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2)


img = torch.randn(2, 3, 64, 64)
save("mixed", Mixed(), [torch.randn(2, 3, 16, 16)])
save("transformer", transformer(), [torch.randn(2, 7, 32)])
fused = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, norm_first=True, activation="gelu"), 2,
                              enable_nested_tensor=False)
save("transformer_fused", fused, [torch.randn(2, 7, 32)], no_grad=True)
save("lstm", SmallLSTM(), [torch.randn(3, 5, 8)])
save("text_classifier", TextClassifier(), [torch.randint(0, 50, (2, 6))])
digits = torch.from_numpy(np.load(DIGITS)["input"][:16]) if DIGITS else torch.rand(16, 64)
save("digits_mlp", DigitsMLP(), [digits])
save("digits_cnn", DigitsCNN(), [digits])
save("scripted", Scripted(), [torch.randn(1, 3, 8, 8)], scripted=True)
try:
    import torchvision.models as tvm
except ImportError:
    tvm = None
if tvm is not None:
    save("resnet18", tvm.resnet18(), [img])
    save("mobilenet_v2", tvm.mobilenet_v2(), [img])
    save("mobilenet_v3_small", tvm.mobilenet_v3_small(), [img])
    save("squeezenet1_1", tvm.squeezenet1_1(), [img])
with open(os.path.join(OUT, "index.json"), "w") as f:
    json.dump(index, f)
