package accel

// GEMVWeights is a fixed n×k matrix B, row j the weights of output j (Gemm's B with
// transB = 1, as torch stores a Linear layer), laid out for products with one row:
// groups of four rows, each group ceil(k/16) runs of four 16-float blocks (one per row
// of the group, in turn), k padded to whole blocks and n to whole groups with zeros.
//
// Why: a one-row product reads all of B once, so at batch 1 a classifier head is a pass
// over its weights, and those are usually not in cache (the rest of the model ran since
// the last pass). Row by row, four rows at a time, B is four streams that each cross a
// page every 4 KB (a 1024-wide row is one page), and the prefetcher starts over at each;
// packed, it is one stream. MobileNetV3-Small's two heads (1024×576, 1000×1024) with the
// caches emptied: 387 → 306 µs (BenchmarkGEMVPacked); the whole model at one thread
// 2.59 → 2.47 ms.
type GEMVWeights struct {
	n, k int
	data []float32
}

// PackGEMV returns B (n rows of k values, leading dimension ldb) packed for GEMVPacked,
// or nil where packing would not pay or change the result: on a backend without the
// packed kernel, where SGEMM would run the product on the GPU, for a product small enough that SGEMM computes it
// with the pure-Go kernel, and for k beyond the one-row path's 2¹⁴. The caller then runs
// SGEMM.
func PackGEMV(b []float32, n, k, ldb int) *GEMVWeights {
	const fn = "PackGEMV"
	if !(n >= 0 && k >= 0 && ldb >= max(1, k)) {
		fail(fn, "bad size %d×%d, ldb %d", n, k, ldb)
	}
	checkMat(fn, "b", len(b), n, k, ldb)
	t := tab()
	if t.gemvPacked == nil || n*k < smallFlops || k > 1<<14 || t.gpuFor(n*k, smallFlops, CUDAMinGEMMWork) != nil {
		return nil
	}
	blocks := (k + 15) / 16
	data := alignedSlice[float32]((n + 3) / 4 * 4 * blocks * 16)
	for j := 0; j < n; j++ {
		row, g, i := b[j*ldb:j*ldb+k], j/4, j%4
		for q := 0; q < blocks; q++ {
			copy(data[((g*blocks+q)*4+i)*16:], row[q*16:min(k, q*16+16)])
		}
	}
	return &GEMVWeights{n: n, k: k, data: data}
}

// GEMVPacked computes c = alpha·a·Bᵀ + beta·c + bias for one row a of k values and the
// B that w packs (c and bias n values; a nil bias adds nothing, beta 0 only writes c):
// bit for bit SGEMMBias(false, true, 1, n, k, alpha, a, k, B, ldb, beta, c, n, bias).
// Outputs are split over the worker pool from the size at which SGEMM splits them.
func GEMVPacked(w *GEMVWeights, alpha float32, a []float32, beta float32, c, bias []float32) {
	const fn = "GEMVPacked"
	if !(len(a) >= w.k && len(c) >= w.n && (bias == nil || len(bias) >= w.n)) {
		fail(fn, "buffers too short for %d×%d: a %d, c %d, bias %d", w.n, w.k, len(a), len(c), len(bias))
	}
	kern := tab().gemvPacked
	if gemmSerial(1, w.n, w.k) {
		kern(0, w.n, w.k, alpha, a, w.data, beta, c, bias)
		return
	}
	// Whole groups per task, one task per thread: each output depends on its own row only.
	groups := (w.n + 3) / 4
	per := (groups + MaxThreads() - 1) / MaxThreads()
	parallel((groups+per-1)/per, func(i int) {
		kern(i*per*4, min(w.n, (i+1)*per*4), w.k, alpha, a, w.data, beta, c, bias)
	})
}
