// Package gguf reads and writes GGUF v3 files (llama.cpp's model format) and implements
// ggml's block quantizations, byte for byte as ggml's reference quantizers.
//
// Reference: ggml docs/gguf.md; type ids and block sizes from gguf-py constants.py; the
// quantizers from ggml/src/ggml-quants.c (quantize_row_*_ref).
package gguf

import (
	"fmt"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// GGMLType is a ggml tensor type id as stored in a GGUF tensor info.
type GGMLType uint32

// The ggml type ids (gguf-py constants.py, GGMLQuantizationType).
const (
	F32            GGMLType = 0
	F16            GGMLType = 1
	Q4_0           GGMLType = 2
	Q4_1           GGMLType = 3
	Q5_0           GGMLType = 6
	Q5_1           GGMLType = 7
	Q8_0           GGMLType = 8
	Q8_1           GGMLType = 9
	Q2_K           GGMLType = 10
	Q3_K           GGMLType = 11
	Q4_K           GGMLType = 12
	Q5_K           GGMLType = 13
	Q6_K           GGMLType = 14
	Q8_K           GGMLType = 15
	I8             GGMLType = 24
	I16            GGMLType = 25
	I32            GGMLType = 26
	I64            GGMLType = 27
	F64            GGMLType = 28
	BF16           GGMLType = 30
	TQ1_0          GGMLType = 34
	TQ2_0          GGMLType = 35
	MXFP4          GGMLType = 39
	NVFP4          GGMLType = 40
	Q1_0           GGMLType = 41
	qkK                     = 256 // values per K-quant super-block
	blockDTypeBase          = 1000
)

// typeInfo describes one ggml type: its name, block size in values and bytes, and the
// ir dtype it maps to. Plain types map to ONNX dtypes; block types to ir dtypes
// 1000 + id, registered in init.
type typeInfo struct {
	name       string
	blockElems int64
	blockBytes int64
	dtype      ir.DType
}

var types = map[GGMLType]typeInfo{
	F32:  {"F32", 1, 4, ir.Float32},
	F16:  {"F16", 1, 2, ir.Float16},
	BF16: {"BF16", 1, 2, ir.BFloat16},
	F64:  {"F64", 1, 8, ir.Float64},
	I8:   {"I8", 1, 1, ir.Int8},
	I16:  {"I16", 1, 2, ir.Int16},
	I32:  {"I32", 1, 4, ir.Int32},
	I64:  {"I64", 1, 8, ir.Int64},
}

// blockTypes lists the block-quantized types: every type gguf-py knows, so any GGUF file
// can be read and passed through; decoders exist for those modelc quantizes.
var blockTypes = []struct {
	t            GGMLType
	name         string
	elems, bytes int64
}{
	{Q4_0, "Q4_0", 32, 18}, {Q4_1, "Q4_1", 32, 20}, {Q5_0, "Q5_0", 32, 22}, {Q5_1, "Q5_1", 32, 24},
	{Q8_0, "Q8_0", 32, 34}, {Q8_1, "Q8_1", 32, 40}, {Q2_K, "Q2_K", 256, 84}, {Q3_K, "Q3_K", 256, 110},
	{Q4_K, "Q4_K", 256, 144}, {Q5_K, "Q5_K", 256, 176}, {Q6_K, "Q6_K", 256, 210}, {Q8_K, "Q8_K", 256, 292},
	{16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74}, {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
	{20, "IQ4_NL", 32, 18}, {21, "IQ3_S", 256, 110}, {22, "IQ2_S", 256, 82}, {23, "IQ4_XS", 256, 136},
	{29, "IQ1_M", 256, 56}, {TQ1_0, "TQ1_0", 256, 54}, {TQ2_0, "TQ2_0", 256, 66},
	{MXFP4, "MXFP4", 32, 17}, {NVFP4, "NVFP4", 64, 36}, {Q1_0, "Q1_0", 128, 18},
}

// codec quantizes float32 values (a whole number of blocks) into dst and back.
type codec struct {
	quantize   func(dst []byte, src []float32)
	dequantize func(dst []float32, src []byte)
}

// codecs are the block types modelc can produce and decode.
var codecs = map[GGMLType]codec{
	Q8_0: {quantizeQ8_0, dequantizeQ8_0},
	Q4_0: {quantizeQ4_0, dequantizeQ4_0},
	Q4_1: {quantizeQ4_1, dequantizeQ4_1},
	Q5_0: {quantizeQ5_0, dequantizeQ5_0},
	Q5_1: {quantizeQ5_1, dequantizeQ5_1},
	Q4_K: {quantizeQ4K, dequantizeQ4K},
	Q5_K: {quantizeQ5K, dequantizeQ5K},
	Q6_K: {quantizeQ6K, dequantizeQ6K},
}

func init() {
	for _, b := range blockTypes {
		d := ir.DType(blockDTypeBase + int32(b.t))
		ir.RegisterBlockDType(d, strings.ToLower(b.name), b.elems, b.bytes)
		types[b.t] = typeInfo{b.name, b.elems, b.bytes, d}
		if c, ok := codecs[b.t]; ok {
			deq, elems, size := c.dequantize, b.elems, b.bytes
			ir.RegisterBlockDecoder(d, func(dst []float32, src []byte) error {
				if int64(len(dst))%elems != 0 || int64(len(src)) != int64(len(dst))/elems*size {
					return fmt.Errorf("%d bytes do not hold %d values of %s", len(src), len(dst), strings.ToLower(b.name))
				}
				deq(dst, src)
				return nil
			})
		}
	}
}

// DType returns the ir dtype of a ggml type.
func (t GGMLType) DType() (ir.DType, bool) {
	info, ok := types[t]
	return info.dtype, ok
}

func (t GGMLType) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// typeOf returns the ggml type of an ir dtype.
func typeOf(d ir.DType) (GGMLType, bool) {
	for t, info := range types {
		if info.dtype == d {
			return t, true
		}
	}
	return 0, false
}

// TypeByName parses a quantization name as the CLI takes it (q8_0, q4_k, f16, bf16, ...);
// only the types modelc can produce are accepted (auto, which depends on the model, is
// ResolveQuantize's).
func TypeByName(name string) (GGMLType, error) {
	n := strings.ToUpper(name)
	for _, t := range []GGMLType{F32, F16, BF16} {
		if types[t].name == n {
			return t, nil
		}
	}
	for t := range codecs {
		if types[t].name == n {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown GGUF quantization %q (known: %s)", name, strings.Join(QuantizeNames(), ", "))
}

// QuantizeNames lists what --quantize accepts, in a fixed order.
func QuantizeNames() []string {
	return []string{"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "f16", "bf16", "f32", Auto}
}

// Auto is the --quantize choice of convert_hf_to_gguf.py's `--outtype auto`: F16
// matrices, or BF16 when the model's are BF16 (see ResolveQuantize).
const Auto = "auto"

// CheckQuantize reports whether name is a --quantize value (a type name or auto).
func CheckQuantize(name string) error {
	if strings.EqualFold(name, Auto) {
		return nil
	}
	_, err := TypeByName(name)
	return err
}

// ResolveQuantize turns a --quantize value into the type of m's weight matrices. auto
// follows llama.cpp's converter (ModelBase.__init__ with LlamaFileType.GUESSED,
// conversion/base.py at 2bbcf7fc): the first tensor of two or more dimensions that is
// BF16 or F16 decides (BF16 or F16); with none, F16.
func ResolveQuantize(m *ir.Model, name string) (GGMLType, error) {
	if !strings.EqualFold(name, Auto) {
		return TypeByName(name)
	}
	for _, t := range m.Graph.Initializers {
		if len(t.Shape) < 2 {
			continue
		}
		switch t.DType {
		case ir.BFloat16:
			return BF16, nil
		case ir.Float16:
			return F16, nil
		}
	}
	return F16, nil
}

// BlockSize returns how many values one block of t holds and its size in bytes.
func (t GGMLType) BlockSize() (elems, bytes int64) {
	info := types[t]
	return info.blockElems, info.blockBytes
}

// Quantize encodes src (a whole number of blocks) as t into dst, byte for byte as ggml's
// reference quantizer; it reports false for a type modelc cannot produce.
func Quantize(t GGMLType, dst []byte, src []float32) bool {
	c, ok := codecs[t]
	if ok {
		c.quantize(dst, src)
	}
	return ok
}

// Dequantize decodes blocks of t from src into dst; false for a type modelc cannot decode.
func Dequantize(t GGMLType, dst []float32, src []byte) bool {
	c, ok := codecs[t]
	if ok {
		c.dequantize(dst, src)
	}
	return ok
}
