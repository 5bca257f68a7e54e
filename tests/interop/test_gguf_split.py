"""GGUF split sets and sharded conversion, with llama.cpp's gguf-py as the oracle.

- N = 1..4 separate `modelc convert --shard I/N` processes, run at once as a scheduler
  would, write files byte-identical to one `--splits N` run; gguf.GGUFReader reads every
  split (split.no u16, split.count u16, split.tensors.count i32, the metadata in the first
  only) and the merged file; the merged file is byte-identical to the unsplit conversion.
- A worker killed mid-write leaves no file; re-running only its index completes the set,
  and the other files are not touched.
- The Kubernetes Indexed Job and the Slurm array recipes under deploy/ are checked for
  syntax and run locally, their worker command once per index with the scheduler's
  variables set.

The checkpoint is a synthetic Llama-shaped Hugging Face folder of about 64 MiB (SPLIT_MIB
changes it); bench/shard_convert.py runs the same over a ≥ 1 GB one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time

import gguf
import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from harness import REPO, expect_ok, modelc_path, run_modelc

SPLIT_MIB = int(os.environ.get("SPLIT_MIB", "80"))


def make_checkpoint(folder, mib=SPLIT_MIB, hidden=512, ffn=1408, vocab=8192, dtype=np.float16):
    """A Llama-shaped HF folder (config, two safetensors shards + index, tokenizer) of about
    `mib` MiB of F16 weights."""
    folder.mkdir()
    per_layer = 2 * (4 * hidden * hidden + 3 * ffn * hidden)
    layers = max(2, round((mib * 2**20 - 2 * 2 * vocab * hidden) / per_layer))
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "num_hidden_layers": int(layers),
           "num_attention_heads": 8, "num_key_value_heads": 8, "intermediate_size": ffn,
           "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "vocab_size": vocab, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}
    (folder / "config.json").write_text(json.dumps(cfg))
    rng = np.random.default_rng(18)
    block = (rng.standard_normal(1 << 20) * 0.02).astype(dtype)

    def w(*shape):  # random-looking values, quick to make: a shuffled window of one block
        n = int(np.prod(shape))
        reps = -(-n // block.size)
        x = np.tile(block, reps)[:n]
        return np.roll(x, int(rng.integers(block.size))).reshape(shape)

    shards = [{"model.embed_tokens.weight": w(vocab, hidden)}, {}]
    for i in range(layers):
        p = f"model.layers.{i}."
        d = shards[0] if i < layers // 2 else shards[1]
        for name, shape in [("self_attn.q_proj", (hidden, hidden)), ("self_attn.k_proj", (hidden, hidden)),
                            ("self_attn.v_proj", (hidden, hidden)), ("self_attn.o_proj", (hidden, hidden)),
                            ("mlp.gate_proj", (ffn, hidden)), ("mlp.up_proj", (ffn, hidden)),
                            ("mlp.down_proj", (hidden, ffn))]:
            d[p + name + ".weight"] = w(*shape)
        d[p + "input_layernorm.weight"] = np.ones(hidden, dtype)
        d[p + "post_attention_layernorm.weight"] = np.ones(hidden, dtype)
    shards[1]["model.norm.weight"] = np.ones(hidden, dtype)
    shards[1]["lm_head.weight"] = w(vocab, hidden)
    weight_map = {}
    for k, d in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-00002.safetensors"
        save_file(d, str(folder / fname))
        weight_map.update({n: fname for n in d})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    vocab_map = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab_map[f"<0x{b:02X}>"] = 3 + b
    tok = {"model": {"type": "BPE", "vocab": vocab_map, "merges": [], "byte_fallback": True},
           "added_tokens": [{"id": i, "content": c, "special": True} for c, i in list(vocab_map.items())[:3]]}
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "llama")


@pytest.fixture(scope="module")
def unsplit(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "model.gguf"
    expect_ok(run_modelc("convert", checkpoint, out, "--quantize", "q8_0", timeout=600))
    return out


def split_names(out, n):
    stem = str(out)[: -len(".gguf")]
    return [f"{stem}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]


def workers(args, n, env_for, threads=1):
    """Starts n modelc processes at once, as a scheduler would, and waits for them all."""
    procs = []
    for i in range(n):
        env = dict(os.environ, GOMAXPROCS=str(threads), **env_for(i))
        procs.append(subprocess.Popen([modelc_path(), *map(str, args)], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"worker {p.args}: exit {p.returncode}: {err}"


def check_split_with_gguf_py(files, unsplit_path):
    """gguf-py reads every file: split keys with llama.cpp's types, metadata in the first
    only, every tensor of the unsplit file exactly once with the same type, shape, bytes."""
    one = gguf.GGUFReader(str(unsplit_path))
    want = {t.name: t for t in one.tensors}
    seen = {}
    for i, f in enumerate(files):
        r = gguf.GGUFReader(f)
        fields = r.fields
        assert fields["split.no"].types == [gguf.GGUFValueType.UINT16]
        assert fields["split.count"].types == [gguf.GGUFValueType.UINT16]
        assert fields["split.tensors.count"].types == [gguf.GGUFValueType.INT32]
        assert fields["split.no"].contents() == i
        assert fields["split.count"].contents() == len(files)
        assert fields["split.tensors.count"].contents() == len(want)
        if i == 0:
            assert fields["general.architecture"].contents() == "llama"
            assert fields["llama.block_count"].contents() == one.fields["llama.block_count"].contents()
        else:
            assert "general.architecture" not in fields
        for t in r.tensors:
            assert t.name not in seen, f"{t.name} in files {seen[t.name]} and {i}"
            seen[t.name] = i
            w = want[t.name]
            assert t.tensor_type == w.tensor_type and list(t.shape) == list(w.shape), t.name
            assert np.array_equal(np.asarray(t.data).view(np.uint8), np.asarray(w.data).view(np.uint8)), t.name
    assert set(seen) == set(want)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_shard_workers_byte_identical(checkpoint, unsplit, tmp_path, n):
    one = tmp_path / "one-process" / "model.gguf"
    one.parent.mkdir()
    expect_ok(run_modelc("convert", checkpoint, one, "--quantize", "q8_0", "--splits", n, timeout=600))
    sharded = tmp_path / "workers" / "model.gguf"
    sharded.parent.mkdir()
    # n processes at once, each told its file by the command line
    procs = [subprocess.Popen([modelc_path(), "convert", str(checkpoint), str(sharded), "--quantize", "q8_0",
                               "--shard", f"{i}/{n}"], env=dict(os.environ, GOMAXPROCS="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, n + 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    a, b = split_names(one, n), split_names(sharded, n)
    assert sorted(os.listdir(sharded.parent)) == sorted(os.path.basename(f) for f in b)
    for x, y in zip(a, b):
        assert open(x, "rb").read() == open(y, "rb").read(), f"{y} differs from the --splits {n} file"
    check_split_with_gguf_py(b, unsplit)
    r = run_modelc("verify-shards", sharded.parent, "--json")
    expect_ok(r)
    rep = json.loads(r.stdout)
    assert rep[0]["count"] == n and rep[0]["missing"] == [] and rep[0]["problems"] == []
    merged = tmp_path / "merged.gguf"
    expect_ok(run_modelc("convert", b[0], merged, timeout=600))
    assert open(merged, "rb").read() == open(unsplit, "rb").read(), "merged file differs from the unsplit conversion"
    gguf.GGUFReader(str(merged))


def test_plan_matches_files(checkpoint, tmp_path):
    out = tmp_path / "model.gguf"
    r = run_modelc("plan", checkpoint, out, "--quantize", "q4_k", "--splits", 3, "--json")
    expect_ok(r)
    plan = json.loads(r.stdout)
    assert [f["path"] for f in plan["files"]] == split_names(out, 3)
    assert sum(f["cost"] for f in plan["files"]) == plan["total_cost"]
    costs = [f["cost"] for f in plan["files"]]
    assert max(costs) < 1.6 * min(costs), costs  # balanced by cost
    assert not any(os.path.exists(f) for f in split_names(out, 3))  # nothing written
    r = run_modelc("plan", checkpoint, out, "--quantize", "q4_k", "--splits", 3)
    expect_ok(r)
    assert "3 file(s)" in r.stdout


def test_max_shard_size_and_tensors(checkpoint, unsplit, tmp_path):
    out = tmp_path / "m.gguf"
    expect_ok(run_modelc("convert", checkpoint, out, "--quantize", "q8_0", "--max-shard-tensors", 10, timeout=600))
    files = sorted(str(tmp_path / f) for f in os.listdir(tmp_path))
    ntensors = len(gguf.GGUFReader(str(unsplit)).tensors)
    assert len(files) == -(-ntensors // 10)
    check_split_with_gguf_py(files, unsplit)
    for f in files:
        os.remove(f)
    expect_ok(run_modelc("convert", checkpoint, out, "--quantize", "q8_0", "--max-shard-size", "10MB", timeout=600))
    files = sorted(str(tmp_path / f) for f in os.listdir(tmp_path))
    assert len(files) > 1
    for f in files:
        r = gguf.GGUFReader(f)
        data = sum(int(t.n_bytes) for t in r.tensors)
        assert data <= 10_000_000 or len(r.tensors) == 1
    check_split_with_gguf_py(files, unsplit)


def test_killed_worker_rerun_completes(checkpoint, unsplit, tmp_path):
    n = 3
    out = tmp_path / "model.gguf"
    for i in (1, 3):
        expect_ok(run_modelc("convert", checkpoint, out, "--quantize", "q4_k", "--shard", f"{i}/{n}", timeout=600))
    names = split_names(out, n)
    before = {f: os.stat(f).st_mtime_ns for f in (names[0], names[2])}
    p = subprocess.Popen([modelc_path(), "convert", str(checkpoint), str(out), "--quantize", "q4_k", "--shard", f"2/{n}"],
                         env=dict(os.environ, GOMAXPROCS="1"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not any(".tmp-" in f for f in os.listdir(tmp_path)):
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not os.path.exists(names[1]), "a killed worker left its file"
    r = run_modelc("verify-shards", tmp_path)
    assert r.returncode == 6, r.stdout + r.stderr
    assert "[2]" in r.stdout
    r = run_modelc("convert", names[0], tmp_path / "x.gguf")
    assert r.returncode == 3 and "split 2 of 3 is missing" in r.stderr
    expect_ok(run_modelc("convert", checkpoint, out, "--quantize", "q4_k", "--shard", f"2/{n}", timeout=600))
    assert {f: os.stat(f).st_mtime_ns for f in before} == before, "a finished file was redone"
    expect_ok(run_modelc("verify-shards", tmp_path))
    one = tmp_path / "all" / "model.gguf"
    one.parent.mkdir()
    expect_ok(run_modelc("convert", checkpoint, one, "--quantize", "q4_k", "--splits", n, timeout=600))
    for x, y in zip(split_names(one, n), names):
        assert open(x, "rb").read() == open(y, "rb").read()


def test_shard_errors(checkpoint, tmp_path):
    out = tmp_path / "m.gguf"
    cases = [
        (["--shard", "0/4"], "I runs from 1 to N"),
        (["--shard", "5/4"], "I runs from 1 to N"),
        (["--shard", "x/4"], "is not I/N"),
        (["--shard", "auto/4"], "JOB_COMPLETION_INDEX"),
        (["--shard", "1/4", "--splits", "3"], "--splits"),
        (["--splits", "2", "--max-shard-tensors", "3"], "not both"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")}
    for flags, words in cases:
        r = subprocess.run([modelc_path(), "convert", str(checkpoint), str(out), *flags], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 2 and words in r.stderr, (flags, r.stderr)
    r = run_modelc("convert", checkpoint, tmp_path / "m.safetensors", "--max-shard-tensors", 2)
    assert r.returncode == 2 and "GGUF" in r.stderr
    assert os.listdir(tmp_path) == []


# ---- the deployment recipes ------------------------------------------------------------


def k8s_expand(s, env):
    """Kubernetes' $(VAR) expansion of command and args from the container's env."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s)


def test_kubernetes_indexed_job(checkpoint, unsplit, tmp_path):
    docs = list(yaml.safe_load_all(open(os.path.join(REPO, "deploy/kubernetes/convert-job.yaml"))))
    assert len(docs) == 1
    job = docs[0]
    # the fields of batch/v1 Job that make it an indexed, scheduler-coordinated conversion
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert set(job) <= {"apiVersion", "kind", "metadata", "spec"}
    spec = job["spec"]
    assert set(spec) <= {"completionMode", "completions", "parallelism", "backoffLimit", "backoffLimitPerIndex",
                         "maxFailedIndexes", "template", "ttlSecondsAfterFinished", "activeDeadlineSeconds",
                         "podFailurePolicy", "suspend", "selector", "manualSelector"}
    assert spec["completionMode"] == "Indexed"
    n = spec["completions"]
    assert isinstance(n, int) and n >= 1 and spec["parallelism"] <= n
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (c,) = pod["containers"]
    assert set(c) <= {"name", "image", "command", "args", "env", "resources", "volumeMounts", "workingDir"}
    assert all(isinstance(x, str) for x in c["command"] + c["args"])
    mounts = {m["name"] for m in c["volumeMounts"]}
    assert mounts <= {v["name"] for v in pod["volumes"]}
    cmd = c["command"] + c["args"]
    assert cmd[0] == "modelc" and "--shard" in cmd and cmd[cmd.index("--shard") + 1] == f"auto/{n}"
    verify = yaml.safe_load(open(os.path.join(REPO, "deploy/kubernetes/verify-job.yaml")))
    (vc,) = verify["spec"]["template"]["spec"]["containers"]
    assert vc["command"] + vc["args"][:1] == ["modelc", "verify-shards"]

    # Run the worker command once per index, at once, as the Job controller would: the
    # container's env, with the paths pointed at this test's folders.
    out = tmp_path / "out" / "model.gguf"
    out.parent.mkdir()
    env = {e["name"]: e["value"] for e in c["env"]}
    env.update(MODEL_IN=str(checkpoint), MODEL_OUT=str(out), QUANT="q8_0")
    args = [k8s_expand(a, env) for a in cmd[1:]]
    workers(args, n, lambda i: {"JOB_COMPLETION_INDEX": str(i)})
    venv = {e["name"]: e["value"] for e in vc["env"]}
    venv["MODEL_OUT_DIR"] = str(out.parent)
    expect_ok(run_modelc(*[k8s_expand(a, venv) for a in vc["args"]]))
    check_split_with_gguf_py(split_names(out, n), unsplit)


def test_slurm_array(checkpoint, unsplit, tmp_path):
    script = os.path.join(REPO, "deploy/slurm/convert.sbatch")
    verify = os.path.join(REPO, "deploy/slurm/verify.sbatch")
    for s in (script, verify):
        subprocess.run(["bash", "-n", s], check=True)
    text = open(script).read()
    m = re.search(r"^#SBATCH --array=1-(\d+)$", text, re.M)
    assert m, "the array runs from 1"
    n = int(m.group(1))
    out = tmp_path / "out" / "model.gguf"
    out.parent.mkdir()
    base = {"MODELC": modelc_path(), "MODEL_IN": str(checkpoint), "MODEL_OUT": str(out), "QUANT": "q8_0",
            "SLURM_ARRAY_TASK_COUNT": str(n), "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": str(n)}
    procs = [subprocess.Popen(["bash", script], env=dict(os.environ, GOMAXPROCS="1", SLURM_ARRAY_TASK_ID=str(i), **base),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, n + 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    r = subprocess.run(["bash", verify], env=dict(os.environ, **base), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    check_split_with_gguf_py(split_names(out, n), unsplit)
    # a 0-based array is refused with the fix
    r = subprocess.run(["bash", script], env={**os.environ, **base, "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0"},
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--array=1-" in r.stderr


# ---- safetensors shards ----------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_safetensors_shard_workers(checkpoint, tmp_path, n):
    from safetensors import safe_open

    one = tmp_path / "one" / "model.safetensors"
    one.parent.mkdir()
    expect_ok(run_modelc("convert", checkpoint, one, "--splits", n, timeout=600))
    sh = tmp_path / "workers" / "model.safetensors"
    sh.parent.mkdir()
    # the index from plan, before any worker runs; then the workers but the last
    r = run_modelc("plan", checkpoint, sh, "--splits", n, "--write-index", "--json")
    expect_ok(r)
    assert [f["path"] for f in json.loads(r.stdout)["files"]] == [
        str(sh.parent / f"model-{i:05d}-of-{n:05d}.safetensors") for i in range(1, n + 1)]
    procs = [subprocess.Popen([modelc_path(), "convert", str(checkpoint), str(sh), "--shard", f"{i}/{n}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(1, n)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    r = run_modelc("verify-shards", sh.parent)
    assert r.returncode == 6 and f"[{n}]" in r.stdout, r.stdout
    expect_ok(run_modelc("convert", checkpoint, sh, "--shard", f"{n}/{n}", timeout=600))
    expect_ok(run_modelc("verify-shards", sh.parent / "model.safetensors.index.json"))
    assert sorted(os.listdir(one.parent)) == sorted(os.listdir(sh.parent))
    for f in os.listdir(one.parent):
        assert open(one.parent / f, "rb").read() == open(sh.parent / f, "rb").read(), f
    index = json.loads((sh.parent / "model.safetensors.index.json").read_text())
    for name, shard in index["weight_map"].items():
        with safe_open(str(sh.parent / shard), "np") as f:
            assert name in f.keys()
    sizes = [os.path.getsize(sh.parent / f"model-{i:05d}-of-{n:05d}.safetensors") for i in range(1, n + 1)]
    assert max(sizes) < 2 * min(sizes), sizes  # about equal


def test_reads_split_set_gguf_py_wrote(tmp_path):
    """A split set written by gguf-py's own writer (split_max_tensors) reads as one model:
    `modelc info` counts every tensor, and merging gives the tensors gguf-py wrote."""
    rng = np.random.default_rng(5)
    tensors = {f"blk.{i}.ffn_up.weight": rng.standard_normal((8, 64)).astype(np.float32) for i in range(7)}
    w = gguf.GGUFWriter(str(tmp_path / "py.gguf"), "llama", split_max_tensors=3)
    w.add_uint32("llama.block_count", 7)
    for name, x in tensors.items():
        w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    files = sorted(f for f in os.listdir(tmp_path) if f.endswith(".gguf"))
    assert files == [f"py-{i:05d}-of-00003.gguf" for i in (1, 2, 3)], files
    r = run_modelc("info", tmp_path / files[0], "--json")
    expect_ok(r)
    expect_ok(run_modelc("verify-shards", tmp_path))
    merged = tmp_path / "merged.gguf"
    expect_ok(run_modelc("convert", tmp_path / files[0], merged))
    got = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(str(merged)).tensors}
    assert set(got) == set(tensors)
    for name, x in tensors.items():
        assert np.array_equal(got[name].reshape(x.shape), x), name
    fields = gguf.GGUFReader(str(merged)).fields
    assert "split.count" not in fields and fields["llama.block_count"].contents() == 7
    r = run_modelc("info", tmp_path / files[1])
    assert r.returncode == 2 and files[0] in r.stderr
