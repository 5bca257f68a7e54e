package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// GGUF metadata value types (gguf-py GGUFValueType).
const (
	tUint8   = 0
	tInt8    = 1
	tUint16  = 2
	tInt16   = 3
	tUint32  = 4
	tInt32   = 5
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
	tUint64  = 10
	tInt64   = 11
	tFloat64 = 12
)

// scalarSize is the encoded size of a fixed-size value type (0 for string and array).
var scalarSize = [13]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// maxArrayDepth bounds arrays of arrays, so a hostile file cannot recurse without end.
const maxArrayDepth = 8

// cursor reads little-endian values from the mapped file, checking every length against
// what is left before it allocates.
type cursor struct {
	b   []byte
	off int64
}

var errShort = errors.New("unexpected end of file")

func (c *cursor) take(n int64) ([]byte, error) {
	if n < 0 || n > int64(len(c.b))-c.off {
		return nil, errShort
	}
	s := c.b[c.off : c.off+n]
	c.off += n
	return s, nil
}

func (c *cursor) u32() (uint32, error) {
	s, err := c.take(4)
	if err != nil {
		return 0, err
	}
	return le.Uint32(s), nil
}

func (c *cursor) u64() (uint64, error) {
	s, err := c.take(8)
	if err != nil {
		return 0, err
	}
	return le.Uint64(s), nil
}

func (c *cursor) str() (string, error) {
	n, err := c.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(len(c.b))-uint64(c.off) {
		return "", fmt.Errorf("string of %d bytes runs past the end of the file", n)
	}
	s, _ := c.take(int64(n))
	return string(s), nil
}

// value decodes a metadata value of type t into the Go type ir.MetaKV documents.
func (c *cursor) value(t uint32, depth int) (any, error) {
	if t <= tFloat64 && scalarSize[t] > 0 {
		s, err := c.take(int64(scalarSize[t]))
		if err != nil {
			return nil, err
		}
		return scalar(t, s)
	}
	switch t {
	case tString:
		return c.str()
	case tArray:
		return c.array(depth)
	}
	return nil, fmt.Errorf("unknown value type %d", t)
}

func scalar(t uint32, s []byte) (any, error) {
	switch t {
	case tUint8:
		return s[0], nil
	case tInt8:
		return int8(s[0]), nil
	case tUint16:
		return le.Uint16(s), nil
	case tInt16:
		return int16(le.Uint16(s)), nil
	case tUint32:
		return le.Uint32(s), nil
	case tInt32:
		return int32(le.Uint32(s)), nil
	case tFloat32:
		return math.Float32frombits(le.Uint32(s)), nil
	case tBool:
		if s[0] > 1 {
			return nil, fmt.Errorf("bool value %d is neither 0 nor 1", s[0])
		}
		return s[0] == 1, nil
	case tUint64:
		return le.Uint64(s), nil
	case tInt64:
		return int64(le.Uint64(s)), nil
	case tFloat64:
		return math.Float64frombits(le.Uint64(s)), nil
	}
	return nil, fmt.Errorf("unknown value type %d", t)
}

func (c *cursor) array(depth int) (any, error) {
	if depth >= maxArrayDepth {
		return nil, fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
	}
	et, err := c.u32()
	if err != nil {
		return nil, err
	}
	n, err := c.u64()
	if err != nil {
		return nil, err
	}
	// Every element takes at least one byte (strings and arrays at least 8), so a count
	// larger than what is left is a lie: refuse it before allocating.
	minSize := uint64(8)
	if et <= tFloat64 && scalarSize[et] > 0 {
		minSize = uint64(scalarSize[et])
	} else if et != tString && et != tArray {
		return nil, fmt.Errorf("array of unknown value type %d", et)
	}
	left := uint64(len(c.b)) - uint64(c.off)
	if n > left/minSize {
		return nil, fmt.Errorf("array of %d elements of type %d runs past the end of the file", n, et)
	}
	switch et {
	case tString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = c.str(); err != nil {
				return nil, err
			}
		}
		return out, nil
	case tArray:
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.array(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	raw, _ := c.take(int64(n * minSize))
	return scalarArray(et, raw, int(n))
}

// scalarArray decodes n packed little-endian values of type t into a typed slice.
func scalarArray(t uint32, raw []byte, n int) (any, error) {
	size := scalarSize[t]
	switch t {
	case tUint8:
		return append([]uint8(nil), raw...), nil
	case tInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(raw[i])
		}
		return out, nil
	case tBool:
		out := make([]bool, n)
		for i := range out {
			if raw[i] > 1 {
				return nil, fmt.Errorf("bool array element %d is %d, neither 0 nor 1", i, raw[i])
			}
			out[i] = raw[i] == 1
		}
		return out, nil
	}
	decode := func(set func(i int, s []byte)) {
		for i := 0; i < n; i++ {
			set(i, raw[i*size:])
		}
	}
	switch t {
	case tUint16:
		out := make([]uint16, n)
		decode(func(i int, s []byte) { out[i] = le.Uint16(s) })
		return out, nil
	case tInt16:
		out := make([]int16, n)
		decode(func(i int, s []byte) { out[i] = int16(le.Uint16(s)) })
		return out, nil
	case tUint32:
		out := make([]uint32, n)
		decode(func(i int, s []byte) { out[i] = le.Uint32(s) })
		return out, nil
	case tInt32:
		out := make([]int32, n)
		decode(func(i int, s []byte) { out[i] = int32(le.Uint32(s)) })
		return out, nil
	case tFloat32:
		out := make([]float32, n)
		decode(func(i int, s []byte) { out[i] = math.Float32frombits(le.Uint32(s)) })
		return out, nil
	case tUint64:
		out := make([]uint64, n)
		decode(func(i int, s []byte) { out[i] = le.Uint64(s) })
		return out, nil
	case tInt64:
		out := make([]int64, n)
		decode(func(i int, s []byte) { out[i] = int64(le.Uint64(s)) })
		return out, nil
	case tFloat64:
		out := make([]float64, n)
		decode(func(i int, s []byte) { out[i] = math.Float64frombits(le.Uint64(s)) })
		return out, nil
	}
	return nil, fmt.Errorf("unknown value type %d", t)
}

// ---- writing --------------------------------------------------------------------------------

// valueType returns the GGUF type id of a metadata value (see ir.MetaKV).
func valueType(v any) (uint32, error) {
	switch v.(type) {
	case uint8:
		return tUint8, nil
	case int8:
		return tInt8, nil
	case uint16:
		return tUint16, nil
	case int16:
		return tInt16, nil
	case uint32:
		return tUint32, nil
	case int32:
		return tInt32, nil
	case float32:
		return tFloat32, nil
	case bool:
		return tBool, nil
	case string:
		return tString, nil
	case uint64:
		return tUint64, nil
	case int64:
		return tInt64, nil
	case float64:
		return tFloat64, nil
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string,
		[]uint64, []int64, []float64, []any:
		return tArray, nil
	}
	return 0, fmt.Errorf("metadata value of Go type %T has no GGUF type", v)
}

// elemType is the GGUF element type of an array value.
func elemType(v any) uint32 {
	switch v.(type) {
	case []uint8:
		return tUint8
	case []int8:
		return tInt8
	case []uint16:
		return tUint16
	case []int16:
		return tInt16
	case []uint32:
		return tUint32
	case []int32:
		return tInt32
	case []float32:
		return tFloat32
	case []bool:
		return tBool
	case []string:
		return tString
	case []uint64:
		return tUint64
	case []int64:
		return tInt64
	case []float64:
		return tFloat64
	}
	return tArray
}

// writer emits GGUF's little-endian encoding, remembering the first error.
type writer struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (w *writer) bytes(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
		w.n += int64(len(b))
	}
}

func (w *writer) u8(v uint8)   { w.bytes([]byte{v}) }
func (w *writer) u16(v uint16) { le.PutUint16(w.buf[:], v); w.bytes(w.buf[:2]) }
func (w *writer) u32(v uint32) { le.PutUint32(w.buf[:], v); w.bytes(w.buf[:4]) }
func (w *writer) u64(v uint64) { le.PutUint64(w.buf[:], v); w.bytes(w.buf[:8]) }
func (w *writer) str(s string) { w.u64(uint64(len(s))); w.bytes([]byte(s)) }

// value writes v without its type id (the caller writes that: a key's type, or an
// array's element type once for all elements).
func (w *writer) value(v any) {
	switch x := v.(type) {
	case uint8:
		w.u8(x)
	case int8:
		w.u8(uint8(x))
	case uint16:
		w.u16(x)
	case int16:
		w.u16(uint16(x))
	case uint32:
		w.u32(x)
	case int32:
		w.u32(uint32(x))
	case float32:
		w.u32(math.Float32bits(x))
	case bool:
		if x {
			w.u8(1)
		} else {
			w.u8(0)
		}
	case string:
		w.str(x)
	case uint64:
		w.u64(x)
	case int64:
		w.u64(uint64(x))
	case float64:
		w.u64(math.Float64bits(x))
	case []any:
		w.u32(tArray)
		w.u64(uint64(len(x)))
		for _, e := range x {
			w.value(e)
		}
	default:
		w.array(v)
	}
}

func (w *writer) array(v any) {
	et := elemType(v)
	w.u32(et)
	each := func(n int, f func(i int)) {
		w.u64(uint64(n))
		for i := 0; i < n; i++ {
			f(i)
		}
	}
	switch x := v.(type) {
	case []uint8:
		w.u64(uint64(len(x)))
		w.bytes(x)
	case []int8:
		each(len(x), func(i int) { w.u8(uint8(x[i])) })
	case []uint16:
		each(len(x), func(i int) { w.u16(x[i]) })
	case []int16:
		each(len(x), func(i int) { w.u16(uint16(x[i])) })
	case []uint32:
		each(len(x), func(i int) { w.u32(x[i]) })
	case []int32:
		each(len(x), func(i int) { w.u32(uint32(x[i])) })
	case []float32:
		each(len(x), func(i int) { w.u32(math.Float32bits(x[i])) })
	case []bool:
		each(len(x), func(i int) { w.value(x[i]) })
	case []string:
		each(len(x), func(i int) { w.str(x[i]) })
	case []uint64:
		each(len(x), func(i int) { w.u64(x[i]) })
	case []int64:
		each(len(x), func(i int) { w.u64(uint64(x[i])) })
	case []float64:
		each(len(x), func(i int) { w.u64(math.Float64bits(x[i])) })
	}
}

// checkValue verifies that v (and every nested array) has a GGUF type.
func checkValue(v any, depth int) error {
	if _, err := valueType(v); err != nil {
		return err
	}
	if arr, ok := v.([]any); ok {
		if depth >= maxArrayDepth {
			return fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
		}
		for i, e := range arr {
			if !ir.MetaIsArray(e) {
				return fmt.Errorf("element %d of an array of arrays is a %T, not an array", i, e)
			}
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
