package gguf

import "math"

// The K-quants: super-blocks of 256 values with sub-block scales (and mins) themselves
// quantized. A port, function by function and operation by operation, of ggml's
// quantize_row_q{4,5,6}_K_ref with make_qkx2_quants and make_qx_quants (the unweighted
// path llama-quantize takes without an importance matrix). Float operations keep C's
// order and float32 rounding; products feeding a sum are wrapped in float32(...) so Go
// never fuses them into an FMA (see quant.go). testdata/gguf holds golden blocks made
// by ggml's own code.

const groupMaxEps = float32(1e-15)

// nearestInt is ggml's nearest_int: round half to even through the float trick
// (|f| ≤ 4194303 in every use).
func nearestInt(f float32) int32 {
	val := f + 12582912
	return int32(math.Float32bits(val)&0x007fffff) - 0x00400000
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// makeQKX2Quants is make_qkx2_quants: an asymmetric (scale, min) fit of x to levels
// 0..nmax, trying nstep+1 candidate scales and keeping the one with the least weighted
// squared error. It returns the scale and −min.
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
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
		l := nearestInt(float32(iscale * (x[i] - mn)))
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
		sl, sl2, sxl = sums4(isc, weights[:n], x[:n], xm[:n], int32(nmax), &la)
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
		ce := errors4(ts, tm, weights[:n], x[:n], &la)
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
	_ = Laux
	return scale, -mn
}

// sums4 is the inner loop of makeQKX2Quants for four candidate scales at once, written
// out with scalar accumulators so they stay in registers (Go keeps arrays in memory).
func sums4(isc [4]float32, weights, x, xm []float32, nmax int32, la *[4][32]uint8) (sl, sl2, sxl [4]float32) {
	var l0, l1, l2, l3 float32 // Σ w·l
	var q0, q1, q2, q3 float32 // Σ w·l·l
	var p0, p1, p2, p3 float32 // Σ w·l·x
	i0, i1, i2, i3 := isc[0], isc[1], isc[2], isc[3]
	x, xm = x[:len(weights)], xm[:len(weights)]
	for i, w := range weights {
		xi, d := x[i], xm[i]
		a := max(0, min(nmax, nearestInt(float32(i0*d))))
		b := max(0, min(nmax, nearestInt(float32(i1*d))))
		c := max(0, min(nmax, nearestInt(float32(i2*d))))
		e := max(0, min(nmax, nearestInt(float32(i3*d))))
		la[0][i&31], la[1][i&31], la[2][i&31], la[3][i&31] = uint8(a), uint8(b), uint8(c), uint8(e)
		fa, fb, fc, fe := float32(a), float32(b), float32(c), float32(e)
		wa, wb, wc, we := float32(w*fa), float32(w*fb), float32(w*fc), float32(w*fe)
		l0, l1, l2, l3 = l0+wa, l1+wb, l2+wc, l3+we
		q0, q1, q2, q3 = q0+float32(wa*fa), q1+float32(wb*fb), q2+float32(wc*fc), q3+float32(we*fe)
		p0, p1, p2, p3 = p0+float32(wa*xi), p1+float32(wb*xi), p2+float32(wc*xi), p3+float32(we*xi)
	}
	return [4]float32{l0, l1, l2, l3}, [4]float32{q0, q1, q2, q3}, [4]float32{p0, p1, p2, p3}
}

// errors4 is Σ w·(scale·l + min − x)² for four candidates, as sums4 is for the sums.
func errors4(ts, tm [4]float32, weights, x []float32, la *[4][32]uint8) [4]float32 {
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

// makeQXQuants is make_qx_quants with rmse_type 1 and no importance weights: a symmetric
// fit of x to levels −nmax..nmax−1 (stored offset by nmax in L), searching 19 scales
// around nmax/max for the best weighted (w = x²) least-squares fit.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	var mx, amax float32
	for i := 0; i < n; i++ {
		ax := abs32(x[i])
		if ax > amax {
			amax, mx = ax, x[i]
		}
	}
	if amax < groupMaxEps {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := -fnmax / mx
	var sumLX, sumL2 float32
	for i := 0; i < n; i++ {
		l := nearestInt(float32(iscale * x[i]))
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
			l := nearestInt(float32(iscale * x[i]))
			l = max(int32(-nmax), min(int32(nmax-1), l))
			w := float32(x[i] * x[i])
			fl := float32(l)
			sumLX += float32(float32(w*x[i]) * fl)
			sumL2 += float32(float32(w*fl) * fl)
		}
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			for i := 0; i < n; i++ {
				l := nearestInt(float32(iscale * x[i]))
				L[i] = int8(int32(nmax) + max(int32(-nmax), min(int32(nmax-1), l)))
			}
			scale = sumLX / sumL2
			best = float32(scale * sumLX)
		}
	}
	return scale
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12 bytes of a
// Q4_K / Q5_K block.
func getScaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// qkxSubblocks runs the shared first half of Q4_K and Q5_K on one super-block: fit each
// 32-value sub-block, quantize the scales and mins to 6 bits into scales (12 bytes),
// choose the f16 super-scales d and dmin, and requantize x with the stored scales into
// L (levels 0..nmax).
func qkxSubblocks(x []float32, nmax int, rmin float32, nstep int, L []uint8, y []byte) {
	var weights [32]float32
	var Laux [32]uint8
	var mins, scales [qkK / 32]float32
	var maxScale, maxMin float32
	for j := 0; j < qkK/32; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], Laux[:], rmin, 0.1, nstep)
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
	var L [qkK]uint8
	for b := 0; b < len(src)/qkK; b++ {
		x, y := src[b*qkK:(b+1)*qkK], dst[b*144:(b+1)*144]
		clear(y)
		qkxSubblocks(x, 15, -1, 20, L[:], y)
		q := y[16:]
		for j := 0; j < qkK; j += 64 {
			for l := 0; l < 32; l++ {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	}
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
	var L [qkK]uint8
	for b := 0; b < len(src)/qkK; b++ {
		x, y := src[b*qkK:(b+1)*qkK], dst[b*176:(b+1)*176]
		clear(y)
		qkxSubblocks(x, 31, -0.5, 15, L[:], y)
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
	}
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
	var L [qkK]int8
	var scales [qkK / 16]float32
	for b := 0; b < len(src)/qkK; b++ {
		x, y := src[b*qkK:(b+1)*qkK], dst[b*210:(b+1)*210]
		clear(y)
		var maxScale, maxAbsScale float32
		for ib := 0; ib < qkK/16; ib++ {
			scale := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			scales[ib] = scale
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
