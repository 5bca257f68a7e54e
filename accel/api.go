package accel

import (
	"fmt"
	"math"
	"sync"

	"github.com/modelc/modelc/accel/cuda"
)

// Size thresholds. Below them a call runs the go backend's kernel on the calling
// goroutine: a cgo call costs tens of nanoseconds, more than a tiny kernel does.
// Integer and conversion kernels give the same bytes either way; float kernels may
// differ in the last bits (see each function).
const (
	smallElems = 64           // element-wise kernels, conversions, quantizers
	smallFlops = 16 * 16 * 16 // GEMM: m·n·k
	chunkElems = 1 << 16      // elements per parallel task (fixed, so results do not depend on threads)
	gemmPar    = 1 << 19      // GEMM m·n·k from which the pool is used
	gemvRows   = 4            // a product of up to gemvRows rows is split from gemvPar
	gemvPar    = 1 << 15      // multiply-adds per row (n·k, B's size): see gemmSerial
)

// check panics with fn and the formatted message unless ok. Its arguments are boxed
// (allocated) on every call, failing or not: the checks on a kernel's hot path are
// written as `if bad { fail(...) }` instead, so that a run allocates nothing.
func check(ok bool, fn, format string, args ...any) {
	if !ok {
		fail(fn, format, args...)
	}
}

// fail panics with fn and the formatted message (a caller's bug: sizes that do not fit).
func fail(fn, format string, args ...any) {
	panic(fmt.Sprintf("accel: %s: %s", fn, fmt.Sprintf(format, args...)))
}

// checkMat panics unless x holds a rows×cols row-major matrix with leading dimension ld.
func checkMat(fn, name string, xlen, rows, cols, ld int) {
	if ld < max(1, cols) {
		fail(fn, "ld%s = %d < max(1, %d)", name, ld, cols)
	}
	if rows > 0 && cols > 0 {
		need := (rows-1)*ld + cols
		if xlen < need {
			fail(fn, "len(%s) = %d, need ≥ %d for %d×%d with ld %d", name, xlen, need, rows, cols, ld)
		}
	}
}

func dims(trans bool, r, c int) (int, int) {
	if trans {
		return c, r
	}
	return r, c
}

// ---- GEMM ----------------------------------------------------------------------------

// SGEMM computes C = alpha·op(A)·op(B) + beta·C for row-major float32 matrices, where
// op(X) is X or Xᵀ as trans says; op(A) is m×k, op(B) is k×n, C is m×n. When beta is 0,
// C is only written (NaN in C does not propagate). The kernel is blocked and packed for
// cache and runs on the worker pool for large sizes. Results differ from the float64
// reference by at most (k+2)·2⁻²³·(|alpha|·Σ|a||b| + |beta·c|) per element, and are the
// same for every thread count.
func SGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int) {
	SGEMMBias(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SGEMMBias is SGEMM plus a bias vector of length n added to every row of C:
// C = alpha·op(A)·op(B) + beta·C + bias. A nil bias adds nothing.
func SGEMMBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) {
	sgemmBias(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
}

// SGEMMBiasSerial is SGEMMBias on the calling goroutine alone, for a caller that is one
// of several tasks of a parallel region already (each direction of a bidirectional RNN
// on its own thread): a product split again there would wait for helpers that are busy
// with the other tasks. The bits are SGEMMBias's.
func SGEMMBiasSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) {
	sgemmBias(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
}

func sgemmBias(serial, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) {
	const fn = "SGEMM"
	if !(m >= 0 && n >= 0 && k >= 0) {
		fail(fn, "negative size %d×%d×%d", m, n, k)
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	checkMat(fn, "a", len(a), ar, ac, lda)
	checkMat(fn, "b", len(b), br, bc, ldb)
	checkMat(fn, "c", len(c), m, n, ldc)
	if !(bias == nil || len(bias) >= n) {
		fail(fn, "len(bias) = %d < n = %d", len(bias), n)
	}
	if m == 0 || n == 0 {
		return
	}
	t := tab()
	if m*n*k < smallFlops {
		goSGEMM(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
		return
	}
	if t.offload(fn, m*n*k, smallFlops, CUDAMinGEMMWork, func(d *cuda.Device) error {
		return d.SGEMM(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	}) {
		return
	}
	if serial || gemmSerial(m, n, k) {
		// One tile, called directly: the closure gemmTiles takes would be allocated on
		// every call.
		sgemmTile(t, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, 0, m, 0, n)
		return
	}
	// The slabs of gemmTiles, from a pooled job whose task function exists already: a
	// closure here would be allocated on every call, and an RNN splits one product per
	// time step.
	j := sgemmJobs.Get().(*sgemmJob)
	j.t, j.transA, j.transB, j.m, j.n, j.k, j.alpha = t, transA, transB, m, n, k, alpha
	j.a, j.lda, j.b, j.ldb, j.beta, j.c, j.ldc, j.bias = a, lda, b, ldb, beta, c, ldc, bias
	j.plan = planTiles(m, n)
	parallel(j.plan.tasks, j.task)
	*j = sgemmJob{task: j.task} // drop the references to the caller's slices
	sgemmJobs.Put(j)
}

// sgemmJob is one SGEMMBias split over the pool; task runs its slab i.
type sgemmJob struct {
	t                      *table
	transA, transB         bool
	m, n, k, lda, ldb, ldc int
	alpha, beta            float32
	a, b, c, bias          []float32
	plan                   tilePlan
	task                   func(i int)
}

var sgemmJobs = sync.Pool{New: func() any {
	j := &sgemmJob{}
	j.task = func(i int) {
		if i0, i1, j0, j1, ok := j.plan.slab(i); ok {
			sgemmTile(j.t, j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.a, j.lda, j.b, j.ldb, j.beta, j.c, j.ldc, j.bias, i0, i1, j0, j1)
		}
	}
	return j
}}

// sgemmTile runs the rows i0..i1 and columns j0..j1 of SGEMMBias's product.
func sgemmTile(t *table, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32, i0, i1, j0, j1 int) {
	aoff := i0 * lda
	if transA {
		aoff = i0
	}
	boff := j0
	if transB {
		boff = j0 * ldb
	}
	var bs []float32
	if bias != nil {
		bs = bias[j0:]
	}
	if k == 0 {
		aoff, boff = 0, 0
	}
	t.sgemm(transA, transB, i1-i0, j1-j0, k, alpha, a[aoff:], lda, b[boff:], ldb, beta, c[i0*ldc+j0:], ldc, bs)
}

// gemmSerial reports whether an m×n×k product runs as one tile on the calling goroutine:
// at one thread, and below gemmPar multiply-adds, except a product of a few rows with a
// B of gemvPar values or more. That one is a pass over B, bound by the core's cache
// bandwidth, not its arithmetic, so two threads each reading half of B from their own
// cache halve it. An LSTM step's H·Rᵀ with 128 hidden units (512×128 floats of R) took
// 2.7 µs on one thread; split, lstm (two 128-unit layers, 20 steps) ran in 0.11 ms at
// two threads, not 0.15 ms.
func gemmSerial(m, n, k int) bool {
	return MaxThreads() <= 1 || m*n*max(k, 1) < gemmPar && (m > gemvRows || n*k < gemvPar)
}

// gemmTiles splits an m×n output over the pool: along the longer side, one slab per
// thread. Row slabs are multiples of gemmRows, so only the last slab has a partial
// micro-tile; column slabs are multiples of 32. Every backend sums each C element in
// the same order whatever its slab, except the one-row (matrix-vector) path: a last
// row alone stays with the slab before it, so the bits do not depend on the thread
// count. From gemmPar multiply-adds (a few µs of work) a hand-off to the pool, about a
// microsecond, pays for itself.
func gemmTiles(m, n, k int, fn func(i0, i1, j0, j1 int)) {
	if gemmSerial(m, n, k) {
		fn(0, m, 0, n)
		return
	}
	p := planTiles(m, n)
	parallel(p.tasks, func(i int) {
		if i0, i1, j0, j1, ok := p.slab(i); ok {
			fn(i0, i1, j0, j1)
		}
	})
}

// tilePlan is gemmTiles's split of an m×n output: tasks slabs of step rows (rows) or
// columns.
type tilePlan struct {
	m, n, step, tasks int
	rows              bool
}

func planTiles(m, n int) tilePlan {
	t := MaxThreads()
	if m >= n {
		step := roundUp((m+t-1)/t, gemmRows)
		return tilePlan{m: m, n: n, step: step, tasks: (m + step - 1) / step, rows: true}
	}
	step := roundUp((n+t-1)/t, 32)
	return tilePlan{m: m, n: n, step: step, tasks: (n + step - 1) / step}
}

// slab returns task i's rows [i0, i1) and columns [j0, j1), or ok false for a task with
// nothing to do.
func (p *tilePlan) slab(i int) (i0, i1, j0, j1 int, ok bool) {
	if !p.rows {
		return 0, p.m, i * p.step, min(p.n, (i+1)*p.step), true
	}
	i0, i1 = i*p.step, min(p.m, (i+1)*p.step)
	if i1 == p.m-1 {
		i1 = p.m // the last row joins this slab
	} else if i0 == p.m-1 && i > 0 {
		return 0, 0, 0, 0, false // done by the slab before
	}
	return i0, i1, 0, p.n, true
}

// gemmRows is the row granularity of gemmTiles: the packed kernels' 12-row micro-tile
// (the AVX-512 and int8 ones; the AVX2 one has 6 rows).
const gemmRows = 12

// roundUp rounds x up to a multiple of q.
func roundUp(x, q int) int { return (x + q - 1) / q * q }

// GEMMS8S8 computes C = A·op(B) exactly in int32 for int8 A (m×k) and int8 B (k×n, or
// n×k when transB); C (m×n, leading dimension ldc) is overwritten. Every backend gives
// the same bits (the sum wraps modulo 2³² only for k beyond 2¹⁷). With AVX512-VNNI the
// inner product is vpdpbusd on (a+128) with a column-sum correction.
func GEMMS8S8(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) {
	t := tab()
	igemm("GEMMS8S8", t, t.gemmS8S8, transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// GEMMU8S8 is GEMMS8S8 for a uint8 A (the ONNX MatMulInteger / QLinearMatMul layout of
// activations quantized to uint8 and weights to int8).
func GEMMU8S8(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) {
	t := tab()
	igemm("GEMMU8S8", t, t.gemmU8S8, transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// GEMMF16 computes C = alpha·op(A)·op(B) + beta·C for A and B in IEEE half precision
// (uint16 bits) and C in float32, accumulating in float32; shapes as in SGEMM. On CUDA it
// runs on tensor cores (sm_80+). On the CPU the inputs are widened to float32 (exactly)
// and multiplied by the sgemm kernel. Products of halves are exact in float32, so the
// error bound is SGEMM's, computed on the widened inputs.
func GEMMF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int,
	beta float32, c []float32, ldc int) {
	gemmHalf("GEMMF16", false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GEMMBF16 is GEMMF16 for bfloat16 A and B.
func GEMMBF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int,
	beta float32, c []float32, ldc int) {
	gemmHalf("GEMMBF16", true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmHalf(fn string, bf16, transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16,
	ldb int, beta float32, c []float32, ldc int) {
	if !(m >= 0 && n >= 0 && k >= 0) {
		fail(fn, "negative size %d×%d×%d", m, n, k)
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	checkMat(fn, "a", len(a), ar, ac, lda)
	checkMat(fn, "b", len(b), br, bc, ldb)
	checkMat(fn, "c", len(c), m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	t := tab()
	if t.offload(fn, m*n*k, smallFlops, CUDAMinGEMMWork, func(d *cuda.Device) error {
		return d.GEMMHalf(bf16, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}) {
		return
	}
	widen := F16ToF32
	if bf16 {
		widen = BF16ToF32
	}
	span := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	af := make([]float32, span(ar, ac, lda))
	bf := make([]float32, span(br, bc, ldb))
	widen(af, a[:len(af)])
	widen(bf, b[:len(bf)])
	SGEMM(transA, transB, m, n, k, alpha, af, lda, bf, ldb, beta, c, ldc)
}

func igemm[T int8ish](fn string, t *table, kern func(bool, int, int, int, []T, int, []int8, int, []int32, int),
	transB bool, m, n, k int, a []T, lda int, b []int8, ldb int, c []int32, ldc int) {
	if !(m >= 0 && n >= 0 && k >= 0) {
		fail(fn, "negative size %d×%d×%d", m, n, k)
	}
	br, bc := dims(transB, k, n)
	checkMat(fn, "a", len(a), m, k, lda)
	checkMat(fn, "b", len(b), br, bc, ldb)
	checkMat(fn, "c", len(c), m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if m*n*k < smallFlops || k == 0 {
		goIGEMM(transB, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if t.offload(fn, m*n*k, smallFlops, CUDAMinGEMMWork, func(d *cuda.Device) error {
		if a, ok := any(a).([]int8); ok {
			return d.GEMMS8S8(transB, m, n, k, a, lda, b, ldb, c, ldc)
		}
		return d.GEMMU8S8(transB, m, n, k, any(a).([]uint8), lda, b, ldb, c, ldc)
	}) {
		return
	}
	gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
		boff := j0
		if transB {
			boff = j0 * ldb
		}
		kern(transB, i1-i0, j1-j0, k, a[i0*lda:], lda, b[boff:], ldb, c[i0*ldc+j0:], ldc)
	})
}

// ---- element-wise helper ----------------------------------------------------------------

// elementwise runs kern over [0, n) in fixed chunks on the pool, or small on the caller.
func elementwise(n int, small, kern func(lo, hi int)) {
	switch {
	case n == 0:
	case n < smallElems:
		small(0, n)
	case n <= chunkElems:
		kern(0, n)
	default:
		chunks(n, chunkElems, kern)
	}
}

func checkLen(fn string, dst, src int) {
	if dst < src {
		fail(fn, "len(dst) = %d < len(src) = %d", dst, src)
	}
}

// ---- conversions ----------------------------------------------------------------------------

// F32ToF16 converts src to IEEE half precision bits in dst[:len(src)], rounding to nearest
// even; overflow gives ±Inf, NaN stays NaN. Bit-exact on every backend.
func F32ToF16(dst []uint16, src []float32) {
	checkLen("F32ToF16", len(dst), len(src))
	t := tab()
	if t.offload("F32ToF16", len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.F32ToF16(dst, src) }) {
		return
	}
	elementwise(len(src), func(lo, hi int) { refF32ToF16(dst[lo:hi], src[lo:hi]) },
		func(lo, hi int) { t.f32ToF16(dst[lo:hi], src[lo:hi]) })
}

// F16ToF32 converts half precision bits to float32 (exact).
func F16ToF32(dst []float32, src []uint16) {
	checkLen("F16ToF32", len(dst), len(src))
	t := tab()
	if t.offload("F16ToF32", len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.F16ToF32(dst, src) }) {
		return
	}
	elementwise(len(src), func(lo, hi int) { refF16ToF32(dst[lo:hi], src[lo:hi]) },
		func(lo, hi int) { t.f16ToF32(dst[lo:hi], src[lo:hi]) })
}

// F32ToBF16 converts src to bfloat16 bits, rounding to nearest even (subnormals kept);
// NaN stays NaN. Bit-exact on every backend.
func F32ToBF16(dst []uint16, src []float32) {
	checkLen("F32ToBF16", len(dst), len(src))
	t := tab()
	if t.offload("F32ToBF16", len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.F32ToBF16(dst, src) }) {
		return
	}
	elementwise(len(src), func(lo, hi int) { refF32ToBF16(dst[lo:hi], src[lo:hi]) },
		func(lo, hi int) { t.f32ToBF16(dst[lo:hi], src[lo:hi]) })
}

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func BF16ToF32(dst []float32, src []uint16) {
	checkLen("BF16ToF32", len(dst), len(src))
	t := tab()
	if t.offload("BF16ToF32", len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.BF16ToF32(dst, src) }) {
		return
	}
	elementwise(len(src), func(lo, hi int) { refBF16ToF32(dst[lo:hi], src[lo:hi]) },
		func(lo, hi int) { t.bf16ToF32(dst[lo:hi], src[lo:hi]) })
}

// ---- linear quantization ------------------------------------------------------------------

func checkAxis(fn string, n, inner, ch, zps int) {
	check(ch > 0, fn, "no scales")
	if inner <= 0 {
		fail(fn, "inner = %d ≤ 0", inner)
	}
	if !(zps == 0 || zps == ch) {
		fail(fn, "%d zero points for %d scales", zps, ch)
	}
	if n%(inner*ch) != 0 {
		fail(fn, "len(src) = %d is not a multiple of inner·len(scale) = %d·%d", n, inner, ch)
	}
}

func axisChunks(n int, small, kern func(lo, hi int)) { elementwise(n, small, kern) }

// QuantizeS8 is ONNX QuantizeLinear to int8 with one scale and zero point:
// dst[i] = saturate(roundHalfEven(src[i]/scale) + zp). NaN maps to zp. Bit-exact on
// every backend.
func QuantizeS8(dst []int8, src []float32, scale float32, zp int8) {
	QuantizeS8Axis(dst, src, len(src)+boolInt(len(src) == 0), []float32{scale}, []int8{zp})
}

// QuantizeU8 is QuantizeS8 for uint8 (saturating to [0, 255]).
func QuantizeU8(dst []uint8, src []float32, scale float32, zp uint8) {
	QuantizeU8Axis(dst, src, len(src)+boolInt(len(src) == 0), []float32{scale}, []uint8{zp})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// QuantizeS8Axis is per-axis QuantizeLinear: src is viewed as [outer, len(scale), inner]
// and element (o, c, i) uses scale[c] and zp[c] (zp nil means zeros). Per-channel
// quantization of a row-major [rows, cols] weight is inner = cols (one scale per row) or
// inner = 1 (one scale per column).
func QuantizeS8Axis(dst []int8, src []float32, inner int, scale []float32, zp []int8) {
	const fn = "QuantizeS8Axis"
	checkLen(fn, len(dst), len(src))
	checkAxis(fn, len(src), inner, len(scale), len(zp))
	t := tab()
	if t.offload(fn, len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.QuantizeS8Axis(dst, src, inner, scale, zp) }) {
		return
	}
	if zp == nil {
		zp = make([]int8, len(scale))
	}
	ch := len(scale)
	axisChunks(len(src), func(lo, hi int) { refQuantS8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) },
		func(lo, hi int) { t.quantS8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) })
}

// QuantizeU8Axis is QuantizeS8Axis for uint8.
func QuantizeU8Axis(dst []uint8, src []float32, inner int, scale []float32, zp []uint8) {
	const fn = "QuantizeU8Axis"
	checkLen(fn, len(dst), len(src))
	checkAxis(fn, len(src), inner, len(scale), len(zp))
	t := tab()
	if t.offload(fn, len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.QuantizeU8Axis(dst, src, inner, scale, zp) }) {
		return
	}
	if zp == nil {
		zp = make([]uint8, len(scale))
	}
	ch := len(scale)
	axisChunks(len(src), func(lo, hi int) { refQuantU8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) },
		func(lo, hi int) { t.quantU8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) })
}

// DequantizeS8 is ONNX DequantizeLinear: dst[i] = float32(src[i] − zp) · scale (exact
// across backends).
func DequantizeS8(dst []float32, src []int8, scale float32, zp int8) {
	DequantizeS8Axis(dst, src, len(src)+boolInt(len(src) == 0), []float32{scale}, []int8{zp})
}

// DequantizeU8 is DequantizeS8 for uint8.
func DequantizeU8(dst []float32, src []uint8, scale float32, zp uint8) {
	DequantizeU8Axis(dst, src, len(src)+boolInt(len(src) == 0), []float32{scale}, []uint8{zp})
}

// DequantizeS8Axis is per-axis DequantizeLinear, laid out as in QuantizeS8Axis.
func DequantizeS8Axis(dst []float32, src []int8, inner int, scale []float32, zp []int8) {
	const fn = "DequantizeS8Axis"
	checkLen(fn, len(dst), len(src))
	checkAxis(fn, len(src), inner, len(scale), len(zp))
	t := tab()
	if t.offload(fn, len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.DequantizeS8Axis(dst, src, inner, scale, zp) }) {
		return
	}
	if zp == nil {
		zp = make([]int8, len(scale))
	}
	ch := len(scale)
	axisChunks(len(src), func(lo, hi int) { refDequantS8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) },
		func(lo, hi int) { t.dequantS8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) })
}

// DequantizeU8Axis is DequantizeS8Axis for uint8.
func DequantizeU8Axis(dst []float32, src []uint8, inner int, scale []float32, zp []uint8) {
	const fn = "DequantizeU8Axis"
	checkLen(fn, len(dst), len(src))
	checkAxis(fn, len(src), inner, len(scale), len(zp))
	t := tab()
	if t.offload(fn, len(src), smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.DequantizeU8Axis(dst, src, inner, scale, zp) }) {
		return
	}
	if zp == nil {
		zp = make([]uint8, len(scale))
	}
	ch := len(scale)
	axisChunks(len(src), func(lo, hi int) { refDequantU8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) },
		func(lo, hi int) { t.dequantU8(dst[lo:hi], src[lo:hi], lo, inner, ch, scale, zp) })
}

// QuantDequantU8 writes dst[i] = float32(q − zp)·scale with q = QuantizeU8 of src[i]:
// a DynamicQuantizeLinear's values as the DequantizeLinear after it sees them, bit for
// bit QuantizeU8 then DequantizeU8, without the uint8 tensor between them where the
// backend has a one-pass kernel. dst may be src.
func QuantDequantU8(dst, src []float32, scale float32, zp uint8) {
	const fn = "QuantDequantU8"
	checkLen(fn, len(dst), len(src))
	t := tab()
	sc, z := []float32{scale}, []uint8{zp}
	n := len(src)
	inner := n + boolInt(n == 0)
	// Each task quantizes and dequantizes its chunk in pieces whose bytes stay in L1.
	const piece = 4096
	compose := func(q func([]uint8, []float32, int, int, int, []float32, []uint8),
		d func([]float32, []uint8, int, int, int, []float32, []uint8)) func(lo, hi int) {
		return func(lo, hi int) {
			buf := make([]uint8, min(piece, hi-lo))
			for a := lo; a < hi; a += piece {
				b := min(hi, a+piece)
				q(buf[:b-a], src[a:b], a, inner, 1, sc, z)
				d(dst[a:b], buf[:b-a], a, inner, 1, sc, z)
			}
		}
	}
	kern := compose(t.quantU8, t.dequantU8)
	if t.qdqU8 != nil {
		kern = func(lo, hi int) { t.qdqU8(dst[lo:hi], src[lo:hi], scale, zp) }
	}
	elementwise(n, compose(refQuantU8, refDequantU8), kern)
}

// QuantizeScaledU8Rows writes dst[r·cols + j] = QuantizeU8 of the float32 product
// src[r·cols + j]·mul[r] with one scale and zero point: a per-channel Mul (a
// squeeze-and-excitation scale) and the DynamicQuantizeLinear after it, without the
// product tensor between them. Bit for bit the Mul, then QuantizeU8. Rows are split
// over the pool.
func QuantizeScaledU8Rows(dst []uint8, src []float32, rows, cols int, mul []float32, scale float32, zp uint8) {
	const fn = "QuantizeScaledU8Rows"
	if !(rows >= 0 && cols >= 0 && len(src) >= rows*cols && len(dst) >= rows*cols && len(mul) >= rows) {
		fail(fn, "%d rows of %d: src %d, dst %d, mul %d values", rows, cols, len(src), len(dst), len(mul))
	}
	t := tab()
	sc, z := []float32{scale}, []uint8{zp}
	rowsPar(rows, cols, func(r0, r1 int) {
		if t.quantScaledU8 != nil && (r1-r0)*cols >= smallElems {
			t.quantScaledU8(dst[r0*cols:r1*cols], src[r0*cols:r1*cols], r1-r0, cols, mul[r0:r1], scale, zp)
			return
		}
		prod := make([]float32, cols)
		for r := r0; r < r1; r++ {
			m := mul[r]
			for j, v := range src[r*cols : (r+1)*cols] {
				prod[j] = v * m
			}
			t.quantU8(dst[r*cols:(r+1)*cols], prod, 0, cols+boolInt(cols == 0), 1, sc, z)
		}
	})
}

// ---- reductions ----------------------------------------------------------------------------

// rowsPar runs a rows kernel over rows in groups on the pool.
func rowsPar(rows, cols int, fn func(r0, r1 int)) {
	if rows == 0 {
		return
	}
	per := max(1, chunkElems/max(cols, 1))
	if rows*cols <= chunkElems {
		fn(0, rows)
		return
	}
	chunks(rows, per, fn)
}

// MinMaxRows writes the minimum and maximum of each row of the rows×cols matrix src to
// mn[r] and mx[r]. NaN is skipped; an empty or all-NaN row gives (+Inf, −Inf). The
// sign of a zero result is unspecified. Exact on every backend.
func MinMaxRows(src []float32, rows, cols int, mn, mx []float32) {
	const fn = "MinMaxRows"
	check(rows >= 0 && cols >= 0, fn, "negative size")
	if len(src) < rows*cols {
		fail(fn, "len(src) = %d < %d×%d", len(src), rows, cols)
	}
	if !(len(mn) >= rows && len(mx) >= rows) {
		fail(fn, "outputs shorter than rows = %d", rows)
	}
	t := tab()
	rowsPar(rows, cols, func(r0, r1 int) {
		if cols < smallElems {
			refMinMaxRows(src[r0*cols:], r1-r0, cols, cols, mn[r0:], mx[r0:])
		} else {
			t.minMaxRows(src[r0*cols:], r1-r0, cols, cols, mn[r0:], mx[r0:])
		}
	})
}

// AbsMaxRows writes max |x| of each row to out[r]; NaN skipped, 0 for an empty row.
func AbsMaxRows(src []float32, rows, cols int, out []float32) {
	const fn = "AbsMaxRows"
	check(rows >= 0 && cols >= 0, fn, "negative size")
	if len(src) < rows*cols {
		fail(fn, "len(src) = %d < %d×%d", len(src), rows, cols)
	}
	if len(out) < rows {
		fail(fn, "len(out) = %d < rows = %d", len(out), rows)
	}
	t := tab()
	rowsPar(rows, cols, func(r0, r1 int) {
		if cols < smallElems {
			refAbsMaxRows(src[r0*cols:], r1-r0, cols, cols, out[r0:])
		} else {
			t.absMaxRows(src[r0*cols:], r1-r0, cols, cols, out[r0:])
		}
	})
}

// SumSquaresRows writes Σx² of each row, accumulated in float64, to out[r]. Backends
// sum in different orders: results agree to a relative 1e-12.
func SumSquaresRows(src []float32, rows, cols int, out []float64) {
	const fn = "SumSquaresRows"
	check(rows >= 0 && cols >= 0, fn, "negative size")
	if len(src) < rows*cols {
		fail(fn, "len(src) = %d < %d×%d", len(src), rows, cols)
	}
	if len(out) < rows {
		fail(fn, "len(out) = %d < rows = %d", len(out), rows)
	}
	t := tab()
	rowsPar(rows, cols, func(r0, r1 int) {
		if cols < smallElems {
			refSumSqRows(src[r0*cols:], r1-r0, cols, cols, out[r0:])
		} else {
			t.sumSqRows(src[r0*cols:], r1-r0, cols, cols, out[r0:])
		}
	})
}

// blocks splits n values into whole blocks of bs and one short tail block.
func blocks(fn string, n, bs int) (full, tail int) {
	if bs <= 0 {
		fail(fn, "block size %d ≤ 0", bs)
	}
	return n / bs, n % bs
}

// MinMaxBlocks is MinMaxRows over consecutive blocks of bs values (the last block may be
// short): ⌈len(src)/bs⌉ results.
func MinMaxBlocks(src []float32, bs int, mn, mx []float32) {
	full, tail := blocks("MinMaxBlocks", len(src), bs)
	MinMaxRows(src, full, bs, mn, mx)
	if tail > 0 {
		MinMaxRows(src[full*bs:], 1, tail, mn[full:], mx[full:])
	}
}

// AbsMaxBlocks is AbsMaxRows over consecutive blocks of bs values (the last may be short).
func AbsMaxBlocks(src []float32, bs int, out []float32) {
	full, tail := blocks("AbsMaxBlocks", len(src), bs)
	AbsMaxRows(src, full, bs, out)
	if tail > 0 {
		AbsMaxRows(src[full*bs:], 1, tail, out[full:])
	}
}

// SumSquaresBlocks is SumSquaresRows over consecutive blocks of bs values.
func SumSquaresBlocks(src []float32, bs int, out []float64) {
	full, tail := blocks("SumSquaresBlocks", len(src), bs)
	SumSquaresRows(src, full, bs, out)
	if tail > 0 {
		SumSquaresRows(src[full*bs:], 1, tail, out[full:])
	}
}

// perTensor reduces a whole slice through a blocks kernel with a fixed block, so the
// result does not depend on the number of threads.
const tensorBlock = chunkElems

// MinMax returns the minimum and maximum of src (NaN skipped; (+Inf, −Inf) if none).
func MinMax(src []float32) (mn, mx float32) {
	nb := (len(src) + tensorBlock - 1) / tensorBlock
	lo, hi := make([]float32, nb), make([]float32, nb)
	MinMaxBlocks(src, tensorBlock, lo, hi)
	mn, mx = float32(math.Inf(1)), float32(math.Inf(-1))
	for i := range lo {
		mn, mx = min(mn, lo[i]), max(mx, hi[i])
	}
	return mn, mx
}

// AbsMax returns max |x| over src (NaN skipped; 0 if none).
func AbsMax(src []float32) float32 {
	nb := (len(src) + tensorBlock - 1) / tensorBlock
	out := make([]float32, nb)
	AbsMaxBlocks(src, tensorBlock, out)
	var m float32
	for _, v := range out {
		m = max(m, v)
	}
	return m
}

// SumSquares returns Σx² over src, accumulated in float64.
func SumSquares(src []float32) float64 {
	nb := (len(src) + tensorBlock - 1) / tensorBlock
	out := make([]float64, nb)
	SumSquaresBlocks(src, tensorBlock, out)
	var s float64
	for _, v := range out {
		s += v
	}
	return s
}

// ---- ggml blocks ------------------------------------------------------------------------------

const blockChunk = chunkElems / QK8_0 // blocks per parallel task

func checkBlocks(fn string, nsrc, ndst, qk, bytes int) int {
	if nsrc%qk != 0 {
		fail(fn, "len(src) = %d is not a multiple of %d", nsrc, qk)
	}
	nb := nsrc / qk
	if ndst < nb*bytes {
		fail(fn, "len(dst) = %d < %d blocks × %d bytes", ndst, nb, bytes)
	}
	return nb
}

// QuantizeQ8_0 quantizes src (a multiple of 32 values) into ggml Q8_0 blocks in dst
// (34 bytes per 32 values), byte for byte as ggml's quantize_row_q8_0_ref, NaN included.
func QuantizeQ8_0(dst []byte, src []float32) {
	nb := checkBlocks("QuantizeQ8_0", len(src), len(dst), QK8_0, Q8_0Bytes)
	t := tab()
	if t.offload("QuantizeQ8_0", nb*QK8_0, smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.QuantizeQ8_0(dst, src) }) {
		return
	}
	blockPar(nb, func(lo, hi int) {
		t.quantQ8_0(dst[lo*Q8_0Bytes:hi*Q8_0Bytes], src[lo*QK8_0:hi*QK8_0])
	}, func(lo, hi int) {
		refQuantizeQ8_0(dst[lo*Q8_0Bytes:hi*Q8_0Bytes], src[lo*QK8_0:hi*QK8_0])
	})
}

// DequantizeQ8_0 expands Q8_0 blocks into len(dst) values (a multiple of 32): q·d.
func DequantizeQ8_0(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ8_0", len(dst), len(src), QK8_0, Q8_0Bytes)
	t := tab()
	if t.offload("DequantizeQ8_0", nb*QK8_0, smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.DequantizeQ8_0(dst, src) }) {
		return
	}
	blockPar(nb, func(lo, hi int) {
		t.dequantQ8_0(dst[lo*QK8_0:hi*QK8_0], src[lo*Q8_0Bytes:hi*Q8_0Bytes])
	}, func(lo, hi int) {
		refDequantizeQ8_0(dst[lo*QK8_0:hi*QK8_0], src[lo*Q8_0Bytes:hi*Q8_0Bytes])
	})
}

// QuantizeQ4_0 quantizes src (a multiple of 32 values) into ggml Q4_0 blocks (18 bytes
// per 32 values), byte for byte as ggml's quantize_row_q4_0_ref.
func QuantizeQ4_0(dst []byte, src []float32) {
	nb := checkBlocks("QuantizeQ4_0", len(src), len(dst), QK4_0, Q4_0Bytes)
	t := tab()
	if t.offload("QuantizeQ4_0", nb*QK4_0, smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.QuantizeQ4_0(dst, src) }) {
		return
	}
	blockPar(nb, func(lo, hi int) {
		t.quantQ4_0(dst[lo*Q4_0Bytes:hi*Q4_0Bytes], src[lo*QK4_0:hi*QK4_0])
	}, func(lo, hi int) {
		refQuantizeQ4_0(dst[lo*Q4_0Bytes:hi*Q4_0Bytes], src[lo*QK4_0:hi*QK4_0])
	})
}

// DequantizeQ4_0 expands Q4_0 blocks into len(dst) values (a multiple of 32): (q−8)·d.
func DequantizeQ4_0(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ4_0", len(dst), len(src), QK4_0, Q4_0Bytes)
	t := tab()
	if t.offload("DequantizeQ4_0", nb*QK4_0, smallElems, CUDAMinElems, func(d *cuda.Device) error { return d.DequantizeQ4_0(dst, src) }) {
		return
	}
	blockPar(nb, func(lo, hi int) {
		t.dequantQ4_0(dst[lo*QK4_0:hi*QK4_0], src[lo*Q4_0Bytes:hi*Q4_0Bytes])
	}, func(lo, hi int) {
		refDequantizeQ4_0(dst[lo*QK4_0:hi*QK4_0], src[lo*Q4_0Bytes:hi*Q4_0Bytes])
	})
}

func blockPar(nb int, kern, small func(lo, hi int)) {
	switch {
	case nb == 0:
	case nb < 2:
		small(0, nb)
	case nb <= blockChunk:
		kern(0, nb)
	default:
		chunks(nb, blockChunk, kern)
	}
}

// ---- activations ------------------------------------------------------------------------------

// ReLU writes max(x, 0) to dst (NaN → 0); dst may be src. Exact on every backend.
func ReLU(dst, src []float32) { act("ReLU", dst, src, refReLU, tab().relu) }

// GELU writes the erf form 0.5·x·(1+erf(x/√2)); dst may be src. SIMD backends use a
// polynomial erfc: absolute error ≤ 1e-6·max(1, |x|) against the float64 reference, and
// below x = −3, where the result is tiny, relative error under 2e-5 (no cancellation).
func GELU(dst, src []float32) { act("GELU", dst, src, refGELU, tab().gelu) }

// SiLU writes x·sigmoid(x); dst may be src. Relative error ≤ 1e-6 (or absolute ≤ 1e-30).
func SiLU(dst, src []float32) { act("SiLU", dst, src, refSiLU, tab().silu) }

// Exp writes e^x; dst may be src. Relative error ≤ 4e-7 (a few ulps), subnormal results
// within 1e-37 absolute; ±Inf and NaN behave as in math.Exp.
func Exp(dst, src []float32) { act("Exp", dst, src, refExp, tab().exp) }

// Sigmoid writes 1/(1 + e^−x) in float32 with e^−x as Exp computes it, so the result has
// the bits of negating, Exp and 1/(1+e) run as three passes, on every backend; AVX-512
// does it in one. dst may be src.
func Sigmoid(dst, src []float32) {
	t := tab()
	kern := t.sigmoid
	if kern == nil {
		kern = sigmoidVia(t.exp)
	}
	act("Sigmoid", dst, src, sigmoidVia(refExp), kern)
}

// sigmoidVia is Sigmoid as three passes with the exponential exp.
func sigmoidVia(exp func(dst, src []float32)) func(dst, src []float32) {
	return func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = -v
		}
		exp(dst, dst)
		for i, e := range dst {
			dst[i] = 1 / (1 + e)
		}
	}
}

func act(fn string, dst, src []float32, small, kern func(dst, src []float32)) {
	checkLen(fn, len(dst), len(src))
	elementwise(len(src), func(lo, hi int) { small(dst[lo:hi], src[lo:hi]) },
		func(lo, hi int) { kern(dst[lo:hi], src[lo:hi]) })
}

// Softmax writes the softmax of every row of cols values: y = e^(x−max)/Σe^(x−max).
// len(src) must be a multiple of cols; dst may be src. A row holding NaN, or +Inf, is all
// NaN. Relative error ≤ (8 + cols + |x−max|)·2⁻²³ against the float64 reference.
func Softmax(dst, src []float32, cols int) {
	const fn = "Softmax"
	checkLen(fn, len(dst), len(src))
	if len(src) == 0 {
		return
	}
	if !(cols > 0 && len(src)%cols == 0) {
		fail(fn, "len(src) = %d is not a multiple of cols = %d", len(src), cols)
	}
	rows := len(src) / cols
	t := tab()
	kern := func(r0, r1 int) {
		d, s := dst[r0*cols:r1*cols], src[r0*cols:r1*cols]
		if cols < smallElems/4 {
			refSoftmaxRows(d, s, r1-r0, cols)
		} else {
			t.softmaxRows(d, s, r1-r0, cols)
		}
	}
	// Rows are independent, so any split gives the same bits. An exp per value makes a
	// smaller task than rowsPar's worth a hand-off (attention scores are 10k–50k values).
	if per := max(1, softmaxTaskElems/cols); rows > per {
		chunks(rows, per, kern)
	} else {
		kern(0, rows)
	}
}

// softmaxTaskElems is the number of values one Softmax task normalises at least.
const softmaxTaskElems = 1 << 13
