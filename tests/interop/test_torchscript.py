"""TorchScript archives (torch.jit.save) in and out.

In: modules traced by torch itself (torchvision CNNs, a transformer encoder, traced with
and without gradients (the fused inference kernel), LSTM/GRU,
the digits architectures, a mix of the other mapped ops) convert to ONNX, and
onnxruntime's outputs agree with torch's within 1e-4; the weights of every module,
scripted ones too, convert to safetensors exactly; a scripted module's graph, an archive
whose pickle asks for os.system and one whose code/ does are refused without running
anything.

Out: an ONNX model converts to a TorchScript archive that torch.jit.load compiles and
runs, agreeing with onnxruntime within 1e-4 (the project's ONNX fixtures, the digits
models), and a traced module survives TorchScript → ONNX → TorchScript.

The oracles are torch (Debian's python3-torch for /usr/bin/python3; torchvision models
when python3-torchvision is installed) and onnxruntime. The fixtures are written at test
time by torchscript_fixtures.py; nothing large is committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile

import numpy as np
import onnxruntime as ort
import pytest
import safetensors.numpy

import harness

SYSTEM_PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
UNSUPPORTED = 5
TOL = 1e-4


def _system_torch() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _system_torch(), reason="torch is not importable by /usr/bin/python3 (apt-get install python3-torch)")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("torchscript")
    digits = os.path.join(harness.REPO, "testdata", "digits", "test_inputs.npz")
    r = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "torchscript_fixtures.py"), str(out), digits],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, json.load(open(out / "index.json"))


def _npz(path) -> list[np.ndarray]:
    z = np.load(path)
    return [z[k] for k in sorted(z.files, key=lambda s: int(s[1:]))]


def _ort(path, inputs) -> list[np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), inputs)})


TRACED = ["mixed", "transformer", "transformer_fused", "text_classifier", "lstm", "digits_mlp", "digits_cnn",
          "resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1"]


@pytest.mark.parametrize("name", TRACED)
def test_traced_to_onnx_agrees_with_torch(fixtures, tmp_path, name):
    d, index = fixtures
    if name not in index:
        pytest.skip("torchvision is not importable by /usr/bin/python3 (apt-get install python3-torchvision)")
    out = tmp_path / f"{name}.onnx"
    harness.expect_ok(harness.run_modelc("convert", d / f"{name}.pt", out))
    got = _ort(out, _npz(d / f"{name}.in.npz"))
    want = _npz(d / f"{name}.out.npz")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        diff = float(np.abs(g - w).max())
        assert diff <= TOL, f"{name}: max abs diff {diff}"
    harness.note("torchscript traced → onnx", name, f"max abs diff {diff:.2e}")


@pytest.mark.parametrize("name", TRACED + ["scripted"])
def test_weights_are_exact(fixtures, tmp_path, name):
    d, index = fixtures
    if name not in index:
        pytest.skip("torchvision is not importable by /usr/bin/python3")
    out = tmp_path / "w.safetensors"
    harness.expect_ok(harness.run_modelc("convert", d / f"{name}.pt", out))
    got = safetensors.numpy.load_file(str(out))
    want = np.load(d / f"{name}.state.npz")
    assert sorted(got) == sorted(want.files)
    for k in want.files:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert got[k].tobytes() == want[k].tobytes(), k


def test_info_shows_the_module_tree(fixtures):
    d, _ = fixtures
    r = harness.run_modelc("info", d / "scripted.pt")
    harness.expect_ok(r)
    assert "modules" in r.stdout and "head.0: torch.nn.modules.linear.Linear  weight[5 4] bias[5]" in r.stdout
    assert "torchscript.graph_error" in r.stdout


def test_scripted_graph_is_refused_naming_the_line(fixtures, tmp_path):
    d, _ = fixtures
    out = tmp_path / "s.onnx"
    r = harness.run_modelc("convert", d / "scripted.pt", out)
    assert r.returncode == UNSUPPORTED, harness.describe(r)
    assert "`if " in r.stderr and ".py:" in r.stderr and "safetensors" in r.stderr
    assert not out.exists()


def _rewrite(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, edit(info.filename, zin.read(info)))


def test_malicious_pickle_in_archive_is_refused(fixtures, tmp_path):
    d, _ = fixtures
    marker = tmp_path / "ran"
    bad = tmp_path / "evil.pt"
    # data.pkl names a __torch__ class: swap that for posix.system, called on a command.
    def edit(name, data):
        if name.endswith("/data.pkl"):
            return data.replace(b"c__torch__\nDigitsMLP\n", b"cposix\nsystem\n", 1)
        return data
    _rewrite(d / "digits_mlp.pt", bad, edit)
    assert b"posix\nsystem" in zipfile.ZipFile(bad).read("digits_mlp/data.pkl")
    for out in (tmp_path / "o.onnx", tmp_path / "o.safetensors"):
        r = harness.run_modelc("convert", bad, out)
        assert r.returncode == UNSUPPORTED, harness.describe(r)
        assert "posix.system" in r.stderr and "data.pkl offset" in r.stderr
        assert not out.exists()
    assert not marker.exists()


def test_malicious_code_is_refused_without_running(fixtures, tmp_path):
    d, _ = fixtures
    marker = tmp_path / "ran"
    bad = tmp_path / "evil.pt"
    def edit(name, data):
        if name.endswith("code/__torch__.py"):
            text = data.decode()
            i = text.index("    fc3 = self.fc3")
            return (text[:i] + f"    _x = __import__(\"os\").system(\"touch {marker}\")\n" + text[i:]).encode()
        return data
    _rewrite(d / "digits_mlp.pt", bad, edit)
    r = harness.run_modelc("convert", bad, tmp_path / "o.onnx")
    assert r.returncode == UNSUPPORTED, harness.describe(r)
    assert "__import__" in r.stderr and "__torch__.py:" in r.stderr
    # The weights still convert; nothing ran.
    harness.expect_ok(harness.run_modelc("convert", bad, tmp_path / "o.safetensors"))
    assert not marker.exists()


# ---- ONNX → TorchScript ------------------------------------------------------------------

def _torch_run(tmp_path, jobs):
    """Runs [(archive, inputs.npz, outputs.npz)] in one torch process; returns outputs
    per archive, or the error torch gave."""
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([[str(a), str(i), str(o)] for a, i, o in jobs]))
    r = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "torchscript_run.py"), str(spec)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = {}
    for a, _, o in jobs:
        err = str(o) + ".err"
        res[str(a)] = open(err).read() if os.path.exists(err) else _npz(o)
    return res


ONNX_FIXTURES = [("onnx", "cnn"), ("onnx", "transformer"), ("onnx", "lstm"), ("digits", "mlp"), ("digits", "cnn")]


def test_onnx_to_torchscript_agrees_with_onnxruntime(tmp_path):
    jobs, want = [], {}
    for folder, name in ONNX_FIXTURES:
        src = os.path.join(harness.REPO, "testdata", folder, f"{name}.onnx")
        if folder == "onnx":
            z = np.load(os.path.join(harness.REPO, "testdata", folder, f"{name}.inputs.npz"))
            inputs = [z[k] for k in z.files]
        else:
            inputs = [np.load(os.path.join(harness.REPO, "testdata", "digits", "test_inputs.npz"))["input"][:32]]
        inp = tmp_path / f"{folder}_{name}.in.npz"
        np.savez(inp, *inputs)
        out = tmp_path / f"{folder}_{name}.pt"
        harness.expect_ok(harness.run_modelc("convert", src, out, "--to", "torchscript"))
        jobs.append((out, inp, tmp_path / f"{folder}_{name}.out.npz"))
        want[str(out)] = _ort(src, inputs)
    got = _torch_run(tmp_path, jobs)
    for a, w in want.items():
        g = got[a]
        assert not isinstance(g, str), f"torch.jit.load / run of {a}: {g}"
        assert len(g) == len(w)
        for gi, wi in zip(g, w):
            assert gi.shape == wi.shape
            diff = float(np.abs(gi - wi).max())
            assert diff <= TOL, f"{a}: max abs diff {diff}"
            harness.note("onnx → torchscript", os.path.basename(a), f"max abs diff {diff:.2e}")


def test_onnx_control_flow_is_refused(tmp_path):
    out = tmp_path / "loop.pt"
    r = harness.run_modelc("convert", os.path.join(harness.REPO, "testdata", "onnx", "loop.onnx"), out, "--to", "torchscript")
    assert r.returncode == UNSUPPORTED, harness.describe(r)
    assert "Loop" in r.stderr and not out.exists()


ROUND_TRIP = ["mixed", "transformer", "text_classifier", "lstm", "digits_cnn", "resnet18", "mobilenet_v3_small"]


def test_round_trip_torchscript_onnx_torchscript(fixtures, tmp_path):
    d, index = fixtures
    jobs = []
    for name in ROUND_TRIP:
        if name not in index:
            continue
        onnx_path = tmp_path / f"{name}.onnx"
        back = tmp_path / f"{name}.jit"
        harness.expect_ok(harness.run_modelc("convert", d / f"{name}.pt", onnx_path))
        harness.expect_ok(harness.run_modelc("convert", onnx_path, back))
        jobs.append((back, d / f"{name}.in.npz", tmp_path / f"{name}.out.npz"))
        # the weights keep their names and bytes through the round trip
        st = tmp_path / f"{name}.back.safetensors"
        harness.expect_ok(harness.run_modelc("convert", back, st))
        got, want = safetensors.numpy.load_file(str(st)), np.load(d / f"{name}.state.npz")
        for k in want.files:
            assert k in got and got[k].tobytes() == want[k].tobytes(), f"{name}: {k}"
    got = _torch_run(tmp_path, jobs)
    for a, _, _ in jobs:
        name = os.path.basename(str(a))[:-4]
        g = got[str(a)]
        assert not isinstance(g, str), f"torch.jit.load / run of {a}: {g}"
        w = _npz(d / f"{name}.out.npz")
        assert len(g) == len(w)
        for gi, wi in zip(g, w):
            diff = float(np.abs(gi - wi).max())
            assert gi.shape == wi.shape and diff <= TOL, f"{name}: max abs diff {diff}"
        harness.note("torchscript → onnx → torchscript", name, f"max abs diff {diff:.2e}")


# ---- the other doors: the Python package (ctypes over the C ABI) -----------------------

def _modelc_package():
    import sys
    try:
        import modelc
    except ImportError:  # not installed: the source tree and the repository's build
        sys.path.insert(0, os.path.join(harness.REPO, "bindings", "python"))
        os.environ.setdefault("MODELC_LIBRARY", os.path.join(harness.REPO, "lib", "libmodelc.so"))
        import modelc
    return modelc


def test_python_bindings_read_and_write_torchscript(fixtures, tmp_path):
    d, _ = fixtures
    modelc = _modelc_package()
    info = modelc.inspect(str(d / "digits_cnn.pt"))
    assert info["format"] == "torchscript" and "torchscript.modules" in info["metadata"]
    out = tmp_path / "m.onnx"
    modelc.convert(str(d / "digits_cnn.pt"), str(out))
    x = _npz(d / "digits_cnn.in.npz")
    diff = float(np.abs(_ort(out, x)[0] - _npz(d / "digits_cnn.out.npz")[0]).max())
    assert diff <= TOL
    # in memory: TorchScript bytes → ONNX bytes, and ONNX bytes → TorchScript bytes
    onnx_bytes = modelc.convert_bytes(open(d / "digits_cnn.pt", "rb").read(), to="onnx")
    mem = tmp_path / "mem.onnx"
    mem.write_bytes(onnx_bytes)
    assert float(np.abs(_ort(mem, x)[0] - _npz(d / "digits_cnn.out.npz")[0]).max()) <= TOL
    ts = modelc.convert_bytes(onnx_bytes, to="torchscript")
    back = tmp_path / "back.pt"
    back.write_bytes(ts)
    got = _torch_run(tmp_path, [(back, d / "digits_cnn.in.npz", tmp_path / "back.out.npz")])[str(back)]
    assert not isinstance(got, str), got
    assert float(np.abs(got[0] - _npz(d / "digits_cnn.out.npz")[0]).max()) <= TOL


def test_sdpa_maps_without_torch_having_it(tmp_path):
    """aten::scaled_dot_product_attention (torch 2.x; the Debian torch has none): an
    archive whose code calls it converts, and onnxruntime agrees with numpy's attention."""
    base = tmp_path / "base.pt"
    harness.expect_ok(harness.run_modelc("convert", os.path.join(harness.REPO, "testdata", "digits", "mlp.onnx"), base, "--to", "torchscript"))
    code = (
        "class Model(Module):\n"
        "  __parameters__ = []\n"
        "  training : bool\n"
        "  def forward(self: __torch__.Model,\n"
        "    q: Tensor,\n"
        "    k: Tensor,\n"
        "    v: Tensor) -> Tensor:\n"
        "    _0 = torch.scaled_dot_product_attention(q, k, v, None, 0., False)\n"
        "    return torch.permute(_0, [0, 2, 1, 3])\n"
    )
    src = tmp_path / "sdpa.pt"
    _rewrite(base, src, lambda name, data: code.encode() if name.endswith("code/__torch__.py") else data)
    out = tmp_path / "sdpa.onnx"
    harness.expect_ok(harness.run_modelc("convert", src, out))
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 4, 5, 8)).astype(np.float32) for _ in range(3))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(8)
    p = np.exp(s - s.max(-1, keepdims=True))
    want = ((p / p.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3)
    got = _ort(out, [q, k, v])[0]
    assert float(np.abs(got - want).max()) <= TOL


def test_run_and_verify_accept_torchscript(fixtures, tmp_path):
    d, _ = fixtures
    x = _npz(d / "digits_cnn.in.npz")[0]
    inputs = tmp_path / "in.npz"
    np.savez(inputs, x=x)  # the traced forward's parameter is called x
    onnx_path = tmp_path / "m.onnx"
    harness.expect_ok(harness.run_modelc("convert", d / "digits_cnn.pt", onnx_path))
    r = harness.run_modelc("verify", d / "digits_cnn.pt", onnx_path, "--inputs", inputs)
    harness.expect_ok(r)
    assert "PASS" in r.stdout
    out = tmp_path / "run"
    out.mkdir()
    r = harness.run_modelc("run", d / "digits_cnn.pt", "--inputs", inputs, "--output-dir", out)
    harness.expect_ok(r)
    got = np.load(next(out.glob("*.npy")))
    assert float(np.abs(got - _npz(d / "digits_cnn.out.npz")[0]).max()) <= TOL


def test_unmapped_op_is_refused_naming_op_and_line(fixtures, tmp_path):
    d, _ = fixtures
    bad = tmp_path / "erfinv.pt"
    _rewrite(d / "digits_mlp.pt", bad,
             lambda name, data: data.replace(b"input0 = torch.relu(", b"input0 = torch.erfinv(") if name.endswith("code/__torch__.py") else data)
    r = harness.run_modelc("convert", bad, tmp_path / "o.onnx")
    assert r.returncode == UNSUPPORTED, harness.describe(r)
    assert "aten::erfinv has no ONNX mapping" in r.stderr and "code/__torch__.py:15" in r.stderr
