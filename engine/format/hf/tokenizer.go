package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
			ir.MetaKV{Key: "tokenizer.ggml.pre", Value: "default"}, // _set_vocab_llama_hf
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
		// apart without one, and otherwise writes "default", the pre-tokenizer llama.cpp
		// uses when the key is missing or unknown.
		pre := "default"
		switch {
		case a.name == "qwen2":
			pre = "qwen2"
		case a.name == "llama" && tj.Model.IgnoreMerges:
			pre = "llama-bpe" // Llama 3
		}
		m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.pre", Value: pre})
	}
	if a.name == "llama" {
		// LlamaModel.set_vocab: tokenizer_config.json's add_prefix_space, when set
		if tc, err := readJSONFile(filepath.Join(dir, "tokenizer_config.json")); err != nil {
			return err
		} else if b, ok := tc["add_prefix_space"].(bool); ok {
			m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.add_space_prefix", Value: b})
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
		// gguf-py SpecialVocab: a space inside a part is written as U+0120 ('Ġ')
		out[i] = strings.ReplaceAll(p[0], " ", "\u0120") + " " + strings.ReplaceAll(p[1], " ", "\u0120")
	}
	return out, nil
}

// addSpecialTokens adds the special token ids, the add_*_token flags and the chat
// template as gguf-py's SpecialVocab finds them (specialvocab.go); convert_hf_to_gguf.py
// bounds the ids by the token count for a Llama (SentencePiece-style) vocabulary only.
func addSpecialTokens(m *ir.Model, dir string, cfg *config, tj tokenizerJSON, tokens []string) error {
	var nVocab int64
	if tj.Model.ByteFallback {
		nVocab = int64(len(tokens))
	}
	sv, err := loadSpecialVocab(dir, nVocab)
	if err != nil {
		return err
	}
	m.KV = append(m.KV, sv.kv()...)
	return nil
}
