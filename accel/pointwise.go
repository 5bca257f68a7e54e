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

// PointwiseWeights is a 1×1 convolution's m×k weight packed for PointwiseConvPacked:
// per sliver of 48 output channels, k rows of 48 floats (channels past m zero).
type PointwiseWeights struct {
	m, k int
	data []float32
}

// pointwiseSliver is the output channels a PointwiseWeights sliver holds: three vectors.
const pointwiseSliver = 48

// PackPointwise returns w (m×k, row-major) packed for PointwiseConvPacked on planes of n
// pixels, or nil where PointwiseConv is the better kernel or the backend has no packed
// one. That is where n pixels fill the vectors: the packed kernel puts output channels
// in the lanes, for planes of at most 64 pixels that leave a tenth or more of them
// empty (a 7×7 plane, 49 pixels in 64 lanes; 5×5, 6×6), with k ≥ 64 so that copying
// its tiles to y's rows costs little against their sums.
func PackPointwise(w []float32, m, k, n int) *PointwiseWeights {
	const fn = "PackPointwise"
	if !(m >= 0 && k >= 0 && n >= 0) {
		fail(fn, "negative size %d×%d, %d pixels", m, k, n)
	}
	if len(w) < m*k {
		fail(fn, "len(w) = %d < %d×%d", len(w), m, k)
	}
	vectors := (n + 15) / 16
	if tab().pointwiseT == nil || n < 2 || n > 64 || 10*n > 9*16*vectors || k < 64 || m < 16 {
		return nil
	}
	slivers := (m + pointwiseSliver - 1) / pointwiseSliver
	data := alignedSlice[float32](slivers * k * pointwiseSliver)
	for c := 0; c < m; c++ {
		s, lane := c/pointwiseSliver, c%pointwiseSliver
		for p, v := range w[c*k : (c+1)*k] {
			data[(s*k+p)*pointwiseSliver+lane] = v
		}
	}
	return &PointwiseWeights{m: m, k: k, data: data}
}

// PointwiseConvPacked is PointwiseConv(m, k, n, w, x, bias, y, act) with w packed by
// PackPointwise(w, m, k, n), bit for bit: the same per-element sums and epilogue, with
// output channels in the vector lanes. Slivers of 48 channels are split over the pool.
func PointwiseConvPacked(pw *PointwiseWeights, n int, x, bias, y []float32, act Act) {
	const fn = "PointwiseConvPacked"
	m, k := pw.m, pw.k
	if !(n >= 2 && n <= 64) {
		fail(fn, "%d pixels: the packed kernel takes 2 to 64", n)
	}
	if !(len(x) >= k*n && len(y) >= m*n && (bias == nil || len(bias) >= m)) {
		fail(fn, "buffers too short for %d×%d×%d: x %d, y %d, bias %d", m, k, n, len(x), len(y), len(bias))
	}
	if !(act.Kind >= ActNone && act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	kern := tab().pointwiseT
	slivers := (m + pointwiseSliver - 1) / pointwiseSliver
	if gemmSerial(m, n, k) {
		kern(m, k, n, pw.data, x, bias, y, 0, slivers, act)
		return
	}
	per := (slivers + MaxThreads() - 1) / MaxThreads()
	parallel((slivers+per-1)/per, func(i int) {
		kern(m, k, n, pw.data, x, bias, y, i*per, min(slivers, (i+1)*per), act)
	})
}
