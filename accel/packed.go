package accel

import "unsafe"

// Integer GEMM on a B matrix packed once. GEMMU8S8 / GEMMS8S8 repack B into their
// kernel's panel layout on every call; for a weight that is multiplied many times (a
// model's MatMulInteger / QLinearMatMul initializer) PackB8 does that once and
// GEMMU8S8Packed / GEMMS8S8Packed reuse it. The layout is the one the packing table's
// kernel reads (VNNI: k-quads of 32 columns with column sums; AVX2: int16 pairs of 16
// columns; go, and arm64 for now: B widened to int32, row-major), so a PackedB8 remembers
// the kernel it was packed for and is always multiplied by that kernel, whatever backend
// is active later. Results are bit-identical to GEMMU8S8 / GEMMS8S8 (exact int32, wrapping
// like them), for every backend and thread count.

// PackedB8 is an int8 k×n matrix B in a kernel's packed layout. It is read-only once
// made and safe to use from several goroutines at once.
type PackedB8 struct {
	k, n   int
	pk     *packer8
	q8     []int8  // vnni: panels of 32 columns, [quad][column][4 k], 64-byte aligned
	w16    []int16 // avx2: panels of 16 columns, [pair][column][2 k], 64-byte aligned
	wide   []int32 // go: B as int32, k×n row-major
	colsum []int32 // Σ_p b[p][j] per column (vnni: per padded column), for A's zero point
}

// K and N are the packed matrix's dimensions.
func (p *PackedB8) K() int { return p.k }
func (p *PackedB8) N() int { return p.n }

// Kernel names the kernel the matrix was packed for (as Report shows it).
func (p *PackedB8) Kernel() string { return p.pk.name }

// packer8 is one packed-B kernel family: its layout's packer and the two products. The
// products compute columns [j0, j1) of C = (A − azp)·B (j0 a multiple of 32) for m rows
// of A; C is overwritten there.
type packer8 struct {
	name, reason string
	pack         func(p *PackedB8, b []int8, ldb int)
	s8           func(m, j0, j1, k int, a []int8, lda int, azp int32, p *PackedB8, c []int32, ldc int)
	u8           func(m, j0, j1, k int, a []uint8, lda int, azp int32, p *PackedB8, c []int32, ldc int)
}

// colSums8 returns Σ_p b[p][j] for each of the n columns.
func colSums8(b []int8, k, n, ldb int) []int32 {
	s := make([]int32, n)
	for q := 0; q < k; q++ {
		for j, v := range b[q*ldb : q*ldb+n] {
			s[j] += int32(v)
		}
	}
	return s
}

var goPacker8 = &packer8{
	name: "go", reason: "pure-Go: B widened to int32 once, unit-stride row updates, no allocation per call",
	pack: func(p *PackedB8, b []int8, ldb int) {
		p.wide = make([]int32, p.k*p.n)
		for q := 0; q < p.k; q++ {
			row := p.wide[q*p.n : (q+1)*p.n]
			for j, v := range b[q*ldb : q*ldb+p.n] {
				row[j] = int32(v)
			}
		}
		p.colsum = colSums8(b, p.k, p.n, ldb)
	},
	s8: goPackedIGEMM[int8],
	u8: goPackedIGEMM[uint8],
}

func goPackedIGEMM[T int8ish](m, j0, j1, k int, a []T, lda int, azp int32, p *PackedB8, c []int32, ldc int) {
	n := p.n
	cs := p.colsum[j0:j1]
	for i := 0; i < m; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		clear(row)
		for q, av := range a[i*lda : i*lda+k] {
			x := int32(av)
			brow := p.wide[q*n+j0 : q*n+j1]
			brow = brow[:len(row)]
			for j := range row {
				row[j] += x * brow[j]
			}
		}
		if azp != 0 { // (a − azp)·b = a·b − azp·Σb, wrapping like the reference
			cs := cs[:len(row)]
			for j := range row {
				row[j] -= azp * cs[j]
			}
		}
	}
}

// PackB8 packs the int8 k×n row-major matrix b (leading dimension ldb) for the active
// backend's packed integer GEMM. b is copied: it may change or go away afterwards.
func PackB8(b []int8, k, n, ldb int) *PackedB8 { return packB8With(tab(), b, k, n, ldb) }

func packB8With(t *table, b []int8, k, n, ldb int) *PackedB8 {
	const fn = "PackB8"
	if !(k >= 0 && n >= 0) {
		fail(fn, "negative size %d×%d", k, n)
	}
	checkMat(fn, "b", len(b), k, n, ldb)
	p := &PackedB8{k: k, n: n, pk: t.pack8}
	if k > 0 && n > 0 {
		p.pk.pack(p, b, ldb)
	}
	return p
}

// GEMMU8S8Packed computes C = A·B exactly in int32 for a uint8 m×k A (leading dimension
// lda) and a packed B; C (m×n, leading dimension ldc) is overwritten. Same bits as
// GEMMU8S8(false, m, n, k, a, lda, b, ldb, c, ldc) on the unpacked B.
func GEMMU8S8Packed(m int, a []uint8, lda int, p *PackedB8, c []int32, ldc int) {
	GEMMU8S8PackedZP(m, a, lda, 0, p, c, ldc)
}

// GEMMU8S8PackedZP computes C = (A − azp)·B, A's zero point taken off inside the kernel
// (as azp·Σb per column, wrapping in int32 like the element-wise form: the same bits as
// subtracting azp from every element of A first).
func GEMMU8S8PackedZP(m int, a []uint8, lda int, azp uint8, p *PackedB8, c []int32, ldc int) {
	const fn = "GEMMU8S8Packed"
	check(p != nil, fn, "nil packed matrix")
	packedGEMM(fn, m, a, lda, int32(azp), p, c, ldc, p.pk.u8)
}

// GEMMS8S8Packed is GEMMU8S8Packed for an int8 A.
func GEMMS8S8Packed(m int, a []int8, lda int, p *PackedB8, c []int32, ldc int) {
	GEMMS8S8PackedZP(m, a, lda, 0, p, c, ldc)
}

// GEMMS8S8PackedZP is GEMMU8S8PackedZP for an int8 A.
func GEMMS8S8PackedZP(m int, a []int8, lda int, azp int8, p *PackedB8, c []int32, ldc int) {
	const fn = "GEMMS8S8Packed"
	check(p != nil, fn, "nil packed matrix")
	packedGEMM(fn, m, a, lda, int32(azp), p, c, ldc, p.pk.s8)
}

func packedGEMM[T int8ish](fn string, m int, a []T, lda int, azp int32, p *PackedB8, c []int32, ldc int,
	kern func(m, j0, j1, k int, a []T, lda int, azp int32, p *PackedB8, c []int32, ldc int)) {
	k, n := p.k, p.n
	// check boxes its arguments; fail is called only to report a failure, so that a
	// small product allocates nothing.
	if m < 0 {
		fail(fn, "negative m = %d", m)
	}
	if !matOK(len(a), m, k, lda) {
		checkMat(fn, "a", len(a), m, k, lda)
	}
	if !matOK(len(c), m, n, ldc) {
		checkMat(fn, "c", len(c), m, n, ldc)
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	if m*n*k < gemmPar || MaxThreads() <= 1 { // no closure, no allocation
		kern(m, 0, n, k, a, lda, azp, p, c, ldc)
		return
	}
	gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
		kern(i1-i0, j0, j1, k, a[i0*lda:], lda, azp, p, c[i0*ldc:], ldc)
	})
}

// matOK is checkMat's condition.
func matOK(xlen, rows, cols, ld int) bool {
	return ld >= max(1, cols) && (rows <= 0 || cols <= 0 || xlen >= (rows-1)*ld+cols)
}

// alignedSlice returns n zeroed elements whose first one sits on a 64-byte boundary (the
// SIMD kernels load packed panels with aligned loads; Go's heap does not move objects).
func alignedSlice[T int8 | int16 | float32](n int) []T {
	var z T
	sz := int(unsafe.Sizeof(z))
	buf := make([]T, n+64/sz)
	off := int((64-uintptr(unsafe.Pointer(&buf[0]))&63)&63) / sz
	return buf[off : off+n : off+n]
}
