package ir

import (
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"gorgonia.org/tensor"
)

// Tensor is a named, typed, shaped array of values: an initializer, a constant, or an
// attribute value.
//
// The data is kept as the little-endian packed bytes of the dtype (the layout of ONNX
// raw_data, safetensors and GGUF alike), which may alias a read-only-to-us memory map of
// the source file, so a model larger than RAM can be converted. Numeric work goes through
// Dense, a gorgonia view of the same bytes (no copy when the bytes are aligned), or
// Float32s. Dtypes Go has no type for (float16, bfloat16, float8, int4, block-quantized
// GGUF types) stay packed bytes, converted with Float32s.
type Tensor struct {
	Name      string
	DType     DType
	Shape     []int64 // row-major, outermost first; empty for a scalar
	DocString string
	Metadata  []StringPair

	data    []byte   // packed little-endian element bytes (nil for String)
	strings [][]byte // element values of a String tensor
	dense   *tensor.Dense
	fill    func(dst []byte) // computes data on demand (see NewComputedTensor)
}

// StringPair is an ordered key/value entry (ONNX StringStringEntryProto).
type StringPair struct{ Key, Value string }

// NumElements is the product of the shape (1 for a scalar). It returns -1 if a dimension
// is negative or the product overflows.
func NumElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		if d != 0 && n > math.MaxInt64/d {
			return -1
		}
		n *= d
	}
	return n
}

// NumElements is the number of elements of t.
func (t *Tensor) NumElements() int64 { return NumElements(t.Shape) }

// NewTensor wraps packed little-endian bytes (without copying) as a tensor. It checks
// that the length matches the dtype and shape.
func NewTensor(name string, dtype DType, shape []int64, data []byte) (*Tensor, error) {
	t := &Tensor{Name: name, DType: dtype, Shape: shape}
	if err := t.SetBytes(data); err != nil {
		return nil, err
	}
	return t, nil
}

// NewStringTensor builds a String tensor.
func NewStringTensor(name string, shape []int64, values [][]byte) (*Tensor, error) {
	t := &Tensor{Name: name, DType: String, Shape: shape}
	if err := t.SetStrings(values); err != nil {
		return nil, err
	}
	return t, nil
}

// FromDense makes a tensor of a gorgonia Dense, sharing its backing memory.
func FromDense(name string, d *tensor.Dense) (*Tensor, error) {
	var dtype DType = Undefined
	for k, info := range dtypes {
		if info.goType != nil && info.gorgonia == d.Dtype() {
			dtype = k
		}
	}
	if dtype == Undefined {
		return nil, fmt.Errorf("tensor %q: gorgonia dtype %v has no ONNX equivalent", name, d.Dtype())
	}
	shape := make([]int64, len(d.Shape()))
	for i, s := range d.Shape() {
		shape[i] = int64(s)
	}
	if d.IsScalar() {
		shape = []int64{}
	}
	if !d.DataOrder().IsRowMajor() || d.RequiresIterator() {
		d = d.Materialize().(*tensor.Dense)
	}
	t := &Tensor{Name: name, DType: dtype, Shape: shape, data: sliceBytes(d.Data()), dense: d}
	return t, nil
}

// SetBytes replaces the data with packed little-endian bytes, checking their length.
func (t *Tensor) SetBytes(data []byte) error {
	if t.DType == String {
		return fmt.Errorf("tensor %q: string tensors have no packed bytes", t.Name)
	}
	n := t.NumElements()
	if n < 0 {
		return fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	want, ok := t.DType.ByteSize(n)
	if !ok {
		return fmt.Errorf("tensor %q: dtype %v cannot hold %d elements", t.Name, t.DType, n)
	}
	if int64(len(data)) != want {
		return fmt.Errorf("tensor %q: %v%v needs %d bytes, data has %d", t.Name, t.DType, t.Shape, want, len(data))
	}
	t.data, t.dense, t.strings, t.fill = data, nil, nil, nil
	return nil
}

// SetStrings replaces the values of a String tensor, checking their count.
func (t *Tensor) SetStrings(values [][]byte) error {
	if t.DType != String {
		return fmt.Errorf("tensor %q: %v is not a string type", t.Name, t.DType)
	}
	if n := t.NumElements(); n != int64(len(values)) {
		return fmt.Errorf("tensor %q: shape %v holds %d strings, got %d", t.Name, t.Shape, n, len(values))
	}
	t.strings, t.data, t.dense, t.fill = values, nil, nil, nil
	return nil
}

// Bytes returns the packed little-endian element bytes (nil for a String tensor). The
// slice may alias a memory map or a Dense: do not modify it unless you own the tensor.
func (t *Tensor) Bytes() []byte { t.materialize(); return t.data }

// Strings returns the values of a String tensor.
func (t *Tensor) Strings() [][]byte { return t.strings }

// ByteSize is the size of the packed data (for strings, the sum of the value lengths).
func (t *Tensor) ByteSize() int64 {
	if t.DType == String {
		var s int64
		for _, v := range t.strings {
			s += int64(len(v))
		}
		return s
	}
	if t.data == nil && t.fill != nil {
		return t.computedSize()
	}
	return int64(len(t.data))
}

// Dense returns a gorgonia view of the data. The view shares memory with the tensor when
// the bytes are suitably aligned and copies them otherwise. Dtypes gorgonia lacks
// (float16, int4, ...) are an error: use Float32s.
func (t *Tensor) Dense() (*tensor.Dense, error) {
	if t.dense != nil {
		return t.dense, nil
	}
	t.materialize()
	goType := t.DType.GoType()
	if goType == nil {
		return nil, fmt.Errorf("tensor %q: %v has no gorgonia type; convert it with Float32s", t.Name, t.DType)
	}
	backing := bytesAs(t.data, goType, t.DType == Bool)
	shape := make(tensor.Shape, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int(d)
	}
	var d *tensor.Dense
	if len(shape) == 0 {
		d = tensor.New(tensor.FromScalar(reflect.ValueOf(backing).Index(0).Interface()))
	} else {
		d = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
	}
	t.dense = d
	return d, nil
}

// Float32s returns the values converted to float32 in a new slice (or, for an aligned
// float32 tensor, a view of the data). Booleans become 0/1.
func (t *Tensor) Float32s() ([]float32, error) {
	t.materialize()
	n := t.NumElements()
	switch t.DType {
	case String, Complex64, Complex128:
		return nil, fmt.Errorf("tensor %q: %v does not convert to float32", t.Name, t.DType)
	case Float32:
		return bytesAs(t.data, reflect.TypeOf(float32(0)), false).([]float32), nil
	}
	if t.DType >= 1000 {
		if dec := blockDecoders[t.DType]; dec != nil {
			out := make([]float32, n)
			return out, dec(out, t.data)
		}
		return nil, fmt.Errorf("tensor %q: no float32 conversion for %v", t.Name, t.DType)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(elementAsFloat64(t.DType, t.data, int64(i)))
	}
	return out, nil
}

// blockDecoders converts block-quantized data to float32; format packages register them.
var blockDecoders = map[DType]func(dst []float32, src []byte) error{}

// RegisterBlockDecoder sets the float32 conversion of a block-quantized dtype.
func RegisterBlockDecoder(d DType, dec func(dst []float32, src []byte) error) { blockDecoders[d] = dec }

// Float32Bytes views v as its packed little-endian bytes, without copying.
func Float32Bytes(v []float32) []byte { return sliceBytes(v) }

// sliceBytes views any numeric slice as its bytes (the host is little-endian; see init).
func sliceBytes(slice any) []byte {
	v := reflect.ValueOf(slice)
	if v.Len() == 0 {
		return []byte{}
	}
	size := v.Len() * int(v.Type().Elem().Size())
	return unsafe.Slice((*byte)(v.Index(0).Addr().UnsafePointer()), size)
}

// bytesAs views data as a slice of goType without copying when it is aligned for that
// type, and copies it into a fresh slice otherwise. Bool bytes other than 0/1 are not
// valid Go bools, so bool data is always copied and normalised.
func bytesAs(data []byte, goType reflect.Type, isBool bool) any {
	size := int(goType.Size())
	n := len(data) / size
	if n == 0 {
		return reflect.MakeSlice(reflect.SliceOf(goType), 0, 0).Interface()
	}
	if isBool {
		out := make([]bool, n)
		for i, b := range data {
			out[i] = b != 0
		}
		return out
	}
	ptr := unsafe.Pointer(&data[0])
	if uintptr(ptr)%uintptr(goType.Align()) == 0 {
		return reflect.NewAt(reflect.ArrayOf(n, goType), ptr).Elem().Slice(0, n).Interface()
	}
	out := reflect.MakeSlice(reflect.SliceOf(goType), n, n)
	copy(sliceBytes(out.Interface()), data)
	return out.Interface()
}

func init() {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) != 1 {
		panic("modelc supports little-endian hosts only")
	}
}
