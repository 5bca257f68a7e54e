package hf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// specialVocab finds the special tokens and the add_*_token flags as gguf-py's
// SpecialVocab does (gguf-py 0.19.0 gguf/vocab.py, which convert_hf_to_gguf.py uses for
// every vocabulary): tokenizer.json's post_processor (RobertaProcessing, or a simple
// TemplateProcessing read for a leading BOS, a trailing EOS and a separator between
// the pair's sequences), then tokenizer_config.json's add_<type>_token flags and
// <type>_token texts (looked up among tokenizer.json's added_tokens), then config.json's
// <type>_token_id; the first value found for a type wins. The GGUF keys follow
// GGUFWriter: ids for bos, eos, unk, sep ("seperator", sic), pad, mask, eot, eom (cls
// has no key), flags for bos, eos and sep.
type specialVocab struct {
	types    []string
	ids      map[string]int64
	idOrder  []string
	add      map[string]bool
	addOrder []string
	template any
	nVocab   int64 // ids at or past it are ignored; 0: no limit
}

var (
	idKeys = map[string]string{"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
		"sep": "seperator_token_id", "pad": "padding_token_id", "mask": "mask_token_id", "eot": "eot_token_id", "eom": "eom_token_id"}
	addKeys = map[string]string{"bos": "add_bos_token", "eos": "add_eos_token", "sep": "add_sep_token"}
)

// readJSONFile decodes a JSON file with numbers kept exact; a missing file is nil.
func readJSONFile(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, path, "not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ir.Errorf(ir.KindCorrupt, path, "not a JSON object")
	}
	return m, nil
}

// pyInt is Python's isinstance(v, int) for a decoded JSON value (a bool is an int there).
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// truthy is Python's truth value of a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case bool:
		return x
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case json.Number:
		f, _ := x.Float64()
		return f != 0
	}
	return true
}

func pyEq(a, b any) bool { return reflect.DeepEqual(a, b) }

func getMap(v any, key string) map[string]any {
	m, _ := v.(map[string]any)
	sub, _ := m[key].(map[string]any)
	return sub
}

func getList(v any, key string) []any {
	m, _ := v.(map[string]any)
	l, _ := m[key].([]any)
	return l
}

func (sv *specialVocab) setID(path, typ string, v any) error {
	id, ok := pyInt(v)
	if !ok {
		return nil
	}
	if id < 0 {
		return ir.Errorf(ir.KindCorrupt, path, "invalid value for special token type %s: %d", typ, id)
	}
	if sv.nVocab > 0 && id >= sv.nVocab {
		return nil // out of range: gguf-py warns and skips it
	}
	sv.put(typ, id)
	return nil
}

// put records id for typ unless one was found before (the first value wins).
func (sv *specialVocab) put(typ string, id int64) {
	if _, done := sv.ids[typ]; !done {
		sv.ids[typ] = id
		sv.idOrder = append(sv.idOrder, typ)
	}
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

func (sv *specialVocab) setAdd(typ string, b bool) {
	if _, done := sv.add[typ]; !done {
		sv.addOrder = append(sv.addOrder, typ)
	}
	sv.add[typ] = b
}

func hasType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// loadSpecialVocab reads the folder's tokenizer.json, tokenizer_config.json,
// chat_template.jinja / chat_template.json and config.json, for SpecialVocab's default
// token types.
func loadSpecialVocab(dir string, nVocab int64) (*specialVocab, error) {
	return loadSpecialVocabOf(dir, nVocab, []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}, nil, true)
}

// specialVocabKV is the GGUF keys of loadSpecialVocab.
func specialVocabKV(dir string, nVocab int64) ([]ir.MetaKV, error) {
	sv, err := loadSpecialVocab(dir, nVocab)
	if err != nil {
		return nil, err
	}
	return sv.kv(), nil
}

// specialVocabKVOf is SpecialVocab with its special_token_types (types), the ids a
// converter sets afterwards where none was found (preset: CodeGemma's and CodeLlama's
// infill tokens) and the chat template on or off, as GGUF keys.
func specialVocabKVOf(dir string, nVocab int64, types []string, preset map[string]int64, withTemplate bool) ([]ir.MetaKV, error) {
	sv, err := loadSpecialVocabOf(dir, nVocab, types, preset, withTemplate)
	if err != nil {
		return nil, err
	}
	return sv.kv(), nil
}

func loadSpecialVocabOf(dir string, nVocab int64, types []string, preset map[string]int64, withTemplate bool) (*specialVocab, error) {
	sv := &specialVocab{types: append([]string(nil), types...),
		ids: map[string]int64{}, add: map[string]bool{}, nVocab: nVocab}
	tokPath := filepath.Join(dir, "tokenizer.json")
	tok, err := readJSONFile(tokPath)
	if err != nil {
		return nil, err
	}
	added := getList(tok, "added_tokens")
	tcPath := filepath.Join(dir, "tokenizer_config.json")
	tc, err := readJSONFile(tcPath)
	if err != nil {
		return nil, err
	}
	tcTrue := len(tc) > 0
	if len(tok) > 0 {
		bos, cls, eos, sep := tc["bos_token"], tc["cls_token"], tc["eos_token"], tc["sep_token"]
		if !truthy(bos) && truthy(cls) && tcTrue {
			tc["bos_token"], bos = cls, cls
		}
		if !truthy(eos) && truthy(sep) && tcTrue {
			tc["eos_token"], eos = sep, sep
		}
		if pp := getMap(tok, "post_processor"); pp != nil {
			procs := []any{pp}
			if l, ok := pp["processors"]; ok {
				procs, _ = l.([]any)
			}
			for _, p := range procs {
				proc, _ := p.(map[string]any)
				switch proc["type"] {
				case "RobertaProcessing":
					sv.setAdd("bos", true)
					sv.setAdd("eos", true)
					sv.setAdd("sep", true)
					if !truthy(cls) && tcTrue {
						cls = firstOr(proc["cls"], bos)
						tc["cls_token"] = cls
					}
					if !truthy(sep) && tcTrue {
						sep = firstOr(proc["sep"], eos)
						tc["sep_token"] = sep
					}
				case "TemplateProcessing":
					single, pair := getList(proc, "single"), getList(proc, "pair")
					var first, last any
					if len(single) > 1 {
						if first = getMap(single[0], "SpecialToken")["id"]; truthy(first) {
							if !tcTrue {
								bos = first
							}
							sv.setAdd("bos", pyEq(first, bos) || pyEq(first, cls))
						}
						if last = getMap(single[len(single)-1], "SpecialToken")["id"]; truthy(last) {
							if !tcTrue {
								eos = last
							} else if !pyEq(last, eos) {
								switch {
								case !hasType(sv.types, "eot"):
									sv.types = append(sv.types, "eot")
									tc["eot_token"] = eos
								case !hasType(sv.types, "eom"):
									sv.types = append(sv.types, "eom")
									tc["eom_token"] = eos
								}
								tc["eos_token"], eos = last, last
							}
							sv.setAdd("eos", pyEq(last, eos))
						}
					}
					if len(pair) > 0 {
						lo, hi := 0, len(pair)
						if truthy(first) && pyEq(getMap(pair[0], "SpecialToken")["id"], first) {
							lo = 1
						}
						if truthy(last) && pyEq(getMap(pair[len(pair)-1], "SpecialToken")["id"], last) {
							hi = len(pair) - 1
						}
						if lo < hi {
							pair = pair[lo:hi]
							a, b := getMap(pair[0], "Sequence")["id"], getMap(pair[len(pair)-1], "Sequence")["id"]
							if a == "A" && b == "B" && len(pair) > 2 {
								mid := pair[1 : len(pair)-1]
								addSep := false
								if e := getMap(mid[0], "SpecialToken")["id"]; truthy(e) {
									if (pyEq(e, sep) || pyEq(e, eos)) && !truthy(last) {
										addSep = true
									}
								}
								if len(mid) == 2 {
									if e := getMap(mid[1], "SpecialToken")["id"]; truthy(e) && (pyEq(e, sep) || pyEq(e, eos)) {
										addSep = true
									}
								}
								sv.setAdd("sep", addSep)
								if addSep && !truthy(sep) && tcTrue {
									tc["sep_token"] = eos
								}
							}
						}
					}
				}
			}
		}
	}
	if tcTrue && withTemplate {
		var alt any
		if raw, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
			alt = string(raw)
		} else if ct, err := readJSONFile(filepath.Join(dir, "chat_template.json")); err != nil {
			return nil, err
		} else if ct != nil {
			alt = ct["chat_template"]
		}
		sv.template = alt
		if t, ok := tc["chat_template"]; ok {
			sv.template = t
		}
	}
	if tcTrue {
		for _, typ := range sv.types {
			if b, ok := tc["add_"+typ+"_token"].(bool); ok {
				sv.setAdd(typ, b)
			}
			var content string
			switch e := tc[typ+"_token"].(type) {
			case string:
				content = e
			case map[string]any:
				c, ok := e["content"].(string)
				if !ok {
					continue
				}
				content = c
			default:
				continue
			}
			var id any
			for _, a := range added {
				if am, _ := a.(map[string]any); am != nil && am["content"] == content {
					id = am["id"]
					break
				}
			}
			if err := sv.setID(tcPath, typ, id); err != nil {
				return nil, err
			}
		}
	}
	cfgPath := filepath.Join(dir, "config.json")
	cfg, err := readJSONFile(cfgPath)
	if err != nil {
		return nil, err
	}
	for _, typ := range sv.types {
		v, ok := cfg[typ+"_token_id"]
		if (!ok || v == nil) && cfg["text_config"] != nil {
			v = getMap(cfg, "text_config")[typ+"_token_id"]
		}
		if err := sv.setID(cfgPath, typ, v); err != nil {
			return nil, err
		}
	}
	for _, typ := range sv.types {
		if id, ok := preset[typ]; ok {
			sv.put(typ, id)
		}
	}
	return sv, nil
}

// firstOr is Python's processor.get(key, [fallback])[0].
func firstOr(v, fallback any) any {
	if v == nil {
		return fallback
	}
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return fallback
}

// kv returns the GGUF keys, in GGUFWriter's order (SpecialVocab.add_to_gguf).
func (sv *specialVocab) kv() []ir.MetaKV {
	var out []ir.MetaKV
	for _, typ := range sv.idOrder {
		if k, ok := idKeys[typ]; ok {
			out = append(out, ir.MetaKV{Key: "tokenizer.ggml." + k, Value: uint32(sv.ids[typ])})
		}
	}
	for _, typ := range sv.addOrder {
		if k, ok := addKeys[typ]; ok {
			out = append(out, ir.MetaKV{Key: "tokenizer.ggml." + k, Value: sv.add[typ]})
		}
	}
	// a list of named templates is not written (modelc keeps the default one only when
	// it is a string); an empty template is skipped, as GGUFWriter.add_string does
	if t, ok := sv.template.(string); ok && t != "" {
		out = append(out, ir.MetaKV{Key: "tokenizer.chat_template", Value: t})
	}
	return out
}
