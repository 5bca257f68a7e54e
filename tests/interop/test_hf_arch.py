"""HF → GGUF for the architectures beyond Llama/Mistral/Qwen2, checked against what
llama.cpp's convert_hf_to_gguf.py writes for the same tiny random checkpoint.

Where the expected values come from (facts read, not code copied):
- ggml-org/llama.cpp, where the converter's model classes now live in conversion/*.py:
  conversion/bert.py at 7bca1fd9ca2a681b0182e16f24f832b7be1942af (BertModel:
  set_gguf_parameters, set_vocab's phantom-space tokens, modify_tensors' dropped tensors),
  conversion/gemma.py at 2bbcf7fc93a460f04d5709756a48b2408443eecb (GemmaModel,
  Gemma2Model), conversion/phi.py at 7bca1fd9 (Phi3MiniModel, generate_extra_tensors),
  conversion/llama.py at 7bca1fd9 (LlamaModel.set_vocab, generate_extra_tensors' rope_freqs).
- The base classes as in convert_hf_to_gguf.py vendored in MosRat/gex-model-exporter at
  f387ab514e93e2f3fdf768b2be99f1a70e5f6ea1 (llama.cpp of July 2025; the same BERT, Gemma,
  Phi-3 and Llama classes as above): TextModel.set_gguf_parameters, get_vocab_base,
  does_token_look_special, _create_vocab_sentencepiece, _try_set_pooling_type,
  ModelBase.prepare_tensors (which tensors stay F32).
- gguf-py as installed (gguf 0.19.0): the tensor names come from its own TensorNameMap,
  the special-token keys from its own SpecialVocab, both run here on the checkpoint.
- convert_hf_to_gguf.py stops on a BPE/WordPiece vocabulary whose tokenizer-run hash it
  does not know (a tiny random one); modelc writes tokenizer.ggml.pre "default" there.
"""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import save_file

from harness import expect_ok, run_modelc

RNG = np.random.default_rng(77)


def read_gguf(path):
    r = gguf.GGUFReader(str(path))
    kv = {k: r.fields[k].contents() for k in r.fields if not k.startswith("GGUF.")}
    return kv, {t.name: t for t in r.tensors}


def special_vocab_kv(folder, n_vocab):
    """The keys gguf-py's SpecialVocab (what convert_hf_to_gguf.py calls) writes."""
    w = gguf.GGUFWriter(path=None, arch="x")
    gguf.SpecialVocab(folder, n_vocab=n_vocab).add_to_gguf(w, quiet=True)
    return {k: v.value for k, v in w.kv_data[0].items() if k != "general.architecture"}


def expected_type(gguf_name, src_dtype, quant=None):
    """ModelBase.prepare_tensors with the default output type (auto: F16 from an F16
    checkpoint) or --outtype q8_0: 1-D tensors, norms, non-weights, position and
    token-type embeddings F32."""
    if (gguf_name.endswith("_norm.weight") or not gguf_name.endswith(".weight")
            or gguf_name in ("position_embd.weight", "token_types.weight")):
        return Q.F32
    if quant:
        return quant
    return Q.F16 if src_dtype == np.float16 else Q.F32


def check_tensors(ts, hf, arch, n_layers, dropped=(), quant=None):
    """Every kept HF tensor under gguf-py's name for arch, with its shape (GGUF order),
    type and values; nothing else in the file."""
    tmap = gguf.get_tensor_name_map(arch, n_layers)
    want = {}
    for name, x in hf.items():
        if name in dropped:
            continue
        g = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        assert g is not None, name
        want[g] = x
    assert set(ts) == set(want)
    for g, x in want.items():
        t = ts[g]
        assert [int(d) for d in t.shape] == list(reversed(x.shape)), g
        want_type = expected_type(g if x.ndim > 1 else "1d", x.dtype, quant)
        assert t.tensor_type == want_type, g
        if want_type == quant:
            want = gguf.quants.quantize(x.astype(np.float32), quant)
            assert np.asarray(t.data).tobytes() == want.tobytes(), g
            continue
        got = np.asarray(t.data).reshape(x.shape)
        np.testing.assert_array_equal(got.astype(np.float32), x.astype(np.float32), err_msg=g)
    return want


# ---- BERT -------------------------------------------------------------------------------------

WORDS = ["the", "a", "hello", "world", "##s", "##ing", "un", "##able", ".", ","]


def make_bert(folder, dtype=np.float16, hidden=32, layers=2, heads=4, ffn=64, n_pos=40):
    folder.mkdir()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    n_vocab = len(vocab) + 3  # config vocab_size past the vocabulary: [PADn] tokens
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": hidden,
           "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": ffn,
           "max_position_embeddings": n_pos, "type_vocab_size": 2, "vocab_size": n_vocab,
           "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_act": "gelu"}
    (folder / "config.json").write_text(json.dumps(cfg))
    t = {"embeddings.word_embeddings.weight": (n_vocab, hidden),
         "embeddings.position_embeddings.weight": (n_pos, hidden),
         "embeddings.token_type_embeddings.weight": (2, hidden),
         "embeddings.LayerNorm.weight": (hidden,), "embeddings.LayerNorm.bias": (hidden,),
         "pooler.dense.weight": (hidden, hidden), "pooler.dense.bias": (hidden,)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + n + ".weight"], t[p + n + ".bias"] = (hidden, hidden), (hidden,)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = (ffn, hidden), (ffn,)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = (hidden, ffn), (hidden,)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"], t[p + n + ".bias"] = (hidden,), (hidden,)
    t = {k: RNG.standard_normal(s).astype(dtype) for k, s in t.items()}
    ids = np.arange(n_pos, dtype=np.int64)[None, :]
    save_file({**t, "embeddings.position_ids": ids}, str(folder / "model.safetensors"))
    tok = {"version": "1.0",
           "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for i, s in enumerate(specials)],
           "normalizer": {"type": "BertNormalizer", "lowercase": True},
           "pre_tokenizer": {"type": "BertPreTokenizer"},
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                         {"Sequence": {"id": "A", "type_id": 0}},
                                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                              "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                       {"Sequence": {"id": "A", "type_id": 0}},
                                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                                       {"Sequence": {"id": "B", "type_id": 1}},
                                       {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                              "special_tokens": {}},
           "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                     "max_input_chars_per_word": 100, "vocab": vocab}}
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
         "mask_token": "[MASK]", "do_lower_case": True, "model_max_length": 512,
         "tokenizer_class": "BertTokenizer"}))
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
         {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
         "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}))
    return cfg, t, vocab


def phantom(tok):
    """BertModel.set_vocab's phantom-space spelling."""
    if tok.startswith("[") and tok.endswith("]"):
        return tok
    if tok.startswith("##"):
        return tok[2:]
    return "\u2581" + tok


@pytest.mark.parametrize("quant", [None, Q.Q8_0], ids=["f16", "q8_0"])
def test_hf_bert_to_gguf(tmp_path, quant):
    cfg, t, vocab = make_bert(tmp_path / "minilm")
    out = tmp_path / "minilm.gguf"
    expect_ok(run_modelc("convert", tmp_path / "minilm", out, *(["--quantize", "q8_0"] if quant else [])))
    kv, ts = read_gguf(out)

    check_tensors(ts, t, gguf.MODEL_ARCH.BERT, cfg["num_hidden_layers"],
                  dropped=("pooler.dense.weight", "pooler.dense.bias"), quant=quant)

    # the token list: the tokenizer.json vocabulary in id order, phantom-spelled,
    # [PADn] for the ids up to vocab_size it lacks
    by_id = {i: s for s, i in vocab.items()}
    n = cfg["vocab_size"]
    want_tokens = [phantom(by_id.get(i, f"[PAD{i}]")) for i in range(n)]
    assert kv["tokenizer.ggml.tokens"] == want_tokens
    assert kv["tokenizer.ggml.tokens"][:7] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u2581the", "\u2581a"]
    assert kv["tokenizer.ggml.tokens"][9] == "s"  # "##s"
    # control for the special added tokens, normal for the rest, unused for [PADn]
    assert kv["tokenizer.ggml.token_type"] == [3] * 5 + [1] * len(WORDS) + [5] * 3

    want = {
        "general.architecture": "bert",
        "bert.block_count": 2, "bert.context_length": 40, "bert.embedding_length": 32,
        "bert.feed_forward_length": 64, "bert.attention.head_count": 4,
        "bert.attention.layer_norm_epsilon": pytest.approx(1e-12),
        "bert.attention.causal": False,
        "bert.pooling_type": int(gguf.PoolingType.MEAN),
        "tokenizer.ggml.token_type_count": 2,
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.tokens": want_tokens,
        "tokenizer.ggml.token_type": kv["tokenizer.ggml.token_type"],
        # named by hashing a tokenizer run in llama.cpp, which a tiny vocabulary matches
        # nowhere; unread for WordPiece vocabularies
        "tokenizer.ggml.pre": "default",
    }
    want.update(special_vocab_kv(tmp_path / "minilm", n))
    assert want["tokenizer.ggml.seperator_token_id"] == 3 and want["tokenizer.ggml.add_bos_token"] is True
    # general.* beyond the architecture (name, file type, size label…) follow the naming
    # rules tested in test_gguf.py; every other key must be exactly the converter's
    got = {k: v for k, v in kv.items() if not k.startswith("general.") or k == "general.architecture"}
    assert got == want
    assert kv["general.type"] == "model" and kv["general.quantization_version"] == 2, kv
    assert "general.name" in kv and "general.size_label" in kv and "general.file_type" in kv, kv


def test_hf_bert_prefixed_gamma_beta(tmp_path):
    """BertForMaskedLM-style names: "bert." prefix, LayerNorm gamma/beta, the MLM head dropped."""
    d = tmp_path / "mlm"
    cfg, t, _ = make_bert(d, dtype=np.float32)
    cfg["architectures"] = ["BertForMaskedLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    renamed = {}
    for k, v in t.items():
        k = "bert." + k
        if "LayerNorm" in k:
            k = k.replace(".weight", ".gamma").replace(".bias", ".beta")
        renamed[k] = v
    renamed["cls.predictions.bias"] = np.zeros(cfg["vocab_size"], np.float32)
    renamed["cls.predictions.transform.dense.weight"] = np.zeros((32, 32), np.float32)
    save_file(renamed, str(d / "model.safetensors"))
    # special tokens given as AddedToken objects, no sep entry: gguf-py's SpecialVocab
    # compares them as given (an object bos is present, so cls does not replace it)
    tc = json.loads((d / "tokenizer_config.json").read_text())
    del tc["sep_token"]
    tc["unk_token"] = {"content": "[UNK]", "special": True}
    tc["bos_token"] = {"content": "[MASK]", "special": True}
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    out = tmp_path / "mlm.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv, ts = read_gguf(out)
    assert kv["general.architecture"] == "bert"
    special = special_vocab_kv(d, cfg["vocab_size"])
    assert special["tokenizer.ggml.unknown_token_id"] == 1 and special["tokenizer.ggml.bos_token_id"] == 4
    ours = {k: v for k, v in kv.items() if k.endswith("_token_id") or k.startswith("tokenizer.ggml.add_")}
    assert ours == special
    check_tensors(ts, t, gguf.MODEL_ARCH.BERT, 2, dropped=("pooler.dense.weight", "pooler.dense.bias"))


def test_hf_refused_architecture_lists_supported(tmp_path):
    d = tmp_path / "gpt2"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    save_file({"x": np.zeros(4, np.float32)}, str(d / "model.safetensors"))
    r = run_modelc("convert", d, tmp_path / "o.gguf")
    assert r.returncode == 5 and "GPT2LMHeadModel" in r.stderr
    for a in ("BertModel", "LlamaForCausalLM", "Qwen2ForCausalLM"):
        assert a in r.stderr
    assert not (tmp_path / "o.gguf").exists()


# ---- SentencePiece tokenizer.model --------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num, wire, payload):
    return _varint(num << 3 | wire) + payload


def spm_model_bytes(pieces):
    """A sentencepiece ModelProto: field 1 the pieces {1: text, 2: score (float), 3: type};
    a trainer_spec (field 2, model_type 1 = unigram) and a normalizer_spec (field 3) beside
    them, as real files have, which the reader must skip."""
    out = b""
    for text, score, typ in pieces:
        t = text.encode()
        msg = _field(1, 2, _varint(len(t)) + t) + _field(2, 5, np.float32(score).tobytes())
        if typ != 1:  # NORMAL is the default and left out, as sentencepiece writes it
            msg += _field(3, 0, _varint(typ))
        out += _field(1, 2, _varint(len(msg)) + msg)
    trainer = _field(3, 0, _varint(1)) + _field(35, 0, _varint(1))  # unigram, byte_fallback
    normalizer = _field(1, 2, _varint(4) + b"nmt_") + _field(3, 0, _varint(1))
    return out + _field(2, 2, _varint(len(trainer)) + trainer) + _field(3, 2, _varint(len(normalizer)) + normalizer)


GEMMA_PIECES = [("<pad>", 0.0, 3), ("<eos>", 0.0, 3), ("<bos>", 0.0, 3), ("<unk>", 0.0, 2),
                ("<start_of_turn>", 0.0, 4), ("<unused0>", 0.0, 5),
                ("\u2581the", -1.5, 1), ("\u2581a", -2.25, 1), ("ing", -3.0, 1), ("s", -4.125, 1)]
GEMMA_PIECES += [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]  # byte fallback needs all 256


def expected_spm_vocab(pieces, vocab_size, added_decoder):
    """_create_vocab_sentencepiece on this piece table: SentencePieceProcessor reports
    unknown, control, unused and byte; user-defined pieces are normal."""
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores = [-10000.0] * vocab_size
    types = [5] * vocab_size
    for i, (text, score, typ) in enumerate(pieces):
        tokens[i], scores[i], types[i] = text, score, (1 if typ == 4 else typ)
    for k, d in added_decoder.items():
        i = int(k)
        special = d.get("special") or d["content"].startswith("<unused")
        # user-defined tokens are pre-normalized: U+2581 becomes a space
        tokens[i] = d["content"] if special else d["content"].replace("\u2581", " ")
        scores[i], types[i] = -1000.0, 3 if special else 4
    return tokens, scores, types


def test_spm_bytes_match_sentencepiece(tmp_path):
    """Where the sentencepiece package is installed, the hand-built tokenizer.model reads
    there as the piece table says (the table the GGUF expectations are derived from)."""
    spm = pytest.importorskip("sentencepiece")
    p = tmp_path / "tokenizer.model"
    p.write_bytes(spm_model_bytes(GEMMA_PIECES))
    sp = spm.SentencePieceProcessor()
    sp.LoadFromFile(str(p))
    assert sp.vocab_size() == len(GEMMA_PIECES)
    for i, (text, score, typ) in enumerate(GEMMA_PIECES):
        assert sp.IdToPiece(i) == text and sp.GetScore(i) == pytest.approx(score)
        assert (sp.IsUnknown(i), sp.IsControl(i), sp.IsUnused(i), sp.IsByte(i)) == (typ == 2, typ == 3, typ == 5, typ == 6)


# ---- Gemma / Gemma 2 ------------------------------------------------------------------------------

def make_gemma(folder, v2, dtype=np.float16, hidden=32, layers=2, heads=4, kv=2, head_dim=16, ffn=64):
    folder.mkdir()
    n_vocab = len(GEMMA_PIECES) + 2
    cfg = {"architectures": ["Gemma2ForCausalLM" if v2 else "GemmaForCausalLM"],
           "model_type": "gemma2" if v2 else "gemma", "hidden_size": hidden, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": head_dim,
           "intermediate_size": ffn, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "vocab_size": n_vocab, "bos_token_id": 2, "eos_token_id": 1,
           "pad_token_id": 0, "hidden_activation": "gelu_pytorch_tanh"}
    if v2:
        cfg.update({"attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "sliding_window": 64,
                    "query_pre_attn_scalar": 16})
    (folder / "config.json").write_text(json.dumps(cfg))
    shapes = {"model.embed_tokens.weight": (n_vocab, hidden), "model.norm.weight": (hidden,)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.q_proj.weight": (heads * head_dim, hidden),
                       p + "self_attn.k_proj.weight": (kv * head_dim, hidden),
                       p + "self_attn.v_proj.weight": (kv * head_dim, hidden),
                       p + "self_attn.o_proj.weight": (hidden, heads * head_dim),
                       p + "mlp.gate_proj.weight": (ffn, hidden), p + "mlp.up_proj.weight": (ffn, hidden),
                       p + "mlp.down_proj.weight": (hidden, ffn),
                       p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,)})
        if v2:
            shapes[p + "pre_feedforward_layernorm.weight"] = (hidden,)
            shapes[p + "post_feedforward_layernorm.weight"] = (hidden,)
    t = {k: RNG.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    save_file({**t, "lm_head.weight": t["model.embed_tokens.weight"]}, str(folder / "model.safetensors"))
    (folder / "tokenizer.model").write_bytes(spm_model_bytes(GEMMA_PIECES))
    decoder = {"0": {"content": "<pad>", "special": True}, "4": {"content": "<start_of_turn>", "special": True},
               "7": {"content": "\u2581a", "special": False}}
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
         "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder,
         "chat_template": "{{ bos_token }}{{ messages }}"}))
    return cfg, t, decoder


@pytest.mark.parametrize("v2", [False, True], ids=["gemma", "gemma2"])
def test_hf_gemma_to_gguf(tmp_path, v2):
    d = tmp_path / "gemma"
    cfg, t, decoder = make_gemma(d, v2)
    out = tmp_path / "gemma.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv, ts = read_gguf(out)
    arch = gguf.MODEL_ARCH.GEMMA2 if v2 else gguf.MODEL_ARCH.GEMMA
    name = "gemma2" if v2 else "gemma"

    # names, shapes and types from gguf-py; lm_head dropped (its TensorNameMap has no
    # output for Gemma); norm weights stored plus one, added in half precision for a
    # half checkpoint as torch does, then F32
    norms = {k for k in t if k.endswith("norm.weight")}
    plain = {k: v for k, v in t.items() if k not in norms}
    tmap = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    want_names = {tmap.get_name(k, try_suffixes=(".weight",)) for k in t}
    assert set(ts) == want_names
    check_tensors({tmap.get_name(k, try_suffixes=(".weight",)): ts[tmap.get_name(k, try_suffixes=(".weight",))]
                   for k in plain}, plain, arch, cfg["num_hidden_layers"])
    for k in norms:
        g = ts[tmap.get_name(k, try_suffixes=(".weight",))]
        assert g.tensor_type == Q.F32
        want = (t[k].astype(np.float32) + 1).astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(g.data), want, err_msg=k)
    # a Q weight is not permuted (GemmaModel.modify_tensors has no permute)
    q = t["model.layers.0.self_attn.q_proj.weight"]
    np.testing.assert_array_equal(np.asarray(ts["blk.0.attn_q.weight"].data).reshape(q.shape), q)

    tokens, scores, types = expected_spm_vocab(GEMMA_PIECES, cfg["vocab_size"], decoder)
    assert tokens[4] == "<start_of_turn>" and types[4] == 3 and types[5] == 5 and types[6] == 1
    assert tokens[7] == " a" and types[7] == 4 and types[10] == 6 and tokens[-1] == f"[PAD{len(tokens) - 1}]"
    # the converter's GGUFWriter, given what GemmaModel/Gemma2Model.set_vocab give it
    w = gguf.GGUFWriter(path=None, arch=name)
    gguf.SpecialVocab(d, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    if not v2:
        sv = gguf.SpecialVocab(d, load_merges=False, special_token_types=["prefix", "suffix", "middle", "fsep", "eot"])
        for typ, i in (("prefix", 67), ("suffix", 69), ("middle", 68), ("fsep", 70), ("eot", 107)):
            sv._set_special_token(typ, i)
        sv.chat_template = None
        sv.add_to_gguf(w, quiet=True)
    w.add_add_space_prefix(False)
    special = {k: v.value for k, v in w.kv_data[0].items() if k != "general.architecture"}

    p = name + "."
    want = {
        "general.architecture": name,
        p + "context_length": 256, p + "embedding_length": 32, p + "block_count": 2,
        p + "feed_forward_length": 64, p + "attention.head_count": 4, p + "attention.head_count_kv": 2,
        p + "attention.layer_norm_rms_epsilon": pytest.approx(1e-6),
        p + "attention.key_length": 16, p + "attention.value_length": 16,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": pytest.approx(scores),
        "tokenizer.ggml.token_type": types,
        **special,
    }
    if v2:
        want.update({p + "attn_logit_softcapping": pytest.approx(50.0),
                     p + "final_logit_softcapping": pytest.approx(30.0), p + "attention.sliding_window": 64})
    else:
        assert special["tokenizer.ggml.eot_token_id"] == 107
    assert special["tokenizer.ggml.bos_token_id"] == 2 and special["tokenizer.chat_template"]
    got = {k: v for k, v in kv.items() if not k.startswith("general.") or k == "general.architecture"}
    assert got == want


# ---- Phi-3 -----------------------------------------------------------------------------------------

PHI3_PIECES = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
PHI3_PIECES += [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]
PHI3_PIECES += [("\u2581the", -1.0, 1), ("\u2581a", -2.0, 1), ("er", -3.5, 1)]


@pytest.mark.parametrize("long", [False, True], ids=["4k", "128k"])
def test_hf_phi3_to_gguf(tmp_path, long):
    d = tmp_path / "phi3"
    d.mkdir()
    hidden, layers, heads, ffn = 32, 2, 4, 64
    n_pieces = len(PHI3_PIECES)
    n_vocab = n_pieces + 3
    cfg = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": hidden,
           "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": heads,
           "intermediate_size": ffn, "max_position_embeddings": 512 if long else 128,
           "original_max_position_embeddings": 128, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
           "sliding_window": 64, "vocab_size": n_vocab, "bos_token_id": 1, "eos_token_id": n_pieces,
           "pad_token_id": n_pieces, "rope_scaling": None}
    rope_dims = hidden // heads
    if long:
        cfg["rope_scaling"] = {"type": "longrope", "long_factor": [1.0 + i for i in range(rope_dims // 2)],
                               "short_factor": [1.0 + i / 8 for i in range(rope_dims // 2)]}
    (d / "config.json").write_text(json.dumps(cfg))
    shapes = {"model.embed_tokens.weight": (n_vocab, hidden), "model.norm.weight": (hidden,),
              "lm_head.weight": (n_vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.qkv_proj.weight": (3 * hidden, hidden), p + "self_attn.o_proj.weight": (hidden, hidden),
                       p + "mlp.gate_up_proj.weight": (2 * ffn, hidden), p + "mlp.down_proj.weight": (hidden, ffn),
                       p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,)})
    t = {k: RNG.standard_normal(s).astype(np.float16) for k, s in shapes.items()}
    save_file(t, str(d / "model.safetensors"))
    (d / "tokenizer.model").write_bytes(spm_model_bytes(PHI3_PIECES))
    added = [{"id": n_pieces, "content": "<|endoftext|>", "special": True},
             {"id": n_pieces + 1, "content": "<|user|>", "special": True}]
    (d / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {}, "merges": []}, "added_tokens": added}))
    decoder = {str(n_pieces + 2): {"content": "<|placeholder\u25811|>", "special": False}}
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>", "pad_token": "<|endoftext|>",
         "add_bos_token": False, "add_eos_token": False, "added_tokens_decoder": decoder,
         "chat_template": "{% for m in messages %}{{ m }}{% endfor %}", "tokenizer_class": "LlamaTokenizer"}))
    out = tmp_path / "phi3.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv, ts = read_gguf(out)

    extra = {}
    if long:
        extra = {"rope_factors_long.weight": np.array(cfg["rope_scaling"]["long_factor"], np.float32),
                 "rope_factors_short.weight": np.array(cfg["rope_scaling"]["short_factor"], np.float32)}
        for k, v in extra.items():
            assert ts[k].tensor_type == Q.F32 and [int(x) for x in ts[k].shape] == [rope_dims // 2]
            np.testing.assert_array_equal(np.asarray(ts[k].data), v)
        assert list(ts)[:2] == list(extra)  # generate_extra_tensors comes first
    check_tensors({k: v for k, v in ts.items() if k not in extra}, t, gguf.MODEL_ARCH.PHI3, layers)
    assert "blk.0.attn_qkv.weight" in ts and [int(x) for x in ts["blk.0.ffn_up.weight"].shape] == [hidden, 2 * ffn]

    # Phi3MiniModel.set_vocab: pieces, then added_tokens_decoder and tokenizer.json's
    # added tokens as user-defined/control by their special flag, spelled as given
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-10000.0] * n_vocab
    types = [5] * n_vocab
    for i, (text, score, typ) in enumerate(PHI3_PIECES):
        tokens[i], scores[i], types[i] = text, score, (1 if typ == 4 else typ)
    for k, v in decoder.items():
        tokens[int(k)], scores[int(k)], types[int(k)] = v["content"], -1000.0, 3 if v["special"] else 4
    for a in added:
        tokens[a["id"]], scores[a["id"]], types[a["id"]] = a["content"], -1000.0, 3 if a["special"] else 4
    assert tokens[-1] == "<|placeholder\u25811|>" and types[-1] == 4 and types[-3] == 3

    w = gguf.GGUFWriter(path=None, arch="phi3")
    gguf.SpecialVocab(d, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    special = {k: v.value for k, v in w.kv_data[0].items() if k != "general.architecture"}
    assert special["tokenizer.ggml.eos_token_id"] == n_pieces

    want = {
        "general.architecture": "phi3",
        "phi3.context_length": cfg["max_position_embeddings"], "phi3.rope.scaling.original_context_length": 128,
        "phi3.embedding_length": 32, "phi3.feed_forward_length": 64, "phi3.block_count": 2,
        "phi3.attention.head_count": 4, "phi3.attention.head_count_kv": 4,
        "phi3.attention.layer_norm_rms_epsilon": pytest.approx(1e-5),
        "phi3.rope.dimension_count": rope_dims, "phi3.rope.freq_base": pytest.approx(10000.0),
        "phi3.attention.sliding_window": 64,
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": pytest.approx(scores),
        "tokenizer.ggml.token_type": types,
        **special,
    }
    if long:
        # longrope, scale 512/128 = 4 > 1: sqrt(1 + ln(scale) / ln(original context))
        import math
        want["phi3.rope.scaling.attn_factor"] = pytest.approx(math.sqrt(1 + math.log(4) / math.log(128)), rel=1e-6)
    got = {k: v for k, v in kv.items() if not k.startswith("general.") or k == "general.architecture"}
    assert got == want


# ---- Llama 3.1 rope_freqs ------------------------------------------------------------------------

def llama3_rope_factors(theta, dim, factor, low, high, old_ctx):
    """LlamaModel.generate_extra_tensors, in float32 as its torch computes it."""
    freqs = np.float32(1.0) / (np.float32(theta) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    out = []
    for f in freqs:
        wave = np.float32(2 * np.pi) / f
        if wave < old_ctx / high:
            out.append(1.0)
        elif wave > old_ctx / low:
            out.append(factor)
        else:
            s = (np.float32(old_ctx) / wave - np.float32(low)) / np.float32(high - low)
            out.append(np.float32(1) / ((np.float32(1) - s) / np.float32(factor) + s))
    return np.array(out, np.float32)


def test_hf_llama3_rope_freqs(tmp_path):
    from test_gguf import make_llama
    d = tmp_path / "llama31"
    cfg, t = make_llama(d)
    cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    (d / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "llama31.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv, ts = read_gguf(out)
    dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    want = llama3_rope_factors(cfg["rope_theta"], dim, 8.0, 1.0, 4.0, 8192)
    # all three branches: kept, scaled by factor, smoothed in between
    assert want[0] == 1.0 and want[-1] == 8.0 and any(1.0 < w < 8.0 for w in want)
    rf = ts["rope_freqs.weight"]
    assert rf.tensor_type == Q.F32 and [int(x) for x in rf.shape] == [dim // 2]
    # equal here; 1e-6 allows for torch's float32 pow rounding differently from numpy's
    np.testing.assert_allclose(np.asarray(rf.data), want, rtol=1e-6)
    assert list(ts)[0] == "rope_freqs.weight"  # generate_extra_tensors comes first
    assert len(ts) == 3 + 9 * cfg["num_hidden_layers"] + 1
    assert kv["llama.rope.dimension_count"] == dim

    # without llama3 rope scaling there is no rope_freqs tensor
    cfg["rope_scaling"] = {"type": "linear", "factor": 2.0}
    (d / "config.json").write_text(json.dumps(cfg))
    expect_ok(run_modelc("convert", d, tmp_path / "linear.gguf"))
    _, ts = read_gguf(tmp_path / "linear.gguf")
    assert "rope_freqs.weight" not in ts


# ---- Llama / Mistral with a SentencePiece tokenizer.model ------------------------------------------

def test_hf_llama_sentencepiece_vocab(tmp_path):
    """LlamaModel.set_vocab reads tokenizer.model first when there is one (Llama 2,
    Mistral): its pieces, scores and types, not tokenizer.json's."""
    from test_gguf import make_llama
    d = tmp_path / "llama2"
    cfg, _ = make_llama(d)  # tokenizer.json, tokenizer_config.json, vocab_size 300
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    pieces += [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]
    pieces += [("\u2581the", -1.25, 1), ("\u2581a", -2.5, 1), ("<|tool|>", 0.0, 4), ("<unused1>", 0.0, 5), ("er", -7.0, 1)]
    (d / "tokenizer.model").write_bytes(spm_model_bytes(pieces))
    tc = json.loads((d / "tokenizer_config.json").read_text())
    tc["add_prefix_space"] = False
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    out = tmp_path / "llama2.gguf"
    expect_ok(run_modelc("convert", d, out))
    kv, _ = read_gguf(out)

    tokens, scores, types = expected_spm_vocab(pieces, cfg["vocab_size"], {})
    assert types[261] == 1 and types[262] == 5 and scores[299] == -10000.0
    w = gguf.GGUFWriter(path=None, arch="llama")
    gguf.SpecialVocab(d, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    w.add_add_space_prefix(False)
    special = {k: v.value for k, v in w.kv_data[0].items() if k != "general.architecture"}
    want = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": pytest.approx(scores), "tokenizer.ggml.token_type": types, **special}
    assert special["tokenizer.ggml.bos_token_id"] == 1 and special["tokenizer.ggml.add_bos_token"] is True
    got = {k: v for k, v in kv.items() if k.startswith("tokenizer.")}
    assert got == want
