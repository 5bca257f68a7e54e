package runtime

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/modelc/modelc/engine/ir"
)

// Tensor is a value while the runtime works: a logical dtype, a shape, and the values
// in a plain Go slice. The slice type is the dtype's storage class:
//
//	float32, float16, bfloat16 → []float32 (16-bit floats are computed in float32 and
//	                             rounded back to their precision after every op)
//	float64 → []float64, int64 → []int64, int32 → []int32, int16 → []int16,
//	int8, int4 → []int8, uint8, uint4 → []uint8, uint16 → []uint16, uint32 → []uint32,
//	uint64 → []uint64, bool → []bool, string → []string
//
// Kernels never modify their inputs, so a value may share its slice with another
// (Reshape, Identity) or with an initializer's memory map.
type Tensor struct {
	DType ir.DType
	Shape []int
	Data  any
	// lent is the session's pooled buffer that holds this output alone, and lentAs the
	// buffer's lending count when it was handed out (Session.Recycle).
	lent   *buffer
	lentAs uint64
}

// Len is the number of elements.
func (t *Tensor) Len() int { return dataLen(t.Data) }

// String describes the tensor's type for messages: float32[2,3].
func (t *Tensor) String() string { return fmt.Sprintf("%v%v", t.DType, t.Shape) }

// storable reports whether the runtime can hold values of dtype d.
func storable(d ir.DType) bool {
	switch d {
	case ir.Float32, ir.Float16, ir.BFloat16, ir.Float64, ir.Int64, ir.Int32, ir.Int16, ir.Int8,
		ir.Int4, ir.Uint8, ir.Uint4, ir.Uint16, ir.Uint32, ir.Uint64, ir.Bool, ir.String:
		return true
	}
	return false
}

// alloc makes a zeroed slice of the storage class of d.
func alloc(d ir.DType, n int) any {
	switch d {
	case ir.Float32, ir.Float16, ir.BFloat16:
		return make([]float32, n)
	case ir.Float64:
		return make([]float64, n)
	case ir.Int64:
		return make([]int64, n)
	case ir.Int32:
		return make([]int32, n)
	case ir.Int16:
		return make([]int16, n)
	case ir.Int8, ir.Int4:
		return make([]int8, n)
	case ir.Uint8, ir.Uint4:
		return make([]uint8, n)
	case ir.Uint16:
		return make([]uint16, n)
	case ir.Uint32:
		return make([]uint32, n)
	case ir.Uint64:
		return make([]uint64, n)
	case ir.Bool:
		return make([]bool, n)
	case ir.String:
		return make([]string, n)
	}
	panic(fmt.Sprintf("runtime: no storage for %v", d))
}

// newTensor allocates a zeroed tensor.
func newTensor(d ir.DType, shape []int) *Tensor {
	return &Tensor{DType: d, Shape: shape, Data: alloc(d, prod(shape))}
}

func dataLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []int64:
		return len(d)
	case []int32:
		return len(d)
	case []int16:
		return len(d)
	case []int8:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	}
	panic(fmt.Sprintf("runtime: unknown storage %T", data))
}

func prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// FromIR converts an IR tensor into a runtime value. float32 data that is suitably
// aligned is shared, not copied; everything else is decoded into a new slice.
func FromIR(t *ir.Tensor) (*Tensor, error) {
	if !storable(t.DType) {
		return nil, ir.Errorf(ir.KindUnsupported, "", "tensor %q: dtype %v is not supported by the runtime", t.Name, t.DType)
	}
	shape := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 || d > math.MaxInt32*64 {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "tensor %q: bad dimension %d", t.Name, d)
		}
		shape[i] = int(d)
	}
	n := prod(shape)
	out := &Tensor{DType: t.DType, Shape: shape}
	if t.DType == ir.String {
		s := make([]string, n)
		for i, v := range t.Strings() {
			s[i] = string(v)
		}
		out.Data = s
		return out, nil
	}
	b := t.Bytes()
	if want, ok := t.DType.ByteSize(int64(n)); !ok || int64(len(b)) != want {
		return nil, ir.Errorf(ir.KindCorrupt, "", "tensor %q: %d bytes for %v%v", t.Name, len(b), t.DType, t.Shape)
	}
	le := binary.LittleEndian
	switch t.DType {
	case ir.Float32:
		f, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		out.Data = f
	case ir.Float16, ir.BFloat16, ir.Int4, ir.Uint4:
		f, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		switch t.DType {
		case ir.Int4:
			out.Data = convertSlice[float32, int8](f)
		case ir.Uint4:
			out.Data = convertSlice[float32, uint8](f)
		default:
			out.Data = f
		}
	case ir.Float64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		out.Data = v
	case ir.Int64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(le.Uint64(b[8*i:]))
		}
		out.Data = v
	case ir.Uint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = le.Uint64(b[8*i:])
		}
		out.Data = v
	case ir.Int32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(le.Uint32(b[4*i:]))
		}
		out.Data = v
	case ir.Uint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = le.Uint32(b[4*i:])
		}
		out.Data = v
	case ir.Int16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(le.Uint16(b[2*i:]))
		}
		out.Data = v
	case ir.Uint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = le.Uint16(b[2*i:])
		}
		out.Data = v
	case ir.Int8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(b[i])
		}
		out.Data = v
	case ir.Uint8:
		out.Data = append([]uint8(nil), b...)
	case ir.Bool:
		v := make([]bool, n)
		for i := range v {
			v[i] = b[i] != 0
		}
		out.Data = v
	}
	return out, nil
}

// ToIR converts a runtime value to an IR tensor with packed little-endian bytes.
func ToIR(name string, t *Tensor) (*ir.Tensor, error) {
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	if t.DType == ir.String {
		s := t.Data.([]string)
		vals := make([][]byte, len(s))
		for i, v := range s {
			vals[i] = []byte(v)
		}
		return ir.NewStringTensor(name, shape, vals)
	}
	var b []byte
	switch t.DType {
	case ir.Float16, ir.BFloat16:
		f := t.Data.([]float32)
		b = make([]byte, 2*len(f))
		for i, v := range f {
			var h uint16
			if t.DType == ir.Float16 {
				h = ir.Float32ToFloat16(v)
			} else {
				h = ir.Float32ToBFloat16(v)
			}
			binary.LittleEndian.PutUint16(b[2*i:], h)
		}
	case ir.Int4, ir.Uint4:
		n := t.Len()
		b = make([]byte, (n+1)/2)
		for i := 0; i < n; i++ {
			var v byte
			if t.DType == ir.Int4 {
				v = byte(t.Data.([]int8)[i]) & 0xF
			} else {
				v = t.Data.([]uint8)[i] & 0xF
			}
			b[i/2] |= v << (4 * (i % 2))
		}
	case ir.Bool:
		bs := t.Data.([]bool)
		b = make([]byte, len(bs))
		for i, v := range bs {
			if v {
				b[i] = 1
			}
		}
	default:
		b = append([]byte(nil), rawBytes(t.Data)...)
	}
	return ir.NewTensor(name, t.DType, shape, b)
}

// rawBytes views a numeric slice as its bytes (the host is little-endian).
func rawBytes(data any) []byte {
	n := dataLen(data)
	if n == 0 {
		return nil
	}
	var p unsafe.Pointer
	var size int
	switch d := data.(type) {
	case []float32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []float64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []int64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []uint64:
		p, size = unsafe.Pointer(&d[0]), 8
	case []int32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []uint32:
		p, size = unsafe.Pointer(&d[0]), 4
	case []int16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []uint16:
		p, size = unsafe.Pointer(&d[0]), 2
	case []int8:
		p, size = unsafe.Pointer(&d[0]), 1
	case []uint8:
		p, size = unsafe.Pointer(&d[0]), 1
	default:
		panic(fmt.Sprintf("runtime: rawBytes of %T", data))
	}
	return unsafe.Slice((*byte)(p), n*size)
}

// roundTo16 rounds float32 values to the precision of a 16-bit float dtype in place, so
// a float16 computation behaves as if every op had stored its result as float16.
func roundTo16(d ir.DType, f []float32) {
	switch d {
	case ir.Float16:
		for i, v := range f {
			f[i] = ir.Float16ToFloat32(ir.Float32ToFloat16(v))
		}
	case ir.BFloat16:
		for i, v := range f {
			f[i] = ir.BFloat16ToFloat32(ir.Float32ToBFloat16(v))
		}
	}
}

// ---- generic helpers over the storage classes ------------------------------------------

type number interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type float interface{ ~float32 | ~float64 }

func convertSlice[S, D number](s []S) []D {
	d := make([]D, len(s))
	for i, v := range s {
		d[i] = D(v)
	}
	return d
}

// float64s returns the values of a numeric or bool tensor as float64 (a copy).
func float64s(t *Tensor) []float64 {
	switch d := t.Data.(type) {
	case []float32:
		return convertSlice[float32, float64](d)
	case []float64:
		return d
	case []int64:
		return convertSlice[int64, float64](d)
	case []int32:
		return convertSlice[int32, float64](d)
	case []int16:
		return convertSlice[int16, float64](d)
	case []int8:
		return convertSlice[int8, float64](d)
	case []uint8:
		return convertSlice[uint8, float64](d)
	case []uint16:
		return convertSlice[uint16, float64](d)
	case []uint32:
		return convertSlice[uint32, float64](d)
	case []uint64:
		return convertSlice[uint64, float64](d)
	case []bool:
		out := make([]float64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out
	}
	panic(fmt.Sprintf("runtime: float64s of %T", t.Data))
}

// int64s returns the values of an integer (or float, truncated) tensor as int64.
func int64s(t *Tensor) []int64 {
	switch d := t.Data.(type) {
	case []int64:
		return d
	case []int32:
		return convertSlice[int32, int64](d)
	case []int16:
		return convertSlice[int16, int64](d)
	case []int8:
		return convertSlice[int8, int64](d)
	case []uint8:
		return convertSlice[uint8, int64](d)
	case []uint16:
		return convertSlice[uint16, int64](d)
	case []uint32:
		return convertSlice[uint32, int64](d)
	case []uint64:
		return convertSlice[uint64, int64](d)
	case []float32:
		return convertSlice[float32, int64](d)
	case []float64:
		return convertSlice[float64, int64](d)
	case []bool:
		out := make([]int64, len(d))
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
		return out
	}
	panic(fmt.Sprintf("runtime: int64s of %T", t.Data))
}

// take gathers data[idx[i]] into a new slice of the same type: the engine of every op
// that only moves values (Transpose, Slice, Gather, Tile, Expand, ...).
func take(data any, idx []int) any {
	switch d := data.(type) {
	case []float32:
		return takeT(d, idx)
	case []float64:
		return takeT(d, idx)
	case []int64:
		return takeT(d, idx)
	case []int32:
		return takeT(d, idx)
	case []int16:
		return takeT(d, idx)
	case []int8:
		return takeT(d, idx)
	case []uint8:
		return takeT(d, idx)
	case []uint16:
		return takeT(d, idx)
	case []uint32:
		return takeT(d, idx)
	case []uint64:
		return takeT(d, idx)
	case []bool:
		return takeT(d, idx)
	case []string:
		return takeT(d, idx)
	}
	panic(fmt.Sprintf("runtime: take of %T", data))
}

func takeT[T any](d []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = d[j]
	}
	return out
}

// put copies src into dst (same storage class) at element offset off.
func put(dst any, off int, src any) {
	switch d := dst.(type) {
	case []float32:
		copy(d[off:], src.([]float32))
	case []float64:
		copy(d[off:], src.([]float64))
	case []int64:
		copy(d[off:], src.([]int64))
	case []int32:
		copy(d[off:], src.([]int32))
	case []int16:
		copy(d[off:], src.([]int16))
	case []int8:
		copy(d[off:], src.([]int8))
	case []uint8:
		copy(d[off:], src.([]uint8))
	case []uint16:
		copy(d[off:], src.([]uint16))
	case []uint32:
		copy(d[off:], src.([]uint32))
	case []uint64:
		copy(d[off:], src.([]uint64))
	case []bool:
		copy(d[off:], src.([]bool))
	case []string:
		copy(d[off:], src.([]string))
	default:
		panic(fmt.Sprintf("runtime: put into %T", dst))
	}
}

// slice returns data[lo:hi] (sharing memory).
func slice(data any, lo, hi int) any {
	switch d := data.(type) {
	case []float32:
		return d[lo:hi]
	case []float64:
		return d[lo:hi]
	case []int64:
		return d[lo:hi]
	case []int32:
		return d[lo:hi]
	case []int16:
		return d[lo:hi]
	case []int8:
		return d[lo:hi]
	case []uint8:
		return d[lo:hi]
	case []uint16:
		return d[lo:hi]
	case []uint32:
		return d[lo:hi]
	case []uint64:
		return d[lo:hi]
	case []bool:
		return d[lo:hi]
	case []string:
		return d[lo:hi]
	}
	panic(fmt.Sprintf("runtime: slice of %T", data))
}

// setFloat64s stores float64 values into a numeric tensor of any storage class,
// converting as Go does (callers saturate or round first where ONNX asks for it).
func fromFloat64s(d ir.DType, shape []int, v []float64) *Tensor {
	t := newTensor(d, shape)
	switch o := t.Data.(type) {
	case []float32:
		for i, x := range v {
			o[i] = float32(x)
		}
	case []float64:
		copy(o, v)
	case []int64:
		fillConv(o, v)
	case []int32:
		fillConv(o, v)
	case []int16:
		fillConv(o, v)
	case []int8:
		fillConv(o, v)
	case []uint8:
		fillConv(o, v)
	case []uint16:
		fillConv(o, v)
	case []uint32:
		fillConv(o, v)
	case []uint64:
		fillConv(o, v)
	case []bool:
		for i, x := range v {
			o[i] = x != 0
		}
	}
	return t
}

func fillConv[D number](o []D, v []float64) {
	for i, x := range v {
		o[i] = D(x)
	}
}

// scalarInt64s reads a small integer tensor (shapes, axes, pads) as int64 values.
func ints(t *Tensor) []int {
	v := int64s(t)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func shapeOf(t *Tensor) []int { return append([]int(nil), t.Shape...) }

// Float64s returns the values of a numeric or bool tensor as float64 (nil for strings).
func Float64s(t *Tensor) []float64 {
	if t.DType == ir.String {
		return nil
	}
	return float64s(t)
}

// FromFloat64s builds a tensor of dtype d and shape from float64 values (converted as
// Go converts; 16-bit floats rounded to their precision).
func FromFloat64s(d ir.DType, shape []int64, v []float64) (*Tensor, error) {
	if !storable(d) || d == ir.String {
		return nil, ir.Errorf(ir.KindUnsupported, "", "dtype %v is not supported by the runtime", d)
	}
	s := make([]int, len(shape))
	for i, x := range shape {
		s[i] = int(x)
	}
	if prod(s) != len(v) {
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "%d values for shape %v", len(v), shape)
	}
	t := fromFloat64s(d, s, v)
	if d == ir.Float16 || d == ir.BFloat16 {
		roundTo16(d, t.Data.([]float32))
	}
	return t, nil
}
