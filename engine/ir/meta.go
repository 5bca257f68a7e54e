package ir

import (
	"fmt"
	"strconv"
)

// MetaKV is one typed metadata entry, as GGUF keeps them (general.architecture,
// llama.block_count, tokenizer.ggml.tokens, ...). Formats whose metadata is plain strings
// use Model.Metadata instead.
//
// Value holds a Go value of one of these types, which fixes the type written out:
//
//	uint8 int8 uint16 int16 uint32 int32 uint64 int64 float32 float64 bool string
//	a slice of one of those ([]uint32, []string, ...): an array of that type
//	[]any whose elements are themselves arrays: an array of arrays
//
// Typed slices keep large arrays (a 150 000-token vocabulary) compact.
type MetaKV struct {
	Key   string
	Value any
}

// MetaLookup returns the value of key in kv, or nil.
func MetaLookup(kv []MetaKV, key string) any {
	for _, e := range kv {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// MetaSet replaces the value of key in *kv, or appends it.
func MetaSet(kv *[]MetaKV, key string, value any) {
	for i := range *kv {
		if (*kv)[i].Key == key {
			(*kv)[i].Value = value
			return
		}
	}
	*kv = append(*kv, MetaKV{key, value})
}

// MetaString renders a scalar value as text (what string-only formats and `modelc info`
// show), and an array as "[N × type]". ok is false for a value of an unsupported type.
func MetaString(v any) (s string, ok bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case uint8, int8, uint16, int16, uint32, int32, uint64, int64:
		return fmt.Sprint(x), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case []any:
		return fmt.Sprintf("[%d × array]", len(x)), true
	}
	if n, elem, ok := metaArray(v); ok {
		return fmt.Sprintf("[%d × %s]", n, elem), true
	}
	return "", false
}

// metaArray reports the length and element type name of a typed-slice value.
func metaArray(v any) (n int, elem string, ok bool) {
	switch x := v.(type) {
	case []uint8:
		return len(x), "uint8", true
	case []int8:
		return len(x), "int8", true
	case []uint16:
		return len(x), "uint16", true
	case []int16:
		return len(x), "int16", true
	case []uint32:
		return len(x), "uint32", true
	case []int32:
		return len(x), "int32", true
	case []uint64:
		return len(x), "uint64", true
	case []int64:
		return len(x), "int64", true
	case []float32:
		return len(x), "float32", true
	case []float64:
		return len(x), "float64", true
	case []bool:
		return len(x), "bool", true
	case []string:
		return len(x), "string", true
	}
	return 0, "", false
}

// MetaIsArray reports whether v is an array value.
func MetaIsArray(v any) bool {
	if _, ok := v.([]any); ok {
		return true
	}
	_, _, ok := metaArray(v)
	return ok
}
