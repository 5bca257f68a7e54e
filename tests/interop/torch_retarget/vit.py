"""A small ViT (4×4 patches by a strided Conv, a class token, a learned absolute position
embedding [1, 1 + N, D], one pre-LN encoder layer, a linear head on the class token)
exported by torch.onnx.export at 16×16 (a 4×4 grid), and the position embedding that
timm's resample_abs_pos_embed gives for a new grid: the class token kept, the grid part
resampled by F.interpolate(mode="bicubic", align_corners=False).

usage: vit.py OUT_DIR HxW...
writes OUT_DIR/vit.onnx (input "image" [N, 3, 16, 16], output "logits" [N, 10]) and, for
each size, OUT_DIR/HxW.npz with "pos_embed" [1, 1 + H/4·W/4, 32], "image" [2, 3, H, W] and
torch's "logits" [2, 10] of the module with the resampled embedding.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PATCH, DIM = 4, 32


class ViT(nn.Module):
    def __init__(self, grid):
        super().__init__()
        self.patch = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.randn(1, 1, DIM) * 0.5)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, DIM) * 0.5)
        self.ln1, self.ln2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.q, self.k, self.v, self.proj = (nn.Linear(DIM, DIM) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.ReLU(), nn.Linear(2 * DIM, DIM))
        self.head = nn.Linear(DIM, 10)

    def forward(self, image):
        x = self.patch(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        h = self.ln1(x)
        a = torch.softmax(self.q(h) @ self.k(h).transpose(-1, -2) * DIM ** -0.5, dim=-1)
        x = x + self.proj(a @ self.v(h))
        x = x + self.mlp(self.ln2(x))
        return self.head(x[:, 0])


def resample(pos, grid, new):
    """timm's resample_abs_pos_embed with one prefix (class) token."""
    prefix, grid_part = pos[:, :1], pos[:, 1:]
    g = grid_part.reshape(1, grid[0], grid[1], -1).permute(0, 3, 1, 2)
    g = F.interpolate(g, size=new, mode="bicubic", align_corners=False)
    return torch.cat([prefix, g.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], -1)], dim=1)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    model = ViT(4).eval()
    torch.onnx.export(model, torch.zeros(1, 3, 16, 16), os.path.join(out, "vit.onnx"), input_names=["image"],
                      output_names=["logits"], opset_version=17,
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    rng = np.random.default_rng(1)
    for size in sys.argv[2:]:
        h, w = map(int, size.split("x"))
        with torch.no_grad():
            pos = resample(model.pos_embed, (4, 4), (h // PATCH, w // PATCH))
            model.pos_embed.data, old = pos, model.pos_embed.data
            x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
            y = model(torch.from_numpy(x)).numpy()
            model.pos_embed.data = old
        np.savez(os.path.join(out, f"{size}.npz"), pos_embed=pos.numpy(), image=x, logits=y)


if __name__ == "__main__":
    main()
