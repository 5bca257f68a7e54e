"""A small BERT-style encoder (token + learned position embeddings, LayerNorm, two
bidirectional self-attention blocks with GELU FFNs, a first-token pooler) exported by
torch.onnx.export at a fixed sequence length, and torch's outputs on the first N tokens.

usage: bert.py OUT_DIR SEQ N
writes OUT_DIR/bert.onnx, OUT_DIR/ids.npy ([1, SEQ] int64), OUT_DIR/torch.npz (outputs
"hidden" [1, N, H] and "pooled" [1, H] of the module on ids[:, :N]).
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.heads, self.d = heads, h // heads
        self.qkv = nn.Linear(h, 3 * h)
        self.out = nn.Linear(h, h)

    def forward(self, x):
        b, s, h = x.shape
        q, k, v = self.qkv(x).split(h, dim=-1)
        q = q.view(b, s, self.heads, self.d).transpose(1, 2)
        k = k.view(b, s, self.heads, self.d).transpose(1, 2)
        v = v.view(b, s, self.heads, self.d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d), dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, s, h))


class Block(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.attn, self.n1 = Attention(h, heads), nn.LayerNorm(h)
        self.ff = nn.Sequential(nn.Linear(h, 2 * h), nn.GELU(), nn.Linear(2 * h, h))
        self.n2 = nn.LayerNorm(h)

    def forward(self, x):
        x = self.n1(x + self.attn(x))
        return self.n2(x + self.ff(x))


class Bert(nn.Module):
    def __init__(self, vocab=50, h=32, heads=4, max_pos=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, h), nn.Embedding(max_pos, h)
        self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0))
        self.norm = nn.LayerNorm(h)
        self.blocks = nn.ModuleList([Block(h, heads), Block(h, heads)])
        self.pool = nn.Linear(h, h)

    def forward(self, ids):
        s = ids.shape[1]
        x = self.norm(self.tok(ids) + self.pos(self.position_ids[:, :s]))
        for b in self.blocks:
            x = b(x)
        return x, torch.tanh(self.pool(x[:, 0]))


def main():
    out, seq, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    m = Bert().eval()
    ids = torch.randint(0, 50, (1, seq))
    torch.onnx.export(m, (ids,), os.path.join(out, "bert.onnx"), input_names=["input_ids"],
                      output_names=["hidden", "pooled"], opset_version=14)
    with torch.no_grad():
        hidden, pooled = m(ids[:, :n])
    np.save(os.path.join(out, "ids.npy"), ids.numpy())
    np.savez(os.path.join(out, "torch.npz"), hidden=hidden.numpy(), pooled=pooled.numpy())


if __name__ == "__main__":
    main()
