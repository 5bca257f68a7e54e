// Package safetensors reads and writes Hugging Face safetensors files: one file, or a
// sharded checkpoint (model-0000k-of-0000n.safetensors beside model.safetensors.index.json).
//
// A file is a u64 little-endian header length N, N bytes of JSON naming each tensor's
// dtype, shape and [begin, end) offsets into the data buffer that follows, plus an
// optional "__metadata__" string map. The reader maps the file and hands out tensors that
// alias the mapping (no copy); the writer lays a file out exactly as the reference
// implementation (safetensors/src/tensor.rs) does.
package safetensors

import "github.com/modelc/modelc/engine/ir"

// dtypeSpec is one safetensors dtype: its name in the header, the ir dtype it maps to,
// its size in bits (sub-byte types pack several values per byte), and its rank in the
// reference's Dtype enum, which is declared in increasing alignment order and decides
// the order of tensors in a file the reference writes.
type dtypeSpec struct {
	name  string
	dtype ir.DType
	bits  int64
	rank  int
}

// dtypes follows the declaration order of `enum Dtype` in safetensors/src/tensor.rs.
var dtypes = []dtypeSpec{
	{"BOOL", ir.Bool, 8, 0},
	{"F4", ir.Float4E2M1, 4, 1},
	{"F6_E2M3", ir.Float6E2M3, 6, 2},
	{"F6_E3M2", ir.Float6E3M2, 6, 3},
	{"U8", ir.Uint8, 8, 4},
	{"I8", ir.Int8, 8, 5},
	{"F8_E5M2", ir.Float8E5M2, 8, 6},
	{"F8_E4M3", ir.Float8E4M3FN, 8, 7},
	{"F8_E8M0", ir.Float8E8M0, 8, 8},
	{"F8_E4M3FNUZ", ir.Float8E4M3FNUZ, 8, 9},
	{"F8_E5M2FNUZ", ir.Float8E5M2FNUZ, 8, 10},
	{"I16", ir.Int16, 16, 11},
	{"U16", ir.Uint16, 16, 12},
	{"F16", ir.Float16, 16, 13},
	{"BF16", ir.BFloat16, 16, 14},
	{"I32", ir.Int32, 32, 15},
	{"U32", ir.Uint32, 32, 16},
	{"F32", ir.Float32, 32, 17},
	{"C64", ir.Complex64, 64, 18},
	{"F64", ir.Float64, 64, 19},
	{"I64", ir.Int64, 64, 20},
	{"U64", ir.Uint64, 64, 21},
}

func specByName(name string) (dtypeSpec, bool) {
	for _, s := range dtypes {
		if s.name == name {
			return s, true
		}
	}
	return dtypeSpec{}, false
}

func specOf(d ir.DType) (dtypeSpec, bool) {
	for _, s := range dtypes {
		if s.dtype == d {
			return s, true
		}
	}
	return dtypeSpec{}, false
}

// byteLength is the size of n values of s, and false when it overflows or is not a
// whole number of bytes (a sub-byte tensor must fill its last byte, as the reference
// requires).
func (s dtypeSpec) byteLength(n int64) (int64, bool) {
	if n < 0 || n > (1<<62)/s.bits {
		return 0, false
	}
	bits := n * s.bits
	if bits%8 != 0 {
		return 0, false
	}
	return bits / 8, true
}

// Names lists the dtype names of the format, for messages.
func names() []string {
	out := make([]string, len(dtypes))
	for i, s := range dtypes {
		out[i] = s.name
	}
	return out
}
