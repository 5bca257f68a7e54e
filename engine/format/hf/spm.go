package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/ir"
)

// A SentencePiece tokenizer.model is a protobuf ModelProto (sentencepiece_model.proto):
// field 1 the repeated pieces, each {1: piece (string), 2: score (float), 3: type (enum:
// NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6; NORMAL when absent)}.

// tokUnknown is the SentencePiece (and gguf-py) token type of the unknown token.
const tokUnknown = 2

type spmPiece struct {
	text  string
	score float32
	typ   int32
}

// parseSPM reads the pieces of a tokenizer.model.
func parseSPM(path string, b []byte) ([]spmPiece, error) {
	var pieces []spmPiece
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, path, "byte offset %d: bad protobuf tag", off)
		}
		off += n
		if num == 1 && typ == protowire.BytesType {
			msg, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return nil, ir.Errorf(ir.KindCorrupt, path, "byte offset %d: piece %d runs past the end", off, len(pieces))
			}
			p, err := parsePiece(msg)
			if err != nil {
				return nil, ir.Errorf(ir.KindCorrupt, path, "byte offset %d: piece %d: %v", off, len(pieces), err)
			}
			pieces = append(pieces, p)
			off += n
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		if n < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, path, "byte offset %d: field %d runs past the end", off, num)
		}
		off += n
	}
	if len(pieces) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, path, "no pieces: not a SentencePiece model")
	}
	return pieces, nil
}

func parsePiece(b []byte) (spmPiece, error) {
	p := spmPiece{typ: tokNormal}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return p, fmt.Errorf("bad protobuf tag")
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return p, fmt.Errorf("text runs past the end")
			}
			p.text, b = string(v), b[n:]
		case num == 2 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return p, fmt.Errorf("score runs past the end")
			}
			p.score, b = math.Float32frombits(v), b[n:]
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return p, fmt.Errorf("type runs past the end")
			}
			if v < 1 || v > 6 {
				return p, fmt.Errorf("unknown piece type %d", v)
			}
			p.typ, b = int32(v), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return p, fmt.Errorf("field %d runs past the end", num)
			}
			b = b[n:]
		}
	}
	return p, nil
}

// spmVocab is convert_hf_to_gguf.py's _create_vocab_sentencepiece: ids 0..vocab_size-1
// ([PADn], score −10000, unused where the model has no piece); a piece's type as
// SentencePieceProcessor reports it (unknown, control, unused, byte; normal otherwise,
// user-defined pieces included); added_tokens.json entries user-defined with score
// −1000; tokenizer_config.json's added_tokens_decoder entries control (special or
// looking special) or user-defined, score −1000. ok is false when there is no
// tokenizer.model. phi3 selects Phi3MiniModel.set_vocab's variant: added_tokens_decoder
// entries user-defined or control by their special flag alone and spelled as given,
// then tokenizer.json's added_tokens the same way.
func spmVocab(dir string, cfg *config, phi3 bool) (tokens []string, scores []float32, types []int32, ok bool, err error) {
	path := filepath.Join(dir, "tokenizer.model")
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil, nil, false, nil
	} else if err != nil {
		return nil, nil, nil, false, ir.IOError(path, err)
	}
	pieces, err := parseSPM(path, raw)
	if err != nil {
		return nil, nil, nil, false, err
	}
	n := int64(len(pieces))
	if cfg.VocabSize > 0 {
		n = cfg.VocabSize
	}
	if n > 1<<24 {
		return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, path, "vocabulary of %d tokens is implausibly large", n)
	}
	tokens, scores, types = make([]string, n), make([]float32, n), make([]int32, n)
	for i := range tokens {
		tokens[i], scores[i], types[i] = fmt.Sprintf("[PAD%d]", i), -10000, tokUnused
	}
	if int64(len(pieces)) > n {
		return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, path, "%d pieces but config.json's vocab_size is %d", len(pieces), n)
	}
	for i, p := range pieces {
		t := p.typ
		if t == tokUserDefined {
			t = tokNormal
		}
		tokens[i], scores[i], types[i] = p.text, p.score, t
	}
	addedPath := filepath.Join(dir, "added_tokens.json")
	if raw, err := os.ReadFile(addedPath); err == nil {
		var added map[string]int64
		if err := json.Unmarshal(raw, &added); err != nil {
			return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, addedPath, "not valid JSON: %v", err)
		}
		for text, id := range added {
			if id >= 0 && id < n {
				tokens[id], scores[id], types[id] = text, -1000, tokUserDefined
			}
		}
	}
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	if raw, err := os.ReadFile(tcPath); err == nil {
		var tc struct {
			Decoder map[string]struct {
				Content string `json:"content"`
				Special bool   `json:"special"`
			} `json:"added_tokens_decoder"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, tcPath, "not valid JSON: %v", err)
		}
		for k, d := range tc.Decoder {
			id, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, tcPath, "added_tokens_decoder key %q is not a token id", k)
			}
			if id < 0 || id >= n {
				if phi3 {
					return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, tcPath, "added token %q has id %d outside the vocabulary of %d", d.Content, id, n)
				}
				continue
			}
			text := d.Content
			if phi3 {
				tokens[id], scores[id], types[id] = text, -1000, tokUserDefined
				if d.Special {
					types[id] = tokControl
				}
				continue
			}
			if d.Special || looksSpecial(text) {
				types[id] = tokControl
			} else {
				text = strings.ReplaceAll(text, "\u2581", " ")
				types[id] = tokUserDefined
			}
			tokens[id], scores[id] = text, -1000
		}
	}
	if phi3 {
		tjPath := filepath.Join(dir, "tokenizer.json")
		if raw, err := os.ReadFile(tjPath); err == nil {
			var tj struct {
				AddedTokens []struct {
					ID      int64  `json:"id"`
					Content string `json:"content"`
					Special bool   `json:"special"`
				} `json:"added_tokens"`
			}
			if err := json.Unmarshal(raw, &tj); err != nil {
				return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, tjPath, "not valid JSON: %v", err)
			}
			for _, a := range tj.AddedTokens {
				if a.ID < 0 || a.ID >= n {
					return nil, nil, nil, false, ir.Errorf(ir.KindCorrupt, tjPath, "added token %q has id %d outside the vocabulary of %d", a.Content, a.ID, n)
				}
				tokens[a.ID], scores[a.ID], types[a.ID] = a.Content, -1000, tokUserDefined
				if a.Special {
					types[a.ID] = tokControl
				}
			}
		}
	}
	return tokens, scores, types, true, nil
}

// addSPMTokenizer is _set_vocab_sentencepiece: tokenizer model "llama", pre "default",
// the SentencePiece vocabulary and SpecialVocab's keys.
func addSPMTokenizer(m *ir.Model, dir string, cfg *config, phi3 bool) (bool, error) {
	tokens, scores, types, ok, err := spmVocab(dir, cfg, phi3)
	if err != nil || !ok {
		return false, err
	}
	m.KV = append(m.KV, ir.MetaKV{Key: "tokenizer.ggml.model", Value: "llama"},
		ir.MetaKV{Key: "tokenizer.ggml.pre", Value: "default"},
		ir.MetaKV{Key: "tokenizer.ggml.tokens", Value: tokens},
		ir.MetaKV{Key: "tokenizer.ggml.scores", Value: scores},
		ir.MetaKV{Key: "tokenizer.ggml.token_type", Value: types})
	special, err := specialVocabKV(dir, int64(len(tokens)))
	if err != nil {
		return false, err
	}
	m.KV = append(m.KV, special...)
	return true, nil
}

// setKV sets key to v in kv, replacing an earlier value (gguf-py overwrites a key
// written twice).
func setKV(kv []ir.MetaKV, key string, v any) []ir.MetaKV {
	for i := range kv {
		if kv[i].Key == key {
			kv[i].Value = v
			return kv
		}
	}
	return append(kv, ir.MetaKV{Key: key, Value: v})
}

// llamaTokenizer is LlamaModel.set_vocab: a SentencePiece tokenizer.model when the
// folder has one (Llama 1/2, Mistral), else tokenizer.json (addTokenizer); then
// CodeLlama's infill ids (vocab_size 32016), tokenizer_config.json's add_prefix_space
// as add_space_prefix, and add_bos false for Granite's small models (vocab_size 49152).
func llamaTokenizer(m *ir.Model, dir string, cfg *config, a arch) error {
	if a.name != "llama" {
		return addTokenizer(m, dir, cfg, a)
	}
	ok, err := addSPMTokenizer(m, dir, cfg, false)
	if err != nil {
		return err
	}
	if !ok {
		if err := addTokenizer(m, dir, cfg, a); err != nil {
			return err
		}
	}
	if cfg.VocabSize == 32016 {
		extra, err := specialVocabKVOf(dir, 0, []string{"prefix", "suffix", "middle", "eot"},
			map[string]int64{"prefix": 32007, "suffix": 32008, "middle": 32009, "eot": 32010}, true)
		if err != nil {
			return err
		}
		for _, e := range extra {
			m.KV = setKV(m.KV, e.Key, e.Value)
		}
	}
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	if raw, err := os.ReadFile(tcPath); err == nil {
		var tc map[string]any
		if err := json.Unmarshal(raw, &tc); err != nil {
			return ir.Errorf(ir.KindCorrupt, tcPath, "not valid JSON: %v", err)
		}
		if v, ok := tc["add_prefix_space"].(bool); ok {
			m.KV = setKV(m.KV, "tokenizer.ggml.add_space_prefix", v)
		}
	}
	if cfg.VocabSize == 49152 {
		m.KV = setKV(m.KV, "tokenizer.ggml.add_bos_token", false)
	}
	return nil
}
