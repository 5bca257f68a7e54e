"""Every compress mode over the real-world corpus (testdata/corpus), checked by the oracle.

For each corpus model (made by PyTorch's exporter, tf2onnx, skl2onnx and onnxruntime's
quantizer; see testdata/corpus/README.md) and each compress mode, `modelc compress`
must either

- exit 0 with an output that passes onnx.checker.check_model(full_check=True), loads
  and runs in onnxruntime on the model's inputs, has no NaN/Inf where the original's
  outputs have none, and on which `modelc run` agrees with onnxruntime; or
- refuse cleanly: exit 2-5 (not 1, "a bug in modelc"), a message on stderr that is not
  a Go panic, and no output file (nor a temporary one) left behind.

For each model, `modelc run` on the original agrees with onnxruntime, and `modelc info`
counts its weights. Nothing here is marked xfail: issue 11 is done when this passes.
The results are a table (model × mode) printed at the end of the session and written to
.cache/corpus-table.md (see corpus_table.py).
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
import re
import urllib.parse

import numpy as np
import onnx
import pytest

import corpus_table
import corpus_worker
import harness

CORPUS = os.path.join(harness.REPO, "testdata", "corpus")
MODELS = sorted(os.path.basename(p)[: -len(".onnx")] for p in glob.glob(os.path.join(CORPUS, "*.onnx")))

# mode: (flags, tolerance) — tolerance is the largest |modelc − onnxruntime| allowed on
# the compressed file, as a fraction of the output's largest magnitude. Both runtimes run
# the same file; they may round differently (integer kernels, float16 arithmetic).
CALIB = "{calib}"
MODES = {
    "int8": (["--quantize", "int8"], 2e-2),
    "int8-per-channel": (["--quantize", "int8", "--per-channel"], 2e-2),
    "dynamic-int8": (["--quantize", "int8", "--mode", "dynamic"], 2e-2),
    "dynamic-int8-per-channel": (["--quantize", "int8", "--mode", "dynamic", "--per-channel"], 2e-2),
    "static-int8": (["--quantize", "int8", "--mode", "static", "--calibration", CALIB], 2e-2),
    "static-int8-per-channel": (["--quantize", "int8", "--mode", "static", "--per-channel", "--calibration", CALIB], 2e-2),
    "int4": (["--quantize", "int4"], 2e-2),
    "fp16": (["--quantize", "fp16"], 2e-2),
    # bfloat16 inputs cannot be written to .npz for `modelc run`: keep float32 I/O.
    "bf16": (["--quantize", "bf16", "--keep-io-types"], 5e-2),
    "prune": (["--prune", "magnitude", "--sparsity", "0.5"], 1e-4),
    "clip": (["--clip", "percentile:99.9"], 1e-4),
    "lowrank": (["--lowrank", "energy:0.9"], 1e-4),
    "simplify": (["--simplify"], 1e-4),
}
corpus_table.COLUMNS[:] = ["run", "info", *MODES]

STANDARD_DOMAINS = {"", "ai.onnx"}


def test_corpus_present():
    # Guards against a glob that silently finds nothing and so tests nothing.
    assert len(MODELS) >= 20, MODELS


def model_path(name: str) -> str:
    return os.path.join(CORPUS, name + ".onnx")


def inputs_path(name: str) -> str:
    return os.path.join(CORPUS, name + ".inputs.npz")


@functools.lru_cache(maxsize=None)
def inputs(name: str) -> dict:
    with np.load(inputs_path(name)) as z:
        return {k: z[k] for k in z.files}


def all_graphs(graph):
    yield graph
    for node in graph.node:
        for g in harness.subgraphs(node):
            yield from all_graphs(g)


@functools.lru_cache(maxsize=None)
def foreign_ops(name: str) -> tuple[str, ...]:
    """Ops of the model outside the ai.onnx domain (ai.onnx.ml, com.microsoft...)."""
    m = onnx.load(model_path(name))
    return tuple(sorted({harness.op_key(n) for g in all_graphs(m.graph) for n in g.node
                         if n.domain not in STANDARD_DOMAINS}))


@functools.lru_cache(maxsize=None)
def original_outputs(name: str) -> tuple[list, list]:
    """(output names, onnxruntime's outputs) of the original model."""
    sess = harness.ort_session(model_path(name))
    return [o.name for o in sess.get_outputs()], [np.asarray(v) for v in sess.run(None, inputs(name))]


# ---- checking one result -----------------------------------------------------------------


class Problem(Exception):
    """What is wrong with a case; the first line goes into the table."""


def first_line(text: str) -> str:
    text = re.sub(r"Load model from \S+ failed:", "", text)  # temporary paths say nothing
    text = re.sub(r"/\S*/pytest-of-[^/]+/[^/]+/[^/]+/", "", text).replace(CORPUS + os.sep, "")
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def refusal_problems(r, out: str, folder: str) -> list[str]:
    """Why a nonzero exit of modelc is not a clean refusal (empty list: it is one)."""
    problems = []
    err = r.stderr.strip()
    if "panic:" in err or "goroutine " in err or "runtime error:" in err:
        problems.append(f"Go panic (exit {r.returncode}): {first_line(err)}")
    elif r.returncode == 1:
        problems.append(f"exit 1, an internal error: {first_line(err)}")
    elif r.returncode not in (2, 3, 4, 5):
        problems.append(f"exit {r.returncode}: {first_line(err)}")
    if not err:
        problems.append(f"exit {r.returncode} with nothing on stderr")
    if os.path.exists(out):
        problems.append(f"exit {r.returncode} but the output file was written")
    left = [f for f in os.listdir(folder) if f != os.path.basename(out)]
    if left:
        problems.append(f"left files behind: {left}")
    return problems


def reference_run(path: str, name: str) -> tuple[list, list, str]:
    """(output names, outputs, note) from onnxruntime, or Problem if it refuses the file.

    onnxruntime runs in a child process (corpus_worker): a file that crashes it fails
    this case only. Its CPU provider has no bfloat16 kernel for most ops (Gemm, MatMul,
    Relu...): for a file that passes the checker and holds bfloat16, that lack alone
    (NOT_IMPLEMENTED) sends us to onnx's reference evaluator, as test_compress.test_bf16
    does. Any other onnxruntime error is a file onnxruntime rejects.
    """
    result = corpus_worker.evaluate(path, inputs(name))
    if result[0] == "ok":
        return result[1], result[2], ""
    kind, msg = result
    if kind == "crash":
        raise Problem(msg)
    if kind == "run":
        raise Problem(f"onnxruntime fails to run it: {first_line(msg)}")
    if "NOT_IMPLEMENTED" in msg and has_bfloat16(path):
        from onnx.reference import ReferenceEvaluator

        if not reference_runs_original(name):
            # onnx's evaluator has no kernel for some op of the original (DequantizeLinear-13)
            # or gets it wrong (a tf2onnx Loop): the original's onnxruntime outputs are
            # then the reference, within the bf16 tolerance.
            names, outs = original_outputs(name)
            return names, outs, ("onnxruntime's CPU provider has no bfloat16 kernel and onnx.reference cannot "
                                 "run the original; checked against the original's onnxruntime outputs")
        m = onnx.load(path)
        feeds = {i.name: inputs(name)[i.name] for i in m.graph.input}
        try:
            outs = ReferenceEvaluator(m).run(None, feeds)
        except Exception as e:  # noqa: BLE001
            raise Problem(f"onnxruntime has no kernel ({first_line(msg)}) and onnx's reference evaluator fails: "
                          f"{first_line(str(e))}") from None
        return [o.name for o in m.graph.output], [np.asarray(o) for o in outs], \
            "onnxruntime's CPU provider has no bfloat16 kernel; checked with onnx.reference"
    raise Problem(f"onnxruntime refuses the file: {first_line(msg)}")


def reference_runs_original(name: str) -> bool:
    """Whether onnx's reference evaluator runs the original model and agrees with
    onnxruntime on it (same shapes, within 1e-3 of each output's range)."""
    from onnx.reference import ReferenceEvaluator

    names, want = original_outputs(name)
    try:
        got = ReferenceEvaluator(model_path(name)).run(None, inputs(name))
    except Exception:  # noqa: BLE001
        return False
    for a, b in zip(got, want):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if b.dtype.kind == "f":
            span = float(np.abs(b.astype(np.float64)).max()) if b.size else 0.0
            if b.size and float(np.abs(a.astype(np.float64) - b).max()) > 1e-3 * max(span, 1e-6):
                return False
        elif not np.array_equal(a, b):
            return False
    return True


def has_bfloat16(path: str) -> bool:
    m = onnx.load(path)
    for g in all_graphs(m.graph):
        if any(t.data_type == onnx.TensorProto.BFLOAT16 for t in g.initializer):
            return True
        for n in g.node:
            if n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.BFLOAT16 for a in n.attribute):
                return True
    return False


def modelc_run(path: str, name: str, folder: str, feeds: dict | None = None):
    """modelc's outputs by name, or the CompletedProcess of a failed run."""
    inp = inputs_path(name)
    if feeds is not None:
        inp = os.path.join(folder, "feeds.npz")
        np.savez(inp, **feeds)
    out = os.path.join(folder, "run")
    os.makedirs(out, exist_ok=True)
    r = harness.run_modelc("run", path, "--inputs", inp, "--output-dir", out, "--threads", 1)
    if r.returncode != 0:
        return r
    return {urllib.parse.unquote(f[: -len(".npy")]): np.load(os.path.join(out, f)) for f in os.listdir(out)}


@functools.lru_cache(maxsize=None)
def modelc_refuses_original(name: str) -> bool:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return not isinstance(modelc_run(model_path(name), name, d), dict)


def compare(names, ref, ours: dict, tol: float, exact_ints: bool) -> None:
    """modelc's outputs agree with the reference's: float within tol × the output's
    largest magnitude; integer outputs (labels) equal, or 90 % equal after lossy modes."""
    for n, want in zip(names, ref):
        if n not in ours:
            raise Problem(f"modelc run wrote no output {n!r} (wrote {sorted(ours)})")
        got = np.asarray(ours[n])
        want = np.asarray(want)
        if got.shape != want.shape:
            raise Problem(f"output {n!r}: modelc shape {got.shape}, onnxruntime {want.shape}")
        if want.dtype.kind in "iub":
            same = float((got == want).mean()) if want.size else 1.0
            if same < (1.0 if exact_ints else 0.9):
                raise Problem(f"output {n!r}: modelc and onnxruntime agree on {100 * same:.1f} % of the values")
            continue
        g, w = got.astype(np.float64), want.astype(np.float64)
        finite = np.isfinite(w)
        scale = float(np.abs(w[finite]).max()) if finite.any() else 1.0
        atol = tol * max(scale, 1e-6)
        ok = np.isclose(g, w, rtol=0, atol=atol, equal_nan=True)
        if not ok.all():
            i = np.unravel_index(np.argmin(ok), ok.shape)
            err = float(np.nanmax(np.abs(np.where(np.isfinite(g) & finite, g - w, 0))))
            raise Problem(f"output {n!r}: modelc and onnxruntime differ: at {tuple(int(k) for k in i)} modelc {g[i]:.6g}, "
                          f"onnxruntime {w[i]:.6g} (max |diff| {err:.3g}, allowed {atol:.3g})")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    d = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / d) if d else (1.0 if np.array_equal(a, b) else 0.0)


def finish(model: str, column: str, status: str, reason: str = "") -> None:
    corpus_table.record(model, column, status, reason)
    if status == "FAIL":
        pytest.fail(f"{model} × {column}: {reason}", pytrace=False)


# ---- the original models -------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_run_original_agrees_with_onnxruntime(name, tmp_path):
    names, ref = original_outputs(name)
    ours = modelc_run(model_path(name), name, str(tmp_path))
    if not isinstance(ours, dict):
        r = ours
        foreign = foreign_ops(name)
        problems = refusal_problems(r, str(tmp_path / "none"), str(tmp_path / "run"))
        if foreign and not problems:
            # Ops outside ai.onnx (ai.onnx.ml, com.microsoft): a clean refusal is fine.
            return finish(name, "run", "refused", first_line(r.stderr))
        return finish(name, "run", "FAIL", "; ".join(problems) or f"modelc run exit {r.returncode}: {first_line(r.stderr)}")
    tol = 2e-2 if name.startswith("ort_") else 1e-4  # quantized originals: integer kernels
    try:
        compare(names, ref, ours, tol, exact_ints=True)
    except Problem as p:
        failure = str(p)
    else:
        failure = ""
    finish(name, "run", "FAIL" if failure else "ok", failure)


def expected_weights(name: str) -> int:
    """Elements of the model's weight tensors: initializers of every graph, and
    floating-point Constant-node tensors of two or more elements in every graph."""
    m = onnx.load(model_path(name))
    n = 0
    for g in all_graphs(m.graph):
        n += sum(math.prod(t.dims) for t in g.initializer)
        for node in g.node:
            if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
                for a in node.attribute:
                    if a.name == "value" and a.t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                                              onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16):
                        size = math.prod(a.t.dims)
                        n += size if size >= 2 else 0
    return n


@pytest.mark.parametrize("name", MODELS)
def test_info_counts_the_weights(name):
    """`modelc info` counts the weights wherever the exporter put them: initializers,
    Constant nodes, subgraphs (at least 90 % of what expected_weights finds)."""
    r = harness.run_modelc("info", model_path(name), "--json")
    if r.returncode != 0:
        return finish(name, "info", "FAIL", f"exit {r.returncode}: {first_line(r.stderr)}")
    count = json.loads(r.stdout)["parameter_count"]
    want = expected_weights(name)
    if want == 0:
        # skl_scaler_linreg_ml: its coefficients are attributes of ai.onnx.ml ops.
        return finish(name, "info", "ok", "no weight tensors (coefficients are ml-op attributes)")
    if count == 0 or count < 0.9 * want:
        return finish(name, "info", "FAIL", f"parameter_count {count}, the model's weight tensors hold {want} elements")
    finish(name, "info", "ok")


# ---- compress × every mode -----------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", MODELS)
def test_compress(name, mode, tmp_path):
    flags, tol = MODES[mode]
    flags = [inputs_path(name) if f == CALIB else f for f in flags]
    folder = tmp_path / "out"
    folder.mkdir()
    out = str(folder / f"{name}.{mode}.onnx")
    r = harness.run_modelc("compress", model_path(name), out, *flags)
    if r.returncode != 0:
        problems = refusal_problems(r, out, str(folder))
        if problems:
            return finish(name, mode, "FAIL", "; ".join(problems))
        return finish(name, mode, "refused", first_line(r.stderr))
    failure, note = "", ""
    try:
        note = check_output(name, out, folder, tmp_path, tol)
    except Problem as p:
        failure = str(p)
    finish(name, mode, "FAIL" if failure else "ok", failure or note)


def check_output(name: str, out: str, folder, tmp_path, tol: float) -> str:
    """Raises Problem unless the compressed file is valid, runs in onnxruntime and
    modelc agrees; returns a note for the table (or "")."""
    if not os.path.isfile(out):
        raise Problem("exit 0 but no output file")
    left = [f for f in os.listdir(folder) if f != os.path.basename(out)]
    if left:
        raise Problem(f"left files behind: {left}")
    problems = []
    try:
        onnx.checker.check_model(out, full_check=True)
    except Exception as e:  # noqa: BLE001
        problems.append(f"onnx.checker: {first_line(str(e))}")
    try:
        names, ref, note = reference_run(out, name)
    except Problem as p:
        raise Problem("; ".join(problems + [str(p)])) from None
    if problems:
        raise Problem(problems[0])
    # The outputs are numbers, not NaN/Inf (where the original's are finite).
    orig_names, orig = original_outputs(name)
    cos = []
    for n, a in zip(names, ref):
        if n in orig_names and a.dtype.kind == "f":
            o = orig[orig_names.index(n)].astype(np.float64)
            bad = ~np.isfinite(a) & np.isfinite(o)
            if bad.any():
                raise Problem(f"output {n!r} has {int(bad.sum())} NaN/Inf values where the original has none")
            if a.shape == o.shape:
                cos.append(cosine(a, o))
    # modelc's runtime agrees with the reference on the same file.
    with np.load(inputs_path(name)) as z:
        m = onnx.load(out, load_external_data=False)
        feeds = {}
        for i in m.graph.input:
            x = z[i.name]
            if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16:
                x = x.astype(np.float16)
            feeds[i.name] = x
    ours = modelc_run(out, name, str(tmp_path), feeds)
    if not isinstance(ours, dict):
        rr = ours
        # A model whose ai.onnx.ml / com.microsoft ops modelc's runtime refuses
        # (cleanly) on the original too: the checker and onnxruntime are the check.
        clean = rr.returncode in (4, 5) and rr.stderr.strip() and "panic" not in rr.stderr
        if clean and foreign_ops(name) and modelc_refuses_original(name):
            note = (note + "; " if note else "") + f"modelc run refuses it as it does the original: {first_line(rr.stderr)}"
        else:
            raise Problem(f"modelc run on the output: exit {rr.returncode}: {first_line(rr.stderr)}")
    else:
        compare(names, ref, ours, tol, exact_ints=tol < 1e-3)
    if cos and min(cos) < 0.99:
        note = (note + "; " if note else "") + f"cosine to the original {min(cos):.3f}"
    return note
