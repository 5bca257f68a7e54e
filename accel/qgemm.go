package accel

// Dequant is the float epilogue of GEMMS8S8Dequant: the zero-point corrections, the
// scale, the bias and the activation that turn an exact int8 product into float32.
type Dequant struct {
	Fix   []int32   // per row: subtracted from the sum (an activation zero point times Σw)
	ZW    []int32   // per row, or nil: its weight zero point, times (Σ_p b[p][j] − KBZ)
	KBZ   int32     // k times B's zero point, for ZW
	Scale []float32 // per row
	Bias  []float32 // per row, or nil
	Act   Act       // any activation PointwiseConv takes, ActSiLU included
}

// GEMMS8S8Dequant computes, on the calling goroutine (the caller splits the work),
//
//	y[i·ldy + j] = act(float32(Σ_p a[i·lda+p]·b[p·ldb+j] − Fix[i] − ZW[i]·(Σ_p b[p·ldb+j] − KBZ))·Scale[i] + Bias[i])
//
// for i < m, j < n: an integer convolution's or GEMM's product and its dequantization.
// The integer part is exact and wraps modulo 2³² like GEMMS8S8; the conversion, the
// product with the scale and the sum with the bias round to nearest even once each, so
// the result is bit for bit GEMMS8S8, then RequantRows, then BiasAct (SiLU after it for
// ActSiLU) — which is what backends without a fused kernel run. With AVX512-VNNI the
// int32 tile goes from the micro-kernel to float32 in L1 and is never stored.
func GEMMS8S8Dequant(m, n, k int, a []int8, lda int, b []int8, ldb int, y []float32, ldy int, d *Dequant) {
	const fn = "GEMMS8S8Dequant"
	if !(m >= 0 && n >= 0 && k >= 0 && ldy >= n) {
		fail(fn, "bad shape %d×%d×%d, ldy %d", m, n, k, ldy)
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat(fn, "a", len(a), m, k, lda)
	checkMat(fn, "b", len(b), k, n, ldb)
	checkMat(fn, "y", len(y), m, n, ldy)
	if len(d.Fix) < m || len(d.Scale) < m || d.ZW != nil && len(d.ZW) < m || d.Bias != nil && len(d.Bias) < m {
		fail(fn, "Fix, Scale (and ZW, Bias) shorter than %d rows", m)
	}
	if !(d.Act.Kind >= ActNone && d.Act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", d.Act.Kind)
	}
	if t := tab(); t.qgemmDequant != nil && m*n*k >= smallFlops {
		t.qgemmDequant(m, n, k, a, lda, b, ldb, y, ldy, d)
		return
	}
	composeDequant(tab(), m, n, k, a, lda, b, ldb, y, ldy, d)
}

// composeDequant is GEMMS8S8Dequant as its definition says, with t's kernels: the int8
// GEMM (one tile, on this goroutine), the column sums, RequantRows', BiasAct's and
// SiLU's.
func composeDequant(t *table, m, n, k int, a []int8, lda int, b []int8, ldb int, y []float32, ldy int, d *Dequant) {
	acc := make([]int32, m*n)
	t.gemmS8S8(false, m, n, k, a, lda, b, ldb, acc, n)
	var cs []int32
	if d.ZW != nil {
		cs = colSums8(b, k, n, ldb)
		for j := range cs {
			cs[j] -= d.KBZ
		}
	}
	t.requantRows(y, ldy, acc, n, m, n, d.Fix, d.ZW, cs, d.Scale)
	act := d.Act
	if act.Kind == ActSiLU {
		act = Act{Kind: ActNone}
	}
	for i := 0; i < m; i++ {
		row := y[i*ldy : i*ldy+n]
		var bias []float32
		if d.Bias != nil {
			bias = d.Bias[i : i+1]
		}
		if bias != nil || act.Kind != ActNone {
			t.biasAct(row, 1, n, bias, act)
		}
		if d.Act.Kind == ActSiLU {
			t.silu(row, row)
		}
	}
}
