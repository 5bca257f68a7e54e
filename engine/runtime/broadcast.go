package runtime

import "github.com/modelc/modelc/engine/ir"

// Numpy-style (multidirectional) broadcasting: shapes are aligned on their last
// dimension; a dimension of 1 stretches to the other's size.

// broadcastShape returns the common shape of shapes, or an error naming them.
func broadcastShape(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for i, d := range s {
			j := r - len(s) + i
			switch {
			case d == out[j] || d == 1:
			case out[j] == 1:
				out[j] = d
			default:
				return nil, errf("shapes %v cannot be broadcast together", shapes)
			}
		}
	}
	return out, nil
}

// bstrides gives the element strides of a row-major array of shape in, laid over the
// broadcast shape out: 0 along the dimensions that are stretched or missing.
func bstrides(in, out []int) []int {
	st := make([]int, len(out))
	s := 1
	for i := len(in) - 1; i >= 0; i-- {
		j := len(out) - len(in) + i
		if in[i] != 1 {
			st[j] = s
		}
		s *= in[i]
	}
	return st
}

// walk visits the broadcast shape out row by row: row(o, n, offs, steps) handles n
// consecutive output elements starting at o, whose k-th operand starts at offs[k] and
// advances by steps[k] (0 or its inner stride) per element. Adjacent dimensions that
// every operand traverses contiguously are merged first, so equal shapes or a scalar
// operand make a single row.
func walk(out []int, strides [][]int, row func(o, n int, offs, steps []int)) {
	dims := append([]int(nil), out...)
	st := make([][]int, len(strides))
	for k := range strides {
		st[k] = append([]int(nil), strides[k]...)
	}
	// Merge dimension i into i+1 while all operands allow it.
	for i := len(dims) - 2; i >= 0; i-- {
		ok := true
		for k := range st {
			if st[k][i] != st[k][i+1]*dims[i+1] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		dims[i+1] *= dims[i]
		dims = append(dims[:i], dims[i+1:]...)
		for k := range st {
			st[k] = append(st[k][:i], st[k][i+1:]...)
		}
	}
	total := prod(dims)
	if total == 0 {
		return
	}
	if len(dims) == 0 {
		row(0, 1, make([]int, len(st)), make([]int, len(st)))
		return
	}
	last := len(dims) - 1
	n := dims[last]
	steps := make([]int, len(st))
	for k := range st {
		steps[k] = st[k][last]
	}
	offs := make([]int, len(st))
	idx := make([]int, last)
	for o := 0; o < total; o += n {
		row(o, n, offs, steps)
		// Advance the odometer over the outer dimensions.
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			for k := range st {
				offs[k] += st[k][d]
			}
			if idx[d] < dims[d] {
				break
			}
			for k := range st {
				offs[k] -= st[k][d] * dims[d]
			}
			idx[d] = 0
		}
	}
}

// binaryOp applies f row by row over the broadcast of a and b; f gets the output row
// and the operand rows with their steps (0 or 1).
func binaryOp[A, B, U any](a, b *Tensor, outType ir.DType, av []A, bv []B, f func(o []U, x []A, xs int, y []B, ys int)) (*Tensor, error) {
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out := newTensor(outType, shape)
	ov := out.Data.([]U)
	walk(shape, [][]int{bstrides(a.Shape, shape), bstrides(b.Shape, shape)}, func(o, n int, offs, steps []int) {
		xa := av[offs[0]:]
		xb := bv[offs[1]:]
		if steps[0] == 0 {
			xa = xa[:1]
		} else {
			xa = xa[:n]
		}
		if steps[1] == 0 {
			xb = xb[:1]
		} else {
			xb = xb[:n]
		}
		f(ov[o:o+n], xa, steps[0], xb, steps[1])
	})
	return out, nil
}
