package runtime

import "github.com/modelc/modelc/accel"

// transposedB returns Bᵀ (k×n, row-major) of a Gemm weight B stored n×k with transB=1
// (torch's Linear layers), for a B that is the same in every run: built once per node
// and kept by the session, so each run's product takes the SGEMM's direct path for
// untransposed operands instead of packing Bᵀ again. nil when B is not fixed, or when
// the product is a matrix-vector one (m = 1) or small, whose kernels read Bᵀ directly.
func (c *opContext) transposedB(b []float32, m, n, k, ldb int) []float32 {
	return c.transposedFixed(b, m, n, k, ldb, 1, "gemm-bT")
}

// transposedFixed is transposedB for the fixed input number input of the node, cached
// under tag (one tag per distinct matrix of the node, e.g. per RNN direction).
func (c *opContext) transposedFixed(b []float32, m, n, k, ldb, input int, tag string) []float32 {
	if m < 2 || m*n*k < smallGEMMFlops || c.sess == nil || len(b) == 0 || !c.inputFixed(input) {
		return nil
	}
	return nodeCached(c, tag, matrixID{&b[0], n, k, ldb}, func() []float32 {
		flipped := make([]float32, k*n)
		for j := 0; j < n; j++ {
			for p, v := range b[j*ldb : j*ldb+k] {
				flipped[p*n+j] = v
			}
		}
		return flipped
	})
}

// gemvWeights returns B (n×k, stored with transB=1: a Linear layer's weight) packed for
// accel.GEMVPacked, for a one-row product (a classifier head at batch 1) whose B is the
// same in every run: packed once per node and kept by the session. nil where the
// backend has no packed kernel or B is not fixed; the product then runs as SGEMM, with
// the same bits.
func (c *opContext) gemvWeights(b []float32, n, k, ldb int) *accel.GEMVWeights {
	if c.sess == nil || len(b) == 0 || !c.inputFixed(1) {
		return nil
	}
	return nodeCached(c, "gemv-b", matrixID{&b[0], n, k, ldb}, func() *accel.GEMVWeights { return accel.PackGEMV(b, n, k, ldb) })
}

// matrixID identifies a float32 weight matrix of n rows of k values (leading dimension
// ldb) for nodeCached.
type matrixID struct {
	p         *float32
	n, k, ldb int
}
