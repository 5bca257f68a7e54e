package runtime

import (
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// Ops that reshape, reorder, select or create tensors: they move values without
// arithmetic, so most work on every dtype through index lists (see take).

func init() {
	register(opReshape, "Reshape")
	register(opFlatten, "Flatten")
	register(opTranspose, "Transpose")
	register(opConcat, "Concat")
	register(opSplit, "Split")
	register(opSlice, "Slice")
	register(opGather, "Gather")
	register(opGatherElements, "GatherElements")
	register(opGatherND, "GatherND")
	register(opScatterND, "ScatterND")
	register(opScatterElements, "ScatterElements", "Scatter")
	register(opSqueeze, "Squeeze")
	register(opUnsqueeze, "Unsqueeze")
	register(opExpand, "Expand")
	register(opTile, "Tile")
	register(opPad, "Pad")
	register(opShape, "Shape")
	register(opSize, "Size")
	register(opConstant, "Constant")
	register(opConstantOfShape, "ConstantOfShape")
	register(opIdentity, "Identity")
	register(opDropout, "Dropout")
	register(opRange, "Range")
	register(opDepthToSpace, "DepthToSpace")
	register(opSpaceToDepth, "SpaceToDepth")
	register(opNonZero, "NonZero")
	register(opOneHot, "OneHot")
	register(opTrilu, "Trilu")
	register(opEyeLike, "EyeLike")
}

func stridesOf(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// stridedIndex lists, for every element of shape out in row-major order, the source
// offset base + Σ i_d·st[d].
func stridedIndex(out []int, base int, st []int) []int {
	n := prod(out)
	idx := make([]int, n)
	if n == 0 {
		return idx
	}
	cur := make([]int, len(out))
	off := base
	for i := 0; i < n; i++ {
		idx[i] = off
		for d := len(out) - 1; d >= 0; d-- {
			cur[d]++
			off += st[d]
			if cur[d] < out[d] {
				break
			}
			off -= st[d] * out[d]
			cur[d] = 0
		}
	}
	return idx
}

func view(x *Tensor, shape []int) *Tensor { return &Tensor{DType: x.DType, Shape: shape, Data: x.Data} }

func opIdentity(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return one(view(in[0], shapeOf(in[0])))
}

// opDropout is the identity at inference; the optional mask is all true. A training-mode
// run with a non-zero ratio would be random and is refused.
func opDropout(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if tm := opt(in, 2); tm != nil && tm.Data.([]bool)[0] {
		ratio := 0.5
		if r := opt(in, 1); r != nil {
			ratio = float64s(r)[0]
		}
		if ratio != 0 {
			return nil, unsupported("Dropout in training mode (random) is not supported")
		}
	}
	x := in[0]
	mask := make([]bool, x.Len())
	for i := range mask {
		mask[i] = true
	}
	return []*Tensor{view(x, shapeOf(x)), {DType: ir.Bool, Shape: shapeOf(x), Data: mask}}, nil
}

func opReshape(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	var spec []int
	if s := opt(in, 1); s != nil {
		spec = ints(s)
	} else if a, ok := c.attrInts("shape"); ok { // opset 1-4
		spec = a
	}
	shape, err := reshapeTo(x.Shape, spec, c.attrInt("allowzero", 0) == 1)
	if err != nil {
		return nil, err
	}
	return one(view(x, shape))
}

// reshapeTo resolves a Reshape target: 0 copies the input's dimension (unless
// allowzero), -1 is inferred.
func reshapeTo(in, spec []int, allowZero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, errf("shape %v copies dimension %d of %v, which does not exist", spec, i, in)
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, errf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case d < 0:
			return nil, errf("shape %v has a negative dimension", spec)
		default:
			out[i] = d
		}
		known *= out[i]
	}
	total := prod(in)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, errf("cannot reshape %v to %v", in, spec)
		}
		out[infer] = total / known
	}
	if prod(out) != total {
		return nil, errf("cannot reshape %v (%d elements) to %v", in, total, out)
	}
	return out, nil
}

func opFlatten(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	axis := int(c.attrInt("axis", 1))
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return nil, errf("axis %d out of range for rank %d", axis, r)
	}
	return one(view(x, []int{prod(x.Shape[:axis]), prod(x.Shape[axis:])}))
}

func opTranspose(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	perm, ok := c.attrInts("perm")
	if !ok {
		perm = make([]int, len(x.Shape))
		for i := range perm {
			perm[i] = len(perm) - 1 - i
		}
	}
	t, err := transpose(c, x, perm)
	if err != nil {
		return nil, err
	}
	return one(t)
}

func transpose(c *opContext, x *Tensor, perm []int) (*Tensor, error) {
	r := len(x.Shape)
	if len(perm) != r {
		return nil, errf("perm %v does not match rank %d", perm, r)
	}
	st := stridesOf(x.Shape)
	out := make([]int, r)
	ost := make([]int, r)
	seen := make([]bool, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, errf("perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[i], ost[i] = x.Shape[p], st[p]
	}
	if fastPaths && unitMoves(x.Shape, perm) {
		return view(x, out), nil
	}
	return &Tensor{DType: x.DType, Shape: out, Data: takeStrided(c, x.Data, out, 0, ost)}, nil
}

// unitMoves reports whether perm keeps the axes longer than 1 in their order, moving
// only axes of length 1: then the transposed values lie in memory as they are, and the
// result is a view (torch's MultiheadAttention swaps batch 1 and the sequence twice per
// layer). The arena counts a view as a reference to the buffer it points into.
func unitMoves(shape, perm []int) bool {
	last := -1
	for _, p := range perm {
		if shape[p] > 1 {
			if p < last {
				return false
			}
			last = p
		}
	}
	return true
}

func opConcat(c *opContext, in []*Tensor) ([]*Tensor, error) {
	var parts []*Tensor
	for _, t := range in {
		if t != nil {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return nil, errf("no inputs")
	}
	r := len(parts[0].Shape)
	axis, err := normAxis(int(c.attrInt("axis", 0)), r)
	if err != nil {
		return nil, err
	}
	t, err := concatInto(c, parts, axis)
	if err != nil {
		return nil, err
	}
	return one(t)
}

func concat(parts []*Tensor, axis int) (*Tensor, error) { return concatInto(nil, parts, axis) }

// concatInto is concat with its output from the run's pool when c has one.
func concatInto(c *opContext, parts []*Tensor, axis int) (*Tensor, error) {
	first := parts[0]
	out := shapeOf(first)
	out[axis] = 0
	for _, p := range parts {
		if len(p.Shape) != len(out) || p.DType != first.DType {
			return nil, errf("cannot concatenate %v and %v", first, p)
		}
		for d := range out {
			if d != axis && p.Shape[d] != first.Shape[d] {
				return nil, errf("cannot concatenate %v and %v along axis %d", first, p, axis)
			}
		}
		out[axis] += p.Shape[axis]
	}
	outer := prod(out[:axis])
	if v := c.concatView(parts, out); v != nil && outer == 1 {
		return v, nil
	}
	inner := prod(out[axis+1:])
	data := pooledAlloc(c, first.DType, prod(out))
	off := 0
	for o := 0; o < outer; o++ {
		for _, p := range parts {
			n := p.Shape[axis] * inner
			put(data, off, slice(p.Data, o*n, (o+1)*n))
			off += n
		}
	}
	return &Tensor{DType: first.DType, Shape: out, Data: data}, nil
}

// sliceAxis copies x[..., lo:hi, ...] along axis.
func sliceAxis(x *Tensor, axis, lo, hi int) *Tensor {
	out := shapeOf(x)
	out[axis] = hi - lo
	st := stridesOf(x.Shape)
	return &Tensor{DType: x.DType, Shape: out, Data: takeStrided(nil, x.Data, out, lo*st[axis], st)}
}

func opSplit(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axis, err := normAxis(int(c.attrInt("axis", 0)), len(x.Shape))
	if err != nil {
		return nil, err
	}
	n := len(c.node.Outputs)
	dim := x.Shape[axis]
	var sizes []int
	if s := opt(in, 1); s != nil {
		sizes = ints(s)
	} else if a, ok := c.attrInts("split"); ok {
		sizes = a
	} else {
		if k := c.attrInt("num_outputs", 0); k > 0 {
			n = int(k)
		}
		// Equal parts; with opset 18's num_outputs the last may be smaller.
		chunk := (dim + n - 1) / n
		for i := 0; i < n; i++ {
			sizes = append(sizes, max(0, min(chunk, dim-i*chunk)))
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != dim {
		return nil, errf("split sizes %v do not add up to dimension %d", sizes, dim)
	}
	var outs []*Tensor
	lo := 0
	for _, s := range sizes {
		outs = append(outs, sliceAxis(x, axis, lo, lo+s))
		lo += s
	}
	return outs, nil
}

func opSlice(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	var starts, ends, axes, steps []int
	if opt(in, 1) != nil {
		if err := need(in, 3); err != nil {
			return nil, err
		}
		starts, ends = int64sClamped(in[1]), int64sClamped(in[2])
		if a := opt(in, 3); a != nil {
			axes = ints(a)
		}
		if s := opt(in, 4); s != nil {
			steps = ints(s)
		}
	} else { // opset 1-9: attributes
		starts, _ = c.attrInts("starts")
		ends, _ = c.attrInts("ends")
		axes, _ = c.attrInts("axes")
	}
	if len(starts) != len(ends) {
		return nil, errf("starts %v and ends %v differ in length", starts, ends)
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
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, errf("starts, ends, axes and steps differ in length")
	}
	lo := make([]int, r)
	step := make([]int, r)
	out := shapeOf(x)
	for d := range step {
		step[d] = 1
	}
	for i, a := range axes {
		a, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		k := steps[i]
		if k == 0 {
			return nil, errf("slice step is 0 on axis %d", a)
		}
		s, n := sliceRange(x.Shape[a], starts[i], ends[i], k)
		lo[a], step[a], out[a] = s, k, n
	}
	if v, ok := contiguousSlice(x, out, lo, step); ok {
		return one(v)
	}
	st := stridesOf(x.Shape)
	base := 0
	ost := make([]int, r)
	for d := range st {
		base += lo[d] * st[d]
		ost[d] = step[d] * st[d]
	}
	if prod(out) == 0 {
		base = 0
	}
	return one(&Tensor{DType: x.DType, Shape: out, Data: takeStrided(c, x.Data, out, base, ost)})
}

// sliceRange is where Slice starts on an axis of size dim, and how many elements it
// takes, for the bounds s:e with step k ≠ 0 as ONNX states them (negative from the end,
// clamped to the axis).
func sliceRange(dim, s, e, k int) (start, n int) {
	if s < 0 {
		s += dim
	}
	if e < 0 {
		e += dim
	}
	if k > 0 {
		s, e = clamp(s, 0, dim), clamp(e, 0, dim)
	} else {
		s, e = clamp(s, 0, dim-1), clamp(e, -1, dim-1)
	}
	if k > 0 && e > s {
		n = (e - s + k - 1) / k
	} else if k < 0 && s > e {
		n = (s - e - k - 1) / -k
	}
	return s, n
}

// int64sClamped reads slice bounds, bringing int64 extremes (INT_MAX means "to the end")
// into int range.
func int64sClamped(t *Tensor) []int {
	v := int64s(t)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(max(min(x, math.MaxInt32), math.MinInt32))
	}
	return out
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }

func opGather(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, ind := in[0], in[1]
	r := len(x.Shape)
	axis, err := normAxis(int(c.attrInt("axis", 0)), r)
	if err != nil {
		return nil, err
	}
	out := append(append(append([]int{}, x.Shape[:axis]...), ind.Shape...), x.Shape[axis+1:]...)
	if t, ok, err := gatherFast(c, x, ind, axis, out); ok {
		if err != nil {
			return nil, err
		}
		return one(t)
	}
	iv := ints(ind)
	dim := x.Shape[axis]
	outer, inner := prod(x.Shape[:axis]), prod(x.Shape[axis+1:])
	idx := make([]int, 0, prod(out))
	for o := 0; o < outer; o++ {
		for _, k := range iv {
			if k < 0 {
				k += dim
			}
			if k < 0 || k >= dim {
				return nil, errf("index %d out of range for dimension %d", k, dim)
			}
			base := (o*dim + k) * inner
			for i := 0; i < inner; i++ {
				idx = append(idx, base+i)
			}
		}
	}
	return one(&Tensor{DType: x.DType, Shape: out, Data: take(x.Data, idx)})
}

func opGatherElements(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, ind := in[0], in[1]
	r := len(x.Shape)
	axis, err := normAxis(int(c.attrInt("axis", 0)), r)
	if err != nil {
		return nil, err
	}
	if len(ind.Shape) != r {
		return nil, errf("indices rank %d differs from data rank %d", len(ind.Shape), r)
	}
	iv := ints(ind)
	st := stridesOf(x.Shape)
	pos := stridedIndex(ind.Shape, 0, st) // offset of each index position in x, at axis coordinate 0... plus its own
	ist := stridesOf(ind.Shape)
	idx := make([]int, len(iv))
	for i, k := range iv {
		if k < 0 {
			k += x.Shape[axis]
		}
		if k < 0 || k >= x.Shape[axis] {
			return nil, errf("index %d out of range for dimension %d", iv[i], x.Shape[axis])
		}
		coord := (i / ist[axis]) % ind.Shape[axis]
		idx[i] = pos[i] + (k-coord)*st[axis]
	}
	return one(&Tensor{DType: x.DType, Shape: shapeOf(ind), Data: take(x.Data, idx)})
}

func opScatterElements(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x, ind, upd := in[0], in[1], in[2]
	r := len(x.Shape)
	axis, err := normAxis(int(c.attrInt("axis", 0)), r)
	if err != nil {
		return nil, err
	}
	iv := ints(ind)
	st := stridesOf(x.Shape)
	pos := stridedIndex(ind.Shape, 0, st)
	ist := stridesOf(ind.Shape)
	dst := make([]int, len(iv))
	for i, k := range iv {
		if k < 0 {
			k += x.Shape[axis]
		}
		if k < 0 || k >= x.Shape[axis] {
			return nil, errf("index %d out of range for dimension %d", iv[i], x.Shape[axis])
		}
		coord := (i / ist[axis]) % ind.Shape[axis]
		dst[i] = pos[i] + (k-coord)*st[axis]
	}
	t, err := scatter(x, upd, dst, c.attrString("reduction", "none"))
	if err != nil {
		return nil, err
	}
	return one(t)
}

// scatter writes update element i to position dst[i] of a copy of x, combining with
// the reduction (none, add, mul, max, min).
func scatter(x, upd *Tensor, dst []int, red string) (*Tensor, error) {
	if upd.Len() != len(dst) {
		return nil, errf("updates %v do not match the indices", upd.Shape)
	}
	out := &Tensor{DType: x.DType, Shape: shapeOf(x), Data: copyData(x.Data)}
	if red == "none" {
		for i, j := range dst {
			put(out.Data, j, slice(upd.Data, i, i+1))
		}
		return out, nil
	}
	ov, uv := float64s(out), float64s(upd)
	for i, j := range dst {
		a, b := ov[j], uv[i]
		switch red {
		case "add":
			a += b
		case "mul":
			a *= b
		case "max":
			a = math.Max(a, b)
		case "min":
			a = math.Min(a, b)
		default:
			return nil, unsupported("reduction %q", red)
		}
		ov[j] = a
	}
	return fromFloat64s(x.DType, out.Shape, ov), nil
}

// gatherNDOffsets turns the index tuples of GatherND/ScatterND into element offsets of
// data's slices: it returns, for each tuple, the offset of the addressed slice.
func gatherNDOffsets(data, ind *Tensor, batchDims int) (offs []int, sliceShape []int, batchShape []int, err error) {
	q := len(ind.Shape)
	if q == 0 {
		return nil, nil, nil, errf("indices must have rank ≥ 1")
	}
	k := ind.Shape[q-1]
	r := len(data.Shape)
	if k+batchDims > r {
		return nil, nil, nil, errf("index tuples of length %d address beyond rank %d", k, r)
	}
	iv := ints(ind)
	st := stridesOf(data.Shape)
	batch := prod(data.Shape[:batchDims])
	batchStride := 1
	if batchDims > 0 {
		batchStride = st[batchDims-1]
	}
	tuples := len(iv) / max(k, 1)
	if k == 0 {
		tuples = prod(ind.Shape[:q-1])
	}
	perBatch := tuples / max(batch, 1)
	offs = make([]int, tuples)
	for t := 0; t < tuples; t++ {
		off := (t / max(perBatch, 1)) * batchStride
		if batchDims == 0 {
			off = 0
		}
		for j := 0; j < k; j++ {
			v := iv[t*k+j]
			dim := data.Shape[batchDims+j]
			if v < 0 {
				v += dim
			}
			if v < 0 || v >= dim {
				return nil, nil, nil, errf("index %d out of range for dimension %d", iv[t*k+j], dim)
			}
			off += v * st[batchDims+j]
		}
		offs[t] = off
	}
	return offs, data.Shape[batchDims+k:], ind.Shape[:q-1], nil
}

func opGatherND(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, ind := in[0], in[1]
	offs, sl, bs, err := gatherNDOffsets(x, ind, int(c.attrInt("batch_dims", 0)))
	if err != nil {
		return nil, err
	}
	n := prod(sl)
	idx := make([]int, 0, len(offs)*n)
	for _, o := range offs {
		for i := 0; i < n; i++ {
			idx = append(idx, o+i)
		}
	}
	out := append(append([]int{}, bs...), sl...)
	return one(&Tensor{DType: x.DType, Shape: out, Data: take(x.Data, idx)})
}

func opScatterND(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x, ind, upd := in[0], in[1], in[2]
	offs, sl, _, err := gatherNDOffsets(x, ind, 0)
	if err != nil {
		return nil, err
	}
	n := prod(sl)
	dst := make([]int, 0, len(offs)*n)
	for _, o := range offs {
		for i := 0; i < n; i++ {
			dst = append(dst, o+i)
		}
	}
	t, err := scatter(x, upd, dst, c.attrString("reduction", "none"))
	if err != nil {
		return nil, err
	}
	return one(t)
}

// axesArg reads axes from the attribute (older opsets) or the optional input.
func axesArg(c *opContext, in []*Tensor, i int) ([]int, bool) {
	if a, ok := c.attrInts("axes"); ok {
		return a, true
	}
	if t := opt(in, i); t != nil {
		return ints(t), true
	}
	return nil, false
}

func opSqueeze(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	drop := make([]bool, r)
	if axes, ok := axesArg(c, in, 1); ok {
		for _, a := range axes {
			a, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			if x.Shape[a] != 1 {
				return nil, errf("cannot squeeze axis %d of %v", a, x.Shape)
			}
			drop[a] = true
		}
	} else {
		for i, d := range x.Shape {
			drop[i] = d == 1
		}
	}
	var out []int
	for i, d := range x.Shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return one(view(x, append([]int{}, out...)))
}

func opUnsqueeze(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axes, ok := axesArg(c, in, 1)
	if !ok {
		return nil, errf("axes are required")
	}
	r := len(x.Shape) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		a, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if ins[a] {
			return nil, errf("axis %d repeated", a)
		}
		ins[a] = true
	}
	out := make([]int, r)
	j := 0
	for i := range out {
		if ins[i] {
			out[i] = 1
		} else {
			out[i] = x.Shape[j]
			j++
		}
	}
	return one(view(x, out))
}

func opExpand(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	shape, err := broadcastShape(x.Shape, ints(in[1]))
	if err != nil {
		return nil, err
	}
	return one(broadcastTo(x, shape))
}

func broadcastTo(x *Tensor, shape []int) *Tensor {
	return &Tensor{DType: x.DType, Shape: shape, Data: takeStrided(nil, x.Data, shape, 0, bstrides(x.Shape, shape))}
}

func opTile(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	reps := ints(in[1])
	if len(reps) != len(x.Shape) {
		return nil, errf("repeats %v do not match rank %d", reps, len(x.Shape))
	}
	out := make([]int, len(reps))
	for i, r := range reps {
		if r < 0 {
			return nil, errf("negative repeat %d", r)
		}
		out[i] = x.Shape[i] * r
	}
	st := stridesOf(x.Shape)
	idx := make([]int, prod(out))
	cur := make([]int, len(out))
	for i := range idx {
		off := 0
		for d := range cur {
			off += (cur[d] % x.Shape[d]) * st[d]
		}
		idx[i] = off
		for d := len(out) - 1; d >= 0; d-- {
			cur[d]++
			if cur[d] < out[d] {
				break
			}
			cur[d] = 0
		}
	}
	return one(&Tensor{DType: x.DType, Shape: out, Data: take(x.Data, idx)})
}

// opPad pads with a constant, or by reflecting, repeating the edge or wrapping around.
func opPad(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	var pads []int
	if p := opt(in, 1); p != nil {
		pads = ints(p)
	} else {
		pads, _ = c.attrInts("pads")
	}
	axes := make([]int, 0, r)
	if a := opt(in, 3); a != nil {
		for _, v := range ints(a) {
			v, err := normAxis(v, r)
			if err != nil {
				return nil, err
			}
			axes = append(axes, v)
		}
	} else {
		for i := 0; i < r; i++ {
			axes = append(axes, i)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, errf("pads %v do not match %d axes", pads, len(axes))
	}
	begin, end := make([]int, r), make([]int, r)
	for i, a := range axes {
		begin[a], end[a] = pads[i], pads[i+len(axes)]
	}
	mode := c.attrString("mode", "constant")
	cval := 0.0
	if v := opt(in, 2); v != nil && v.Len() > 0 {
		cval = float64s(v)[0]
	} else if c.has("value") {
		cval = float64(c.attrFloat("value", 0))
	}
	out := make([]int, r)
	for d := range out {
		out[d] = x.Shape[d] + begin[d] + end[d]
		if out[d] < 0 {
			return nil, errf("pads %v make a negative dimension", pads)
		}
	}
	st := stridesOf(x.Shape)
	n := prod(out)
	idx := make([]int, n)
	cur := make([]int, r)
	xl := x.Len()
	for i := 0; i < n; i++ {
		off, outside := 0, false
		for d := 0; d < r; d++ {
			p := cur[d] - begin[d]
			dim := x.Shape[d]
			if p < 0 || p >= dim {
				switch mode {
				case "constant":
					outside = true
				case "edge":
					p = clamp(p, 0, dim-1)
				case "reflect":
					if dim == 1 {
						p = 0
					} else {
						period := 2 * (dim - 1)
						p = ((p % period) + period) % period
						if p >= dim {
							p = period - p
						}
					}
				case "wrap":
					p = ((p % dim) + dim) % dim
				default:
					return nil, unsupported("pad mode %q", mode)
				}
			}
			off += p * st[d]
		}
		if outside {
			idx[i] = xl // the constant, appended below
		} else {
			idx[i] = off
		}
		for d := r - 1; d >= 0; d-- {
			cur[d]++
			if cur[d] < out[d] {
				break
			}
			cur[d] = 0
		}
	}
	ext := alloc(x.DType, xl+1)
	put(ext, 0, x.Data)
	put(ext, xl, fromFloat64s(x.DType, []int{1}, []float64{cval}).Data)
	return one(&Tensor{DType: x.DType, Shape: out, Data: take(ext, idx)})
}

func opShape(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	r := len(in[0].Shape)
	start, end := int(c.attrInt("start", 0)), int(c.attrInt("end", int64(r)))
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = clamp(start, 0, r), clamp(end, 0, r)
	var v []int64
	for _, d := range in[0].Shape[start:max(start, end)] {
		v = append(v, int64(d))
	}
	if v == nil {
		v = []int64{}
	}
	return one(&Tensor{DType: ir.Int64, Shape: []int{len(v)}, Data: v})
}

func opSize(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return one(&Tensor{DType: ir.Int64, Shape: []int{}, Data: []int64{int64(in[0].Len())}})
}

func opConstant(c *opContext, in []*Tensor) ([]*Tensor, error) {
	for _, a := range c.node.Attrs {
		switch a.Name {
		case "value":
			if a.Tensor == nil {
				return nil, errf("value has no tensor")
			}
			t, err := FromIR(a.Tensor)
			if err != nil {
				return nil, err
			}
			return one(t)
		case "value_float":
			return one(&Tensor{DType: ir.Float32, Shape: []int{}, Data: []float32{a.Float}})
		case "value_floats":
			return one(&Tensor{DType: ir.Float32, Shape: []int{len(a.Floats)}, Data: append([]float32{}, a.Floats...)})
		case "value_int":
			return one(&Tensor{DType: ir.Int64, Shape: []int{}, Data: []int64{a.Int}})
		case "value_ints":
			return one(&Tensor{DType: ir.Int64, Shape: []int{len(a.Ints)}, Data: append([]int64{}, a.Ints...)})
		case "value_string":
			return one(&Tensor{DType: ir.String, Shape: []int{}, Data: []string{string(a.String)}})
		case "value_strings":
			s := make([]string, len(a.Strings))
			for i, v := range a.Strings {
				s[i] = string(v)
			}
			return one(&Tensor{DType: ir.String, Shape: []int{len(s)}, Data: s})
		case "sparse_value":
			return nil, unsupported("sparse constants")
		}
	}
	return nil, errf("Constant without a value")
}

func opConstantOfShape(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	shape := ints(in[0])
	for _, d := range shape {
		if d < 0 {
			return nil, errf("negative dimension in %v", shape)
		}
	}
	val := &Tensor{DType: ir.Float32, Shape: []int{1}, Data: []float32{0}}
	if a := c.node.Attr("value"); a != nil && a.Tensor != nil {
		v, err := FromIR(a.Tensor)
		if err != nil {
			return nil, err
		}
		val = v
	}
	if val.Len() != 1 {
		return nil, errf("value must hold one element")
	}
	idx := make([]int, prod(shape))
	return one(&Tensor{DType: val.DType, Shape: shape, Data: take(val.Data, idx)})
}

func opRange(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	start, limit, delta := float64s(in[0])[0], float64s(in[1])[0], float64s(in[2])[0]
	if delta == 0 {
		return nil, errf("delta is 0")
	}
	n := int(math.Max(math.Ceil((limit-start)/delta), 0))
	if n > 1<<31 {
		return nil, errf("range of %d elements is too large", n)
	}
	if in[0].DType.IsFloat() {
		v := make([]float64, n)
		if in[0].DType == ir.Float32 { // accumulate as ONNX's reference: start + i·delta in the type
			s, d := float32(start), float32(delta)
			for i := range v {
				v[i] = float64(s + float32(i)*d)
			}
		} else {
			for i := range v {
				v[i] = start + float64(i)*delta
			}
		}
		return one(fromFloat64s(in[0].DType, []int{n}, v))
	}
	s, d := int64s(in[0])[0], int64s(in[2])[0]
	v := make([]int64, n)
	for i := range v {
		v[i] = s + int64(i)*d
	}
	return one(fromInt64s(in[0].DType, []int{n}, v))
}

// opDepthToSpace and opSpaceToDepth are reshape-transpose-reshape, as the spec defines.
func opDepthToSpace(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) != 4 {
		return nil, errf("needs a 4-D input, got %v", x.Shape)
	}
	b := int(c.attrInt("blocksize", 0))
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if b <= 0 || ch%(b*b) != 0 {
		return nil, errf("blocksize %d does not divide %d channels", b, ch)
	}
	var t *Tensor
	var err error
	if c.attrString("mode", "DCR") == "CRD" {
		t, err = transpose(c, view(x, []int{n, ch / (b * b), b, b, h, w}), []int{0, 1, 4, 2, 5, 3})
	} else {
		t, err = transpose(c, view(x, []int{n, b, b, ch / (b * b), h, w}), []int{0, 3, 4, 1, 5, 2})
	}
	if err != nil {
		return nil, err
	}
	return one(view(t, []int{n, ch / (b * b), h * b, w * b}))
}

func opSpaceToDepth(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) != 4 {
		return nil, errf("needs a 4-D input, got %v", x.Shape)
	}
	b := int(c.attrInt("blocksize", 0))
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if b <= 0 || h%b != 0 || w%b != 0 {
		return nil, errf("blocksize %d does not divide %dx%d", b, h, w)
	}
	perm := []int{0, 3, 5, 1, 2, 4} // DCR: the block offsets become the outer channels
	if c.attrString("mode", "DCR") == "CRD" {
		perm = []int{0, 1, 3, 5, 2, 4}
	}
	t, err := transpose(c, view(x, []int{n, ch, h / b, b, w / b, b}), perm)
	if err != nil {
		return nil, err
	}
	return one(view(t, []int{n, ch * b * b, h / b, w / b}))
}

func opNonZero(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	v := float64s(x)
	r := len(x.Shape)
	var hits []int
	for i, f := range v {
		if f != 0 {
			hits = append(hits, i)
		}
	}
	st := stridesOf(x.Shape)
	out := make([]int64, r*len(hits))
	for j, h := range hits {
		for d := 0; d < r; d++ {
			out[d*len(hits)+j] = int64((h / st[d]) % x.Shape[d])
		}
	}
	return one(&Tensor{DType: ir.Int64, Shape: []int{r, len(hits)}, Data: out})
}

func opOneHot(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	ind, vals := in[0], in[2]
	depth := int(float64s(in[1])[0])
	if vals.Len() != 2 || depth <= 0 {
		return nil, errf("values must hold [off, on] and depth must be positive")
	}
	r := len(ind.Shape) + 1
	axis, err := normAxis(int(c.attrInt("axis", -1)), r)
	if err != nil {
		return nil, err
	}
	out := append(append(append([]int{}, ind.Shape[:axis]...), depth), ind.Shape[axis:]...)
	iv := float64s(ind)
	inner := prod(ind.Shape[axis:])
	idx := make([]int, prod(out))
	for i, f := range iv {
		k := int(f)
		if k < 0 {
			k += depth
		}
		if k < 0 || k >= depth {
			continue
		}
		o, rest := i/inner, i%inner
		idx[(o*depth+k)*inner+rest] = 1
	}
	return one(&Tensor{DType: vals.DType, Shape: out, Data: take(vals.Data, idx)})
}

func opTrilu(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 2 {
		return nil, errf("needs rank ≥ 2")
	}
	k := 0
	if t := opt(in, 1); t != nil {
		k = int(int64s(t)[0])
	}
	upper := c.attrInt("upper", 1) == 1
	r := len(x.Shape)
	h, w := x.Shape[r-2], x.Shape[r-1]
	n := x.Len()
	idx := make([]int, n)
	for i := range idx {
		row, col := (i/w)%h, i%w
		keep := col-row >= k
		if !upper {
			keep = col-row <= k
		}
		if keep {
			idx[i] = i
		} else {
			idx[i] = n
		}
	}
	ext := alloc(x.DType, n+1)
	put(ext, 0, x.Data)
	return one(&Tensor{DType: x.DType, Shape: shapeOf(x), Data: take(ext, idx)})
}

func opEyeLike(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) != 2 {
		return nil, errf("needs a 2-D input")
	}
	dt := x.DType
	if c.has("dtype") {
		dt = ir.DType(c.attrInt("dtype", 0))
	}
	k := int(c.attrInt("k", 0))
	h, w := x.Shape[0], x.Shape[1]
	v := make([]float64, h*w)
	for i := 0; i < h; i++ {
		if j := i + k; j >= 0 && j < w {
			v[i*w+j] = 1
		}
	}
	return one(fromFloat64s(dt, []int{h, w}, v))
}
