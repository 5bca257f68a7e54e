"""A ResNet-style CNN (stem, three residual blocks of the same width, global average pool,
linear classifier) and a two-layer transformer encoder (pre-LN single-head attention and
ReLU MLP blocks: ops modelc trains), exported by torch.onnx.export, and the outputs of each with some of its repeated
blocks removed: what `modelc distill TEACHER auto:depth=F` derives before training.

usage: nets.py OUT_DIR
writes OUT_DIR/resnet.onnx (input "image" [N, 1, 8, 8]), OUT_DIR/transformer.onnx (input
"tokens" [N, 6, 16]), and OUT_DIR/resnet.npz, OUT_DIR/transformer.npz with the inputs
("x"), the full model's outputs ("full") and the outputs without the middle residual
block / without the second transformer layer ("shallow").
"""
import os
import sys

import numpy as np
import torch
from torch import nn


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(x + self.body(x))


class Layer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.proj = (nn.Linear(d, d) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.scale = d ** -0.5

    def forward(self, x):
        h = self.ln1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        a = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        x = x + self.proj(a @ v)
        return x + self.mlp(self.ln2(x))


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    blocks = [Residual(8) for _ in range(3)]
    for b in blocks:  # trained-looking statistics, so that eval-mode BatchNorm is not the identity
        for m in b.body:
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    resnet = nn.Sequential(stem, *blocks, head).eval()
    shallow = nn.Sequential(stem, blocks[0], blocks[2], head).eval()
    layers = [Layer(16) for _ in range(2)]
    transformer = nn.Sequential(*layers, nn.LayerNorm(16)).eval()
    short = nn.Sequential(layers[0], transformer[2]).eval()
    rng = np.random.default_rng(0)
    for name, full, cut, x, inp in [("resnet", resnet, shallow, rng.random((4, 1, 8, 8), np.float32), "image"),
                                    ("transformer", transformer, short, rng.standard_normal((4, 6, 16), np.float32),
                                     "tokens")]:
        t = torch.from_numpy(x)
        torch.onnx.export(full, t[:1], os.path.join(out, f"{name}.onnx"), input_names=[inp], output_names=["y"],
                          opset_version=17, dynamic_axes={inp: {0: "N"}, "y": {0: "N"}})
        with torch.no_grad():
            np.savez(os.path.join(out, f"{name}.npz"), x=x, full=full(t).numpy(), shallow=cut(t).numpy())


if __name__ == "__main__":
    main()
