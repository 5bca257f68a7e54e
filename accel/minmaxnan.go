package accel

import "math"

// MinMaxNaN returns the minimum and maximum of src and whether it holds a NaN (then mn
// and mx are NaN): DynamicQuantizeLinear's range and its NaN check in one pass over the
// activations instead of two. Empty: (+Inf, −Inf, false). Exact on every backend, and
// the blocks are fixed, so the result does not depend on the thread count (the sign of a
// zero result is unspecified, as in MinMaxRows).
func MinMaxNaN(src []float32) (mn, mx float32, nan bool) {
	full, tail := len(src)/tensorBlock, len(src)%tensorBlock
	lo, hi := make([]float32, full+1), make([]float32, full+1)
	t := tab()
	rowsPar(full, tensorBlock, func(r0, r1 int) {
		t.minMaxNaN(src[r0*tensorBlock:], r1-r0, tensorBlock, tensorBlock, lo[r0:], hi[r0:])
	})
	lo[full], hi[full] = float32(math.Inf(1)), float32(math.Inf(-1))
	if tail > 0 {
		kern := t.minMaxNaN
		if tail < smallElems {
			kern = refMinMaxNaNRows
		}
		kern(src[full*tensorBlock:], 1, tail, tail, lo[full:], hi[full:])
	}
	mn, mx = float32(math.Inf(1)), float32(math.Inf(-1))
	for i := range lo {
		if lo[i] != lo[i] {
			return lo[i], lo[i], true
		}
		mn, mx = min(mn, lo[i]), max(mx, hi[i])
	}
	return mn, mx, false
}

// MinMaxNaNRows writes the minimum and maximum of each row of the rows×cols matrix src
// to mn[r] and mx[r], both NaN where the row holds a NaN (empty rows: +Inf, −Inf): the
// per-channel form of MinMaxNaN, rows split over the pool. Exact on every backend.
func MinMaxNaNRows(src []float32, rows, cols int, mn, mx []float32) {
	const fn = "MinMaxNaNRows"
	if !(rows >= 0 && cols >= 0 && len(src) >= rows*cols && len(mn) >= rows && len(mx) >= rows) {
		fail(fn, "%d rows of %d: src %d, mn %d, mx %d values", rows, cols, len(src), len(mn), len(mx))
	}
	t := tab()
	kern := t.minMaxNaN
	if rows*cols < smallElems {
		kern = refMinMaxNaNRows
	}
	rowsPar(rows, cols, func(r0, r1 int) { kern(src[r0*cols:], r1-r0, cols, cols, mn[r0:], mx[r0:]) })
}

// refMinMaxNaNRows is the pure-Go reference of the minmax_nan kernel: the minimum and
// maximum of each row of cols values (rows ld apart), both NaN where the row holds a NaN.
func refMinMaxNaNRows(src []float32, rows, cols, ld int, mn, mx []float32) {
	for r := 0; r < rows; r++ {
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range src[r*ld : r*ld+cols] {
			if v != v {
				lo, hi = v, v
				break
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		mn[r], mx[r] = lo, hi
	}
}
