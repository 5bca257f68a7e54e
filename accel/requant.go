package accel

// RequantRows turns rows of exact int32 sums (an integer convolution's or GEMM's
// accumulators) into float32:
//
//	dst[r·ldd + j] = float32(acc[r·lda + j] − fix[r] − zw[r]·cs[j]) · scale[r]
//
// for r < rows, j < n. fix[r] and zw[r]·cs[j] are the zero-point corrections (zw may be
// nil: none, and cs is then not read); the integer part wraps modulo 2³² like the
// reference ONNX integer ops, and float32 conversion and product round to nearest even
// once each, so every backend gives the same bits.
func RequantRows(dst []float32, ldd int, acc []int32, lda int, rows, n int, fix, zw, cs []int32, scale []float32) {
	const fn = "RequantRows"
	if !(rows >= 0 && n >= 0 && ldd >= n && lda >= n) {
		fail(fn, "bad shape: %d rows of %d, leading dimensions %d and %d", rows, n, ldd, lda)
	}
	if rows == 0 || n == 0 {
		return
	}
	if need := (rows-1)*ldd + n; len(dst) < need {
		fail(fn, "len(dst) = %d < %d", len(dst), need)
	}
	if need := (rows-1)*lda + n; len(acc) < need {
		fail(fn, "len(acc) = %d < %d", len(acc), need)
	}
	if len(fix) < rows || len(scale) < rows || zw != nil && (len(zw) < rows || len(cs) < n) {
		fail(fn, "fix, scale (and zw, cs) shorter than %d rows, %d columns", rows, n)
	}
	kern := tab().requantRows
	if rows*n < smallElems {
		kern = refRequantRows
	}
	kern(dst, ldd, acc, lda, rows, n, fix, zw, cs, scale)
}

// refRequantRows is the pure-Go reference of RequantRows.
func refRequantRows(dst []float32, ldd int, acc []int32, lda int, rows, n int, fix, zw, cs []int32, scale []float32) {
	for r := 0; r < rows; r++ {
		src, d := acc[r*lda:r*lda+n], dst[r*ldd:r*ldd+n]
		f, sc := fix[r], scale[r]
		if zw == nil || zw[r] == 0 {
			for j, v := range src {
				d[j] = float32(v-f) * sc
			}
			continue
		}
		z := zw[r]
		for j, v := range src {
			d[j] = float32(v-f-z*cs[j]) * sc
		}
	}
}
