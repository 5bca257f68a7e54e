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

// llama.cpp token types (gguf-py TokenType).
const (
	tokNormal      = 1
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// tokenizerJSON is the part of a Hugging Face tokenizer.json modelc reads.
type tokenizerJSON struct {
	Model struct {
		Type         string           `json:"type"`
		Vocab        map[string]int64 `json:"vocab"`
		Merges       json.RawMessage  `json:"merges"`
		ByteFallback bool             `json:"byte_fallback"`
		IgnoreMerges bool             `json:"ignore_merges"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
}

var byteToken = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// addTokenizer adds the tokenizer.ggml.* keys from tokenizer.json (and
// tokenizer_config.json) when the folder has them, as convert_hf_to_gguf.py does: a
// byte-fallback BPE (Llama 1/2, Mistral) becomes tokenizer model "llama" with score
// −1000 for every token (its LlamaHfVocab); a byte-level BPE (Llama 3, Qwen2) becomes
// "gpt2" with its merges. Ids the vocabulary lacks up to vocab_size are [PADn], unused.
func addTokenizer(m *ir.Model, dir string, cfg *config, a arch) error {
	path := filepath.Join(dir, "tokenizer.json")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(raw, &tj); err != nil {
		return ir.Errorf(ir.KindCorrupt, path, "not valid JSON: %v", err)
	}
	if tj.Model.Type != "BPE" {
		return ir.Errorf(ir.KindUnsupported, path, "tokenizer model %q: modelc converts BPE tokenizers", tj.Model.Type)
	}
	n := cfg.VocabSize
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.AddedTokens {
		n = max(n, a.ID+1)
	}
	if n > 1<<24 {
		return ir.Errorf(ir.KindCorrupt, path, "token id %d is implausibly large", n-1)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	have := make([]bool, n)
	for text, id := range tj.Model.Vocab {
		if id < 0 {
			return ir.Errorf(ir.KindCorrupt, path, "token %q has negative id %d", text, id)
		}
		tokens[id], types[id], have[id] = text, tokNormal, true
		if tj.Model.ByteFallback && byteToken.MatchString(text) {
			types[id] = tokByte
		}
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 {
			return ir.Errorf(ir.KindCorrupt, path, "added token %q has negative id %d", a.Content, a.ID)
		}
		tokens[a.ID], have[a.ID] = a.Content, true
		types[a.ID] = tokUserDefined
		if a.Special {
			types[a.ID] = tokControl
		}
	}
	for i := range tokens {
		if !have[i] {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), tokUnused
		}
	}
	if tj.Model.ByteFallback {
		scores := make([]float32, n)
		for i := range scores {
			scores[i] = -1000
		}
		m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.model", Value: "llama"},
			ir.MetaKV{Key: "tokenizer.ggml.tokens", Value: tokens},
			ir.MetaKV{Key: "tokenizer.ggml.scores", Value: scores},
			ir.MetaKV{Key: "tokenizer.ggml.token_type", Value: types})
	} else {
		merges, err := parseMerges(tj.Model.Merges)
		if err != nil {
			return ir.Errorf(ir.KindCorrupt, path, "merges: %v", err)
		}
		m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.model", Value: "gpt2"},
			ir.MetaKV{Key: "tokenizer.ggml.tokens", Value: tokens},
			ir.MetaKV{Key: "tokenizer.ggml.token_type", Value: types},
			ir.MetaKV{Key: "tokenizer.ggml.merges", Value: merges})
		// llama.cpp's converter names the pre-tokenizer by hashing the tokenizer's output
		// on a test text; modelc has no tokenizer to run, so it names the two it can tell
		// apart without one, and otherwise leaves the key out (llama.cpp then warns and
		// uses its default).
		switch {
		case a.name == "qwen2":
			m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.pre", Value: "qwen2"})
		case a.name == "llama" && tj.Model.IgnoreMerges:
			m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.pre", Value: "llama-bpe"}) // Llama 3
		}
	}
	return addSpecialTokens(m, dir, cfg, tj, tokens)
}

// parseMerges accepts both spellings of BPE merges: "a b" strings and [a, b] pairs.
func parseMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return []string{}, nil
	}
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		return asStrings, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts", i, len(p))
		}
		out[i] = p[0] + " " + p[1]
	}
	return out, nil
}

// addSpecialTokens adds the bos/eos/unk/pad ids, add_bos/add_eos and the chat template
// (gguf-py SpecialVocab): names from tokenizer_config.json, ids from config.json.
func addSpecialTokens(m *ir.Model, dir string, cfg *config, tj tokenizerJSON, tokens []string) error {
	ids := map[string]int64{}
	for i, t := range tokens {
		if _, dup := ids[t]; !dup {
			ids[t] = int64(i)
		}
	}
	special := map[string]int64{}
	path := filepath.Join(dir, "tokenizer_config.json")
	var tc map[string]any
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &tc); err != nil {
			return ir.Errorf(ir.KindCorrupt, path, "not valid JSON: %v", err)
		}
	}
	for _, kind := range []string{"bos", "eos", "unk", "pad"} {
		text := tokenText(tc[kind+"_token"])
		if id, ok := ids[text]; ok && text != "" {
			special[kind] = id
		}
	}
	if _, ok := special["bos"]; !ok && cfg.BosTokenID != nil {
		special["bos"] = *cfg.BosTokenID
	}
	if _, ok := special["eos"]; !ok {
		switch v := cfg.EosTokenID.(type) {
		case float64:
			special["eos"] = int64(v)
		case []any:
			if len(v) > 0 {
				if f, ok := v[0].(float64); ok {
					special["eos"] = int64(f)
				}
			}
		}
	}
	names := map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id", "pad": "padding_token_id"}
	var kinds []string
	for k := range special {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if id := special[k]; id >= 0 && id < int64(len(tokens)) {
			m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml." + names[k], Value: uint32(id)})
		}
	}
	for _, k := range []string{"add_bos_token", "add_eos_token"} {
		if b, ok := tc[k].(bool); ok {
			m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml." + k, Value: b})
		}
	}
	if t, ok := tc["chat_template"].(string); ok && strings.TrimSpace(t) != "" {
		m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.chat_template", Value: t})
	}
	return nil
}

// tokenText reads a special token as tokenizer_config.json spells it: a string or an
// AddedToken object {"content": ...}.
func tokenText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["content"].(string)
		return s
	}
	return ""
}
