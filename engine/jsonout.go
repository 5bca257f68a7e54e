package engine

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// MarshalJSON encodes a report (Info, CompressReport, VerifyReport, anything the front
// ends print or return as JSON) as encoding/json does — the same field names, order,
// omitempty and nesting — except that a float that is NaN or ±Inf, which JSON cannot
// hold, is written as null instead of failing. A verification that met NaN says so
// in its counts (non_finite) and its pass flag; the JSON never breaks on it. With
// indent, the output is indented by two spaces, as `modelc … --json` prints it.
func MarshalJSON(v any, indent bool) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeSafe(&b, reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	if !indent {
		return b.Bytes(), nil
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func encodeSafe(b *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	t := v.Type()
	// A type with its own encoding (and anything else this walker has no rule for) is
	// left to encoding/json.
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return plain(b, v)
	}
	if t.Kind() != reflect.Pointer && v.CanAddr() && (reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)) {
		return plain(b, v.Addr())
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b.WriteString("null")
			return nil
		}
		return plain(b, v)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return encodeSafe(b, v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return plain(b, v) // []byte: base64, as encoding/json
		}
		fallthrough
	case reflect.Array:
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeSafe(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		type kv struct {
			key string
			val reflect.Value
		}
		var entries []kv
		for it := v.MapRange(); it.Next(); {
			k, err := json.Marshal(it.Key().Interface())
			if err != nil {
				return err
			}
			key := string(k)
			if !strings.HasPrefix(key, `"`) { // an integer key: quoted, as encoding/json
				key = `"` + key + `"`
			}
			entries = append(entries, kv{key, it.Value()})
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
		b.WriteByte('{')
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(e.key)
			b.WriteByte(':')
			if err := encodeSafe(b, e.val); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case reflect.Struct:
		b.WriteByte('{')
		first := true
		if err := encodeFields(b, v, &first); err != nil {
			return err
		}
		b.WriteByte('}')
		return nil
	}
	return plain(b, v)
}

// encodeFields writes the fields of struct v (embedded structs' fields promoted).
func encodeFields(b *bytes.Buffer, v reflect.Value, first *bool) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := encodeFields(b, fv, first); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if hasOpt(opts, "omitempty") && emptyValue(fv) {
			continue
		}
		if !*first {
			b.WriteByte(',')
		}
		*first = false
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		if hasOpt(opts, "string") && quotable(fv.Kind()) {
			var inner bytes.Buffer
			if err := encodeSafe(&inner, fv); err != nil {
				return err
			}
			if inner.String() != "null" { // a NaN stays null
				q, _ := json.Marshal(inner.String())
				inner.Reset()
				inner.Write(q)
			}
			b.Write(inner.Bytes())
			continue
		}
		if err := encodeSafe(b, fv); err != nil {
			return err
		}
	}
	return nil
}

// quotable: the kinds the ",string" tag option applies to.
func quotable(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// emptyValue is encoding/json's test for omitempty.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return v.IsZero()
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func plain(b *bytes.Buffer, v reflect.Value) error {
	var x any
	if v.CanInterface() {
		x = v.Interface()
	} else {
		return fmt.Errorf("json: unexported value of type %v", v.Type())
	}
	enc, err := json.Marshal(x)
	if err != nil {
		return err
	}
	b.Write(enc)
	return nil
}
