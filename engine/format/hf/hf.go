// Package hf reads a Hugging Face checkpoint folder (config.json, safetensors or PyTorch
// weight files, tokenizer.json) as llama.cpp's convert_hf_to_gguf.py sees it: tensors
// renamed to GGUF's names, the Q/K rows of Llama-family models permuted for ggml's
// rotary layout, hyperparameters and tokenizer as GGUF metadata (Model.KV). The result
// is meant for the GGUF writer; `modelc convert HF_FOLDER out.gguf`.
//
// Supported architectures: LlamaForCausalLM and MistralForCausalLM (GGUF arch "llama"),
// Qwen2ForCausalLM ("qwen2", no permutation, Q/K/V biases); and, each family in its own
// file: BertModel/BertForMaskedLM ("bert", bert.go), GemmaForCausalLM and
// Gemma2ForCausalLM ("gemma", "gemma2", gemma.go), Phi3ForCausalLM ("phi3", phi3.go).
// SentencePiece tokenizer.model vocabularies: spm.go.
package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// DetectPath recognises a checkpoint folder: a folder holding config.json.
func DetectPath(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, "config.json"))
	return err == nil
}

// config is what modelc takes from config.json.
type config struct {
	Architectures         []string       `json:"architectures"`
	HiddenSize            int64          `json:"hidden_size"`
	NumLayers             int64          `json:"num_hidden_layers"`
	NumHeads              int64          `json:"num_attention_heads"`
	NumKVHeads            int64          `json:"num_key_value_heads"`
	IntermediateSize      int64          `json:"intermediate_size"`
	MaxPositionEmbeddings int64          `json:"max_position_embeddings"`
	RMSNormEps            float64        `json:"rms_norm_eps"`
	RopeTheta             *float64       `json:"rope_theta"`
	VocabSize             int64          `json:"vocab_size"`
	HeadDim               int64          `json:"head_dim"`
	RopeScaling           map[string]any `json:"rope_scaling"`
	BosTokenID            *int64         `json:"bos_token_id"`
	EosTokenID            any            `json:"eos_token_id"` // an id or a list of ids
	NameOrPath            *string        `json:"_name_or_path"`
}

// arch describes one supported architecture.
type arch struct {
	name    string  // GGUF general.architecture and key prefix
	permute bool    // Q/K rows permuted for ggml's rotary layout (Llama's converter does)
	family  *family // nil: the Llama-family code of this file; else the family's own (bert.go, …)
}

// family is what an architecture family other than Llama's brings: its tensor names,
// its tensor transforms, its hyperparameter keys and its tokenizer. Each lives in its
// own file and registers its architectures in archs from an init function.
type family struct {
	tensorName func(hf string) (name string, skip bool)
	mapTensor  func(t *ir.Tensor, name string, a arch, cfg *config) (*ir.Tensor, error)
	metadata   func(a arch, cfg *config, raw []byte) ([]ir.MetaKV, error) // general.* but the architecture come from withGeneralKeys
	tokenizer  func(m *ir.Model, dir string, cfg *config, a arch) error
	// extraTensors are tensors the converter computes from the config (rope_freqs)
	extraTensors func(a arch, cfg *config, raw []byte) ([]*ir.Tensor, error)
}

var archs = map[string]arch{
	"LlamaForCausalLM":   {name: "llama", permute: true},
	"MistralForCausalLM": {name: "llama", permute: true},
	"Qwen2ForCausalLM":   {name: "qwen2"},
}

// Read reads the checkpoint folder dir; readWeights reads one weight file (or a sharded
// checkpoint's index) with the right format's reader.
func Read(dir string, readWeights func(path string) (*ir.Model, error)) (*ir.Model, error) {
	cfgPath := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindIO, File: cfgPath, Err: err}
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, cfgPath, "not valid JSON: %v", err)
	}
	if len(cfg.Architectures) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, cfgPath, "no \"architectures\" entry")
	}
	a, ok := archs[cfg.Architectures[0]]
	if !ok {
		known := make([]string, 0, len(archs))
		for k := range archs {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, ir.Errorf(ir.KindUnsupported, cfgPath, "architecture %s is not supported (supported: %s)", cfg.Architectures[0], strings.Join(known, ", "))
	}
	if cfg.NumKVHeads == 0 {
		cfg.NumKVHeads = cfg.NumHeads
	}
	if cfg.HiddenSize <= 0 || cfg.NumLayers <= 0 || cfg.NumHeads <= 0 || cfg.NumKVHeads <= 0 || cfg.HiddenSize%cfg.NumHeads != 0 {
		return nil, ir.Errorf(ir.KindCorrupt, cfgPath, "implausible hyperparameters (hidden_size %d, num_hidden_layers %d, num_attention_heads %d, num_key_value_heads %d)",
			cfg.HiddenSize, cfg.NumLayers, cfg.NumHeads, cfg.NumKVHeads)
	}

	m := &ir.Model{Graph: &ir.Graph{Name: filepath.Base(dir)}}
	ok = false
	defer func() {
		if !ok {
			m.Close()
		}
	}()
	files, err := weightFiles(dir)
	if err != nil {
		return nil, err
	}
	var tensors []*ir.Tensor
	for _, f := range files {
		wm, err := readWeights(f)
		if err != nil {
			return nil, err
		}
		m.KeepAlive(wm)
		tensors = append(tensors, wm.Graph.Initializers...)
	}
	tensorName, mapT, addTok := gguFName, mapTensor, llamaTokenizer
	if f := a.family; f != nil {
		tensorName, mapT, addTok = f.tensorName, f.mapTensor, f.tokenizer
		if f.extraTensors != nil {
			extra, err := f.extraTensors(a, &cfg, raw)
			if err != nil {
				return nil, withFile(err, cfgPath)
			}
			m.Graph.Initializers = append(m.Graph.Initializers, extra...)
		}
	} else if a.name == "llama" {
		rf, err := llamaRopeFreqs(&cfg, raw)
		if err != nil {
			return nil, withFile(err, cfgPath)
		}
		if rf != nil {
			m.Graph.Initializers = append(m.Graph.Initializers, rf)
		}
	}
	for _, t := range tensors {
		name, skip := tensorName(t.Name)
		if skip {
			continue
		}
		if name == "" {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: dir, Where: fmt.Sprintf("tensor %q", t.Name),
				Err: fmt.Errorf("no GGUF name for this %s tensor", cfg.Architectures[0])}
		}
		out, err := mapT(t, name, a, &cfg)
		if err != nil {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: dir, Where: fmt.Sprintf("tensor %q", t.Name), Err: err}
		}
		m.Graph.Initializers = append(m.Graph.Initializers, out)
	}
	sort.SliceStable(m.Graph.Initializers, func(i, j int) bool {
		return tensorOrder(m.Graph.Initializers[i].Name) < tensorOrder(m.Graph.Initializers[j].Name)
	})
	// The metadata follows the tensors: general.size_label and general.file_type are
	// computed from them.
	if f := a.family; f != nil {
		kv, err := f.metadata(a, &cfg, raw)
		if err != nil {
			return nil, withFile(err, cfgPath)
		}
		m.KV = withGeneralKeys(kv, &cfg, filepath.Base(dir), m.Graph.Initializers)
	} else {
		m.KV = metadata(a, &cfg, filepath.Base(dir), m.Graph.Initializers)
	}
	if err := addTok(m, dir, &cfg, a); err != nil {
		return nil, err
	}
	for _, e := range m.KV {
		if !ir.MetaIsArray(e.Value) {
			s, _ := ir.MetaString(e.Value)
			m.Metadata = append(m.Metadata, ir.StringPair{Key: e.Key, Value: s})
		}
	}
	ok = true
	return m, nil
}

// withFile turns a family's plain error into a corrupt-file error naming path.
func withFile(err error, path string) error {
	if _, ok := err.(*ir.Error); ok {
		return err
	}
	return &ir.Error{Kind: ir.KindCorrupt, File: path, Err: err}
}

// weightFiles lists the weight files of dir: a sharded checkpoint's index if there is
// one, else every *.safetensors, else every PyTorch *.bin / *.pt / *.pth, sorted.
func weightFiles(dir string) ([]string, error) {
	for _, idx := range []string{"model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		p := filepath.Join(dir, idx)
		if _, err := os.Stat(p); err == nil {
			return []string{p}, nil
		}
	}
	for _, pattern := range []string{"*.safetensors", "*.bin", "*.pth", "*.pt"} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, ir.Errorf(ir.KindInvalidArgument, dir, "%v", err)
		}
		if len(matches) > 0 {
			sort.Strings(matches)
			return matches, nil
		}
	}
	return nil, ir.Errorf(ir.KindInvalidArgument, dir, "holds config.json but no weights (*.safetensors, *.bin)")
}

// metadata maps config.json to the llama.cpp keys convert_hf_to_gguf.py writes
// (conversion/base.py prepare_metadata and TextModel.set_gguf_parameters, llama.py
// LlamaModel.set_gguf_parameters, at llama.cpp 2bbcf7fc / 7bca1fd9): general.type
// "model"; the naming keys (naming.go); the hyperparameters; general.file_type, the
// llama_ftype of the output's matrices (the GGUF writer sets it again for --quantize);
// general.quantization_version, which the converter always writes.
func metadata(a arch, cfg *config, folder string, tensors []*ir.Tensor) []ir.MetaKV {
	p := a.name + "."
	headDim := cfg.HiddenSize / cfg.NumHeads
	if cfg.HeadDim > 0 {
		headDim = cfg.HeadDim
	}
	kv := append([]ir.MetaKV{{Key: "general.architecture", Value: a.name}}, namingKeys(cfg, folder, tensors)...)
	kv = append(kv,
		ir.MetaKV{Key: p + "block_count", Value: uint32(cfg.NumLayers)},
		ir.MetaKV{Key: p + "context_length", Value: uint32(cfg.MaxPositionEmbeddings)},
		ir.MetaKV{Key: p + "embedding_length", Value: uint32(cfg.HiddenSize)},
		ir.MetaKV{Key: p + "feed_forward_length", Value: uint32(cfg.IntermediateSize)},
		ir.MetaKV{Key: p + "attention.head_count", Value: uint32(cfg.NumHeads)},
		ir.MetaKV{Key: p + "attention.head_count_kv", Value: uint32(cfg.NumKVHeads)},
		ir.MetaKV{Key: p + "attention.layer_norm_rms_epsilon", Value: float32(cfg.RMSNormEps)},
		ir.MetaKV{Key: p + "rope.dimension_count", Value: uint32(headDim)},
	)
	if ft, ok := fileType(tensors); ok {
		kv = append(kv, ir.MetaKV{Key: "general.file_type", Value: ft})
	}
	kv = append(kv, ir.MetaKV{Key: "general.quantization_version", Value: uint32(2)}) // GGML_QUANT_VERSION
	if cfg.RopeTheta != nil {
		kv = append(kv, ir.MetaKV{Key: p + "rope.freq_base", Value: float32(*cfg.RopeTheta)})
	}
	if cfg.HeadDim > 0 {
		kv = append(kv, ir.MetaKV{Key: p + "attention.key_length", Value: uint32(headDim)},
			ir.MetaKV{Key: p + "attention.value_length", Value: uint32(headDim)})
	}
	if cfg.VocabSize > 0 {
		kv = append(kv, ir.MetaKV{Key: p + "vocab_size", Value: uint32(cfg.VocabSize)})
	}
	if t, _ := cfg.RopeScaling["type"].(string); t == "linear" {
		if f, ok := cfg.RopeScaling["factor"].(float64); ok {
			kv = append(kv, ir.MetaKV{Key: p + "rope.scaling.type", Value: "linear"},
				ir.MetaKV{Key: p + "rope.scaling.factor", Value: float32(f)})
		}
	}
	return kv
}

// namingKeys are general.type and the naming keys convert_hf_to_gguf.py writes
// (general.name, version, organization, finetune, basename, size_label), in gguf-py
// Metadata.set_gguf_meta_model's order.
func namingKeys(cfg *config, folder string, tensors []*ir.Tensor) []ir.MetaKV {
	var total int64
	for _, t := range tensors {
		total += t.NumElements()
	}
	n := modelNaming(cfg.NameOrPath, folder, total)
	kv := []ir.MetaKV{{Key: "general.type", Value: "model"}}
	for _, f := range []struct {
		key string
		v   opt
	}{{"general.name", n.name}, {"general.version", n.version}, {"general.organization", n.organization},
		{"general.finetune", n.finetune}, {"general.basename", n.basename}, {"general.size_label", n.sizeLabel}} {
		if f.v.ok {
			kv = append(kv, ir.MetaKV{Key: f.key, Value: f.v.s})
		}
	}
	return kv
}

// withGeneralKeys gives a family's metadata the general keys the Llama metadata has:
// namingKeys after general.architecture, then general.file_type and
// general.quantization_version at the end.
func withGeneralKeys(kv []ir.MetaKV, cfg *config, folder string, tensors []*ir.Tensor) []ir.MetaKV {
	out := make([]ir.MetaKV, 0, len(kv)+10)
	for _, e := range kv {
		out = append(out, e)
		if e.Key == "general.architecture" {
			out = append(out, namingKeys(cfg, folder, tensors)...)
		}
	}
	if ft, ok := fileType(tensors); ok {
		out = append(out, ir.MetaKV{Key: "general.file_type", Value: ft})
	}
	return append(out, ir.MetaKV{Key: "general.quantization_version", Value: uint32(2)})
}

// fileType is the llama_ftype (gguf-py LlamaFileType) of a model whose matrices keep
// their type: that of its first tensor of two or more dimensions, as the converter's
// --outtype auto guesses it (ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32).
func fileType(tensors []*ir.Tensor) (uint32, bool) {
	for _, t := range tensors {
		if len(t.Shape) < 2 {
			continue
		}
		switch t.DType {
		case ir.Float32:
			return 0, true
		case ir.Float16:
			return 1, true
		case ir.BFloat16:
			return 32, true
		}
		return 0, false
	}
	return 0, false
}

var (
	layerRe = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)
	// per-layer HF suffixes → GGUF suffixes (gguf-py tensor_mapping.py)
	layerNames = map[string]string{
		"self_attn.q_proj.weight":           "attn_q.weight",
		"self_attn.k_proj.weight":           "attn_k.weight",
		"self_attn.v_proj.weight":           "attn_v.weight",
		"self_attn.o_proj.weight":           "attn_output.weight",
		"self_attn.q_proj.bias":             "attn_q.bias",
		"self_attn.k_proj.bias":             "attn_k.bias",
		"self_attn.v_proj.bias":             "attn_v.bias",
		"self_attn.o_proj.bias":             "attn_output.bias",
		"mlp.gate_proj.weight":              "ffn_gate.weight",
		"mlp.up_proj.weight":                "ffn_up.weight",
		"mlp.down_proj.weight":              "ffn_down.weight",
		"input_layernorm.weight":            "attn_norm.weight",
		"post_attention_layernorm.weight":   "ffn_norm.weight",
		"self_attn.rotary_emb.inv_freq":     "",
		"self_attn.rotary_emb.inv_freq.bin": "",
	}
	globalNames = map[string]string{
		"model.embed_tokens.weight": "token_embd.weight",
		"model.norm.weight":         "output_norm.weight",
		"lm_head.weight":            "output.weight",
	}
)

// gguFName maps an HF tensor name; skip is true for tensors the converter drops
// (rotary inverse frequencies, which llama.cpp recomputes).
func gguFName(hf string) (name string, skip bool) {
	if n, ok := globalNames[hf]; ok {
		return n, false
	}
	if m := layerRe.FindStringSubmatch(hf); m != nil {
		if n, ok := layerNames[m[2]]; ok {
			if n == "" {
				return "", true
			}
			return "blk." + m[1] + "." + n, false
		}
	}
	return "", false
}

// tensorOrder sorts the output as convert_hf_to_gguf.py's does in effect: token
// embedding, then the blocks in number order, then the output norm and head.
func tensorOrder(name string) int {
	switch {
	case strings.HasPrefix(name, "rope_"): // computed from the config, written first
		return -2
	case name == "token_embd.weight":
		return -1
	case strings.HasPrefix(name, "blk."):
		var n int
		fmt.Sscanf(name, "blk.%d.", &n)
		return n
	}
	return 1 << 30
}
