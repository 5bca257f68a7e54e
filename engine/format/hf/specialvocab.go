package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// specialVocab computes the special-token keys gguf-py's SpecialVocab writes (the class
// convert_hf_to_gguf.py calls for BERT, Gemma and Phi-3): token ids by kind from
// tokenizer_config.json's *_token entries looked up among tokenizer.json's added_tokens,
// then config.json's *_token_id; add_bos/add_eos/add_sep from tokenizer.json's
// post-processor (RobertaProcessing, or a simple TemplateProcessing) and from
// tokenizer_config.json's add_*_token; the chat template. Kinds without a GGUF key
// (cls) are dropped as gguf-py drops them. Ids at or past nVocab are skipped.
func specialVocab(dir string, nVocab int) ([]ir.MetaKV, error) {
	return specialVocabOf(dir, nVocab, []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}, nil, true)
}

// specialVocabOf is SpecialVocab with its special_token_types (kinds), ids set after
// loading where none was found (preset, in kinds order), and the chat template on or
// off. nVocab < 0: no range check (gguf-py's n_vocab None).
func specialVocabOf(dir string, nVocab int, kinds []string, preset map[string]int64, withTemplate bool) ([]ir.MetaKV, error) {
	kinds = append([]string(nil), kinds...)
	var tok struct {
		AddedTokens []struct {
			ID      *int64 `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		PostProcessor map[string]any `json:"post_processor"`
	}
	haveTok := false
	tokPath := filepath.Join(dir, "tokenizer.json")
	if raw, err := os.ReadFile(tokPath); err == nil {
		if err := json.Unmarshal(raw, &tok); err != nil {
			return nil, ir.Errorf(ir.KindCorrupt, tokPath, "not valid JSON: %v", err)
		}
		haveTok = true
	}
	var tc map[string]any
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	if raw, err := os.ReadFile(tcPath); err == nil {
		if err := json.Unmarshal(raw, &tc); err != nil {
			return nil, ir.Errorf(ir.KindCorrupt, tcPath, "not valid JSON: %v", err)
		}
	}
	add := map[string]bool{}
	var addOrder []string
	setAdd := func(k string, v bool) {
		if _, ok := add[k]; !ok {
			addOrder = append(addOrder, k)
		}
		add[k] = v
	}
	if haveTok {
		// gguf-py compares these as given: an AddedToken object is present but equals no
		// token text
		str := func(k string) string {
			switch v := tc[k+"_token"].(type) {
			case nil:
				return ""
			case string:
				return v
			}
			return "\x00object"
		}
		bos, cls, eos, sep := str("bos"), str("cls"), str("eos"), str("sep")
		if bos == "" && cls != "" && len(tc) > 0 {
			tc["bos_token"], bos = cls, cls
		}
		if eos == "" && sep != "" && len(tc) > 0 {
			tc["eos_token"], eos = sep, sep
		}
		pp := tok.PostProcessor
		procs := []any{}
		if pp != nil {
			if list, ok := pp["processors"].([]any); ok {
				procs = list
			} else {
				procs = []any{any(pp)}
			}
		}
		for _, p := range procs {
			proc, _ := p.(map[string]any)
			switch proc["type"] {
			case "RobertaProcessing":
				setAdd("bos", true)
				setAdd("eos", true)
				setAdd("sep", true)
				if cls == "" && len(tc) > 0 {
					cls = firstString(proc["cls"], bos)
					tc["cls_token"] = cls
				}
				if sep == "" && len(tc) > 0 {
					sep = firstString(proc["sep"], eos)
					tc["sep_token"] = sep
				}
			case "TemplateProcessing":
				single, _ := proc["single"].([]any)
				pair, _ := proc["pair"].([]any)
				first, last := "", ""
				if len(single) > 1 {
					if first = specialID(single[0]); first != "" {
						if len(tc) == 0 {
							bos = first
						}
						setAdd("bos", first == bos || first == cls)
					}
					if last = specialID(single[len(single)-1]); last != "" {
						if len(tc) == 0 {
							eos = last
						} else if last != eos {
							if !contains(kinds, "eot") {
								kinds = append(kinds, "eot")
								tc["eot_token"] = eos
							} else if !contains(kinds, "eom") {
								kinds = append(kinds, "eom")
								tc["eom_token"] = eos
							}
							tc["eos_token"], eos = last, last
						}
						setAdd("eos", last == eos)
					}
				}
				if len(pair) > 0 {
					start, stop := 0, len(pair)
					if first != "" && specialID(pair[0]) == first {
						start = 1
					}
					if last != "" && specialID(pair[len(pair)-1]) == last {
						stop = len(pair) - 1
					}
					if start > stop {
						start = stop
					}
					mid := pair[start:stop]
					if len(mid) > 0 && sequenceID(mid[0]) == "A" && sequenceID(mid[len(mid)-1]) == "B" && len(mid) > 2 {
						mid = mid[1 : len(mid)-1]
						addSep := false
						if e := specialID(mid[0]); e != "" && (e == sep || e == eos) && last == "" {
							addSep = true
						}
						if len(mid) == 2 {
							if e := specialID(mid[1]); e != "" && (e == sep || e == eos) {
								addSep = true
							}
						}
						setAdd("sep", addSep)
						if addSep && sep == "" && len(tc) > 0 {
							tc["sep_token"] = eos
						}
					}
				}
			}
		}
	}
	ids := map[string]int64{}
	var idOrder []string
	setID := func(k string, id int64) {
		if _, done := ids[k]; done || id < 0 || (nVocab >= 0 && id >= int64(nVocab)) {
			return
		}
		ids[k] = id
		idOrder = append(idOrder, k)
	}
	if len(tc) > 0 {
		for _, k := range kinds {
			if b, ok := tc["add_"+k+"_token"].(bool); ok {
				setAdd(k, b)
			}
			text, ok := tc[k+"_token"].(string)
			if m, isMap := tc[k+"_token"].(map[string]any); isMap {
				text, ok = m["content"].(string)
			}
			if !ok {
				continue
			}
			for _, a := range tok.AddedTokens {
				if a.Content == text {
					if a.ID != nil {
						setID(k, *a.ID)
					}
					break
				}
			}
		}
	}
	var cfg map[string]any
	cfgPath := filepath.Join(dir, "config.json")
	if raw, err := os.ReadFile(cfgPath); err == nil {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, ir.Errorf(ir.KindCorrupt, cfgPath, "not valid JSON: %v", err)
		}
	}
	for _, k := range kinds {
		v, ok := cfg[k+"_token_id"]
		if !ok || v == nil {
			if tcfg, ok := cfg["text_config"].(map[string]any); ok {
				v = tcfg[k+"_token_id"]
			}
		}
		// gguf-py takes ints only: a list of eos ids is not a special token id
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			setID(k, int64(f))
		}
	}
	for _, k := range kinds {
		if id, ok := preset[k]; ok {
			setID(k, id)
		}
	}
	keys := map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
		"sep": "seperator_token_id", "pad": "padding_token_id", "mask": "mask_token_id",
		"eot": "eot_token_id", "eom": "eom_token_id"}
	var kv []ir.MetaKV
	for _, k := range idOrder {
		if name, ok := keys[k]; ok {
			kv = append(kv, ir.MetaKV{Key: "tokenizer.ggml." + name, Value: uint32(ids[k])})
		}
	}
	for _, k := range addOrder {
		if k == "bos" || k == "eos" || k == "sep" {
			kv = append(kv, ir.MetaKV{Key: "tokenizer.ggml.add_" + k + "_token", Value: add[k]})
		}
	}
	if t, ok := tc["chat_template"].(string); ok && withTemplate {
		kv = append(kv, ir.MetaKV{Key: "tokenizer.chat_template", Value: t})
	}
	return kv, nil
}

// specialID reads {"SpecialToken": {"id": ...}} of a TemplateProcessing entry.
func specialID(v any) string {
	m, _ := v.(map[string]any)
	st, _ := m["SpecialToken"].(map[string]any)
	s, _ := st["id"].(string)
	return s
}

// sequenceID reads {"Sequence": {"id": "A"}} of a TemplateProcessing entry.
func sequenceID(v any) string {
	m, _ := v.(map[string]any)
	st, _ := m["Sequence"].(map[string]any)
	s, _ := st["id"].(string)
	return s
}

// firstString reads a RobertaProcessing ["token", id] pair's token, else def.
func firstString(v any, def string) string {
	if l, ok := v.([]any); ok && len(l) > 0 {
		if s, ok := l[0].(string); ok {
			return s
		}
	}
	return def
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special: added tokens that
// ought to be control tokens though not marked special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>") ||
		strings.HasPrefix(t, "<｜") && strings.HasSuffix(t, "｜>") ||
		strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">")
}
