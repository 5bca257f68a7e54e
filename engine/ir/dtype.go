// Package ir is modelc's intermediate representation: every reader produces an ir.Model,
// every pass transforms one, every writer consumes one. It follows ONNX semantics (op
// types, attributes, opsets), because ONNX is the common language of the field.
package ir

import (
	"fmt"
	"reflect"

	"gorgonia.org/tensor"
)

// DType is a tensor element type. The values below 1000 are ONNX's
// TensorProto.DataType numbers, so a DType read from an ONNX file needs no mapping.
// Block-quantized types of other formats (GGUF) are numbered from 1000 up.
type DType int32

// ONNX data types (TensorProto.DataType).
const (
	Undefined      DType = 0
	Float32        DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Float64        DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16       DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
	Float8E8M0     DType = 24
	Uint2          DType = 25
	Int2           DType = 26
	Float6E2M3     DType = 27
	Float6E3M2     DType = 28
)

// dtypeInfo describes how a dtype is laid out in memory. Elements are packed in blocks
// of blockElems values taking blockBytes bytes: ordinary types have a block of one
// element; sub-byte types pack several elements per byte (int4: 2 per byte); block
// quantized types carry a scale per block.
type dtypeInfo struct {
	name       string
	blockElems int64
	blockBytes int64
	goType     reflect.Type // nil when Go (and gorgonia) has no type for it
	gorgonia   tensor.Dtype // zero when gorgonia has no type for it
}

var dtypes = map[DType]dtypeInfo{
	Float32:        {"float32", 1, 4, reflect.TypeOf(float32(0)), tensor.Float32},
	Uint8:          {"uint8", 1, 1, reflect.TypeOf(uint8(0)), tensor.Uint8},
	Int8:           {"int8", 1, 1, reflect.TypeOf(int8(0)), tensor.Int8},
	Uint16:         {"uint16", 1, 2, reflect.TypeOf(uint16(0)), tensor.Uint16},
	Int16:          {"int16", 1, 2, reflect.TypeOf(int16(0)), tensor.Int16},
	Int32:          {"int32", 1, 4, reflect.TypeOf(int32(0)), tensor.Int32},
	Int64:          {"int64", 1, 8, reflect.TypeOf(int64(0)), tensor.Int64},
	String:         {"string", 1, 0, nil, tensor.Dtype{}},
	Bool:           {"bool", 1, 1, reflect.TypeOf(false), tensor.Bool},
	Float16:        {"float16", 1, 2, nil, tensor.Dtype{}},
	Float64:        {"float64", 1, 8, reflect.TypeOf(float64(0)), tensor.Float64},
	Uint32:         {"uint32", 1, 4, reflect.TypeOf(uint32(0)), tensor.Uint32},
	Uint64:         {"uint64", 1, 8, reflect.TypeOf(uint64(0)), tensor.Uint64},
	Complex64:      {"complex64", 1, 8, reflect.TypeOf(complex64(0)), tensor.Complex64},
	Complex128:     {"complex128", 1, 16, reflect.TypeOf(complex128(0)), tensor.Complex128},
	BFloat16:       {"bfloat16", 1, 2, nil, tensor.Dtype{}},
	Float8E4M3FN:   {"float8e4m3fn", 1, 1, nil, tensor.Dtype{}},
	Float8E4M3FNUZ: {"float8e4m3fnuz", 1, 1, nil, tensor.Dtype{}},
	Float8E5M2:     {"float8e5m2", 1, 1, nil, tensor.Dtype{}},
	Float8E5M2FNUZ: {"float8e5m2fnuz", 1, 1, nil, tensor.Dtype{}},
	Uint4:          {"uint4", 2, 1, nil, tensor.Dtype{}},
	Int4:           {"int4", 2, 1, nil, tensor.Dtype{}},
	Float4E2M1:     {"float4e2m1", 2, 1, nil, tensor.Dtype{}},
	Float8E8M0:     {"float8e8m0", 1, 1, nil, tensor.Dtype{}},
	Uint2:          {"uint2", 4, 1, nil, tensor.Dtype{}},
	Int2:           {"int2", 4, 1, nil, tensor.Dtype{}},
	Float6E2M3:     {"float6e2m3", 4, 3, nil, tensor.Dtype{}},
	Float6E3M2:     {"float6e3m2", 4, 3, nil, tensor.Dtype{}},
}

// RegisterBlockDType adds a block-quantized dtype (for example GGUF's Q4_K): blockElems
// values stored in blockBytes bytes. Format packages call it from init.
func RegisterBlockDType(d DType, name string, blockElems, blockBytes int64) {
	if _, dup := dtypes[d]; dup || d < 1000 {
		panic(fmt.Sprintf("ir: dtype %d (%s) already registered or in the ONNX range", d, name))
	}
	dtypes[d] = dtypeInfo{name: name, blockElems: blockElems, blockBytes: blockBytes}
}

// Known reports whether d is a dtype modelc knows.
func (d DType) Known() bool { _, ok := dtypes[d]; return ok }

// String returns the lower-case name used in modelc's output (float32, bfloat16, int4, ...).
func (d DType) String() string {
	if info, ok := dtypes[d]; ok {
		return info.name
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// DTypeByName is the inverse of DType.String.
func DTypeByName(name string) (DType, bool) {
	for d, info := range dtypes {
		if info.name == name {
			return d, true
		}
	}
	return Undefined, false
}

// ByteSize returns how many bytes n elements of d take when packed, and false for
// dtypes without a fixed size (string, unknown) or a count that is not a whole number
// of blocks for a block-quantized type. Sub-byte types round up: 3 int4 values take 2 bytes.
func (d DType) ByteSize(n int64) (int64, bool) {
	info, ok := dtypes[d]
	if !ok || info.blockBytes == 0 || n < 0 {
		return 0, false
	}
	if d >= 1000 && n%info.blockElems != 0 {
		return 0, false // block-quantized tensors hold whole blocks only
	}
	blocks := (n + info.blockElems - 1) / info.blockElems
	if blocks > (1<<62)/info.blockBytes {
		return 0, false
	}
	return blocks * info.blockBytes, true
}

// ElemBytes is the size of one element for byte-aligned dtypes, 0 otherwise.
func (d DType) ElemBytes() int {
	info := dtypes[d]
	if info.blockElems != 1 {
		return 0
	}
	return int(info.blockBytes)
}

// GoType returns the Go element type that holds d, or nil when Go has none (float16,
// bfloat16, float8, sub-byte and block-quantized types are kept as packed bytes).
func (d DType) GoType() reflect.Type { return dtypes[d].goType }

// Gorgonia returns the gorgonia dtype for d and whether there is one.
func (d DType) Gorgonia() (tensor.Dtype, bool) {
	info := dtypes[d]
	return info.gorgonia, info.goType != nil
}

// IsFloat reports whether d is a floating-point type of any width.
func (d DType) IsFloat() bool {
	switch d {
	case Float32, Float64, Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2,
		Float8E5M2FNUZ, Float4E2M1, Float8E8M0, Float6E2M3, Float6E3M2:
		return true
	}
	return false
}
