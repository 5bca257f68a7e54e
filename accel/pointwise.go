package accel

// PointwiseConv computes a 1×1 convolution without groups, stride 1 and padding, on one
// image: y[i][j] = act(Σ_p w[i][p]·x[p][j] + bias[i]) for m output channels i, k input
// channels p and n pixels j (w is m×k, x is k×n, y is m×n, all row-major; bias may be
// nil). The bias and the activation (any Act, ActSiLU included) are applied to each
// register tile before it is stored, so the output is written once. Pixels (or output
// channels, whichever is longer) are split over the worker pool; every element sums its
// products in the same order whatever the split, so results depend on the backend only.
// On AVX-512 the sums are those of SGEMM's direct path and the epilogue is BiasAct's (and
// SiLU's), so the result is bit for bit the SGEMM-then-BiasAct one. One pixel (n = 1) is
// a matrix-vector product: SGEMM's one-row path on the transposed product, then BiasAct
// (and SiLU), on every backend. It returns false,
// touching nothing, where the backend has no such kernel or k is 0: the caller then runs
// SGEMM and its epilogue.
func PointwiseConv(m, k, n int, w, x, bias, y []float32, act Act) bool {
	const fn = "PointwiseConv"
	kern := tab().pointwise
	if kern == nil || k == 0 {
		return false
	}
	if !(m >= 0 && k > 0 && n >= 0) {
		fail(fn, "negative size %d×%d×%d", m, k, n)
	}
	if !(len(w) >= m*k && len(x) >= k*n && len(y) >= m*n) {
		fail(fn, "buffers too short for %d×%d×%d: w %d, x %d, y %d", m, k, n, len(w), len(x), len(y))
	}
	if !(bias == nil || len(bias) >= m) {
		fail(fn, "len(bias) = %d < m = %d", len(bias), m)
	}
	if !(act.Kind >= ActNone && act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	if m == 0 || n == 0 {
		return true
	}
	if n == 1 {
		// One pixel (a squeeze-and-excitation block's 1×1 convolutions on pooled
		// channels): y = W·x is a matrix-vector product, which SGEMM's one-row path
		// computes as yᵀ = xᵀ·Wᵀ with k in the vector lanes; the register tiles below
		// would use one lane of sixteen. Then the epilogue as BiasAct (and SiLU) do it.
		SGEMM(false, true, 1, m, k, 1, x, k, w, k, 0, y, m)
		pointwiseEpilogue(y[:m], m, bias, act)
		return true
	}
	gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
		var bs []float32
		if bias != nil {
			bs = bias[i0:i1]
		}
		kern(i1-i0, k, n, w[i0*k:i1*k], x, bs, y[i0*n:i1*n], j0, j1, act)
	})
	return true
}

// pointwiseEpilogue applies bias and act to the m×1 output of one pixel.
func pointwiseEpilogue(y []float32, m int, bias []float32, act Act) {
	silu := act.Kind == ActSiLU
	if silu {
		act = Act{Kind: ActNone}
	}
	BiasAct(y, m, 1, bias, act)
	if silu {
		SiLU(y, y)
	}
}

// HasPointwise reports whether PointwiseConv has a kernel on the selected backend.
func HasPointwise() bool { return tab().pointwise != nil }

// refPointwise is the reference PointwiseConv builds on: the plain GEMM, then the bias
// and activation, then SiLU, in the pure-Go kernels.
func refPointwise(m, k, n int, w, x, bias, y []float32, act Act) {
	goSGEMM(false, false, m, n, k, 1, w, max(k, 1), x, max(n, 1), 0, y, max(n, 1), nil)
	refEpilogue(y, m, n, bias, act)
}
