package gguf

import (
	"fmt"
	"math"
)

// Validation of what the writer computes, as llama.cpp's ggml_validate_row_data
// (ggml/src/ggml-quants.c) checks every row llama-quantize produces: a block whose f16
// scale (and, for the types that have one, its f16 minimum) is infinite or NaN, or an
// F16 / BF16 value that is, makes llama-quantize stop with "quantized data validation
// failed". modelc refuses the same data, naming the tensor and the block: the tensor
// types are fixed in the header before any data is read, so a fallback type would mean
// reading every tensor twice, and a silent change of type is a surprise the user should
// choose instead (--quantize bf16 or f32 hold any finite float32).

// halfFields lists, per type, the byte offsets in a block of its f16 fields that
// ggml_validate_row_data checks, and their names: d for every legacy and K type, m (or
// dmin) for the _1 variants and Q4_K / Q5_K. Q6_K keeps d at the end of its block.
var halfFields = map[GGMLType][]struct {
	off  int
	name string
}{
	Q4_0: {{0, "scale"}},
	Q5_0: {{0, "scale"}},
	Q8_0: {{0, "scale"}},
	Q4_1: {{0, "scale"}, {2, "minimum"}},
	Q5_1: {{0, "scale"}, {2, "minimum"}},
	Q4_K: {{0, "super-block scale"}, {2, "super-block minimum"}},
	Q5_K: {{0, "super-block scale"}, {2, "super-block minimum"}},
	Q6_K: {{208, "super-block scale"}},
}

// anyExponentAllOnes reports whether some 16-bit value in b has every bit of the
// exponent mask set (an infinity or a NaN), four values per word without a branch: a lane
// of (v & mask) + (0x8000 − mask) reaches bit 15 exactly then (and never carries out).
func anyExponentAllOnes(b []byte, mask uint64) bool {
	const highs = 0x8000_8000_8000_8000
	k := (0x8000 - mask&0xFFFF) * 0x0001_0001_0001_0001
	var acc0, acc1, acc2, acc3 uint64
	i := 0
	for ; i+32 <= len(b); i += 32 {
		acc0 |= le.Uint64(b[i:])&mask + k
		acc1 |= le.Uint64(b[i+8:])&mask + k
		acc2 |= le.Uint64(b[i+16:])&mask + k
		acc3 |= le.Uint64(b[i+24:])&mask + k
	}
	for ; i+8 <= len(b); i += 8 {
		acc0 |= le.Uint64(b[i:])&mask + k
	}
	for ; i+2 <= len(b); i += 2 {
		acc0 |= uint64(le.Uint16(b[i:]))&mask + k
	}
	return (acc0|acc1|acc2|acc3)&highs != 0
}

// halfNotFinite reports whether an IEEE half is an infinity or a NaN.
func halfNotFinite(h uint16) bool { return h&0x7C00 == 0x7C00 }

// bf16NotFinite reports whether a bfloat16 is an infinity or a NaN.
func bf16NotFinite(h uint16) bool { return h&0x7F80 == 0x7F80 }

// validateRows checks out, the encoding as t of the float32 values f, which start at
// value first of the tensor whose rows hold row values. It returns nil or an error
// saying which block (or value) cannot be stored and why.
func validateRows(t GGMLType, out []byte, f []float32, first, row int64) error {
	switch t {
	case F16, BF16:
		bad, exp := halfNotFinite, uint64(0x7C00)
		limit := "65504"
		if t == BF16 {
			bad, exp, limit = bf16NotFinite, 0x7F80, "3.4e38"
		}
		if !anyExponentAllOnes(out, exp*0x0001_0001_0001_0001) {
			return nil
		}
		for i, h := range u16View(out) {
			if bad(h) {
				at := first + int64(i)
				if f[i] != f[i] || math.IsInf(float64(f[i]), 0) {
					return fmt.Errorf("value %d (row %d, column %d) is %g; llama.cpp's ggml_validate_row_data refuses a %s row holding it (llama-quantize stops). Fix the weights",
						at, at/row, at%row, f[i], t)
				}
				return fmt.Errorf("value %d (row %d, column %d) is %g, which %s cannot hold (largest finite %s); llama.cpp's ggml_validate_row_data refuses it too (llama-quantize stops). Use --quantize f32 for this model, or fix the weights",
					at, at/row, at%row, f[i], t, limit)
			}
		}
		return nil
	}
	fields, ok := halfFields[t]
	if !ok {
		return nil
	}
	info := types[t]
	for b := int64(0); b < int64(len(out))/info.blockBytes; b++ {
		blk := out[b*info.blockBytes : (b+1)*info.blockBytes]
		for _, fd := range fields {
			h := le.Uint16(blk[fd.off:])
			if !halfNotFinite(h) {
				continue
			}
			vals := f[b*info.blockElems : (b+1)*info.blockElems]
			at := first + b*info.blockElems
			what, hint := "overflows f16 (largest 65504)", "Use --quantize bf16 or f32 for this model, or fix the weights"
			if h&0x3FF != 0 {
				what = "is NaN"
			}
			for _, v := range vals {
				if v != v || math.IsInf(float64(v), 0) {
					hint = "The input holds NaN or infinite values: fix the weights"
					break
				}
			}
			return fmt.Errorf("block %d (row %d, values %d to %d of the row, %s): its %s %s %s; llama.cpp's ggml_validate_row_data refuses such a block (llama-quantize stops). %s",
				at/info.blockElems, at/row, at%row, at%row+info.blockElems-1, describeRange(vals), info.name, fd.name, what, hint)
		}
	}
	return nil
}

// describeRange says what values a block holds, for an error message.
func describeRange(vals []float32) string {
	var mn, mx float32
	nans, seen := 0, false
	for _, v := range vals {
		if v != v {
			nans++
			continue
		}
		if !seen || v < mn {
			mn = v
		}
		if !seen || v > mx {
			mx = v
		}
		seen = true
	}
	switch {
	case !seen:
		return "all NaN"
	case nans > 0:
		return fmt.Sprintf("from %g to %g, and %d NaN", mn, mx, nans)
	}
	return fmt.Sprintf("from %g to %g", mn, mx)
}
