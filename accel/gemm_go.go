package accel

// The go backend's GEMMs: not the specification (that is refSGEMM / refIGEMM) but a
// cache-blocked version that is fast enough to be a fallback. op(B) is copied into a
// contiguous k-block so the inner loop is a unit-stride axpy over a row of C.

const goKC = 128 // rows of op(B) per block: 128 × n floats stay in L2 for n ≤ 2048

func goSGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) {
	if m == 0 || n == 0 {
		return
	}
	// C = beta·C + bias first; then C += alpha·A·B block by block.
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var v float32
			if beta != 0 {
				v = beta * row[j]
			}
			if bias != nil {
				v += bias[j]
			}
			row[j] = v
		}
	}
	if k == 0 {
		return
	}
	kc := min(goKC, k)
	// SGEMMBias sends only products of fewer than smallFlops multiply-adds here, which
	// fit the stack buffers: an allocation per call (several per run of a mobile
	// network) would make the garbage collector run every few dozen runs.
	var bpStack, accStack [smallFlops]float32
	var bp, acc []float32
	if kc*n <= smallFlops {
		bp, acc = bpStack[:kc*n], accStack[:n]
	} else {
		bp, acc = make([]float32, kc*n), make([]float32, n)
	}
	for p0 := 0; p0 < k; p0 += kc {
		pk := min(kc, k-p0)
		for p := 0; p < pk; p++ {
			dst := bp[p*n : (p+1)*n]
			if transB {
				for j := range dst {
					dst[j] = b[j*ldb+p0+p]
				}
			} else {
				copy(dst, b[(p0+p)*ldb:(p0+p)*ldb+n])
			}
		}
		for i := 0; i < m; i++ {
			clear(acc)
			for p := 0; p < pk; p++ {
				var av float32
				if transA {
					av = a[(p0+p)*lda+i]
				} else {
					av = a[i*lda+p0+p]
				}
				brow := bp[p*n : (p+1)*n]
				j := 0
				for ; j+4 <= n; j += 4 {
					acc[j] += av * brow[j]
					acc[j+1] += av * brow[j+1]
					acc[j+2] += av * brow[j+2]
					acc[j+3] += av * brow[j+3]
				}
				for ; j < n; j++ {
					acc[j] += av * brow[j]
				}
			}
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] += alpha * acc[j]
			}
		}
	}
}

func goIGEMM[T int8ish](transB bool, m, n, k int, a []T, lda int, b []int8, ldb int, c []int32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		clear(c[i*ldc : i*ldc+n])
	}
	kc := min(goKC*2, k)
	if kc == 0 {
		return
	}
	bp := make([]int32, kc*n)
	for p0 := 0; p0 < k; p0 += kc {
		pk := min(kc, k-p0)
		for p := 0; p < pk; p++ {
			dst := bp[p*n : (p+1)*n]
			for j := range dst {
				if transB {
					dst[j] = int32(b[j*ldb+p0+p])
				} else {
					dst[j] = int32(b[(p0+p)*ldb+j])
				}
			}
		}
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for p := 0; p < pk; p++ {
				av := int32(a[i*lda+p0+p])
				brow := bp[p*n : (p+1)*n]
				for j := range row {
					row[j] += av * brow[j]
				}
			}
		}
	}
}
