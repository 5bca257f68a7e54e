package accel

// The pure-Go reference kernels. Each function here is the specification of its
// kernel: every SIMD implementation is tested against it, and the "go" backend runs it
// (except GEMM, whose go backend is a blocked version of refSGEMM).
//
// Products that must not be fused into an FMA are written float32(x*y): the Go spec
// allows fusing x*y+z on arm64 and amd64 unless the product is explicitly converted.

import (
	"math"
)

// ---- GEMM -----------------------------------------------------------------------------

// refSGEMM computes C = alpha·op(A)·op(B) + beta·C + bias, with op(X) = Xᵀ when trans is
// set, all row-major. op(A) is m×k, op(B) is k×n, C is m×n. bias (length n, may be nil)
// is added to every row. When beta is 0, C is not read (NaN in C does not propagate).
// The sum is accumulated in float64, so the reference is more accurate than any kernel.
func refSGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := float64(alpha) * s
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
			}
			if bias != nil {
				r += float64(bias[j])
			}
			c[i*ldc+j] = float32(r)
		}
	}
}

// int8 is the element constraint of the integer GEMM's left operand.
type int8ish interface{ ~int8 | ~uint8 }

// refIGEMM computes C = A·op(B) in exact int32 arithmetic: A is m×k (int8 or uint8),
// op(B) is k×n int8 (B is n×k when transB), C is m×n int32 and is overwritten.
func refIGEMM[T int8ish](transB bool, m, n, k int, a []T, lda int, b []int8, ldb int, c []int32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int32
			for p := 0; p < k; p++ {
				var bv int8
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += int32(a[i*lda+p]) * int32(bv)
			}
			c[i*ldc+j] = s
		}
	}
}

// ---- half precision ----------------------------------------------------------------------

// F32ToF16Scalar converts one float32 to IEEE binary16 bits, rounding to nearest even.
// Overflow gives ±Inf; a NaN stays a NaN (quieted, the top mantissa bits kept) — the
// result x86 F16C and arm64 FCVT give.
func F32ToF16Scalar(f float32) uint16 {
	x := math.Float32bits(f)
	sign := uint16(x>>16) & 0x8000
	exp := int(x>>23) & 0xff
	mant := x & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the full significand, round to nearest even.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: that is the right answer
	}
	return sign | uint16(h)
}

// F16ToF32Scalar converts IEEE binary16 bits to float32 exactly. A NaN stays a NaN
// (quieted, payload kept).
func F16ToF32Scalar(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		if mant != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToBF16Scalar converts one float32 to bfloat16 bits, rounding to nearest even
// (subnormals kept, not flushed). A NaN stays a NaN: the top 16 bits with the quiet bit set.
func F32ToBF16Scalar(f float32) uint16 {
	x := math.Float32bits(f)
	if x&0x7fffffff > 0x7f800000 {
		return uint16(x>>16) | 0x40
	}
	return uint16((x + 0x7fff + (x>>16)&1) >> 16)
}

// BF16ToF32Scalar converts bfloat16 bits to float32 (exact).
func BF16ToF32Scalar(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func refF32ToF16(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = F32ToF16Scalar(v)
	}
}

func refF16ToF32(dst []float32, src []uint16) {
	for i, v := range src {
		dst[i] = F16ToF32Scalar(v)
	}
}

func refF32ToBF16(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = F32ToBF16Scalar(v)
	}
}

func refBF16ToF32(dst []float32, src []uint16) {
	for i, v := range src {
		dst[i] = BF16ToF32Scalar(v)
	}
}

// ---- linear quantization (ONNX QuantizeLinear / DequantizeLinear) ------------------------

// quantOne is ONNX QuantizeLinear for one value: saturate(roundHalfEven(x/scale) + zp).
// x/scale is a true division (as ONNX specifies), not a multiply by the reciprocal.
// A NaN quantizes to the zero point.
func quantOne(x, scale float32, zp, lo, hi int32) int32 {
	v := x / scale
	if v != v {
		return zp
	}
	r := float32(math.RoundToEven(float64(v))) + float32(zp)
	if r < float32(lo) {
		return lo
	}
	if r > float32(hi) {
		return hi
	}
	return int32(r)
}

// Element i of a quantize call (global flat index g0+i of the tensor viewed as
// [outer, ch, inner]) uses scale[c] and zp[c] with c = ((g0+i)/inner) % ch.
func refQuantS8(dst []int8, src []float32, g0, inner, ch int, scale []float32, zp []int8) {
	for i, x := range src {
		c := ((g0 + i) / inner) % ch
		dst[i] = int8(quantOne(x, scale[c], int32(zp[c]), -128, 127))
	}
}

func refQuantU8(dst []uint8, src []float32, g0, inner, ch int, scale []float32, zp []uint8) {
	for i, x := range src {
		c := ((g0 + i) / inner) % ch
		dst[i] = uint8(quantOne(x, scale[c], int32(zp[c]), 0, 255))
	}
}

// DequantizeLinear: y = float32(q − zp) · scale (one rounding, so exact across backends).
func refDequantS8(dst []float32, src []int8, g0, inner, ch int, scale []float32, zp []int8) {
	for i, q := range src {
		c := ((g0 + i) / inner) % ch
		dst[i] = float32(int32(q)-int32(zp[c])) * scale[c]
	}
}

func refDequantU8(dst []float32, src []uint8, g0, inner, ch int, scale []float32, zp []uint8) {
	for i, q := range src {
		c := ((g0 + i) / inner) % ch
		dst[i] = float32(int32(q)-int32(zp[c])) * scale[c]
	}
}

// ---- reductions ----------------------------------------------------------------------------

// refMinMaxRows: min and max of each row, NaN skipped; a row with no non-NaN value gives
// (+Inf, −Inf). The sign of a zero result is unspecified (−0 and +0 compare equal).
func refMinMaxRows(src []float32, rows, cols, ld int, mn, mx []float32) {
	for r := 0; r < rows; r++ {
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range src[r*ld : r*ld+cols] {
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
		mn[r], mx[r] = lo, hi
	}
}

// refAbsMaxRows: max |x| of each row, NaN skipped; 0 for an empty or all-NaN row.
func refAbsMaxRows(src []float32, rows, cols, ld int, out []float32) {
	for r := 0; r < rows; r++ {
		var m float32
		for _, v := range src[r*ld : r*ld+cols] {
			if a := float32(math.Abs(float64(v))); a > m {
				m = a
			}
		}
		out[r] = m
	}
}

// refSumSqRows: Σx² of each row, accumulated in float64 (kernels may sum in another
// order: relative difference ≤ 1e-12 for inputs without cancellation, which Σx² has none of).
func refSumSqRows(src []float32, rows, cols, ld int, out []float64) {
	for r := 0; r < rows; r++ {
		var s float64
		for _, v := range src[r*ld : r*ld+cols] {
			s += float64(v) * float64(v)
		}
		out[r] = s
	}
}

// ---- ggml block quantization ------------------------------------------------------------------

// Block sizes of the ggml block formats.
const (
	QK8_0     = 32 // values per Q8_0 block
	Q8_0Bytes = 34 // bytes per Q8_0 block: f16 d, 32 × int8
	QK4_0     = 32 // values per Q4_0 block
	Q4_0Bytes = 18 // bytes per Q4_0 block: f16 d, 16 bytes of nibbles
)

// cInt8 is C's (int8_t) conversion of a float as x86 compilers emit it (cvttss2si to
// 32 bits, keep the low byte): truncation toward zero; NaN and out-of-range values
// become 0x80000000 and so keep the low byte 0.
func cInt8(v float32) int32 {
	if v != v || v >= 2147483648 || v < -2147483648 {
		return 0
	}
	return int32(int8(int32(v)))
}

// roundAway is C roundf: half away from zero.
func roundAway(v float32) float32 {
	t := float32(math.Trunc(float64(v)))
	if d := v - t; d >= 0.5 {
		t++
	} else if d <= -0.5 {
		t--
	}
	return t
}

// refQuantizeQ8_0 is ggml's quantize_row_q8_0_ref, byte for byte, including its NaN
// behaviour: amax = MAX(amax, |v|) in order (a NaN forgets the running maximum), and
// C's float→int8 conversion of a NaN gives 0.
func refQuantizeQ8_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/QK8_0; b++ {
		x := src[b*QK8_0 : (b+1)*QK8_0]
		y := dst[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		var amax float32
		for _, v := range x {
			av := float32(math.Abs(float64(v)))
			if !(amax > av) {
				amax = av
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		h := F32ToF16Scalar(d)
		y[0], y[1] = byte(h), byte(h>>8)
		for j, v := range x {
			y[2+j] = byte(cInt8(roundAway(float32(v * id))))
		}
	}
}

// refDequantizeQ8_0: y = q · f16(d).
func refDequantizeQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK8_0; b++ {
		y := src[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		d := F16ToF32Scalar(uint16(y[0]) | uint16(y[1])<<8)
		for j := 0; j < QK8_0; j++ {
			dst[b*QK8_0+j] = float32(int8(y[2+j])) * d
		}
	}
}

// refQuantizeQ4_0 is ggml's quantize_row_q4_0_ref, byte for byte: the value of largest
// magnitude (the first one on ties, NaN never chosen) sets d = max/−8; q = min(15,
// (int8)(x·id + 8.5)) with truncation; byte j holds value j (low nibble) and j+16 (high).
func refQuantizeQ4_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/QK4_0; b++ {
		x := src[b*QK4_0 : (b+1)*QK4_0]
		y := dst[b*Q4_0Bytes : (b+1)*Q4_0Bytes]
		var amax, mx float32
		for _, v := range x {
			if av := float32(math.Abs(float64(v))); amax < av {
				amax, mx = av, v
			}
		}
		d := mx / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		h := F32ToF16Scalar(d)
		y[0], y[1] = byte(h), byte(h>>8)
		for j := 0; j < QK4_0/2; j++ {
			q0 := min(15, cInt8(float32(x[j]*id)+8.5))
			q1 := min(15, cInt8(float32(x[j+16]*id)+8.5))
			y[2+j] = byte(q0)&0x0f | byte(q1)<<4
		}
	}
}

// refDequantizeQ4_0: y = (q − 8) · f16(d).
func refDequantizeQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK4_0; b++ {
		y := src[b*Q4_0Bytes : (b+1)*Q4_0Bytes]
		d := F16ToF32Scalar(uint16(y[0]) | uint16(y[1])<<8)
		for j := 0; j < QK4_0/2; j++ {
			dst[b*QK4_0+j] = float32(int32(y[2+j]&0x0f)-8) * d
			dst[b*QK4_0+j+16] = float32(int32(y[2+j]>>4)-8) * d
		}
	}
}

// ---- activations ---------------------------------------------------------------------------------

// refReLU: x > 0 ? x : 0 (NaN → 0, −0 → +0).
func refReLU(dst, src []float32) {
	for i, v := range src {
		if v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// refGELU: the erf form, 0.5·x·(1 + erf(x/√2)), evaluated in float64 as
// 0.5·x·erfc(−x/√2), which is the same function without the cancellation of 1 + erf
// below x = −3 (where the result is tiny and the SIMD kernels, on erfc too, keep its
// relative precision).
func refGELU(dst, src []float32) {
	for i, v := range src {
		x := float64(v)
		dst[i] = float32(0.5 * x * math.Erfc(-x/math.Sqrt2))
	}
}

// refSiLU: x·sigmoid(x) = x / (1 + e^−x), evaluated in float64.
func refSiLU(dst, src []float32) {
	for i, v := range src {
		x := float64(v)
		dst[i] = float32(x / (1 + math.Exp(-x)))
	}
}

// refExp: e^x evaluated in float64 and rounded.
func refExp(dst, src []float32) {
	for i, v := range src {
		dst[i] = float32(math.Exp(float64(v)))
	}
}

// refSoftmaxRows: each row y = e^(x−max) / Σ e^(x−max), max skipping NaN; a NaN, or an
// Inf that makes x−max undefined, makes its whole row NaN.
func refSoftmaxRows(dst, src []float32, rows, cols int) {
	e := make([]float64, cols)
	for r := 0; r < rows; r++ {
		x := src[r*cols : (r+1)*cols]
		y := dst[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range x {
			if float64(v) > m {
				m = float64(v)
			}
		}
		var s float64
		for j, v := range x {
			e[j] = math.Exp(float64(v) - m)
			s += e[j]
		}
		for j := range y {
			y[j] = float32(e[j] / s)
		}
	}
}
