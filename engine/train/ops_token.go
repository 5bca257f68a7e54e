package train

import (
	"fmt"
	"math"
)

// The ops of token models as torch exports them: the embedding lookup (Gather on a
// table, backward a scatter-add into its rows), GELU's erf form, LayerNorm's
// decomposition (ReduceMean, Pow, Sqrt), the Split of a fused QKV projection, attention
// masks (Equal, Where) and attention's batched MatMul with broadcasting.
func init() {
	register(gather, "Gather")
	register(elementwise, "Erf", "Sqrt")
	register(pow, "Pow")
	register(reduceMean, "ReduceMean")
	register(splitOp, "Split")
	register(equal, "Equal")
	register(where, "Where")
}

// gather picks slices of data along axis at the integer indices (an embedding lookup
// when data is a table and the indices token ids); the gradient of data adds each
// output's gradient into the slice it came from, the indices get none.
func gather(c *opCtx, in []*T) ([]*T, backFn, error) {
	data, idx := in[0], in[1]
	r := len(data.Shape)
	axis := c.int("axis", 0)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return nil, nil, fmt.Errorf("axis %d out of range for data of shape %v", c.int("axis", 0), data.Shape)
	}
	outer, n, inner := split(data.Shape, axis)
	rows := make([]int, idx.Len())
	for i, v := range idx.D {
		k := int(v)
		if k < 0 {
			k += n
		}
		if k < 0 || k >= n || float64(int(v)) != v {
			return nil, nil, fmt.Errorf("index %g out of range [%d, %d) for input %q", v, -n, n, c.node.Inputs[0])
		}
		rows[i] = k
	}
	shape := append(append(append([]int(nil), data.Shape[:axis]...), idx.Shape...), data.Shape[axis+1:]...)
	out := New(shape...)
	for o := 0; o < outer; o++ {
		for i, k := range rows {
			copy(out.D[(o*len(rows)+i)*inner:(o*len(rows)+i+1)*inner], data.D[(o*n+k)*inner:(o*n+k+1)*inner])
		}
	}
	back := func(g []*T) []*T {
		if !c.net.needsGrad(c.node.Inputs[0]) {
			return nil
		}
		gd := zerosLike(data)
		for o := 0; o < outer; o++ {
			for i, k := range rows {
				addInto(gd.D[(o*n+k)*inner:(o*n+k+1)*inner], g[0].D[(o*len(rows)+i)*inner:(o*len(rows)+i+1)*inner])
			}
		}
		return []*T{gd, nil}
	}
	return []*T{out}, back, nil
}

// elementwise: Erf (d/dx = 2/√π·e^(−x²)) and Sqrt (d/dx = 1/(2√x)).
func elementwise(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	y, d := zerosLike(x), make([]float64, x.Len())
	for i, v := range x.D {
		switch c.node.OpType {
		case "Erf":
			y.D[i], d[i] = math.Erf(v), 2/math.SqrtPi*math.Exp(-v*v)
		case "Sqrt":
			y.D[i] = math.Sqrt(v)
			d[i] = 0.5 / y.D[i]
		}
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i, v := range g[0].D {
			gx.D[i] = v * d[i]
		}
		return []*T{gx}
	}
	return []*T{y}, back, nil
}

// pow raises x to an exponent (LayerNorm's x²): d/dx = e·x^(e−1). The exponent gets no
// gradient: exporters write it as a constant (an initializer, so it is a parameter that
// stays where it is).
func pow(c *opCtx, in []*T) ([]*T, backFn, error) {
	x, e := in[0], in[1]
	shape, err := broadcastShape(x.Shape, e.Shape)
	if err != nil {
		return nil, nil, err
	}
	ix, ie := bindex(x.Shape, shape), bindex(e.Shape, shape)
	out := New(shape...)
	for i := range out.D {
		out.D[i] = math.Pow(x.D[ix[i]], e.D[ie[i]])
	}
	back := func(g []*T) []*T {
		gx := New(shape...)
		for i, v := range g[0].D {
			p := e.D[ie[i]]
			gx.D[i] = v * p * math.Pow(x.D[ix[i]], p-1)
		}
		return []*T{reduceTo(gx, x.Shape, ix), nil}
	}
	return []*T{out}, back, nil
}

// reduceMean averages over the axes (attribute, or the second input from opset 18; none:
// all axes unless noop_with_empty_axes); the gradient spreads evenly back.
func reduceMean(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	r := len(x.Shape)
	axes := c.ints("axes")
	if len(in) > 1 && in[1] != nil {
		axes = nil
		for _, v := range in[1].D {
			axes = append(axes, int(v))
		}
	}
	if len(axes) == 0 && c.int("noop_with_empty_axes", 0) == 1 {
		back := func(g []*T) []*T { return []*T{g[0]} }
		return []*T{x}, back, nil
	}
	reduced := make([]bool, r)
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r {
			return nil, nil, fmt.Errorf("axis out of range for shape %v", x.Shape)
		}
		reduced[a] = true
	}
	keep := c.int("keepdims", 1) == 1
	kept := make([]int, r) // the output's shape with reduced axes as 1
	var shape []int
	for i, d := range x.Shape {
		kept[i] = d
		if len(axes) == 0 || reduced[i] {
			kept[i] = 1
			if keep {
				shape = append(shape, 1)
			}
			continue
		}
		shape = append(shape, d)
	}
	idx := bindex(kept, x.Shape) // input position → output position
	count := float64(x.Len() / numel(kept))
	out := New(shape...)
	for i, v := range x.D {
		out.D[idx[i]] += v / count
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i := range gx.D {
			gx.D[i] = g[0].D[idx[i]] / count
		}
		return []*T{gx}
	}
	return []*T{out}, back, nil
}

// splitOp cuts x along axis into the node's outputs (sizes from the split input or
// attribute, else equal parts); the gradient is the outputs' gradients put back together.
func splitOp(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	axis := c.int("axis", 0)
	if axis < 0 {
		axis += len(x.Shape)
	}
	parts := len(c.node.Outputs)
	sizes := c.ints("split")
	if len(in) > 1 && in[1] != nil {
		sizes = nil
		for _, v := range in[1].D {
			sizes = append(sizes, int(v))
		}
	}
	if sizes == nil {
		each := (x.Shape[axis] + parts - 1) / parts // the last part may be smaller (opset 18)
		for left := x.Shape[axis]; left > 0; left -= each {
			sizes = append(sizes, min(each, left))
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if len(sizes) != parts || total != x.Shape[axis] {
		return nil, nil, fmt.Errorf("split %v of dimension %d (%d) into %d outputs", sizes, axis, x.Shape[axis], parts)
	}
	outer, _, inner := split(x.Shape, axis)
	outs := make([]*T, parts)
	off := 0
	for p, s := range sizes {
		shape := append([]int(nil), x.Shape...)
		shape[axis] = s
		o := New(shape...)
		for b := 0; b < outer; b++ {
			copy(o.D[b*s*inner:(b+1)*s*inner], x.D[(b*x.Shape[axis]+off)*inner:])
		}
		outs[p] = o
		off += s
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		off := 0
		for p, s := range sizes {
			for b := 0; b < outer; b++ {
				copy(gx.D[(b*x.Shape[axis]+off)*inner:(b*x.Shape[axis]+off+s)*inner], g[p].D[b*s*inner:(b+1)*s*inner])
			}
			off += s
		}
		return []*T{gx}
	}
	return outs, back, nil
}

// matMulBroadcast is MatMul whose batch dimensions differ and broadcast (numpy's
// matmul: [B, H, S, D]·[1, H, D, S], [S, D]·[B, D, S]); a gradient sums over the
// batches its operand was broadcast to.
func matMulBroadcast(c *opCtx, a, b *T) ([]*T, backFn, error) {
	mm := c.mm()
	ra, rb := len(a.Shape), len(b.Shape)
	m, k, n := a.Shape[ra-2], a.Shape[ra-1], b.Shape[rb-1]
	batch, err := broadcastShape(a.Shape[:ra-2], b.Shape[:rb-2])
	if err != nil {
		return nil, nil, fmt.Errorf("MatMul of %v and %v: %w", a.Shape, b.Shape, err)
	}
	ia, ib := bindex(a.Shape[:ra-2], batch), bindex(b.Shape[:rb-2], batch)
	out := New(append(append([]int(nil), batch...), m, n)...)
	for i := range ia {
		mm(false, false, m, n, k, a.D[ia[i]*m*k:], b.D[ib[i]*k*n:], out.D[i*m*n:(i+1)*m*n])
	}
	back := func(g []*T) []*T {
		ga, gb := zerosLike(a), zerosLike(b)
		for i := range ia {
			gi := g[0].D[i*m*n : (i+1)*m*n]
			mm(false, true, m, k, n, gi, b.D[ib[i]*k*n:], ga.D[ia[i]*m*k:(ia[i]+1)*m*k])
			mm(true, false, k, n, m, a.D[ia[i]*m*k:], gi, gb.D[ib[i]*k*n:(ib[i]+1)*k*n])
		}
		return []*T{ga, gb}
	}
	return []*T{out}, back, nil
}

// equal compares (with broadcasting) into 1 or 0, as the condition of a Where: no
// gradient.
func equal(c *opCtx, in []*T) ([]*T, backFn, error) {
	a, b := in[0], in[1]
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	ia, ib := bindex(a.Shape, shape), bindex(b.Shape, shape)
	out := New(shape...)
	for i := range out.D {
		if a.D[ia[i]] == b.D[ib[i]] {
			out.D[i] = 1
		}
	}
	return []*T{out}, nil, nil
}

// where picks x where the condition holds and y elsewhere (an attention mask filling
// scores); each gets the gradient of the positions it filled.
func where(c *opCtx, in []*T) ([]*T, backFn, error) {
	cond, x, y := in[0], in[1], in[2]
	shape, err := broadcastShape(cond.Shape, x.Shape)
	if err == nil {
		shape, err = broadcastShape(shape, y.Shape)
	}
	if err != nil {
		return nil, nil, err
	}
	ic, ix, iy := bindex(cond.Shape, shape), bindex(x.Shape, shape), bindex(y.Shape, shape)
	out := New(shape...)
	for i := range out.D {
		if cond.D[ic[i]] != 0 {
			out.D[i] = x.D[ix[i]]
		} else {
			out.D[i] = y.D[iy[i]]
		}
	}
	back := func(g []*T) []*T {
		gx, gy := New(shape...), New(shape...)
		for i, v := range g[0].D {
			if cond.D[ic[i]] != 0 {
				gx.D[i] = v
			} else {
				gy.D[i] = v
			}
		}
		return []*T{nil, reduceTo(gx, x.Shape, ix), reduceTo(gy, y.Shape, iy)}
	}
	return []*T{out}, back, nil
}
