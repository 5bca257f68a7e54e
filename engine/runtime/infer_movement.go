package runtime

import "github.com/modelc/modelc/engine/ir"

// Types of the ops that move or resample a tensor without changing its dtype: Slice,
// Split, ConvTranspose, Resize. Knowing at least their dtype matters beyond shape
// checks: the Conv fusions only rewrite a Conv whose input is known to be float32, and a
// ShuffleNet's branches start with a Slice, a UNet's decoder with a ConvTranspose.

// inferDataMovement is inferNode's part for those ops (nil for any other op).
func inferDataMovement(n *ir.Node, in []valueType, consts []*Tensor) []valueType {
	if len(in) == 0 {
		return nil
	}
	x := in[0]
	if x.dtype == ir.Undefined && x.rank < 0 {
		return nil
	}
	// sameRank: x's dtype and rank, the listed axes of unknown size.
	sameRank := func(axes ...int) valueType {
		if x.rank < 0 {
			return valueType{dtype: x.dtype, rank: -1}
		}
		t := valueType{dtype: x.dtype, rank: x.rank, shape: append([]dim{}, x.shape...)}
		for _, a := range axes {
			t.shape[a] = unknownDim
		}
		return t
	}
	allAxes := func() []int {
		a := make([]int, max(x.rank, 0))
		for i := range a {
			a[i] = i
		}
		return a
	}
	switch n.OpType {
	case "Slice":
		return []valueType{sliceType(n, x, consts, sameRank, allAxes)}
	case "Split":
		axis := 0
		if a := n.Attr("axis"); a != nil {
			axis = int(a.Int)
		}
		if axis < 0 {
			axis += x.rank
		}
		t := sameRank()
		if x.rank >= 0 {
			if axis < 0 || axis >= x.rank {
				return nil
			}
			t = sameRank(axis)
		}
		outs := make([]valueType, len(n.Outputs))
		for i := range outs {
			outs[i] = t
		}
		return outs
	case "ConvTranspose", "Resize":
		// Spatial sizes depend on attributes and scales that the kernels resolve; the
		// batch (and, for Resize, the channel) dimension is usually kept, but a scale
		// may change any axis, so only dtype and rank are claimed.
		return []valueType{sameRank(allAxes()...)}
	}
	return nil
}

// sliceType is Slice's output type: exact when x's sliced dimensions and the bounds
// (opset ≥ 10 inputs, or the attributes of opset 1-9) are known.
func sliceType(n *ir.Node, x valueType, consts []*Tensor, sameRank func(...int) valueType, allAxes func() []int) valueType {
	if x.rank < 0 {
		return sameRank()
	}
	var starts, ends, axes, steps []int
	constAt := func(i int) *Tensor {
		if i < len(consts) {
			return consts[i]
		}
		return nil
	}
	if len(n.Inputs) > 1 {
		if constAt(1) == nil || constAt(2) == nil || len(n.Inputs) > 3 && n.Inputs[3] != "" && constAt(3) == nil ||
			len(n.Inputs) > 4 && n.Inputs[4] != "" && constAt(4) == nil {
			if a := constAt(3); a != nil { // the other axes keep their size
				ax := ints(a)
				for i, v := range ax {
					if v < 0 {
						ax[i] = v + x.rank
					}
					if ax[i] < 0 || ax[i] >= x.rank {
						return sameRank(allAxes()...)
					}
				}
				return sameRank(ax...)
			}
			return sameRank(allAxes()...)
		}
		starts, ends = int64sClamped(constAt(1)), int64sClamped(constAt(2))
		if a := constAt(3); a != nil {
			axes = ints(a)
		}
		if s := constAt(4); s != nil {
			steps = ints(s)
		}
	} else {
		for _, at := range []struct {
			name string
			dst  *[]int
		}{{"starts", &starts}, {"ends", &ends}, {"axes", &axes}} {
			if a := n.Attr(at.name); a != nil {
				for _, v := range a.Ints {
					*at.dst = append(*at.dst, int(v))
				}
			}
		}
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, i)
		}
	}
	if steps == nil {
		for range starts {
			steps = append(steps, 1)
		}
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return sameRank(allAxes()...) // the kernel reports the mismatch
	}
	t := sameRank()
	for i, a := range axes {
		if a < 0 {
			a += x.rank
		}
		if a < 0 || a >= x.rank || steps[i] == 0 {
			return sameRank(allAxes()...)
		}
		if !x.shape[a].static() {
			t.shape[a] = unknownDim
			continue
		}
		_, cnt := sliceRange(x.shape[a].v, starts[i], ends[i], steps[i])
		t.shape[a] = dim{v: cnt}
	}
	return t
}
