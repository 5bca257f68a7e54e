package accel

// ConvSame2D computes a 2-D convolution without groups whose output is the size of its
// input (stride 1, padding ph + trailing = dh·(kh−1), likewise for the columns) as an
// implicit GEMM: y (m × h·w) = wt (m × cg·kh·kw, row-major) · col(x), col being the
// im2col matrix of the cg planes of x (each h×w), which is never built. No bias, no
// epilogue: y is overwritten. Output pixels are split over the worker pool; each output
// sums its products in the same order whatever the split, so results depend on the
// backend only. It returns false, touching nothing, when the backend has no such kernel
// (the caller then runs im2col and SGEMM).
func ConvSame2D(m, cg, h, w, kh, kw, dh, dw, ph, pw int, wt, x, y []float32) bool {
	const fn = "ConvSame2D"
	kern := tab().convSame2D
	if kern == nil {
		return false
	}
	check(m >= 0 && cg >= 0 && h >= 0 && w >= 0 && kh > 0 && kw > 0 && dh > 0 && dw > 0 && ph >= 0 && pw >= 0, fn,
		"bad geometry m=%d cg=%d %d×%d kernel %d×%d dil %d,%d pad %d,%d", m, cg, h, w, kh, kw, dh, dw, ph, pw)
	check(ph <= dh*(kh-1) && pw <= dw*(kw-1), fn, "leading padding %d,%d larger than the window", ph, pw)
	k, n := cg*kh*kw, h*w
	check(len(wt) >= m*k && len(x) >= cg*n && len(y) >= m*n, fn, "buffers too short")
	if m == 0 || n == 0 {
		return true
	}
	gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
		kern(i1-i0, cg, h, w, kh, kw, dh, dw, ph, pw, wt[i0*k:], x, y[i0*n:], j0, j1)
	})
	return true
}

// HasConvSame2D reports whether ConvSame2D has a kernel on the selected backend.
func HasConvSame2D() bool { return tab().convSame2D != nil }

// refConvSame2D is the Go reference: y[i][j] for j in [j0, j1) as the dot product of
// weight row i with im2col column j, summed in p order.
func refConvSame2D(m, cg, h, w, kh, kw, dh, dw, ph, pw int, wt, x, y []float32, j0, j1 int) {
	k, n := cg*kh*kw, h*w
	for i := 0; i < m; i++ {
		for j := j0; j < j1; j++ {
			oy, ox := j/w, j%w
			var s float32
			for p := 0; p < k; p++ {
				ci, t := p/(kh*kw), p%(kh*kw)
				yy, xx := oy+(t/kw)*dh-ph, ox+(t%kw)*dw-pw
				if yy >= 0 && yy < h && xx >= 0 && xx < w {
					s += wt[i*k+p] * x[ci*n+yy*w+xx]
				}
			}
			y[i*n+j] = s
		}
	}
}
