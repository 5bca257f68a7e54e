package accel

// ConvImplicit2D computes a 2-D convolution without groups as an implicit GEMM:
// y (m × OH·OW) = wt (m × cg·KH·KW, row-major) · col(x), col being the im2col matrix of
// the cg planes of x (each H×W) under the window p, which is never built. No bias, no
// epilogue: y is overwritten. Output pixels (or rows of y, whichever is longer) are split
// over the worker pool; each output sums its products in the same order whatever the
// split, so results depend on the backend only. It returns false, touching nothing, when
// the backend has no such kernel (the caller then runs im2col and SGEMM).
func ConvImplicit2D(m, cg int, p Window2D, wt, x, y []float32) bool {
	const fn = "ConvImplicit2D"
	kern := tab().convImplicit2D
	if kern == nil || p.H*p.W >= 1<<31 {
		return false
	}
	if !(m >= 0 && cg >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.KH > 0 && p.KW > 0) {
		fail(fn, "bad geometry %+v", p)
	}
	if !(p.SH > 0 && p.SW > 0 && p.DH > 0 && p.DW > 0 && p.PH >= 0 && p.PW >= 0) {
		fail(fn, "bad strides, dilations or pads %+v", p)
	}
	k, n := cg*p.KH*p.KW, p.OH*p.OW
	if !(len(wt) >= m*k && len(x) >= cg*p.H*p.W && len(y) >= m*n) {
		fail(fn, "buffers too short for %+v", p)
	}
	if m == 0 || n == 0 {
		return true
	}
	gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
		kern(i1-i0, cg, &p, wt[i0*k:], x, y[i0*n:], j0, j1)
	})
	return true
}

// HasConvImplicit2D reports whether ConvImplicit2D has a kernel on the selected backend.
func HasConvImplicit2D() bool { return tab().convImplicit2D != nil }

// refConvImplicit2D is the Go reference: y[i][j] for j in [j0, j1) as the dot product of
// weight row i with im2col column j, summed in p order.
func refConvImplicit2D(m, cg int, p *Window2D, wt, x, y []float32, j0, j1 int) {
	taps := p.KH * p.KW
	k, n, hw := cg*taps, p.OH*p.OW, p.H*p.W
	for i := 0; i < m; i++ {
		for j := j0; j < j1; j++ {
			oy, ox := j/p.OW, j%p.OW
			var s float32
			for q := 0; q < k; q++ {
				ci, t := q/taps, q%taps
				yy, xx := oy*p.SH+(t/p.KW)*p.DH-p.PH, ox*p.SW+(t%p.KW)*p.DW-p.PW
				if yy >= 0 && yy < p.H && xx >= 0 && xx < p.W {
					s += wt[i*k+q] * x[ci*hw+yy*p.W+xx]
				}
			}
			y[i*n+j] = s
		}
	}
}
