package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// BERT-family encoders as llama.cpp's "bert" architecture (convert_hf_to_gguf.py's
// BertModel class): embedding models such as all-MiniLM-L6-v2, with a WordPiece
// tokenizer.json turned into llama.cpp's phantom-space vocabulary.

func init() {
	bert := arch{name: "bert", family: &family{
		tensorName: bertTensorName,
		mapTensor:  bertMapTensor,
		metadata:   bertMetadata,
		tokenizer:  bertTokenizer,
	}}
	// BertForSequenceClassification (a classifier head and its labels) is not converted.
	for _, a := range []string{"BertModel", "BertForMaskedLM"} {
		archs[a] = bert
	}
}

var (
	bertLayerRe    = regexp.MustCompile(`^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$`)
	bertLayerNames = map[string]string{
		"attention.self.query":       "attn_q",
		"attention.self.key":         "attn_k",
		"attention.self.value":       "attn_v",
		"attention.output.dense":     "attn_output",
		"attention.output.LayerNorm": "attn_output_norm",
		"intermediate.dense":         "ffn_up",
		"output.dense":               "ffn_down",
		"output.LayerNorm":           "layer_output_norm",
	}
	bertGlobalNames = map[string]string{
		"embeddings.word_embeddings":       "token_embd",
		"embeddings.position_embeddings":   "position_embd",
		"embeddings.token_type_embeddings": "token_types",
		"embeddings.LayerNorm":             "token_embd_norm",
	}
)

// bertTensorName maps a BERT tensor name (gguf-py tensor_mapping.py); the pooler, the
// position ids and the masked-LM / next-sentence heads are dropped as the converter
// drops them (it converts BERT for embeddings).
func bertTensorName(hf string) (string, bool) {
	name := strings.TrimPrefix(hf, "bert.")
	if s, ok := strings.CutSuffix(name, ".gamma"); ok {
		name = s + ".weight"
	}
	if s, ok := strings.CutSuffix(name, ".beta"); ok {
		name = s + ".bias"
	}
	switch {
	case name == "embeddings.position_ids", strings.HasPrefix(name, "pooler.dense."),
		strings.HasPrefix(name, "cls.predictions"), strings.HasPrefix(name, "cls.seq_relationship"):
		return "", true
	}
	if m := bertLayerRe.FindStringSubmatch(name); m != nil {
		if n, ok := bertLayerNames[m[2]]; ok {
			return "blk." + m[1] + "." + n + "." + m[3], false
		}
		return "", false
	}
	if base, suffix, ok := cutLast(name, "."); ok && (suffix == "weight" || suffix == "bias") {
		if n, ok := bertGlobalNames[base]; ok {
			return n + "." + suffix, false
		}
	}
	return "", false
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// bertMapTensor keeps the position and token-type embeddings in float32, as the
// converter keeps them whatever the output type; the rest as for Llama (no permute).
func bertMapTensor(t *ir.Tensor, name string, a arch, cfg *config) (*ir.Tensor, error) {
	if name == "position_embd.weight" || name == "token_types.weight" {
		return toFloat32(t, name)
	}
	return mapTensor(t, name, a, cfg)
}

// toFloat32 converts a float16, bfloat16 or float64 tensor to float32 when the writer
// reaches it; other tensors pass renamed.
func toFloat32(t *ir.Tensor, name string) (*ir.Tensor, error) {
	if t.DType != ir.Float16 && t.DType != ir.BFloat16 && t.DType != ir.Float64 {
		out := *t
		out.Name = name
		return &out, nil
	}
	src := t
	esize := int64(t.DType.ElemBytes())
	n := max(ir.NumElements(t.Shape), 0)
	return ir.NewComputedTensor(name, ir.Float32, append([]int64(nil), t.Shape...), func(dst []byte) {
		in := src.Bytes()
		for i := int64(0); i < n; i++ {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(elemF32(src.DType, in[i*esize:])))
		}
	})
}

type bertConfig struct {
	LayerNormEps  *float64          `json:"layer_norm_eps"`
	TypeVocabSize *int64            `json:"type_vocab_size"`
	ID2Label      map[string]string `json:"id2label"`
}

// bertMetadata writes TextModel.set_gguf_parameters' keys for a BERT config (no rope,
// no RMS norm) plus attention.causal = false and the sentence-transformers pooling type.
func bertMetadata(a arch, cfg *config, raw []byte) ([]ir.MetaKV, error) {
	var bc bertConfig
	if err := json.Unmarshal(raw, &bc); err != nil {
		return nil, err
	}
	p := a.name + "."
	kv := []ir.MetaKV{
		{Key: "general.architecture", Value: a.name},
		{Key: p + "block_count", Value: uint32(cfg.NumLayers)},
		{Key: p + "context_length", Value: uint32(cfg.MaxPositionEmbeddings)},
		{Key: p + "embedding_length", Value: uint32(cfg.HiddenSize)},
		{Key: p + "feed_forward_length", Value: uint32(cfg.IntermediateSize)},
		{Key: p + "attention.head_count", Value: uint32(cfg.NumHeads)},
	}
	if bc.LayerNormEps != nil {
		kv = append(kv, ir.MetaKV{Key: p + "attention.layer_norm_epsilon", Value: float32(*bc.LayerNormEps)})
	}
	kv = append(kv, ir.MetaKV{Key: p + "attention.causal", Value: false})
	return kv, nil
}

// bertPooling reads the sentence-transformers pooling mode (modules.json → the Pooling
// module's config.json) as gguf PoolingType: mean 1, cls 2, last 3; 0 when there is none.
func bertPooling(dir string) (uint32, error) {
	path := filepath.Join(dir, "modules.json")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	} else if err != nil {
		return 0, ir.IOError(path, err)
	}
	var mods []struct{ Type, Path string }
	if err := json.Unmarshal(raw, &mods); err != nil {
		return 0, ir.Errorf(ir.KindCorrupt, path, "not valid JSON: %v", err)
	}
	for _, m := range mods {
		if m.Type != "sentence_transformers.models.Pooling" {
			continue
		}
		if !filepath.IsLocal(m.Path) {
			return 0, ir.Errorf(ir.KindCorrupt, path, "pooling module path %q leaves the model folder", m.Path)
		}
		pp := filepath.Join(dir, m.Path, "config.json")
		raw, err := os.ReadFile(pp)
		if err != nil {
			return 0, ir.IOError(pp, err)
		}
		var pc map[string]any
		if err := json.Unmarshal(raw, &pc); err != nil {
			return 0, ir.Errorf(ir.KindCorrupt, pp, "not valid JSON: %v", err)
		}
		on := func(k string) bool { b, _ := pc[k].(bool); return b }
		switch {
		case on("pooling_mode_mean_tokens"):
			return 1, nil
		case on("pooling_mode_cls_token"):
			return 2, nil
		case on("pooling_mode_lasttoken"):
			return 3, nil
		}
		return 0, ir.Errorf(ir.KindUnsupported, pp, "pooling mode: only mean, CLS and last-token pooling convert (as in llama.cpp)")
	}
	return 0, nil
}

// bertTokenizer writes the WordPiece vocabulary of tokenizer.json as the converter's
// BertModel.set_vocab does: ids 0..vocab_size-1 ([PADn] unused where the vocabulary has
// no token), added tokens control (special) or user-defined, then the phantom-space
// spelling: "[X]" kept, "##x" → "x", any other token → "▁" + token.
func bertTokenizer(m *ir.Model, dir string, cfg *config, a arch) error {
	pooling, err := bertPooling(dir)
	if err != nil {
		return err
	}
	if pooling != 0 {
		m.KV = append(m.KV, ir.MetaKV{Key: a.name + ".pooling_type", Value: pooling})
	}
	path := filepath.Join(dir, "tokenizer.json")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return ir.IOError(path, err)
	}
	var tj struct {
		Model struct {
			Type  string           `json:"type"`
			Vocab map[string]int64 `json:"vocab"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int64  `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		return ir.Errorf(ir.KindCorrupt, path, "not valid JSON: %v", err)
	}
	if tj.Model.Type != "WordPiece" {
		return ir.Errorf(ir.KindUnsupported, path, "tokenizer model %q: a BERT checkpoint converts with a WordPiece tokenizer", tj.Model.Type)
	}
	n := cfg.VocabSize
	if n <= 0 {
		n = int64(len(tj.Model.Vocab))
		for _, t := range tj.AddedTokens {
			if _, ok := tj.Model.Vocab[t.Content]; !ok {
				n++
			}
		}
	}
	if n > 1<<24 {
		return ir.Errorf(ir.KindCorrupt, path, "vocabulary of %d tokens is implausibly large", n)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokUnused
	}
	for text, id := range tj.Model.Vocab {
		if id < 0 || id >= n {
			return ir.Errorf(ir.KindCorrupt, path, "token %q has id %d outside the vocabulary of %d (config vocab_size)", text, id, n)
		}
		tokens[id], types[id] = text, tokNormal
	}
	for _, t := range tj.AddedTokens {
		if t.ID < 0 || t.ID >= n {
			return ir.Errorf(ir.KindCorrupt, path, "added token %q has id %d outside the vocabulary of %d", t.Content, t.ID, n)
		}
		tokens[t.ID] = t.Content
		if t.Special || looksSpecial(t.Content) {
			types[t.ID] = tokControl
		} else {
			tokens[t.ID] = strings.ReplaceAll(t.Content, "\u2581", " ")
			types[t.ID] = tokUserDefined
		}
	}
	for i, t := range tokens {
		tokens[i] = phantom(t)
	}
	typeCount := int64(1)
	var bc bertConfig
	if raw, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil && json.Unmarshal(raw, &bc) == nil && bc.TypeVocabSize != nil {
		typeCount = *bc.TypeVocabSize
	}
	m.KV = append(m.KV,
		ir.MetaKV{Key: "tokenizer.ggml.token_type_count", Value: uint32(typeCount)},
		ir.MetaKV{Key: "tokenizer.ggml.model", Value: "bert"},
		// llama.cpp names the pre-tokenizer by hashing a tokenizer run; for a WordPiece
		// vocabulary llama.cpp does not read the name, and modelc has no tokenizer to run.
		ir.MetaKV{Key: "tokenizer.ggml.pre", Value: "default"},
		ir.MetaKV{Key: "tokenizer.ggml.tokens", Value: tokens},
		ir.MetaKV{Key: "tokenizer.ggml.token_type", Value: types})
	special, err := specialVocabKV(dir, int64(len(tokens)))
	if err != nil {
		return err
	}
	m.KV = append(m.KV, special...)
	return nil
}

// phantom is BertModel.set_vocab's phantom-space spelling of a WordPiece token.
func phantom(t string) string {
	switch {
	case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
		return t
	case strings.HasPrefix(t, "##"):
		return t[2:]
	}
	return "\u2581" + t
}
