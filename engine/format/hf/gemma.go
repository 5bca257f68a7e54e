package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// Gemma and Gemma 2 as llama.cpp's "gemma" and "gemma2" architectures
// (convert_hf_to_gguf.py's GemmaModel and Gemma2Model): Llama's tensor names without the
// Q/K permutation, the tied lm_head dropped, every norm weight stored plus one (Gemma's
// RMSNorm scales by 1 + w), a SentencePiece tokenizer.model vocabulary.

func init() {
	gemma := &family{tensorName: gemmaTensorName(false), mapTensor: gemmaMapTensor, metadata: gemmaMetadata, tokenizer: gemmaTokenizer}
	gemma2 := &family{tensorName: gemmaTensorName(true), mapTensor: gemmaMapTensor, metadata: gemmaMetadata, tokenizer: gemmaTokenizer}
	archs["GemmaForCausalLM"] = arch{name: "gemma", family: gemma}
	archs["Gemma2ForCausalLM"] = arch{name: "gemma2", family: gemma2}
}

// gemmaTensorName maps as for Llama; Gemma 2's four norms per block are
// input_layernorm → attn_norm, post_attention_layernorm → post_attention_norm,
// pre_feedforward_layernorm → ffn_norm, post_feedforward_layernorm → post_ffw_norm
// (gguf-py tensor_mapping.py for MODEL_ARCH.GEMMA2).
func gemmaTensorName(v2 bool) func(string) (string, bool) {
	return func(hf string) (string, bool) {
		if hf == "lm_head.weight" {
			return "", true // tied to the embedding; the converter skips it
		}
		if v2 {
			if m := layerRe.FindStringSubmatch(hf); m != nil {
				switch m[2] {
				case "post_attention_layernorm.weight":
					return "blk." + m[1] + ".post_attention_norm.weight", false
				case "pre_feedforward_layernorm.weight":
					return "blk." + m[1] + ".ffn_norm.weight", false
				case "post_feedforward_layernorm.weight":
					return "blk." + m[1] + ".post_ffw_norm.weight", false
				}
			}
		}
		return gguFName(hf)
	}
}

// gemmaMapTensor stores norm weights plus one, in float32; the addition is done as the
// converter's torch does it: in float16 for a float16 tensor (float32 sum rounded to
// half), in float32 otherwise (bfloat16 and float64 are made float32 first).
func gemmaMapTensor(t *ir.Tensor, name string, a arch, cfg *config) (*ir.Tensor, error) {
	if !strings.HasSuffix(name, "norm.weight") {
		return mapTensor(t, name, arch{name: a.name}, cfg)
	}
	switch t.DType {
	case ir.Float16, ir.BFloat16, ir.Float32, ir.Float64:
	default:
		return nil, fmt.Errorf("%v norm weight; Gemma's norms convert from float tensors", t.DType)
	}
	src := t
	esize := int64(t.DType.ElemBytes())
	n := max(ir.NumElements(t.Shape), 0)
	return ir.NewComputedTensor(name, ir.Float32, append([]int64(nil), t.Shape...), func(dst []byte) {
		in := src.Bytes()
		for i := int64(0); i < n; i++ {
			v := elemF32(src.DType, in[i*esize:]) + 1
			if src.DType == ir.Float16 {
				v = ir.Float16ToFloat32(ir.Float32ToFloat16(v))
			}
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	})
}

type gemmaConfig struct {
	HeadDim               *int64   `json:"head_dim"`
	RMSNormEps            *float64 `json:"rms_norm_eps"`
	AttnLogitSoftcapping  *float64 `json:"attn_logit_softcapping"`
	FinalLogitSoftcapping *float64 `json:"final_logit_softcapping"`
	SlidingWindow         *int64   `json:"sliding_window"`
}

// gemmaMetadata writes GemmaModel / Gemma2Model.set_gguf_parameters' keys: no rope keys
// (llama.cpp takes the rotary dimension from the head size), key and value length from
// head_dim; Gemma 2 adds the two logit soft-capping values and the sliding window.
func gemmaMetadata(a arch, cfg *config, raw []byte) ([]ir.MetaKV, error) {
	var gc gemmaConfig
	if err := json.Unmarshal(raw, &gc); err != nil {
		return nil, err
	}
	need := func(ok bool, key string) error {
		if !ok {
			return fmt.Errorf("config.json has no %q, which %s needs", key, a.name)
		}
		return nil
	}
	if err := need(gc.HeadDim != nil, "head_dim"); err != nil {
		return nil, err
	}
	if err := need(gc.RMSNormEps != nil, "rms_norm_eps"); err != nil {
		return nil, err
	}
	p := a.name + "."
	kv := []ir.MetaKV{
		{Key: "general.architecture", Value: a.name},
		{Key: p + "context_length", Value: uint32(cfg.MaxPositionEmbeddings)},
		{Key: p + "embedding_length", Value: uint32(cfg.HiddenSize)},
		{Key: p + "block_count", Value: uint32(cfg.NumLayers)},
		{Key: p + "feed_forward_length", Value: uint32(cfg.IntermediateSize)},
		{Key: p + "attention.head_count", Value: uint32(cfg.NumHeads)},
		{Key: p + "attention.head_count_kv", Value: uint32(cfg.NumKVHeads)},
		{Key: p + "attention.layer_norm_rms_epsilon", Value: float32(*gc.RMSNormEps)},
		{Key: p + "attention.key_length", Value: uint32(*gc.HeadDim)},
		{Key: p + "attention.value_length", Value: uint32(*gc.HeadDim)},
	}
	if a.name == "gemma2" {
		for _, c := range []struct {
			ok  bool
			key string
		}{{gc.AttnLogitSoftcapping != nil, "attn_logit_softcapping"}, {gc.FinalLogitSoftcapping != nil, "final_logit_softcapping"}, {gc.SlidingWindow != nil, "sliding_window"}} {
			if err := need(c.ok, c.key); err != nil {
				return nil, err
			}
		}
		kv = append(kv, ir.MetaKV{Key: p + "attn_logit_softcapping", Value: float32(*gc.AttnLogitSoftcapping)},
			ir.MetaKV{Key: p + "final_logit_softcapping", Value: float32(*gc.FinalLogitSoftcapping)},
			ir.MetaKV{Key: p + "attention.sliding_window", Value: uint32(*gc.SlidingWindow)})
	}
	return kv, nil
}

// gemmaTokenizer is the Gemma classes' set_vocab: the SentencePiece vocabulary, then for
// Gemma (1) a second SpecialVocab pass for CodeGemma's infill tokens of which gguf-py
// writes only the end-of-turn id (107 unless the tokenizer files name one), and
// add_space_prefix false for both.
func gemmaTokenizer(m *ir.Model, dir string, cfg *config, a arch) error {
	ok, err := addSPMTokenizer(m, dir, cfg, false)
	if err != nil || !ok {
		return err
	}
	if a.name == "gemma" {
		extra, err := specialVocabKVOf(dir, 0, []string{"prefix", "suffix", "middle", "fsep", "eot"},
			map[string]int64{"prefix": 67, "suffix": 69, "middle": 68, "fsep": 70, "eot": 107}, false)
		if err != nil {
			return err
		}
		for _, e := range extra {
			m.KV = setKV(m.KV, e.Key, e.Value)
		}
	}
	m.KV = setKV(m.KV, "tokenizer.ggml.add_space_prefix", false)
	return nil
}
