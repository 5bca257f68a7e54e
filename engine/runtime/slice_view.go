package runtime

// contiguousSlice returns Slice's result as a view into x when the selected elements
// are one contiguous run of x's storage — a channel range of a single image (the
// ShuffleNet channel split), a row range — so nothing is copied. That is the case when
// every axis after some axis k is taken whole, every axis before it has one element,
// and axis k itself is a range with step 1. The arena counts a view as a reference to
// the buffer it points into, so the buffer stays alive as long as the view does.
func contiguousSlice(x *Tensor, out, lo, step []int) (*Tensor, bool) {
	if !fastPaths {
		return nil, false
	}
	k := len(out) - 1
	for k >= 0 && out[k] == x.Shape[k] && (step[k] == 1 || out[k] <= 1) {
		k--
	}
	if k >= 0 && out[k] > 1 && step[k] != 1 {
		return nil, false
	}
	for d := 0; d < k; d++ {
		if out[d] != 1 {
			return nil, false
		}
	}
	n := prod(out)
	if n == 0 {
		return nil, false
	}
	base := 0
	for d, s := range stridesOf(x.Shape) {
		base += lo[d] * s
	}
	return &Tensor{DType: x.DType, Shape: out, Data: slice(x.Data, base, base+n)}, true
}
