package runtime

// gatherFast is Gather copying whole rows: data of float32 or int64 (embedding tables,
// shapes), indices of int64 or int32 (token ids), each selected row of inner values
// copied straight into a pooled output. The generic path builds the index of every
// output element first (8,192 for a 64-token sequence of 128-wide embeddings) and
// copies element by element. Results are the same; other types report false.
func gatherFast(c *opContext, x, ind *Tensor, axis int, out []int) (*Tensor, bool, error) {
	if !fastPaths {
		return nil, false, nil
	}
	var data any
	var err error
	switch xv := x.Data.(type) {
	case []float32:
		data, err = gatherRowsIdx(c, xv, x.Shape, ind, axis)
	case []int64:
		data, err = gatherRowsIdx(c, xv, x.Shape, ind, axis)
	default:
		return nil, false, nil
	}
	if data == nil && err == nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return &Tensor{DType: x.DType, Shape: out, Data: data}, true, nil
}

// gatherRowsIdx dispatches on the index type; nil, nil for one it does not take.
func gatherRowsIdx[T poolable](c *opContext, xv []T, shape []int, ind *Tensor, axis int) (any, error) {
	switch iv := ind.Data.(type) {
	case []int64:
		return gatherRows(c, xv, shape, iv, axis)
	case []int32:
		return gatherRows(c, xv, shape, iv, axis)
	}
	return nil, nil
}

// gatherRows copies, for each block of x before axis, the rows iv picks along axis
// (negative indices count from the end).
func gatherRows[T poolable, I int32 | int64](c *opContext, xv []T, shape []int, iv []I, axis int) ([]T, error) {
	dim := shape[axis]
	outer, inner := prod(shape[:axis]), prod(shape[axis+1:])
	dst := allocRaw[T](c, outer*len(iv)*inner)
	at := 0
	for o := 0; o < outer; o++ {
		for _, k := range iv {
			j := int(k)
			if j < 0 {
				j += dim
			}
			if j < 0 || j >= dim {
				return nil, errf("index %d out of range for dimension %d", k, dim)
			}
			base := (o*dim + j) * inner
			copy(dst[at:at+inner], xv[base:base+inner])
			at += inner
		}
	}
	return dst, nil
}
