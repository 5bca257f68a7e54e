"""Runs TorchScript archives with torch (for test_torchscript.py; /usr/bin/python3).

    torchscript_run.py JOBS.json

JOBS.json lists [archive, inputs.npz, outputs.npz]: each archive is loaded with
torch.jit.load, called on the inputs (in the npz's order) and its outputs saved, y0, y1,
... An archive torch refuses gets its error in outputs.npz + ".err" instead.
"""

import json
import sys

import numpy as np
import torch

for path, inp, outp in json.load(open(sys.argv[1])):
    try:
        m = torch.jit.load(path)
        z = np.load(inp)
        xs = [torch.from_numpy(z[k]) for k in z.files]
        with torch.no_grad():
            y = m(*xs)
        ys = list(y) if isinstance(y, (tuple, list)) else [y]
        np.savez(outp, **{f"y{i}": t.numpy() for i, t in enumerate(ys)})
    except Exception as e:  # reported by the test, with the archive's name
        open(outp + ".err", "w").write(f"{type(e).__name__}: {e}")
