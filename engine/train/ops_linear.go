package train

import (
	"fmt"
	"slices"
)

func init() {
	register(matMul, "MatMul")
	register(gemmOp, "Gemm")
}

// gemm adds op(A)·op(B) to C (m×n), op transposing when asked; A is m×k (or k×m), B is
// k×n (or n×k).
func gemm(ta, tb bool, m, n, k int, a, b, c []float64) {
	for i := 0; i < m; i++ {
		ci := c[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			var av float64
			if ta {
				av = a[p*m+i]
			} else {
				av = a[i*k+p]
			}
			if av == 0 {
				continue
			}
			if tb {
				for j := range ci {
					ci[j] += av * b[j*k+p]
				}
			} else {
				bp := b[p*n : (p+1)*n]
				for j, bv := range bp {
					ci[j] += av * bv
				}
			}
		}
	}
}

// matMul supports A [..., m, k] with B [k, n] or with B [..., k, n] of the same batch.
func matMul(c *opCtx, in []*T) ([]*T, backFn, error) {
	mm := c.mm()
	a, b := in[0], in[1]
	if len(a.Shape) < 2 || len(b.Shape) < 2 {
		return nil, nil, fmt.Errorf("MatMul of %v and %v: 1-D operands are not supported", a.Shape, b.Shape)
	}
	k := a.Shape[len(a.Shape)-1]
	m := a.Len() / k
	if k != b.Shape[len(b.Shape)-2] {
		return nil, nil, fmt.Errorf("MatMul of %v and %v: inner sizes differ", a.Shape, b.Shape)
	}
	n := b.Shape[len(b.Shape)-1]
	batch := 1
	if len(b.Shape) > 2 {
		if len(b.Shape) != len(a.Shape) || !slices.Equal(a.Shape[:len(a.Shape)-2], b.Shape[:len(b.Shape)-2]) {
			return matMulBroadcast(c, a, b)
		}
		batch = b.Len() / (k * n)
		m /= batch
	}
	out := c.zeros(append(append([]int(nil), a.Shape[:len(a.Shape)-1]...), n)...)
	for bi := 0; bi < batch; bi++ {
		bo := 0
		if batch > 1 {
			bo = bi * k * n
		}
		mm(false, false, m, n, k, a.D[bi*m*k:], b.D[bo:], out.D[bi*m*n:(bi+1)*m*n])
	}
	back := func(g []*T) []*T {
		ga, gb := c.zeros(a.Shape...), c.zeros(b.Shape...)
		for bi := 0; bi < batch; bi++ {
			bo := 0
			if batch > 1 {
				bo = bi * k * n
			}
			gd := g[0].D[bi*m*n : (bi+1)*m*n]
			mm(false, true, m, k, n, gd, b.D[bo:], ga.D[bi*m*k:(bi+1)*m*k])
			mm(true, false, k, n, m, a.D[bi*m*k:], gd, gb.D[bo:bo+k*n])
		}
		return []*T{ga, gb}
	}
	return []*T{out}, back, nil
}

func gemmOp(c *opCtx, in []*T) ([]*T, backFn, error) {
	mm := c.mm()
	a, b := in[0], in[1]
	ta, tb := c.int("transA", 0) == 1, c.int("transB", 0) == 1
	alpha, beta := c.float("alpha", 1), c.float("beta", 1)
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, nil, fmt.Errorf("Gemm needs 2-D operands, got %v and %v", a.Shape, b.Shape)
	}
	m, k := a.Shape[0], a.Shape[1]
	if ta {
		m, k = k, m
	}
	n := b.Shape[1]
	if tb {
		n = b.Shape[0]
	}
	out := c.zeros(m, n) // mm adds into it
	mm(ta, tb, m, n, k, a.D, b.D, out.D)
	if alpha != 1 {
		for i := range out.D {
			out.D[i] *= alpha
		}
	}
	var cb *T
	var ic []int
	if len(in) > 2 && in[2] != nil {
		cb = in[2]
		ic = bindex(cb.Shape, out.Shape)
		for i := range out.D {
			out.D[i] += beta * cb.D[ic[i]]
		}
	}
	back := func(g []*T) []*T {
		gd := g[0].D
		if alpha != 1 {
			gd = make([]float64, len(gd))
			for i, v := range g[0].D {
				gd[i] = alpha * v
			}
		}
		ga, gb := c.zeros(a.Shape...), c.zeros(b.Shape...)
		// out = op(A)·op(B): d op(A) = G·op(B)ᵀ, d op(B) = op(A)ᵀ·G.
		if ta {
			mm(tb, true, k, m, n, b.D, gd, ga.D) // (op(B)·Gᵀ) = dAᵀ stored k×m
		} else {
			mm(false, !tb, m, k, n, gd, b.D, ga.D)
		}
		if tb {
			mm(true, ta, n, k, m, gd, a.D, gb.D) // Gᵀ·op(A): n×k
		} else {
			mm(!ta, false, k, n, m, a.D, gd, gb.D)
		}
		res := []*T{ga, gb, nil}
		if cb != nil {
			gc := c.out(out.Shape...)
			for i, v := range g[0].D {
				gc.D[i] = beta * v
			}
			res[2] = reduceTo(gc, cb.Shape, ic)
		}
		return res
	}
	return []*T{out}, back, nil
}
