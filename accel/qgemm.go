package accel

import "unsafe"

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

// PackedA8 is an int8 m×k matrix A (a convolution's weights) made once for
// GEMMS8S8Dequant: as stored, and where the backend has the fused kernel, in its layout
// (blocks of 12 rows, k in quads). Read-only once made, safe to share between goroutines.
type PackedA8 struct {
	m, k  int
	a     []int8 // row-major, k apart
	block int    // rows per block of the packed layout; 0: not packed
	pa    []uint8
	kern  qgemmKernel // the kernel that reads pa
}

// OutQuant is the QuantizeLinear that GEMMS8S8Quant applies to each result: one scale
// and zero point, to uint8, or to int8 when Signed.
type OutQuant struct {
	Scale  float32
	ZP     int32
	Signed bool
}

// qgemmKernel is a backend's fused GEMMS8S8Dequant on A packed by its packA8, from a
// first row that starts a block; with q not nil, GEMMS8S8Quant's, writing yq instead of y.
type qgemmKernel func(m, n, k int, pa []uint8, b []int8, ldb int, bflip uint8, y []float32, yq []byte, ldy int, d *Dequant,
	q *OutQuant)

// PackA8 keeps a (m×k, lda apart) for GEMMS8S8Dequant, packed for the active backend's
// kernel. Rows stored k apart are kept without a copy: a must then not change while the
// PackedA8 is in use (a model's weights do not).
func PackA8(a []int8, m, k, lda int) *PackedA8 {
	if !(m >= 0 && k >= 0) {
		fail("PackA8", "negative size %d×%d", m, k)
	}
	checkMat("PackA8", "a", len(a), m, k, lda)
	p := &PackedA8{m: m, k: k, a: a[: m*k : m*k]}
	if lda != k {
		p.a = make([]int8, m*k)
		for i := 0; i < m; i++ {
			copy(p.a[i*k:(i+1)*k], a[i*lda:i*lda+k])
		}
	}
	if t := tab(); t.qgemmDequant != nil && m > 0 {
		p.block, p.kern = t.packA8Block, t.qgemmDequant
		p.pa = make([]uint8, (m+p.block-1)/p.block*p.block*max(4, (k+3)/4*4))
		t.packA8(p.pa, p.a, m, k)
	}
	return p
}

// Rows and K are the packed matrix's dimensions.
func (p *PackedA8) Rows() int { return p.m }
func (p *PackedA8) K() int    { return p.k }

// RowBlock is the number of rows a first row r0 should be a multiple of for
// GEMMS8S8Dequant to run the packed kernel (1 where any row will do).
func (p *PackedA8) RowBlock() int { return max(p.block, 1) }

// GEMMS8S8Dequant computes, on the calling goroutine (the caller splits the work), for
// the rows r0 ≤ i < r1 of A and j < n:
//
//	y[(i−r0)·ldy + j] = act(float32(Σ_p A[i][p]·b'[p][j] − Fix[i−r0] − ZW[i−r0]·(Σ_p b'[p][j] − KBZ))·Scale[i−r0] + Bias[i−r0])
//
// with b'[p][j] = b[p·ldb+j] xor bflip (0x80 makes uint8 bytes the int8 b − 128, 0 takes
// b as it is): an integer convolution's or GEMM's product and its dequantization. The
// integer part is exact and wraps modulo 2³² like GEMMS8S8; the conversion, the product
// with the scale and the sum with the bias round to nearest even once each, so the
// result is bit for bit GEMMS8S8, then RequantRows, then BiasAct (SiLU after it for
// ActSiLU), which is what runs where the fused kernel does not (another backend, r0 not
// a multiple of RowBlock, a tiny product). With AVX512-VNNI each tile of int32 sums goes
// from the micro-kernel to float32 in L1 and is never stored.
func GEMMS8S8Dequant(a *PackedA8, r0, r1, n int, b []int8, ldb int, bflip uint8, y []float32, ldy int, d *Dequant) {
	const fn = "GEMMS8S8Dequant"
	m, k := r1-r0, a.k
	if !checkDequant(fn, a, r0, r1, n, len(b), ldb, len(y), ldy, d) {
		return
	}
	if a.kern != nil && r0%a.block == 0 && m*n*k >= smallFlops {
		a.kern(m, n, k, a.pa[r0*max(4, (k+3)/4*4):], b, ldb, bflip, y, nil, ldy, d, nil)
		return
	}
	composeDequant(tab(), m, n, k, a.a[r0*k:], k, b, ldb, bflip, y, ldy, d)
}

// GEMMS8S8Quant is GEMMS8S8Dequant followed by QuantizeLinear of each result with q
// (saturate(roundHalfEven(v / q.Scale) + q.ZP), NaN to q.ZP), into bytes y (uint8, or
// int8 when q.Signed): a static int8 model's Conv and the QuantizeLinear of its output.
// Bit for bit GEMMS8S8Dequant then QuantizeU8 (QuantizeS8); with AVX512-VNNI the float
// results never leave the registers.
func GEMMS8S8Quant(a *PackedA8, r0, r1, n int, b []int8, ldb int, bflip uint8, y []byte, ldy int, d *Dequant, q OutQuant) {
	const fn = "GEMMS8S8Quant"
	m, k := r1-r0, a.k
	if !checkDequant(fn, a, r0, r1, n, len(b), ldb, len(y), ldy, d) {
		return
	}
	if a.kern != nil && r0%a.block == 0 && m*n*k >= smallFlops {
		a.kern(m, n, k, a.pa[r0*max(4, (k+3)/4*4):], b, ldb, bflip, nil, y, ldy, d, &q)
		return
	}
	t := tab()
	f := make([]float32, m*n)
	composeDequant(t, m, n, k, a.a[r0*k:], k, b, ldb, bflip, f, n, d)
	sc := []float32{q.Scale}
	for i := 0; i < m; i++ {
		row, dst := f[i*n:(i+1)*n], y[i*ldy:i*ldy+n]
		if q.Signed {
			t.quantS8(unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)), row, 0, n, 1, sc, []int8{int8(q.ZP)})
		} else {
			t.quantU8(dst, row, 0, n, 1, sc, []uint8{uint8(q.ZP)})
		}
	}
}

// checkDequant fails on arguments GEMMS8S8Dequant and GEMMS8S8Quant cannot take, and says
// whether there is anything to compute.
func checkDequant(fn string, a *PackedA8, r0, r1, n, lenB, ldb, lenY, ldy int, d *Dequant) bool {
	m, k := r1-r0, a.k
	if !(r0 >= 0 && r0 <= r1 && r1 <= a.m && n >= 0 && ldy >= n) {
		fail(fn, "bad rows [%d, %d) of %d, %d columns, ldy %d", r0, r1, a.m, n, ldy)
	}
	if m == 0 || n == 0 {
		return false
	}
	checkMat(fn, "b", lenB, k, n, ldb)
	checkMat(fn, "y", lenY, m, n, ldy)
	if len(d.Fix) < m || len(d.Scale) < m || d.ZW != nil && len(d.ZW) < m || d.Bias != nil && len(d.Bias) < m {
		fail(fn, "Fix, Scale (and ZW, Bias) shorter than %d rows", m)
	}
	if !(d.Act.Kind >= ActNone && d.Act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", d.Act.Kind)
	}
	return true
}

// composeDequant is GEMMS8S8Dequant as its definition says, with t's kernels: B flipped
// (a copy, where bflip is not 0), the int8 GEMM (one tile, on this goroutine), the column
// sums, RequantRows', BiasAct's and SiLU's.
func composeDequant(t *table, m, n, k int, a []int8, lda int, b []int8, ldb int, bflip uint8, y []float32, ldy int, d *Dequant) {
	if bflip != 0 {
		fb := make([]int8, k*n)
		for p := 0; p < k; p++ {
			for j, v := range b[p*ldb : p*ldb+n] {
				fb[p*n+j] = int8(uint8(v) ^ bflip)
			}
		}
		b, ldb = fb, n
	}
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
