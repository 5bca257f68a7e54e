"""A small CNN whose classifier reads a flattened 4×4 feature map, exported by
torch.onnx.export at 8×8, and the outputs torch gives at other sizes when an
nn.AdaptiveAvgPool2d((4, 4)) sits before the flatten: what `compress --input-shape`
must compute after retargeting.

usage: cnn.py OUT_DIR HxW...
writes OUT_DIR/cnn.onnx (input "image" [N, 2, 8, 8], output "logits" [N, 5]) and, for each
size, OUT_DIR/HxW.npz with "image" [3, 2, H, W] and torch's "logits" [3, 5].
"""
import os
import sys

import numpy as np
import torch
from torch import nn

torch.manual_seed(0)
features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
classifier = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
model = nn.Sequential(features, classifier).eval()
out = sys.argv[1]
torch.onnx.export(model, torch.zeros(1, 2, 8, 8), os.path.join(out, "cnn.onnx"), input_names=["image"],
                  output_names=["logits"], opset_version=17, dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
resized = nn.Sequential(features, nn.AdaptiveAvgPool2d((4, 4)), classifier).eval()
rng = np.random.default_rng(1)
for size in sys.argv[2:]:
    h, w = map(int, size.split("x"))
    x = rng.standard_normal((3, 2, h, w)).astype(np.float32)
    with torch.no_grad():
        y = resized(torch.from_numpy(x)).numpy()
    np.savez(os.path.join(out, f"{size}.npz"), image=x, logits=y)
