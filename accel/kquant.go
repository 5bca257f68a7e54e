package accel

import "math"

// The sub-block fit of ggml's Q4_K and Q5_K quantizers: make_qkx2_quants with the
// default weights (no importance matrix) of quantize_row_q4_K_ref / q5_K_ref, for many
// 32-value sub-blocks at once. The reference below is a port of ggml's C, operation by
// operation, in C's float32 order (products wrapped in float32(...) so Go never fuses
// them into an FMA); the SIMD kernels (kquant_simd.h) run one sub-block per vector lane,
// each lane in that same sequential order, so every backend gives ggml's bytes.

// QKX2Sub is the number of values in one sub-block of FitQKX2.
const QKX2Sub = 32

// FitQKX2 fits each 32-value sub-block j of x (len(x) a multiple of 32) to levels
// 0..nmax as ggml's make_qkx2_quants(32, nmax, x, weights, L, &the_min, Laux, rmin,
// rdelta, nstep, false) with weights[l] = sqrt(Σx²/32) + |x[l]| does: scales[j] gets the
// scale, mins[j] the returned the_min (−min), levels[32j:32j+32] the levels. nmax must
// be 1..127 and nstep 0..1000. The result does not depend on the backend or threads; a
// NaN scale or min (from NaN input) is always 0x7FC00000 (see canonNaN).
func FitQKX2(scales, mins []float32, levels []uint8, x []float32, nmax int, rmin, rdelta float32, nstep int) {
	const fn = "FitQKX2"
	check(len(x)%QKX2Sub == 0, fn, "len(x) = %d is not a multiple of %d", len(x), QKX2Sub)
	n := len(x) / QKX2Sub
	check(len(scales) >= n && len(mins) >= n, fn, "len(scales) = %d, len(mins) = %d < %d sub-blocks", len(scales), len(mins), n)
	check(len(levels) >= len(x), fn, "len(levels) = %d < len(x) = %d", len(levels), len(x))
	check(nmax >= 1 && nmax <= 127, fn, "nmax = %d outside 1..127", nmax)
	check(nstep >= 0 && nstep <= 1000, fn, "nstep = %d outside 0..1000", nstep)
	if n == 0 {
		return
	}
	t := tab()
	const step = 512 // sub-blocks per parallel task (a multiple of every lane count)
	chunks(n, step, func(lo, hi int) {
		t.fitQKX2(scales[lo:hi], mins[lo:hi], levels[lo*QKX2Sub:hi*QKX2Sub], x[lo*QKX2Sub:hi*QKX2Sub], nmax, rmin, rdelta, nstep)
	})
}

// refFitQKX2 is the reference kernel of FitQKX2 (arguments checked by the caller).
func refFitQKX2(scales, mins []float32, levels []uint8, x []float32, nmax int, rmin, rdelta float32, nstep int) {
	var weights [QKX2Sub]float32
	for j := 0; j < len(x)/QKX2Sub; j++ {
		xs := x[QKX2Sub*j : QKX2Sub*j+QKX2Sub]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		sc, mn := refMakeQKX2Quants(nmax, xs, weights[:], levels[QKX2Sub*j:QKX2Sub*j+QKX2Sub], rmin, rdelta, nstep)
		scales[j], mins[j] = canonNaN(sc), canonNaN(mn)
	}
}

// refNearestInt is ggml's nearest_int: round half to even through the float trick.
func refNearestInt(f float32) int32 {
	val := f + 12582912
	return int32(math.Float32bits(val)&0x007fffff) - 0x00400000
}

// refMakeQKX2Quants is make_qkx2_quants (use_mad false) on one sub-block of at most 32
// values: an asymmetric (scale, min) fit of x to levels 0..nmax, trying nstep+1 candidate
// scales and keeping the one with the least weighted squared error. It returns the scale
// and −min.
func refMakeQKX2Quants(nmax int, x, weights []float32, L []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -mn
	}
	fnmax := float32(nmax)
	iscale := fnmax / (mx - mn)
	scale = 1 / iscale
	var bestError float32
	for i := 0; i < n; i++ {
		l := refNearestInt(float32(iscale * (x[i] - mn)))
		L[i] = uint8(max(0, min(int32(nmax), l)))
		diff := float32(float32(scale*float32(L[i]))+mn) - x[i]
		diff = float32(diff * diff)
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -mn
	}
	// The candidate scales are tried in order and a better one replaces min, which the
	// later candidates then use, so they are not independent. For speed, up to four
	// candidates are evaluated together (four independent chains of float sums keep the
	// CPU busy) with the current min; when one of them wins, the ones after it are
	// evaluated again with the new min. Every sum still runs in C's order, so the result
	// is ggml's to the bit.
	var xm [32]float32
	for i := 0; i < n; i++ {
		xm[i] = x[i] - mn
	}
	var la [4][32]uint8
	for is := 0; is <= nstep; {
		cnt := min(4, nstep+1-is)
		var isc, sl, sl2, sxl [4]float32
		for k := 0; k < cnt; k++ {
			isc[k] = (float32(rmin+float32(rdelta*float32(is+k))) + fnmax) / (mx - mn)
		}
		sl, sl2, sxl = qkx2Sums4(isc, weights[:n], x[:n], xm[:n], int32(nmax), &la)
		var ts, tm [4]float32
		var ok [4]bool
		for k := 0; k < cnt; k++ {
			D := float32(sumW*sl2[k]) - float32(sl[k]*sl[k])
			if ok[k] = D > 0; ok[k] {
				ts[k] = (float32(sumW*sxl[k]) - float32(sumX*sl[k])) / D
				tm[k] = (float32(sl2[k]*sumX) - float32(sl[k]*sxl[k])) / D
				if tm[k] > 0 {
					tm[k] = 0
					ts[k] = sxl[k] / sl2[k]
				}
			}
		}
		ce := qkx2Errors4(ts, tm, weights[:n], x[:n], &la)
		next := is + cnt
		for k := 0; k < cnt; k++ {
			if ok[k] && ce[k] < bestError {
				copy(L[:n], la[k][:n])
				bestError, scale, mn = ce[k], ts[k], tm[k]
				next = is + k + 1 // min changed: the candidates after k start again
				for i := 0; i < n; i++ {
					xm[i] = x[i] - mn
				}
				break
			}
		}
		is = next
	}
	return scale, -mn
}

// qkx2Sums4 is the inner loop of refMakeQKX2Quants for four candidate scales at once,
// written out with scalar accumulators so they stay in registers (Go keeps arrays in
// memory).
func qkx2Sums4(isc [4]float32, weights, x, xm []float32, nmax int32, la *[4][32]uint8) (sl, sl2, sxl [4]float32) {
	var l0, l1, l2, l3 float32 // Σ w·l
	var q0, q1, q2, q3 float32 // Σ w·l·l
	var p0, p1, p2, p3 float32 // Σ w·l·x
	i0, i1, i2, i3 := isc[0], isc[1], isc[2], isc[3]
	x, xm = x[:len(weights)], xm[:len(weights)]
	for i, w := range weights {
		xi, d := x[i], xm[i]
		a := max(0, min(nmax, refNearestInt(float32(i0*d))))
		b := max(0, min(nmax, refNearestInt(float32(i1*d))))
		c := max(0, min(nmax, refNearestInt(float32(i2*d))))
		e := max(0, min(nmax, refNearestInt(float32(i3*d))))
		la[0][i&31], la[1][i&31], la[2][i&31], la[3][i&31] = uint8(a), uint8(b), uint8(c), uint8(e)
		fa, fb, fc, fe := float32(a), float32(b), float32(c), float32(e)
		wa, wb, wc, we := float32(w*fa), float32(w*fb), float32(w*fc), float32(w*fe)
		l0, l1, l2, l3 = l0+wa, l1+wb, l2+wc, l3+we
		q0, q1, q2, q3 = q0+float32(wa*fa), q1+float32(wb*fb), q2+float32(wc*fc), q3+float32(we*fe)
		p0, p1, p2, p3 = p0+float32(wa*xi), p1+float32(wb*xi), p2+float32(wc*xi), p3+float32(we*xi)
	}
	return [4]float32{l0, l1, l2, l3}, [4]float32{q0, q1, q2, q3}, [4]float32{p0, p1, p2, p3}
}

// qkx2Errors4 is Σ w·(scale·l + min − x)² for four candidates, as qkx2Sums4 is for the
// sums.
func qkx2Errors4(ts, tm [4]float32, weights, x []float32, la *[4][32]uint8) [4]float32 {
	var e0, e1, e2, e3 float32
	s0, s1, s2, s3 := ts[0], ts[1], ts[2], ts[3]
	m0, m1, m2, m3 := tm[0], tm[1], tm[2], tm[3]
	x = x[:len(weights)]
	for i, w := range weights {
		xi := x[i]
		d0 := float32(float32(s0*float32(la[0][i&31]))+m0) - xi
		d1 := float32(float32(s1*float32(la[1][i&31]))+m1) - xi
		d2 := float32(float32(s2*float32(la[2][i&31]))+m2) - xi
		d3 := float32(float32(s3*float32(la[3][i&31]))+m3) - xi
		e0 += float32(w * float32(d0*d0))
		e1 += float32(w * float32(d1*d1))
		e2 += float32(w * float32(d2*d2))
		e3 += float32(w * float32(d3*d3))
	}
	return [4]float32{e0, e1, e2, e3}
}

// canonNaN turns every NaN into 0x7FC00000. A NaN input makes a fit's scale NaN, and
// which NaN (sign, payload) depends on the operand order the compiler picked for a
// commutative operation, in ggml's C as in Go; the quantizers then round the scale
// with ggml's bit trick, which reads the payload. One fixed NaN keeps every backend's
// bytes the same.
func canonNaN(f float32) float32 {
	if f != f {
		return math.Float32frombits(0x7fc00000)
	}
	return f
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// ---- Q6_K: make_qx_quants on 16-value sub-blocks --------------------------------------------

// QXSub is the number of values in one sub-block of FitQX.
const QXSub = 16

// FitQX fits each 16-value sub-block j of x (len(x) a multiple of 16) to levels
// −nmax..nmax−1 as ggml's make_qx_quants(16, nmax, x, L, 1, NULL) does (the symmetric
// search of quantize_row_q6_K_ref, weights x²): scales[j] gets the returned scale and
// levels[16j:16j+16] the levels offset by nmax (0..2·nmax−1). nmax must be 1..64. The
// result does not depend on the backend or threads; a NaN scale is always 0x7FC00000.
func FitQX(scales []float32, levels []int8, x []float32, nmax int) {
	const fn = "FitQX"
	check(len(x)%QXSub == 0, fn, "len(x) = %d is not a multiple of %d", len(x), QXSub)
	n := len(x) / QXSub
	check(len(scales) >= n, fn, "len(scales) = %d < %d sub-blocks", len(scales), n)
	check(len(levels) >= len(x), fn, "len(levels) = %d < len(x) = %d", len(levels), len(x))
	check(nmax >= 1 && nmax <= 64, fn, "nmax = %d outside 1..64", nmax)
	if n == 0 {
		return
	}
	t := tab()
	const step = 1024 // sub-blocks per parallel task (a multiple of every lane count)
	chunks(n, step, func(lo, hi int) {
		t.fitQX(scales[lo:hi], levels[lo*QXSub:hi*QXSub], x[lo*QXSub:hi*QXSub], nmax)
	})
}

// refFitQX is the reference kernel of FitQX (arguments checked by the caller).
func refFitQX(scales []float32, levels []int8, x []float32, nmax int) {
	for j := 0; j < len(x)/QXSub; j++ {
		scales[j] = canonNaN(refMakeQXQuants(nmax, x[QXSub*j:QXSub*j+QXSub], levels[QXSub*j:QXSub*j+QXSub]))
	}
}

// refMakeQXQuants is make_qx_quants with rmse_type 1 and no importance weights: a
// symmetric fit of x to levels −nmax..nmax−1 (stored offset by nmax in L), searching 19
// scales around nmax/max for the best weighted (w = x²) least-squares fit.
func refMakeQXQuants(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	var mx, amax float32
	for i := 0; i < n; i++ {
		ax := abs32(x[i])
		if ax > amax {
			amax, mx = ax, x[i]
		}
	}
	if amax < 1e-15 { // GROUP_MAX_EPS
		for i := range L[:n] {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / mx
	var sumLX, sumL2 float32
	for i := 0; i < n; i++ {
		l := refNearestInt(float32(iscale * x[i]))
		l = max(int32(-nmax), min(int32(nmax-1), l))
		L[i] = int8(l + int32(nmax))
		w := float32(x[i] * x[i])
		fl := float32(l)
		sumLX += float32(float32(w*x[i]) * fl)
		sumL2 += float32(float32(w*fl) * fl)
	}
	scale := float32(0)
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := float32(scale * sumLX)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(float32(0.1)*float32(is))) / mx
		sumLX, sumL2 = 0, 0
		for i := 0; i < n; i++ {
			l := refNearestInt(float32(iscale * x[i]))
			l = max(int32(-nmax), min(int32(nmax-1), l))
			w := float32(x[i] * x[i])
			fl := float32(l)
			sumLX += float32(float32(w*x[i]) * fl)
			sumL2 += float32(float32(w*fl) * fl)
		}
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			for i := 0; i < n; i++ {
				l := refNearestInt(float32(iscale * x[i]))
				L[i] = int8(int32(nmax) + max(int32(-nmax), min(int32(nmax-1), l)))
			}
			scale = sumLX / sumL2
			best = float32(scale * sumLX)
		}
	}
	return scale
}
