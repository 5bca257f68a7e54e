package train

import "github.com/modelc/modelc/accel"

// mmFn is the matrix product the ops use: C += op(A)·op(B).
type mmFn func(ta, tb bool, m, n, k int, a, b, c []float64)

// mm returns the net's matrix product: float64 loops when the net asks for Float64 (the
// gradient checks), else accel's float32 SGEMM for products big enough to repay the
// conversion (values rounded to float32, accumulated in float32 by a blocked kernel whose
// result does not depend on the thread count; the sum into C stays float64).
// The float32 copies are taken from the tape's arena.
func (c *opCtx) mm() mmFn {
	if c.net.Float64 {
		return gemm
	}
	return func(ta, tb bool, m, n, k int, a, b, out []float64) {
		gemm32(c, ta, tb, m, n, k, a, b, out)
	}
}

func gemm32(ctx *opCtx, ta, tb bool, m, n, k int, a, b, c []float64) {
	if m*n*k < 4096 {
		gemm(ta, tb, m, n, k, a, b, c)
		return
	}
	a32, b32, c32 := ctx.to32Once(a[:m*k]), ctx.to32Once(b[:k*n]), ctx.f32(m*n)
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	accel.SGEMM(ta, tb, m, n, k, 1, a32, lda, b32, ldb, 0, c32, n)
	for i, v := range c32 {
		c[i] += float64(v)
	}
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
