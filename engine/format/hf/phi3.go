package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// Phi-3 as llama.cpp's "phi3" architecture (convert_hf_to_gguf.py's Phi3MiniModel):
// fused attn_qkv and ffn_up (gate and up together) tensors kept as they are, no
// permutation, the rope_factors_long/short tensors of the 128k-context models, and a
// SentencePiece vocabulary (a GPT2Tokenizer, as Phi-4 has, goes the BPE way).

func init() {
	archs["Phi3ForCausalLM"] = arch{name: "phi3", family: &family{
		tensorName: phi3TensorName,
		mapTensor: func(t *ir.Tensor, name string, a arch, cfg *config) (*ir.Tensor, error) {
			return mapTensor(t, name, arch{name: a.name}, cfg)
		},
		metadata:     phi3Metadata,
		tokenizer:    phi3Tokenizer,
		extraTensors: phi3RopeFactors,
	}}
}

func phi3TensorName(hf string) (string, bool) {
	if m := layerRe.FindStringSubmatch(hf); m != nil {
		switch m[2] {
		case "self_attn.qkv_proj.weight":
			return "blk." + m[1] + ".attn_qkv.weight", false
		case "mlp.gate_up_proj.weight":
			return "blk." + m[1] + ".ffn_up.weight", false
		}
	}
	return gguFName(hf)
}

type phi3Config struct {
	RMSNormEps           *float64       `json:"rms_norm_eps"`
	OrigMaxPos           *int64         `json:"original_max_position_embeddings"`
	PartialRotaryFactor  *float64       `json:"partial_rotary_factor"`
	RopeTheta            *float64       `json:"rope_theta"`
	SlidingWindow        *int64         `json:"sliding_window"`
	RopeScaling          map[string]any `json:"rope_scaling"`
	MaxPositionEmbedding int64          `json:"max_position_embeddings"`
}

func readPhi3Config(raw []byte) (*phi3Config, error) {
	var pc phi3Config
	if err := json.Unmarshal(raw, &pc); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		ok  bool
		key string
	}{{pc.RMSNormEps != nil, "rms_norm_eps"}, {pc.OrigMaxPos != nil, "original_max_position_embeddings"}, {pc.RopeTheta != nil, "rope_theta"}} {
		if !c.ok {
			return nil, fmt.Errorf("config.json has no %q, which phi3 needs", c.key)
		}
	}
	return &pc, nil
}

// phi3RopeDims is int(partial_rotary_factor × hidden_size) // heads.
func phi3RopeDims(pc *phi3Config, cfg *config) int64 {
	f := 1.0
	if pc.PartialRotaryFactor != nil {
		f = *pc.PartialRotaryFactor
	}
	return int64(f*float64(cfg.HiddenSize)) / cfg.NumHeads
}

// phi3Metadata writes Phi3MiniModel.set_gguf_parameters' keys, and the attention factor
// of a long-context rope scaling as its generate_extra_tensors does.
func phi3Metadata(a arch, cfg *config, raw []byte) ([]ir.MetaKV, error) {
	pc, err := readPhi3Config(raw)
	if err != nil {
		return nil, err
	}
	p := a.name + "."
	sw := int64(0) // zero marks a Phi-4 (no sliding window) for llama.cpp
	if pc.SlidingWindow != nil {
		sw = *pc.SlidingWindow
	}
	kv := []ir.MetaKV{
		{Key: "general.architecture", Value: a.name},
		{Key: p + "context_length", Value: uint32(cfg.MaxPositionEmbeddings)},
		{Key: p + "rope.scaling.original_context_length", Value: uint32(*pc.OrigMaxPos)},
		{Key: p + "embedding_length", Value: uint32(cfg.HiddenSize)},
		{Key: p + "feed_forward_length", Value: uint32(cfg.IntermediateSize)},
		{Key: p + "block_count", Value: uint32(cfg.NumLayers)},
		{Key: p + "attention.head_count", Value: uint32(cfg.NumHeads)},
		{Key: p + "attention.head_count_kv", Value: uint32(cfg.NumKVHeads)},
		{Key: p + "attention.layer_norm_rms_epsilon", Value: float32(*pc.RMSNormEps)},
		{Key: p + "rope.dimension_count", Value: uint32(phi3RopeDims(pc, cfg))},
		{Key: p + "rope.freq_base", Value: float32(*pc.RopeTheta)},
		{Key: p + "attention.sliding_window", Value: uint32(sw)},
	}
	if pc.RopeScaling != nil {
		f, err := phi3AttnFactor(pc, cfg)
		if err != nil {
			return nil, err
		}
		kv = append(kv, ir.MetaKV{Key: p + "rope.scaling.attn_factor", Value: float32(f)})
	}
	return kv, nil
}

func phi3AttnFactor(pc *phi3Config, cfg *config) (float64, error) {
	typ, _ := pc.RopeScaling["rope_type"].(string)
	if _, has := pc.RopeScaling["rope_type"]; !has {
		typ, _ = pc.RopeScaling["type"].(string)
	}
	typ = strings.ToLower(typ)
	orig := float64(*pc.OrigMaxPos)
	scale := float64(cfg.MaxPositionEmbeddings) / orig
	switch typ {
	case "":
		return 0, fmt.Errorf("rope_scaling has no type")
	case "su", "longrope":
		if scale > 1 {
			return math.Sqrt(1 + math.Log(scale)/math.Log(orig)), nil
		}
		return 1, nil
	case "yarn":
		if scale > 1 {
			return 0.1*math.Log(scale) + 1, nil
		}
		return 1, nil
	}
	return 0, fmt.Errorf("rope_scaling type %q: only su, longrope and yarn convert (as in llama.cpp)", typ)
}

// phi3RopeFactors makes rope_factors_long.weight and rope_factors_short.weight (F32,
// rope_dims/2 values each) from rope_scaling's long_factor and short_factor.
func phi3RopeFactors(a arch, cfg *config, raw []byte) ([]*ir.Tensor, error) {
	pc, err := readPhi3Config(raw)
	if err != nil || pc.RopeScaling == nil {
		return nil, err
	}
	half := phi3RopeDims(pc, cfg) / 2
	var out []*ir.Tensor
	for _, k := range []string{"long", "short"} {
		list, ok := pc.RopeScaling[k+"_factor"].([]any)
		if !ok {
			return nil, fmt.Errorf("rope_scaling has no %s_factor list", k)
		}
		if int64(len(list)) != half {
			return nil, fmt.Errorf("rope_scaling.%s_factor has %d values; it needs rope dimensions / 2 = %d", k, len(list), half)
		}
		vals := make([]float32, len(list))
		for i, v := range list {
			f, ok := v.(float64)
			if !ok {
				return nil, fmt.Errorf("rope_scaling.%s_factor[%d] is not a number", k, i)
			}
			vals[i] = float32(f)
		}
		t, err := ir.NewComputedTensor("rope_factors_"+k+".weight", ir.Float32, []int64{int64(len(vals))}, func(dst []byte) {
			for i, v := range vals {
				binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
			}
		})
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// phi3Tokenizer: a GPT2Tokenizer goes through the BPE tokenizer.json path; otherwise the
// SentencePiece vocabulary with Phi-3's added-token rules.
func phi3Tokenizer(m *ir.Model, dir string, cfg *config, a arch) error {
	if raw, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		var tc struct {
			Class string `json:"tokenizer_class"`
		}
		if json.Unmarshal(raw, &tc) == nil && tc.Class == "GPT2Tokenizer" {
			return addTokenizer(m, dir, cfg, a)
		}
	}
	_, err := addSPMTokenizer(m, dir, cfg, true)
	return err
}
