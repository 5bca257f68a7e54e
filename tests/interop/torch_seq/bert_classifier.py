"""A small BERT-style classifier (token + learned position embeddings, LayerNorm, two
bidirectional self-attention blocks with GELU FFNs and an attention mask over padding,
first-token pooler, linear head over 4 classes) with torch's default initialisation (seed 0): distillation needs a teacher
function, not a trained task, and an untrained transformer's logits lie close together,
so compression changes its decisions where a task-trained one would keep them. Exported
by torch.onnx.export at a fixed sequence length with a dynamic batch (opset 14 by
default: LayerNorm and GELU decomposed into ReduceMean/Pow/Sqrt and Erf; opset 17:
LayerNormalization).

usage: bert_classifier.py OUT_DIR SEQ [OPSET]
writes OUT_DIR/bert_cls.onnx (inputs input_ids and attention_mask, [batch, SEQ] int64),
OUT_DIR/train.npz (1024 samples, the data to recover with) and OUT_DIR/test.npz (512 fresh
samples to measure on): random ids, each sample padded after a random length ≥ SEQ/2.
"""
import math
import os
import sys

import numpy as np
import torch
from torch import nn

VOCAB, HIDDEN, HEADS, CLASSES = 50, 32, 4, 4


class Attention(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.seq, self.d = seq, HIDDEN // HEADS
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.out = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, x, mask):
        # -1 for the batch and a constant length: the exported Reshape targets are
        # constants the sequence retargeting rewrites, with no Shape arithmetic.
        q, k, v = self.qkv(x).split(HIDDEN, dim=-1)
        q, k, v = (t.reshape(-1, self.seq, HEADS, self.d).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(self.d)).masked_fill(mask[:, None, None, :] == 0, -1e4)
        a = torch.softmax(scores, dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(-1, self.seq, HIDDEN))


class Block(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.attn, self.n1 = Attention(seq), nn.LayerNorm(HIDDEN)
        self.ff = nn.Sequential(nn.Linear(HIDDEN, 2 * HIDDEN), nn.GELU(), nn.Linear(2 * HIDDEN, HIDDEN))
        self.n2 = nn.LayerNorm(HIDDEN)

    def forward(self, x, mask):
        x = self.n1(x + self.attn(x, mask))
        return self.n2(x + self.ff(x))


class Classifier(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(seq, HIDDEN)
        self.register_buffer("position_ids", torch.arange(seq).unsqueeze(0))
        self.norm = nn.LayerNorm(HIDDEN)
        self.blocks = nn.ModuleList([Block(seq), Block(seq)])
        self.pool, self.head = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, CLASSES)

    def forward(self, ids, mask):
        x = self.norm(self.tok(ids) + self.pos(self.position_ids))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(torch.tanh(self.pool(x[:, 0])))


def main():
    out, seq = sys.argv[1], int(sys.argv[2])
    opset = int(sys.argv[3]) if len(sys.argv) > 3 else 14
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = Classifier(seq)
    m.eval()
    rng = np.random.default_rng(1)

    def samples(n):
        ids = rng.integers(0, VOCAB, (n, seq), dtype=np.int64)
        mask = (np.arange(seq) < rng.integers(seq // 2, seq + 1, (n, 1))).astype(np.int64)
        return {"input_ids": ids * mask, "attention_mask": mask}

    example = samples(2)
    torch.onnx.export(m, (torch.from_numpy(example["input_ids"]), torch.from_numpy(example["attention_mask"])),
                      os.path.join(out, "bert_cls.onnx"), input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], opset_version=opset,
                      dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}, "logits": {0: "batch"}})
    np.savez(os.path.join(out, "train.npz"), **samples(1024))
    np.savez(os.path.join(out, "test.npz"), **samples(512))


if __name__ == "__main__":
    main()
