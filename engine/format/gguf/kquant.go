package gguf

import (
	"math"

	"github.com/modelc/modelc/accel"
)

// The K-quants: super-blocks of 256 values with sub-block scales (and mins) themselves
// quantized. A port, function by function and operation by operation, of ggml's
// quantize_row_q{4,5,6}_K_ref with make_qkx2_quants and make_qx_quants (the unweighted
// path llama-quantize takes without an importance matrix). The costly searches,
// make_qkx2_quants (Q4_K, Q5_K) and make_qx_quants (Q6_K), run in accel.FitQKX2 and
// accel.FitQX: SIMD across sub-blocks, each lane in C's order, with the Go port as their
// reference. Float operations keep C's order and float32 rounding; products feeding a
// sum are wrapped in float32(...) so Go never fuses them into an FMA (see quant.go).
// testdata/gguf holds golden blocks made by ggml's own code.

const groupMaxEps = float32(1e-15)

// nearestInt is ggml's nearest_int: round half to even through the float trick
// (|f| ≤ 4194303 in every use).
func nearestInt(f float32) int32 {
	val := f + 12582912
	return int32(math.Float32bits(val)&0x007fffff) - 0x00400000
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12 bytes of a
// Q4_K / Q5_K block.
func getScaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// qkxPiece is how many super-blocks one accel.FitQKX2 call fits (a bounded buffer).
const qkxPiece = 64

// forEachQKXBlock runs the shared first half of Q4_K and Q5_K: it fits every 32-value
// sub-block of src (whole super-blocks) with accel.FitQKX2 — make_qkx2_quants with
// ggml's default weights, byte-exact on every backend — a piece of super-blocks at a
// time, then calls fn for each super-block b with its 8 sub-block scales, mins and
// levels.
func forEachQKXBlock(src []float32, nmax int, rmin float32, nstep int, fn func(b int, scales, mins []float32, L []uint8)) {
	nb := len(src) / qkK
	piece := min(nb, qkxPiece)
	scales, mins := make([]float32, piece*qkK/32), make([]float32, piece*qkK/32)
	L := make([]uint8, piece*qkK)
	for b0 := 0; b0 < nb; b0 += piece {
		b1 := min(nb, b0+piece)
		accel.FitQKX2(scales, mins, L, src[b0*qkK:b1*qkK], nmax, rmin, 0.1, nstep)
		for b := b0; b < b1; b++ {
			k := b - b0
			fn(b, scales[k*8:k*8+8], mins[k*8:k*8+8], L[k*qkK:(k+1)*qkK])
		}
	}
}

// qkxSubblocks is the rest of that shared half on one super-block x, given the fits:
// quantize the sub-block scales and mins to 6 bits into y's 12 scale bytes, choose the
// f16 super-scales d and dmin, and requantize x with the stored scales into L (levels
// 0..nmax; a sub-block whose stored scale is 0 keeps its fitted levels).
func qkxSubblocks(x []float32, nmax int, scales, mins []float32, L []uint8, y []byte) {
	var maxScale, maxMin float32
	for j := 0; j < qkK/32; j++ {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := y[4:16]
	for j := 0; j < qkK/32; j++ {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xF | (lm&0xF)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	le.PutUint16(y[0:], fp16(maxScale/63))
	le.PutUint16(y[2:], fp16(maxMin/63))
	dAll, dminAll := f16(y[0:]), f16(y[2:])
	for j := 0; j < qkK/32; j++ {
		s, m := getScaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := dminAll * float32(m)
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((x[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(max(0, min(int32(nmax), l)))
		}
	}
}

// ---- Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles ----------------

func quantizeQ4K(dst []byte, src []float32) {
	forEachQKXBlock(src, 15, -1, 20, func(b int, scales, mins []float32, L []uint8) {
		x, y := src[b*qkK:(b+1)*qkK], dst[b*144:(b+1)*144]
		clear(y)
		qkxSubblocks(x, 15, scales, mins, L, y)
		q := y[16:]
		for j := 0; j < qkK; j += 64 {
			for l := 0; l < 32; l++ {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	})
}

func dequantizeQ4K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qkK; b++ {
		x, y := src[b*144:(b+1)*144], dst[b*qkK:(b+1)*qkK]
		d, dmin := f16(x[0:]), f16(x[2:])
		sc, q := x[4:16], x[16:]
		for j, is := 0, 0; j < qkK; j, is = j+64, is+2 {
			s, m := getScaleMinK4(is, sc)
			d1, m1 := d*float32(s), dmin*float32(m)
			s, m = getScaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), dmin*float32(m)
			for l := 0; l < 32; l++ {
				y[j+l] = float32(d1*float32(q[l]&0xF)) - m1
				y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
			}
			q = q[32:]
		}
	}
}

// ---- Q5_K: f16 d, f16 dmin, 12 bytes scales, 32 bytes high bits, 128 bytes nibbles --------------

func quantizeQ5K(dst []byte, src []float32) {
	forEachQKXBlock(src, 31, -0.5, 15, func(b int, scales, mins []float32, L []uint8) {
		x, y := src[b*qkK:(b+1)*qkK], dst[b*176:(b+1)*176]
		clear(y)
		qkxSubblocks(x, 31, scales, mins, L, y)
		qh, ql := y[16:48], y[48:]
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < qkK; n += 64 {
			for j := 0; j < 32; j++ {
				l1 := L[n+j]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				l2 := L[n+j+32]
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
			ql = ql[32:]
		}
	})
}

func dequantizeQ5K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qkK; b++ {
		x, y := src[b*176:(b+1)*176], dst[b*qkK:(b+1)*qkK]
		d, dmin := f16(x[0:]), f16(x[2:])
		sc, qh, ql := x[4:16], x[16:48], x[48:]
		u1, u2 := uint8(1), uint8(2)
		for j, is := 0, 0; j < qkK; j, is = j+64, is+2 {
			s, m := getScaleMinK4(is, sc)
			d1, m1 := d*float32(s), dmin*float32(m)
			s, m = getScaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), dmin*float32(m)
			for l := 0; l < 32; l++ {
				h1, h2 := uint8(0), uint8(0)
				if qh[l]&u1 != 0 {
					h1 = 16
				}
				if qh[l]&u2 != 0 {
					h2 = 16
				}
				y[j+l] = float32(d1*float32(ql[l]&0xF+h1)) - m1
				y[j+32+l] = float32(d2*float32(ql[l]>>4+h2)) - m2
			}
			ql = ql[32:]
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// ---- Q6_K: 128 bytes low nibbles, 64 bytes high 2 bits, 16 int8 scales, f16 d ----------------------

func quantizeQ6K(dst []byte, src []float32) {
	nb := len(src) / qkK
	piece := min(nb, qkxPiece)
	allScales, allL := make([]float32, piece*qkK/16), make([]int8, piece*qkK)
	for b := 0; b < nb; b++ {
		k := b % piece
		if k == 0 {
			// make_qx_quants for the 16-value sub-blocks of the next piece of super-blocks
			b1 := min(nb, b+piece)
			accel.FitQX(allScales, allL, src[b*qkK:b1*qkK], 32)
		}
		scales, L := allScales[k*qkK/16:(k+1)*qkK/16], allL[k*qkK:(k+1)*qkK]
		x, y := src[b*qkK:(b+1)*qkK], dst[b*210:(b+1)*210]
		clear(y)
		var maxScale, maxAbsScale float32
		for ib := 0; ib < qkK/16; ib++ {
			scale := scales[ib]
			if abs32(scale) > maxAbsScale {
				maxAbsScale, maxScale = abs32(scale), scale
			}
		}
		if maxAbsScale < groupMaxEps {
			continue // an all-zero block: every byte 0, d = +0
		}
		ql, qh, sc := y[0:128], y[128:192], y[192:208]
		iscale := -128 / maxScale
		le.PutUint16(y[208:], fp16(1/iscale))
		for ib := 0; ib < qkK/16; ib++ {
			sc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		d0 := f16(y[208:])
		for j := 0; j < qkK/16; j++ {
			d := d0 * float32(int8(sc[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(x[16*j+ii] / d)
				l = max(-32, min(31, l))
				L[16*j+ii] = int8(l + 32)
			}
		}
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				q1 := uint8(L[j+l]) & 0xF
				q2 := uint8(L[j+l+32]) & 0xF
				q3 := uint8(L[j+l+64]) & 0xF
				q4 := uint8(L[j+l+96]) & 0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
			}
			ql = ql[64:]
			qh = qh[32:]
		}
	}
}

func dequantizeQ6K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/qkK; b++ {
		x, y := src[b*210:(b+1)*210], dst[b*qkK:(b+1)*qkK]
		d := f16(x[208:])
		ql, qh, sc := x[0:128], x[128:192], x[192:208]
		for n := 0; n < qkK; n += 128 {
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int8(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q2 := int8(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q3 := int8(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			ql, qh, sc = ql[64:], qh[32:], sc[8:]
		}
	}
}
