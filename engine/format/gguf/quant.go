package gguf

import (
	"encoding/binary"
	"math"

	"github.com/modelc/modelc/accel"
)

// The "legacy" ggml block types: 32 values per block, one f16 scale (and a min for the
// _1 variants). Each quantizer is a line-by-line port of ggml's quantize_row_*_ref, whose
// details decide the bytes: the reciprocal is taken of the float32 scale (not of its f16
// rounding), Q8_0 rounds with roundf (ties away from zero) while the 4/5-bit types
// truncate x+offset with a cast, and value j shares its byte with value j+16.
//
// Go may fuse x*y+z into one FMA on some architectures (arm64), which C compiled
// without -ffp-contract does not; every product that feeds a sum is wrapped in
// float32(...) — an explicit conversion rounds and so forbids the fusion.

const qk = 32 // values per legacy block

var le = binary.LittleEndian

// fp16 converts to IEEE half exactly as ggml's GGML_FP32_TO_FP16 (round to nearest even;
// every NaN becomes 0x7E00 with the sign kept).
func fp16(f float32) uint16 {
	const scaleToInf = float32(0x1p+112)
	const scaleToZero = float32(0x1p-110)
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)
	w := math.Float32bits(f)
	shl1w := w + w
	sign := w & 0x80000000
	bias := shl1w & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantBits := bits & 0x00000FFF
	nonsign := expBits + mantBits
	if shl1w > 0xFF000000 {
		nonsign = 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// f16 decodes an IEEE half (ggml's GGML_FP16_TO_FP32 is exact, as is this).
func f16(b []byte) float32 { return halfToF32(le.Uint16(b)) }

func halfToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F:
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3FF)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// roundf is C's roundf: halves away from zero.
func roundf(x float32) float32 { return float32(math.Round(float64(x))) }

// recip is ggml's `d ? 1.0f/d : 0.0f`.
func recip(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

// cInt8 is C's (int8_t) conversion of a float in the range the quantizers produce:
// truncation toward zero (out-of-range values, from NaN or infinities, are undefined in
// C; x86 gives 0x80000000 truncated to 0 for int32 → int8, which this reproduces).
func cInt8(x float32) int8 {
	if x != x || x >= 2147483648 || x < -2147483648 {
		return 0
	}
	return int8(int32(x))
}

// maxAbsSigned returns the value of largest magnitude, keeping its sign (the first one
// on ties), as Q4_0 and Q5_0 choose their scale.
func maxAbsSigned(x []float32) float32 {
	var amax, max float32
	for _, v := range x {
		if amax < abs32(v) {
			amax, max = abs32(v), v
		}
	}
	return max
}

func minMax(x []float32) (mn, mx float32) {
	mn, mx = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < mn {
			mn = v
		}
		if v > mx {
			mx = v
		}
	}
	return mn, mx
}

// ---- Q8_0: f16 d, 32 × int8 -------------------------------------------------------------

// quantizeQ8_0 uses accel's kernel, which is tested byte-identical to refQuantizeQ8_0.
func quantizeQ8_0(dst []byte, src []float32) { accel.QuantizeQ8_0(dst, src) }

func dequantizeQ8_0(dst []float32, src []byte) { accel.DequantizeQ8_0(dst, src) }

func refQuantizeQ8_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk; b++ {
		x, y := src[b*qk:(b+1)*qk], dst[b*34:(b+1)*34]
		var amax float32
		for _, v := range x {
			// C's MAX(a, b) is a > b ? a : b: a NaN is kept only while it is the last seen.
			if !(amax > abs32(v)) {
				amax = abs32(v)
			}
		}
		d := amax / 127
		id := recip(d)
		le.PutUint16(y, fp16(d))
		for j, v := range x {
			y[2+j] = byte(int8(cRoundToInt8(v * id)))
		}
	}
}

// cRoundToInt8 is the C assignment int8_t q = roundf(x): in range for finite inputs; a
// NaN or infinity is undefined behaviour in C and gives 0 here (x86's cvttss2si result
// 0x80000000 keeps 0 in its low byte).
func cRoundToInt8(x float32) int8 {
	r := roundf(x)
	if r != r || r >= 2147483648 || r < -2147483648 {
		return 0
	}
	return int8(int32(r))
}

func refDequantizeQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qk; b++ {
		y := src[b*34 : (b+1)*34]
		d := f16(y)
		for j := 0; j < qk; j++ {
			dst[b*qk+j] = float32(int8(y[2+j])) * d
		}
	}
}

// ---- Q4_0: f16 d, 16 bytes of nibbles ------------------------------------------------------

func quantizeQ4_0(dst []byte, src []float32) { accel.QuantizeQ4_0(dst, src) }

func dequantizeQ4_0(dst []float32, src []byte) { accel.DequantizeQ4_0(dst, src) }

func refQuantizeQ4_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk; b++ {
		x, y := src[b*qk:(b+1)*qk], dst[b*18:(b+1)*18]
		d := maxAbsSigned(x) / -8
		id := recip(d)
		le.PutUint16(y, fp16(d))
		for j := 0; j < qk/2; j++ {
			xi0 := uint8(min(15, cInt8(float32(x[j]*id)+8.5)))
			xi1 := uint8(min(15, cInt8(float32(x[qk/2+j]*id)+8.5)))
			y[2+j] = xi0 | xi1<<4
		}
	}
}

func refDequantizeQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qk; b++ {
		y, out := src[b*18:(b+1)*18], dst[b*qk:(b+1)*qk]
		d := f16(y)
		for j := 0; j < qk/2; j++ {
			out[j] = float32(int(y[2+j]&0xF)-8) * d
			out[j+qk/2] = float32(int(y[2+j]>>4)-8) * d
		}
	}
}

// ---- Q4_1: f16 d, f16 m, 16 bytes of nibbles -------------------------------------------------

func quantizeQ4_1(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk; b++ {
		x, y := src[b*qk:(b+1)*qk], dst[b*20:(b+1)*20]
		mn, mx := minMax(x)
		d := (mx - mn) / 15
		id := recip(d)
		le.PutUint16(y, fp16(d))
		le.PutUint16(y[2:], fp16(mn))
		for j := 0; j < qk/2; j++ {
			// The uint8_t = MIN(15, (int8_t)...) of the C code: a negative int8 (only
			// from NaN input) compares below 15 and wraps on the store.
			xi0 := uint8(min(15, cInt8(float32((x[j]-mn)*id)+0.5)))
			xi1 := uint8(min(15, cInt8(float32((x[qk/2+j]-mn)*id)+0.5)))
			y[4+j] = xi0 | xi1<<4
		}
	}
}

func dequantizeQ4_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qk; b++ {
		y, out := src[b*20:(b+1)*20], dst[b*qk:(b+1)*qk]
		d, m := f16(y), f16(y[2:])
		for j := 0; j < qk/2; j++ {
			out[j] = float32(float32(y[4+j]&0xF)*d) + m
			out[j+qk/2] = float32(float32(y[4+j]>>4)*d) + m
		}
	}
}

// ---- Q5_0: f16 d, u32 qh (fifth bits), 16 bytes of nibbles -------------------------------------

func quantizeQ5_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk; b++ {
		x, y := src[b*qk:(b+1)*qk], dst[b*22:(b+1)*22]
		d := maxAbsSigned(x) / -16
		id := recip(d)
		le.PutUint16(y, fp16(d))
		var qh uint32
		for j := 0; j < qk/2; j++ {
			xi0 := uint8(min(31, cInt8(float32(x[j]*id)+16.5)))
			xi1 := uint8(min(31, cInt8(float32(x[qk/2+j]*id)+16.5)))
			y[6+j] = xi0&0xF | (xi1&0xF)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		le.PutUint32(y[2:], qh)
	}
}

func dequantizeQ5_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qk; b++ {
		y, out := src[b*22:(b+1)*22], dst[b*qk:(b+1)*qk]
		d := f16(y)
		qh := le.Uint32(y[2:])
		for j := 0; j < qk/2; j++ {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			out[j] = float32(int(y[6+j]&0xF|h0)-16) * d
			out[j+qk/2] = float32(int(y[6+j]>>4|h1)-16) * d
		}
	}
}

// ---- Q5_1: f16 d, f16 m, u32 qh, 16 bytes of nibbles --------------------------------------------

func quantizeQ5_1(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk; b++ {
		x, y := src[b*qk:(b+1)*qk], dst[b*24:(b+1)*24]
		mn, mx := minMax(x)
		d := (mx - mn) / 31
		id := recip(d)
		le.PutUint16(y, fp16(d))
		le.PutUint16(y[2:], fp16(mn))
		var qh uint32
		for j := 0; j < qk/2; j++ {
			// (uint8_t)(x + 0.5f) with no MIN: the value is at most 31.5 for finite input.
			xi0 := cUint8(float32((x[j]-mn)*id) + 0.5)
			xi1 := cUint8(float32((x[qk/2+j]-mn)*id) + 0.5)
			y[8+j] = xi0&0xF | (xi1&0xF)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		le.PutUint32(y[4:], qh)
	}
}

// cUint8 is C's (uint8_t) of a float, as x86 compilers do it (through int32).
func cUint8(x float32) uint8 {
	if x != x || x >= 2147483648 || x < -2147483648 {
		return 0
	}
	return uint8(int32(x))
}

func dequantizeQ5_1(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qk; b++ {
		y, out := src[b*24:(b+1)*24], dst[b*qk:(b+1)*qk]
		d, m := f16(y), f16(y[2:])
		qh := le.Uint32(y[4:])
		for j := 0; j < qk/2; j++ {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			out[j] = float32(float32(y[8+j]&0xF|h0)*d) + m
			out[j+qk/2] = float32(float32(y[8+j]>>4|h1)*d) + m
		}
	}
}
