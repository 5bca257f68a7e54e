"""GGUF interop: the gguf package (llama.cpp's gguf-py) is the oracle.

- files modelc writes are read by gguf.GGUFReader: names, shapes, types, metadata;
- for every type gguf-py can quantize (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, BF16, F16) modelc's
  bytes equal gguf.quants.quantize on the same input;
- gguf.quants.dequantize of modelc's blocks equals modelc's own dequantization (its
  GGUF → safetensors conversion), K-quants included;
- GGUF files gguf-py writes (every metadata value type, nested arrays) go through modelc
  unchanged;
- a tiny random Llama checkpoint converts with llama.cpp's names, shapes, Q/K
  permutation, hyperparameters and tokenizer metadata.
"""

from __future__ import annotations

import json
import os

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file, save_file

from harness import expect_ok, run_modelc

RNG = np.random.default_rng(1234)


def reader_tensors(path):
    r = gguf.GGUFReader(path)
    return r, {t.name: t for t in r.tensors}


def field_value(r, key):
    f = r.fields[key]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        return f.contents()
    return f.contents()


def weights(rows, cols, scale=1.0):
    """Random weights with the awkward values quantizers trip on: zeros, ties, a block of
    one value, a block with one outlier."""
    x = (RNG.standard_normal((rows, cols)) * scale).astype(np.float32)
    x[0, :32] = 0
    x[0, 32:64] = 0.5
    x[1, :32] = np.linspace(-1, 1, 32, dtype=np.float32)
    x[1, 40] = 100
    return x


def convert(tmp_path, tensors, out_name, *flags, metadata=None):
    src = tmp_path / "in.safetensors"
    save_file(tensors, str(src), metadata=metadata)
    out = tmp_path / out_name
    expect_ok(run_modelc("convert", src, out, *flags))
    return out


LEGACY = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q5_0": Q.Q5_0, "q5_1": Q.Q5_1,
          "bf16": Q.BF16, "f16": Q.F16}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_blocks_identical_to_gguf_quantize(tmp_path, name):
    qtype = LEGACY[name]
    x = weights(16, 512)
    out = convert(tmp_path, {"blk.0.ffn_up.weight": x}, "out.gguf", "--quantize", name)
    r, ts = reader_tensors(str(out))
    t = ts["blk.0.ffn_up.weight"]
    assert t.tensor_type == qtype
    assert [int(d) for d in t.shape] == [512, 16]  # ggml order: fastest first
    want = gguf.quants.quantize(x, qtype)
    assert np.asarray(t.data).tobytes() == want.tobytes()


ALL = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "q5_0": Q.Q5_0, "q5_1": Q.Q5_1,
       "q4_k": Q.Q4_K, "q5_k": Q.Q5_K, "q6_k": Q.Q6_K, "bf16": Q.BF16, "f16": Q.F16}


@pytest.mark.parametrize("name", sorted(ALL))
def test_dequantize_agrees_with_gguf(tmp_path, name):
    x = weights(8, 1024)
    out = convert(tmp_path, {"blk.0.attn_q.weight": x}, "q.gguf", "--quantize", name)
    r, ts = reader_tensors(str(out))
    t = ts["blk.0.attn_q.weight"]
    assert t.tensor_type == ALL[name]
    theirs = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(8, 1024)
    back = tmp_path / "back.safetensors"
    expect_ok(run_modelc("convert", out, back))
    ours = load_file(str(back))["blk.0.attn_q.weight"]
    # block types become float32; f16 and bf16 stay as they are
    assert ours.dtype.name == {"f16": "float16", "bf16": "bfloat16"}.get(name, "float32")
    assert ours.shape == (8, 1024)
    ours = ours.astype(np.float32)
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    # and the quantization is a quantization of x, not noise
    rel = np.sqrt(np.mean((ours - x) ** 2)) / np.sqrt(np.mean(x ** 2))
    assert rel < 0.35, rel


def test_llama_cpp_type_rules(tmp_path):
    tensors = {
        "token_embd.weight": weights(32, 256),
        "blk.0.attn_norm.weight": RNG.standard_normal(256).astype(np.float16),
        "blk.0.ffn_down.weight": weights(256, 64),  # 64-wide rows: Q4_K falls back to Q5_0
        "blk.0.ffn_gate.weight": weights(64, 48),   # 48-wide rows: no block type fits, F16
        "blk.0.ffn_gate_inp.weight": weights(4, 256).astype(np.float16),  # MoE router: kept
        "blk.0.counts": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    out = convert(tmp_path, tensors, "k.gguf", "--quantize", "q4_k",
                  metadata={"general.architecture": "llama", "note": "kept"})
    r, ts = reader_tensors(str(out))
    assert {k: Q(t.tensor_type).name for k, t in ts.items()} == {
        "token_embd.weight": "Q4_K", "blk.0.attn_norm.weight": "F32", "blk.0.ffn_down.weight": "Q5_0",
        "blk.0.ffn_gate.weight": "F16", "blk.0.ffn_gate_inp.weight": "F16", "blk.0.counts": "I32"}
    assert field_value(r, "general.quantization_version") == 2
    assert field_value(r, "general.architecture") == "llama"
    assert field_value(r, "note") == "kept"
    np.testing.assert_array_equal(np.asarray(ts["blk.0.counts"].data).reshape(2, 3), tensors["blk.0.counts"])
    np.testing.assert_array_equal(np.asarray(ts["blk.0.attn_norm.weight"].data),
                                  tensors["blk.0.attn_norm.weight"].astype(np.float32))


def write_reference_gguf(path, alignment=None):
    """A GGUF made by gguf-py itself: every value type, nested arrays, several tensor types."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_quantization_version(2)  # it holds a Q8_0 tensor, and modelc always says so
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 1.5)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 2.25)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo")
    w.add_array("t.arr_str", ["a", "bc", ""])
    w.add_array("t.arr_f32", [1.0, 2.5])
    w.add_array("t.arr_nested", [[1, 2], [3], ["x", "y"]])
    w.add_array("t.arr_empty", [])
    x = weights(4, 64)
    w.add_tensor("a", x)
    w.add_tensor("b", x.astype(np.float16))
    w.add_tensor("c", np.arange(5, dtype=np.int32))
    w.add_tensor("d", gguf.quants.quantize(x, Q.Q8_0), raw_dtype=Q.Q8_0)
    w.add_tensor("e", RNG.standard_normal((2, 3, 4, 32)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("alignment", [None, 64])
def test_gguf_roundtrip_keeps_everything(tmp_path, alignment):
    src = tmp_path / "ref.gguf"
    write_reference_gguf(src, alignment)
    out = tmp_path / "out.gguf"
    expect_ok(run_modelc("convert", src, out))
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(str(out))
    assert list(a.fields) == list(b.fields)
    for k in a.fields:
        fa, fb = a.fields[k], b.fields[k]
        assert fa.types == fb.types, k
        assert fa.contents() == fb.contents(), k
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    for ta, tb in zip(a.tensors, b.tensors):
        assert ta.tensor_type == tb.tensor_type and list(ta.shape) == list(tb.shape), ta.name
        assert np.asarray(ta.data).tobytes() == np.asarray(tb.data).tobytes(), ta.name
        assert tb.data_offset % (alignment or 32) == 0
    assert src.read_bytes() == out.read_bytes()  # the same layout as gguf-py's writer, byte for byte


def test_info_reads_gguf(tmp_path):
    src = tmp_path / "ref.gguf"
    write_reference_gguf(src)
    r = run_modelc("info", "--json", src)
    expect_ok(r)
    info = json.loads(r.stdout)
    assert info["format"] == "gguf"
    assert info["metadata"]["general.architecture"] == "llama"
    assert info["metadata"]["t.u64"] == str(2**63 + 5)
    assert info["bytes_per_dtype"]["q8_0"] == 4 * 64 // 32 * 34


# ---- Hugging Face → GGUF --------------------------------------------------------------------

def make_llama(folder, n_head=4, n_kv=2, hidden=64, layers=2, ffn=96, vocab=300, dtype=np.float16):
    folder.mkdir()
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": hidden, "num_hidden_layers": layers,
           "num_attention_heads": n_head, "num_key_value_heads": n_kv, "intermediate_size": ffn,
           "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "vocab_size": vocab, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}
    (folder / "config.json").write_text(json.dumps(cfg))
    head = hidden // n_head
    t = {"model.embed_tokens.weight": RNG.standard_normal((vocab, hidden)),
         "model.norm.weight": RNG.standard_normal(hidden),
         "lm_head.weight": RNG.standard_normal((vocab, hidden))}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = RNG.standard_normal((n_head * head, hidden))
        t[p + "self_attn.k_proj.weight"] = RNG.standard_normal((n_kv * head, hidden))
        t[p + "self_attn.v_proj.weight"] = RNG.standard_normal((n_kv * head, hidden))
        t[p + "self_attn.o_proj.weight"] = RNG.standard_normal((hidden, n_head * head))
        t[p + "mlp.gate_proj.weight"] = RNG.standard_normal((ffn, hidden))
        t[p + "mlp.up_proj.weight"] = RNG.standard_normal((ffn, hidden))
        t[p + "mlp.down_proj.weight"] = RNG.standard_normal((hidden, ffn))
        t[p + "input_layernorm.weight"] = RNG.standard_normal(hidden)
        t[p + "post_attention_layernorm.weight"] = RNG.standard_normal(hidden)
    t = {k: v.astype(dtype) for k, v in t.items()}
    # two shards with an index, as large checkpoints come
    names = sorted(t)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for fname, keys in shards.items():
        save_file({k: t[k] for k in keys}, str(folder / fname))
        weight_map.update({k: fname for k in keys})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    # a byte-fallback BPE tokenizer like Llama 2's
    vocab_map = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab_map[f"<0x{b:02X}>"] = 3 + b
    for i, w in enumerate(["▁the", "▁a", "in", "er"]):
        vocab_map[w] = 259 + i
    tok = {"model": {"type": "BPE", "vocab": vocab_map, "merges": ["i n", "e r"], "byte_fallback": True},
           "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
                            {"id": 1, "content": "<s>", "special": True},
                            {"id": 2, "content": "</s>", "special": True}],
           "decoder": {"type": "Sequence"}}
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": {"content": "</s>"}, "unk_token": "<unk>", "add_bos_token": True,
         "add_eos_token": False, "chat_template": "{{ messages }}"}))
    return cfg, t


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.mark.parametrize("quant", ["", "q8_0"])
def test_hf_llama_to_gguf(tmp_path, quant):
    cfg, t = make_llama(tmp_path / "llama")
    out = tmp_path / "llama.gguf"
    expect_ok(run_modelc("convert", tmp_path / "llama", out, *(["--quantize", quant] if quant else [])))
    r, ts = reader_tensors(str(out))
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"}
    for i in range(cfg["num_hidden_layers"]):
        expected |= {f"blk.{i}.{n}.weight" for n in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                                     "ffn_up", "ffn_down", "attn_norm", "ffn_norm")}
    assert set(ts) == expected
    assert list(ts)[0] == "token_embd.weight"
    kv = {k: field_value(r, k) for k in r.fields if not k.startswith("GGUF.")}
    assert kv["general.architecture"] == "llama"
    assert kv["llama.block_count"] == 2 and kv["llama.embedding_length"] == 64
    assert kv["llama.feed_forward_length"] == 96 and kv["llama.context_length"] == 2048
    assert kv["llama.attention.head_count"] == 4 and kv["llama.attention.head_count_kv"] == 2
    assert kv["llama.rope.dimension_count"] == 16
    assert kv["llama.rope.freq_base"] == pytest.approx(500000.0)
    assert kv["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    assert kv["tokenizer.ggml.model"] == "llama"
    assert len(kv["tokenizer.ggml.tokens"]) == 300
    assert kv["tokenizer.ggml.tokens"][:3] == ["<unk>", "<s>", "</s>"]
    assert kv["tokenizer.ggml.tokens"][299] == "[PAD299]"
    types = kv["tokenizer.ggml.token_type"]
    assert types[:4] == [3, 3, 3, 6] and types[259] == 1 and types[299] == 5
    assert kv["tokenizer.ggml.bos_token_id"] == 1 and kv["tokenizer.ggml.eos_token_id"] == 2
    assert kv["tokenizer.ggml.unknown_token_id"] == 0
    assert kv["tokenizer.ggml.add_bos_token"] is True and kv["tokenizer.ggml.add_eos_token"] is False
    assert kv["tokenizer.chat_template"] == "{{ messages }}"
    assert len(kv["tokenizer.ggml.scores"]) == 300

    def data(name, shape):
        x = ts[name]
        if x.tensor_type in (Q.F16, Q.F32):
            return np.asarray(x.data).reshape(shape).astype(np.float32)
        return gguf.quants.dequantize(np.asarray(x.data), x.tensor_type).reshape(shape)

    q = t["model.layers.1.self_attn.q_proj.weight"]
    k = t["model.layers.1.self_attn.k_proj.weight"]
    v = t["model.layers.1.self_attn.v_proj.weight"]
    assert [int(d) for d in ts["blk.1.attn_k.weight"].shape] == [64, 32]
    norm = ts["blk.1.attn_norm.weight"]
    assert norm.tensor_type == Q.F32
    np.testing.assert_array_equal(np.asarray(norm.data), t["model.layers.1.input_layernorm.weight"].astype(np.float32))
    if not quant:
        assert ts["blk.1.attn_q.weight"].tensor_type == Q.F16
        np.testing.assert_array_equal(data("blk.1.attn_q.weight", q.shape), permute(q, 4).astype(np.float32))
        np.testing.assert_array_equal(data("blk.1.attn_k.weight", k.shape), permute(k, 2).astype(np.float32))
        np.testing.assert_array_equal(data("blk.1.attn_v.weight", v.shape), v.astype(np.float32))
    else:
        assert ts["blk.1.attn_q.weight"].tensor_type == Q.Q8_0
        want = gguf.quants.quantize(permute(k, 2).astype(np.float32), Q.Q8_0)
        assert np.asarray(ts["blk.1.attn_k.weight"].data).tobytes() == want.tobytes()
        assert kv["general.quantization_version"] == 2


def test_hf_unsupported_architecture(tmp_path):
    d = tmp_path / "gpt2"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    save_file({"x": np.zeros(4, np.float32)}, str(d / "model.safetensors"))
    r = run_modelc("convert", d, tmp_path / "o.gguf")
    assert r.returncode == 5 and "GPT2LMHeadModel" in r.stderr
    assert not (tmp_path / "o.gguf").exists()


# ---- bad input --------------------------------------------------------------------------------

def test_bad_gguf_files(tmp_path):
    src = tmp_path / "ref.gguf"
    write_reference_gguf(src)
    good = src.read_bytes()
    cases = {
        "truncated.gguf": (good[: len(good) - 100], 4, "past the end"),
        "short_header.gguf": (good[:20], 4, "end of file"),
        "huge_count.gguf": (good[:8] + (2**60).to_bytes(8, "little") + good[16:], 4, "more than"),
        "long_string.gguf": (good[:24] + (2**40).to_bytes(8, "little") + good[32:], 4, "past the end"),
    }
    # unknown tensor type id: find tensor "a"'s info and patch its type field
    i = good.rindex(b"\x01\x00\x00\x00\x00\x00\x00\x00a\x02\x00\x00\x00") + 9
    nd = int.from_bytes(good[i:i + 4], "little")
    tpos = i + 4 + 8 * nd
    cases["bad_type.gguf"] = (good[:tpos] + (77).to_bytes(4, "little") + good[tpos + 4:], 5, "unknown ggml type id 77")
    for name, (data, code, msg) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out = tmp_path / (name + ".out.safetensors")
        r = run_modelc("convert", p, out)
        assert r.returncode == code, (name, r.stderr)
        assert msg in r.stderr and name in r.stderr, (name, r.stderr)
        assert not out.exists()
        assert p.read_bytes() == data


def test_hf_qwen2_to_gguf(tmp_path):
    """Qwen2: GGUF arch qwen2, no Q/K permutation, Q/K/V biases as F32, a byte-level BPE
    tokenizer (merges given as pairs) as tokenizer model gpt2."""
    d = tmp_path / "qwen"
    cfg, t = make_llama(d, dtype=np.float32)
    cfg["architectures"] = ["Qwen2ForCausalLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    extra = {f"model.layers.{i}.self_attn.{p}_proj.bias": RNG.standard_normal(n).astype(np.float16)
             for i in range(2) for p, n in (("q", 64), ("k", 32), ("v", 32))}
    save_file(extra, str(d / "model-00003-of-00003.safetensors"))
    index = json.loads((d / "model.safetensors.index.json").read_text())
    index["weight_map"].update({k: "model-00003-of-00003.safetensors" for k in extra})
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    vocab = {chr(0x21 + i): i for i in range(90)}
    tok = {"model": {"type": "BPE", "vocab": vocab, "merges": [["a", "b"], ["ab", "c"]], "byte_fallback": False},
           "added_tokens": [{"id": 300 - 1, "content": "<|endoftext|>", "special": True}]}
    (d / "tokenizer.json").write_text(json.dumps(tok))
    (d / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>"}))
    out = tmp_path / "qwen.gguf"
    expect_ok(run_modelc("convert", d, out))
    r, ts = reader_tensors(str(out))
    kv = {k: field_value(r, k) for k in r.fields if not k.startswith("GGUF.")}
    assert kv["general.architecture"] == "qwen2" and kv["qwen2.block_count"] == 2
    assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "qwen2"
    assert kv["tokenizer.ggml.merges"] == ["a b", "ab c"]
    assert kv["tokenizer.ggml.eos_token_id"] == 299
    types = kv["tokenizer.ggml.token_type"]
    assert types[0] == 1 and types[100] == 5 and types[299] == 3
    q = t["model.layers.1.self_attn.q_proj.weight"]
    np.testing.assert_array_equal(np.asarray(ts["blk.1.attn_q.weight"].data).reshape(q.shape), q)  # not permuted
    b = ts["blk.0.attn_k.bias"]
    assert b.tensor_type == Q.F32
    np.testing.assert_array_equal(np.asarray(b.data), extra["model.layers.0.self_attn.k_proj.bias"].astype(np.float32))


@pytest.mark.parametrize("quant,value", [("q4_1", 7e4), ("q5_1", -7e4), ("q8_0", 1e7), ("q4_0", 6e5), ("q4_k", 1e8),
                                         ("q6_k", 1e9)])
def test_overflowing_blocks_refused(tmp_path, quant, value):
    """A block whose f16 scale or minimum overflows: gguf-py's reference quantizer (for the
    types it has) writes inf there, which llama.cpp's ggml_validate_row_data refuses
    (llama-quantize stops with "quantized data validation failed"); modelc refuses with the
    tensor, block and row named, leaves nothing behind, and writes the values as bf16."""
    x = weights(4, 512)
    x[2, 256:288] = value + np.arange(32, dtype=np.float32)
    if quant in ("q4_1", "q5_1", "q8_0", "q4_0"):
        with np.errstate(over="ignore"):
            blocks = gguf.quants.quantize(x, Q[quant.upper()]).reshape(4, -1)
        per_block = {"q4_1": 20, "q5_1": 24, "q8_0": 34, "q4_0": 18}[quant]
        d_m = blocks[2, 8 * per_block:8 * per_block + 4].view(np.float16)
        assert not np.isfinite(d_m[:2 if quant.endswith("_1") else 1]).all()  # the oracle writes inf
    src = tmp_path / "in.safetensors"
    save_file({"blk.0.ffn_up.weight": x}, str(src))
    out = tmp_path / "o.gguf"
    r = run_modelc("convert", src, out, "--quantize", quant)
    assert r.returncode == 5, r.stderr
    assert 'tensor "blk.0.ffn_up.weight"' in r.stderr and "row 2" in r.stderr, r.stderr
    block = "block 40 " if quant in ("q4_1", "q5_1", "q8_0", "q4_0") else "block 5 "  # 16 blocks (2 super-blocks) a row
    assert block in r.stderr and "ggml_validate_row_data" in r.stderr and "bf16" in r.stderr, r.stderr
    assert not out.exists() and os.listdir(tmp_path) == ["in.safetensors"]
    expect_ok(run_modelc("convert", src, out, "--quantize", "bf16"))
    _, ts = reader_tensors(str(out))
    assert ts["blk.0.ffn_up.weight"].tensor_type == Q.BF16


# ---- parity with convert_hf_to_gguf.py's metadata ------------------------------------------------
#
# Expected values come from gguf-py 0.19.0 itself, the package llama.cpp's converter imports
# for them (gguf-py/gguf/metadata.py Metadata.load, vocab.py SpecialVocab, utility.py
# size_label), run on the same folder; and from llama.cpp's conversion/base.py at
# 2bbcf7fc93a460f04d5709756a48b2408443eecb (ModelBase.prepare_metadata: general.type "model"
# via set_type, general.name falling back to the folder name, size_label from the tensors'
# parameter count, general.quantization_version = GGML_QUANT_VERSION always;
# TextModel.set_gguf_parameters: {arch}.attention.key_length / value_length = head_dim when
# config.json has head_dim, general.file_type = the ftype; _set_vocab_llama_hf:
# tokenizer.ggml.pre "default" and SpecialVocab(n_vocab=len(tokens)); _set_vocab_gpt2:
# SpecialVocab(load_merges=True)) and conversion/llama.py at
# 7bca1fd9ca2a681b0182e16f24f832b7be1942af (LlamaModel.set_vocab: add_space_prefix).

def _params(folder):
    """The parameter count convert_hf_to_gguf.py passes to Metadata.load: every tensor it
    writes (rotary inv_freq dropped)."""
    from safetensors import safe_open
    n = 0
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(str(f), "np") as s:
            for k in s.keys():
                if not k.endswith("rotary_emb.inv_freq"):
                    n += int(np.prod(s.get_slice(k).get_shape()))
    return n


def _expected_general(folder):
    md = gguf.Metadata.load(None, folder, None, _params(folder))
    if md.name is None:
        md.name = folder.name
    if md.size_label is None:
        md.size_label = gguf.size_label(_params(folder), 0, 0, 0)
    want = {"general.type": "model", "general.name": md.name, "general.quantization_version": 2}
    for key, v in (("general.basename", md.basename), ("general.finetune", md.finetune),
                   ("general.version", md.version), ("general.organization", md.organization),
                   ("general.size_label", md.size_label)):
        if v is not None:
            want[key] = v
    return want


def _expected_special(folder, n_vocab, load_merges):
    sv = gguf.SpecialVocab(folder, load_merges=load_merges, n_vocab=n_vocab)
    names = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "sep": "seperator_token_id",
             "pad": "padding_token_id", "mask": "mask_token_id", "eot": "eot_token_id", "eom": "eom_token_id"}
    want = {f"tokenizer.ggml.{names[t]}": i for t, i in sv.special_token_ids.items() if t in names}
    want.update({f"tokenizer.ggml.add_{t}_token": v for t, v in sv.add_special_token.items() if t in ("bos", "eos", "sep")})
    if sv.chat_template:
        want["tokenizer.chat_template"] = sv.chat_template
    return want


def _kv(path):
    r = gguf.GGUFReader(str(path))
    return {k: field_value(r, k) for k in r.fields if not k.startswith("GGUF.")}


def _special_keys(kv):
    return {k: v for k, v in kv.items() if k == "tokenizer.chat_template" or (
        k.startswith("tokenizer.ggml.") and (k.endswith("_token_id") or k.startswith("tokenizer.ggml.add_")
                                            and k != "tokenizer.ggml.add_space_prefix"))}


@pytest.mark.parametrize("name_or_path,folder,quant,ftype", [
    ("meta-llama/Llama-2-7b-chat-hf", "llama", "", 1),        # F16 weights kept: MOSTLY_F16
    (None, "TinyLlama-1.1B-step-50K-v0.3", "q8_0", 7),          # name from the folder; MOSTLY_Q8_0
    ("/home/me/checkpoints/run-7", "Qwen2.5-0.5B-Instruct", "q4_k", 14),  # a path: ignored
    ("mistralai/Mistral-7B-Instruct-v0.2", "x", "f32", 0),      # ALL_F32
])
def test_hf_general_metadata_as_converter(tmp_path, name_or_path, folder, quant, ftype):
    d = tmp_path / folder
    cfg, _ = make_llama(d)
    if name_or_path is not None:
        cfg["_name_or_path"] = name_or_path
    cfg["head_dim"] = 16
    (d / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "o.gguf"
    expect_ok(run_modelc("convert", d, out, *(["--quantize", quant] if quant else [])))
    kv = _kv(out)
    want = _expected_general(d)
    got = {k: kv.get(k) for k in ("general.type", "general.name", "general.basename", "general.finetune", "general.version",
                                  "general.organization", "general.size_label", "general.quantization_version")}
    assert {k: v for k, v in got.items() if v is not None} == want
    assert kv["general.file_type"] == ftype
    assert kv["llama.attention.key_length"] == 16 and kv["llama.attention.value_length"] == 16
    assert kv["tokenizer.ggml.pre"] == "default"  # _set_vocab_llama_hf


def test_hf_general_metadata_known_values(tmp_path):
    """The values themselves, for one folder, as the converter writes them (so a change in
    gguf-py's heuristics shows up here, not silently in both)."""
    d = tmp_path / "llama"
    cfg, _ = make_llama(d, dtype=np.float32)
    cfg["_name_or_path"] = "meta-llama/Llama-2-7b-chat-hf"
    (d / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "o.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv = _kv(out)
    # embeddings and head 2·300·64, per layer q 64·64 + k, v 2·32·64 + o 64·64 + 3·96·64 + 2·64, and the norm
    assert _params(d) == 100_160
    assert (kv["general.name"], kv["general.basename"], kv["general.finetune"], kv["general.organization"]) == \
        ("Llama 2 7b Chat Hf", "Llama-2", "7b-chat-hf", "Meta Llama")
    assert kv["general.size_label"] == "100K" and "general.version" not in kv
    assert kv["general.type"] == "model" and kv["general.file_type"] == 0 and kv["general.quantization_version"] == 2
    assert "llama.attention.key_length" not in kv  # no head_dim in config.json


def test_hf_special_tokens_as_special_vocab(tmp_path):
    """Special token ids and add_*_token flags, add_sep_token included, as gguf-py's
    SpecialVocab reads them: a Llama-2 style vocabulary whose tokenizer.json post_processor
    adds BOS, and a byte-level BPE one whose TemplateProcessing puts a separator between
    the pair's sequences ([CLS] A [SEP] B) and whose merges hold spaces."""
    d = tmp_path / "llama"
    make_llama(d)
    tok = json.loads((d / "tokenizer.json").read_text())
    tok["post_processor"] = {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}]}
    (d / "tokenizer.json").write_text(json.dumps(tok))
    tc = json.loads((d / "tokenizer_config.json").read_text())
    tc["pad_token"] = "</s>"
    tc["add_prefix_space"] = False
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    out = tmp_path / "l.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv = _kv(out)
    want = _expected_special(d, n_vocab=300, load_merges=False)
    assert _special_keys(kv) == want
    assert want["tokenizer.ggml.padding_token_id"] == 2 and want["tokenizer.ggml.add_bos_token"] is True
    assert kv["tokenizer.ggml.add_space_prefix"] is False

    b = tmp_path / "bpe"
    cfg, _ = make_llama(b, vocab=100)
    del cfg["bos_token_id"]
    cfg["eos_token_id"] = [98, 99]  # a list: SpecialVocab takes only ints
    cfg["pad_token_id"] = 0
    (b / "config.json").write_text(json.dumps(cfg))
    vocab = {chr(0x41 + i): i for i in range(26)}
    vocab.update({"a b": 26, "[CLS]": 97, "[SEP]": 98, "[MASK]": 99})
    sep = {"SpecialToken": {"id": "[SEP]", "type_id": 0}}
    tok = {"model": {"type": "BPE", "vocab": vocab, "merges": [["A", "B"], ["a", "b c"]], "byte_fallback": False},
           "added_tokens": [{"id": 97, "content": "[CLS]", "special": True}, {"id": 98, "content": "[SEP]", "special": True},
                            {"id": 99, "content": "[MASK]", "special": True}],
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                              "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, sep,
                                       {"Sequence": {"id": "B", "type_id": 1}}]}}
    (b / "tokenizer.json").write_text(json.dumps(tok))
    (b / "tokenizer_config.json").write_text(json.dumps(
        {"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", "chat_template": ""}))
    out = tmp_path / "b.gguf"
    expect_ok(run_modelc("convert", b, out))
    kv = _kv(out)
    want = _expected_special(b, n_vocab=None, load_merges=True)
    assert _special_keys(kv) == want
    assert want["tokenizer.ggml.add_sep_token"] is True and want["tokenizer.ggml.seperator_token_id"] == 98
    assert want["tokenizer.ggml.bos_token_id"] == 97 and want["tokenizer.ggml.mask_token_id"] == 99
    assert kv["tokenizer.ggml.pre"] == "default"  # no known pre-tokenizer: llama.cpp's default
    assert kv["tokenizer.ggml.merges"] == gguf.SpecialVocab(b, load_merges=True).merges == ["A B", "a b\u0120c"]

    # BERT's own template, [CLS] A [SEP] / [CLS] A [SEP] B [SEP]: SpecialVocab takes the
    # trailing [SEP] as EOS (added) and then does not add a separator
    tok["post_processor"]["single"].append(sep)
    tok["post_processor"]["pair"].append(sep)
    (b / "tokenizer.json").write_text(json.dumps(tok))
    expect_ok(run_modelc("convert", b, out))
    want = _expected_special(b, n_vocab=None, load_merges=True)
    assert _special_keys(_kv(out)) == want
    assert want["tokenizer.ggml.add_sep_token"] is False and want["tokenizer.ggml.add_eos_token"] is True
    assert want["tokenizer.ggml.eos_token_id"] == 98


@pytest.mark.parametrize("dtype,want,ftype", [(np.float32, Q.F16, 1), ("bf16", Q.BF16, 32)])
def test_hf_quantize_auto(tmp_path, dtype, want, ftype):
    """--quantize auto is convert_hf_to_gguf.py's default --outtype auto (ModelBase.__init__,
    LlamaFileType.GUESSED, conversion/base.py at 2bbcf7fc): F16 matrices unless the first
    16-bit matrix is BF16; 1-D tensors F32. Without --quantize an F32 checkpoint stays F32,
    and --help says so."""
    d = tmp_path / "m"
    if dtype == "bf16":
        make_llama(d, dtype=np.float32)
        # rewrite the shards as bf16 (safetensors' numpy API has no bfloat16): the top 16 bits
        for f in d.glob("*.safetensors"):
            t = load_file(str(f))
            raw = {k: v.view(np.uint32) >> 16 for k, v in t.items()}
            header = {k: {"dtype": "BF16", "shape": list(v.shape)} for k, v in raw.items()}
            off, blobs = 0, []
            for k in sorted(raw):
                b = raw[k].astype(np.uint16).tobytes()
                header[k]["data_offsets"] = [off, off + len(b)]
                off += len(b)
                blobs.append(b)
            h = json.dumps(header).encode()
            h += b" " * (-len(h) % 8)
            f.write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))
    else:
        make_llama(d, dtype=dtype)
    out = tmp_path / "auto.gguf"
    expect_ok(run_modelc("convert", d, out, "--quantize", "auto"))
    r, ts = reader_tensors(str(out))
    assert ts["blk.0.attn_q.weight"].tensor_type == want and ts["token_embd.weight"].tensor_type == want
    assert ts["blk.0.attn_norm.weight"].tensor_type == Q.F32
    assert field_value(r, "general.file_type") == ftype
    if dtype is np.float32:
        kept = tmp_path / "kept.gguf"
        expect_ok(run_modelc("convert", d, kept))
        r, ts = reader_tensors(str(kept))
        assert ts["blk.0.attn_q.weight"].tensor_type == Q.F32 and field_value(r, "general.file_type") == 0
        h = run_modelc("convert", "--help")
        assert "auto" in h.stdout + h.stderr and "F32 checkpoint stays F32" in h.stdout + h.stderr

