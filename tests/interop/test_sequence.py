"""compress --max-sequence-length: a token model retargeted to a shorter sequence computes
what the original computes on the first N tokens. Oracles: torch (the module itself, run on
the truncated ids) for a BERT-style encoder exported at a fixed length, and onnxruntime
running the original at the short length for testdata/onnx/transformer.onnx, whose
sequence dimension is dynamic. The results are read back by onnx.checker and onnxruntime.
"""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort

import harness
from test_torch import SYSTEM_PYTHON, needs_torch

BERT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_seq", "bert.py")


def _dims(v) -> list:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]


@needs_torch
def test_bert_encoder_shorter_sequence_equals_torch(tmp_path):
    r = subprocess.run([SYSTEM_PYTHON, BERT, str(tmp_path), "16", "8"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "bert8.onnx"
    r = harness.run_modelc("compress", str(tmp_path / "bert.onnx"), str(out), "--max-sequence-length", "8")
    harness.expect_ok(r)
    macs = re.search(r"MACs\s+(\d+) → (\d+) per sample", r.stdout)
    assert macs, r.stdout
    before, after = int(macs.group(1)), int(macs.group(2))
    assert after < before * 0.55, r.stdout
    assert "sequence length 16 → 8" in r.stdout
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    assert _dims(m.graph.input[0]) == [1, 8]
    assert _dims(m.graph.output[0]) == [1, 8, 32]
    ids = np.load(tmp_path / "ids.npy")
    want = np.load(tmp_path / "torch.npz")
    hidden, pooled = ort.InferenceSession(str(out)).run(None, {"input_ids": ids[:, :8]})
    np.testing.assert_allclose(hidden, want["hidden"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(pooled, want["pooled"], atol=1e-4, rtol=0)
    # not shorter: refused with the lengths named
    r = harness.run_modelc("compress", str(tmp_path / "bert.onnx"), str(tmp_path / "x.onnx"), "--max-sequence-length", "16")
    assert r.returncode != 0 and "sequence length 16" in r.stderr and "not shorter" in r.stderr, harness.describe(r)
    # --recover: this export fixed the batch at 1, so the teacher cannot run the data's
    # batches; refused by name, nothing written (test_recover.py recovers a shortened
    # classifier exported with a dynamic batch)
    np.savez(tmp_path / "ids.npz", input_ids=np.repeat(ids, 4, axis=0))
    r = harness.run_modelc("compress", str(tmp_path / "bert.onnx"), str(tmp_path / "r.onnx"), "--max-sequence-length", "8",
                           "--recover", "--data", str(tmp_path / "ids.npz"))
    assert r.returncode != 0 and '"input_ids"' in r.stderr and not (tmp_path / "r.onnx").exists(), harness.describe(r)

def test_transformer_dynamic_sequence_declared(tmp_path):
    src = os.path.join(harness.REPO, "testdata", "onnx", "transformer.onnx")
    out = tmp_path / "t4.onnx"
    r = harness.run_modelc("compress", src, str(out), "--max-sequence-length", "4")
    harness.expect_ok(r)
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    assert _dims(m.graph.input[0]) == ["batch", 4, 32]
    x = np.random.default_rng(0).standard_normal((2, 9, 32)).astype(np.float32)[:, :4]
    want = ort.InferenceSession(src).run(None, {"tokens": x})[0]
    got = ort.InferenceSession(str(out)).run(None, {"tokens": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
