"""Makes the PyTorch checkpoint fixtures in this folder with a real torch.save.

Run by hand with Debian's torch (see README.md), not by `make test`:

    /usr/bin/python3 testdata/torch/make_fixtures.py

Beside the checkpoints it writes expected.json: for every tensor modelc should find
(nested dicts flattened with dots), its dtype, shape and the SHA-256 of its values laid
out contiguously (row-major, little-endian) — what torch itself says the tensor holds.
"""

import collections
import hashlib
import io
import json
import os
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)

# torch dtype → the ir dtype name modelc reports.
DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.float16: "float16",
    torch.bfloat16: "bfloat16", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
    torch.complex64: "complex64", torch.complex128: "complex128",
}


def contiguous_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: view the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def flatten(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from flatten(v, f"{prefix}.{i}" if prefix else str(i))


def state_dict():
    """A real module's state dict (with its _metadata), plus a tied weight."""
    net = torch.nn.Sequential(
        torch.nn.Embedding(10, 4),
        torch.nn.Linear(4, 3),
        torch.nn.BatchNorm1d(3),
    )
    sd = net.state_dict()
    sd["tied.weight"] = sd["0.weight"]  # the same storage twice: a shared storage
    return sd


def views():
    """Views whose storage holds more than they show, with offsets and odd strides."""
    base = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    return collections.OrderedDict(
        base=base,
        transposed=base.t(),                 # strides (1, 8)
        every_other=base[1:, 1::2],          # offset 9, strides (8, 2)
        row=base[3],                         # offset 24, contiguous
        column=base[:, 5],                   # offset 5, stride 8
        expanded=torch.arange(3, dtype=torch.int64).expand(4, 3),  # stride 0
        permuted=torch.arange(24, dtype=torch.float16).reshape(2, 3, 4).permute(2, 0, 1),
        bf16_slice=torch.randn(5, 6).to(torch.bfloat16)[::2, 1:5],
        scalar=torch.tensor(3.5, dtype=torch.float64),
        empty=torch.zeros(0, 3),
    )


def dtypes():
    """One tensor of every storage dtype torch 1.13 saves."""
    out = collections.OrderedDict()
    r = torch.randn(3, 4)
    out["float32"] = r
    out["float64"] = r.double() * 1e10
    out["float16"] = r.half()
    out["bfloat16"] = r.bfloat16()
    out["int64"] = torch.randint(-2**62, 2**62, (3, 4), dtype=torch.int64)
    out["int32"] = torch.randint(-2**31, 2**31 - 1, (3, 4), dtype=torch.int32)
    out["int16"] = torch.randint(-2**15, 2**15 - 1, (3, 4), dtype=torch.int16)
    out["int8"] = torch.randint(-128, 127, (3, 4), dtype=torch.int8)
    out["uint8"] = torch.randint(0, 255, (3, 4), dtype=torch.uint8)
    out["bool"] = r > 0
    out["complex64"] = torch.complex(r, -r)
    out["complex128"] = torch.complex(r.double(), r.double() * 2)
    return out


def nested():
    """A training checkpoint: tensors inside nested dicts and lists, beside plain values."""
    lin = torch.nn.Linear(3, 2)
    return {
        "model": {"encoder": lin.state_dict(), "head": {"bias": torch.ones(2)}},
        "epoch": 7,
        "lr": 1e-3,
        "name": "run-1",
        "history": [torch.tensor([1.0, 2.0]), {"loss": torch.tensor(0.5)}],
    }


def parameters():
    """nn.Parameter objects saved as they are (torch._utils._rebuild_parameter)."""
    return {"w": torch.nn.Parameter(torch.randn(2, 3)), "b": torch.nn.Parameter(torch.zeros(3), requires_grad=False)}


def evil(path):
    """A checkpoint whose pickle calls os.system: a reader that runs it creates the marker."""
    marker = "/tmp/modelc-torch-evil-marker"
    pickle = b"\x80\x02cos\nsystem\nq\x00X" + len(f"touch {marker}").to_bytes(4, "little") + f"touch {marker}".encode() + b"\x85q\x01Rq\x02."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", pickle)
        z.writestr("evil/byteorder", "little")
        z.writestr("evil/version", "3\n")


def main():
    expected = {}
    for name, obj in [("state_dict", state_dict()), ("views", views()), ("dtypes", dtypes()), ("nested", nested()), ("parameters", parameters())]:
        path = os.path.join(HERE, name + ".pt")
        torch.save(obj, path)
        try:
            back = torch.load(path, weights_only=True)
        except Exception:  # torch 1.13's restricted loader knows no floats (nested's lr); the file is ours
            back = torch.load(path)
        entries = {}
        for key, t in flatten(back):
            entries[key] = {
                "dtype": DTYPE_NAMES[t.dtype],
                "shape": list(t.shape),
                "sha256": hashlib.sha256(contiguous_bytes(t)).hexdigest(),
            }
        expected[name + ".pt"] = entries
    evil(os.path.join(HERE, "evil.pt"))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "files": expected}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
