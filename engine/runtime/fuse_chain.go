package runtime

import (
	"math"
	"sort"

	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of chains of elementwise nodes that exporters write for ops older
// opsets lack: GELU and LayerNormalization.
//
// GELU, as exporters without a Gelu op write it (torch before opset
// 20): y = (x · (erf(x / √2) + 1)) · 0.5, five nodes (Div or Mul by 1/√2, Erf, Add 1,
// Mul by x, Mul by 0.5), into one step running the float32 Gelu kernel (gelu32: accel's
// vectorised GELU, absolute error ≤ 1e-6·max(1, |x|)) instead of a float64 erf per
// element. Each intermediate must be read only by the next node of the chain and be no
// graph output; at run time an input that is not float32 runs the original nodes.

// chainFusion is a fused chain of steps: fast runs the chain in one kernel (reporting
// false where it does not apply), orig are the original steps for the fallback.
type chainFusion struct {
	fast func(c *opContext, in []*Tensor) (*Tensor, bool)
	orig []step
}

func (fu *chainFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if fastPaths {
		if t, ok := fu.fast(c, in); ok {
			return one(t)
		}
	}
	return runChain(c, fu.orig, c.step.in, in)
}

// runChain runs steps in turn, each reading the values the chain made (by slot), the
// fused step's inputs (slots inSlots, values in), or else the plan's constants; it
// returns the last step's outputs.
func runChain(c *opContext, steps []step, inSlots []int, in []*Tensor) ([]*Tensor, error) {
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	vals := map[int]*Tensor{}
	for i, sl := range inSlots {
		if sl >= 0 && i < len(in) {
			vals[sl] = in[i]
		}
	}
	var outs []*Tensor
	for k := range steps {
		st := &steps[k]
		args := make([]*Tensor, len(st.in))
		for j, sl := range st.in {
			if v, ok := vals[sl]; ok {
				args[j] = v
			} else if sl >= 0 {
				args[j] = c.plan.init[sl]
			}
		}
		c.node, c.step = st.node, st
		var err error
		if outs, err = c.sess.exec(c, *st, args); err != nil {
			return nil, err
		}
		for j, sl := range st.out {
			if sl >= 0 && j < len(outs) {
				vals[sl] = outs[j]
			}
		}
	}
	return outs, nil
}

// LayerNormalization over the last axis as torch writes it before opset 17, nine nodes:
// m = ReduceMean(x), d = x − m, v = ReduceMean(d²) (Pow 2), y = d / √(v + ε) · γ + β,
// into one step running layerNorm32 (statistics in float64). x may have other readers;
// every other intermediate must be read only inside the chain (d by Pow and Div).

// fuseChains rewrites p.steps, replacing each GELU or LayerNorm chain by one step.
func (s *Session) fuseChains(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	scalar := func(sl int) (float64, bool) {
		if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || !p.init[sl].DType.IsFloat() || p.init[sl].Len() != 1 {
			return 0, false
		}
		return float64s(p.init[sl])[0], true
	}
	// other returns the input of binary step st that is not slot sl, or -2.
	other := func(st *step, sl int) int {
		switch {
		case len(st.in) != 2:
			return -2
		case st.in[0] == sl:
			return st.in[1]
		case st.in[1] == sl:
			return st.in[0]
		}
		return -2
	}
	// next is the only reader of st's single output, if it is an op of type op.
	next := func(st *step, op string) (int, bool) {
		if len(st.out) != 1 || st.out[0] < 0 || uses[st.out[0]] != 1 || p.init[st.out[0]] != nil {
			return 0, false
		}
		j := reader[st.out[0]]
		n := p.steps[j].node
		return j, n.OpType == op && (n.Domain == "" || n.Domain == "ai.onnx") && len(p.steps[j].out) == 1
	}
	near := func(v, want float64) bool { return math.Abs(v-want) <= 1e-6*want }
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		d := &p.steps[i]
		if drop[i] || len(d.in) != 2 || d.in[0] < 0 || p.types[d.in[0]].dtype != ir.Float32 {
			continue
		}
		x := d.in[0]
		if v, ok := scalar(d.in[1]); !ok || !(d.node.OpType == "Div" && near(v, math.Sqrt2) || d.node.OpType == "Mul" && near(v, 1/math.Sqrt2)) {
			continue
		}
		e, ok := next(d, "Erf")
		if !ok {
			continue
		}
		a, ok := next(&p.steps[e], "Add")
		if v, isC := scalar(other(&p.steps[a], p.steps[e].out[0])); !ok || !isC || v != 1 {
			continue
		}
		m1, ok := next(&p.steps[a], "Mul")
		if !ok || other(&p.steps[m1], p.steps[a].out[0]) != x {
			continue
		}
		m2, ok := next(&p.steps[m1], "Mul")
		if v, isC := scalar(other(&p.steps[m2], p.steps[m1].out[0])); !ok || !isC || v != 0.5 {
			continue
		}
		chain := []int{i, e, a, m1, m2}
		if drop[e] || drop[a] || drop[m1] || drop[m2] || !(e > i && a > e && m1 > a && m2 > m1) {
			continue
		}
		fu := &chainFusion{fast: geluFast}
		for _, k := range chain {
			fu.orig = append(fu.orig, p.steps[k])
		}
		for _, k := range chain[1:] {
			drop[k] = true
		}
		d.in, d.out, d.run, d.kind = []int{x}, []int{p.steps[m2].out[0]}, fu.kernel, "Gelu"
	}
	for i := range p.steps {
		if !drop[i] {
			s.matchLayerNorm(p, i, drop, uses, reader, scalar, other, next)
		}
	}
	p.removeSteps(drop)
}

// matchLayerNorm fuses the LayerNorm chain starting at step i (its first ReduceMean), if
// it is one.
func (s *Session) matchLayerNorm(p *graphPlan, i int, drop []bool, uses, reader []int, scalar func(int) (float64, bool),
	other func(*step, int) int, next func(*step, string) (int, bool)) {
	// ReduceMean over the last axis only, keepdims, of a value of x's rank.
	lastAxis := func(st *step, r int) bool {
		n := st.node
		if n.OpType != "ReduceMean" || len(st.in) != 1 || st.in[0] < 0 || n.Domain != "" && n.Domain != "ai.onnx" {
			return false
		}
		a := n.Attr("axes")
		if a == nil || len(a.Ints) != 1 || !(a.Ints[0] == -1 || r > 0 && a.Ints[0] == int64(r-1)) {
			return false
		}
		k := n.Attr("keepdims")
		return k == nil || k.Int == 1
	}
	m := &p.steps[i]
	// x's type may be unknown here: at run time a non-float32 x runs the original nodes.
	if len(m.in) != 1 || m.in[0] < 0 || !(p.types[m.in[0]].dtype == ir.Float32 || p.types[m.in[0]].dtype == ir.Undefined) ||
		!lastAxis(m, p.types[m.in[0]].rank) {
		return
	}
	x := m.in[0]
	sub, ok := next(m, "Sub")
	if !ok || drop[sub] || p.steps[sub].in[0] != x || p.steps[sub].in[1] != m.out[0] {
		return
	}
	d := p.steps[sub].out[0]
	if uses[d] != 2 || p.init[d] != nil {
		return
	}
	// d's readers: Pow(d, 2) and Div(d, ·), in either order.
	var pw, dv = -1, -1
	for j := sub + 1; j < len(p.steps); j++ {
		st := &p.steps[j]
		if len(st.in) == 2 && st.in[0] == d {
			switch st.node.OpType {
			case "Pow":
				pw = j
			case "Div":
				dv = j
			}
		}
	}
	if pw < 0 || dv < 0 || drop[pw] || drop[dv] {
		return
	}
	if v, ok := scalar(p.steps[pw].in[1]); !ok || v != 2 {
		return
	}
	rm, ok := next(&p.steps[pw], "ReduceMean")
	if !ok || !lastAxis(&p.steps[rm], p.types[x].rank) {
		return
	}
	ad, ok := next(&p.steps[rm], "Add")
	if !ok {
		return
	}
	eps, isC := scalar(other(&p.steps[ad], p.steps[rm].out[0]))
	if !isC {
		return
	}
	sq, ok := next(&p.steps[ad], "Sqrt")
	if !ok || len(p.steps[sq].in) != 1 {
		return
	}
	if j, ok := next(&p.steps[sq], "Div"); !ok || j != dv || p.steps[dv].in[1] != p.steps[sq].out[0] {
		return
	}
	mul, ok := next(&p.steps[dv], "Mul")
	if !ok {
		return
	}
	gamma := other(&p.steps[mul], p.steps[dv].out[0])
	add, ok := next(&p.steps[mul], "Add")
	if !ok {
		return
	}
	beta := other(&p.steps[add], p.steps[mul].out[0])
	for _, sl := range []int{gamma, beta} { // 1-D; the kernel checks them against x's last axis
		if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || p.init[sl].DType != ir.Float32 || len(p.init[sl].Shape) != 1 {
			return
		}
	}
	chain := []int{i, sub, pw, rm, ad, sq, dv, mul, add}
	for k := 1; k < len(chain); k++ {
		if drop[chain[k]] || chain[k] <= i {
			return
		}
	}
	fu := &chainFusion{fast: func(c *opContext, in []*Tensor) (*Tensor, bool) { return layerNormChain(c, in, eps) }}
	in, kind := []int{x, gamma, beta}, "LayerNorm"
	// A residual Add making x, read by nothing but the chain, joins it (see residualNorm).
	if k := producer(p, x, i); k >= 0 && !drop[k] && uses[x] == 2 && p.init[x] == nil && plainOp(&p.steps[k], "Add") &&
		len(p.steps[k].in) == 2 && p.steps[k].in[0] >= 0 && p.steps[k].in[1] >= 0 {
		fu.fast = func(c *opContext, in []*Tensor) (*Tensor, bool) { return residualNorm(c, in, eps) }
		in, kind = []int{p.steps[k].in[0], p.steps[k].in[1], gamma, beta}, "AddLayerNorm"
		chain = append(chain, k)
	}
	for _, k := range chain {
		fu.orig = append(fu.orig, p.steps[k])
	}
	// Steps in graph order, as the original chain ran them.
	sort.Slice(fu.orig, func(a, b int) bool { return indexOf(p.steps, fu.orig[a].node) < indexOf(p.steps, fu.orig[b].node) })
	for _, k := range chain[1:] {
		drop[k] = true
	}
	out := p.steps[add].out[0]
	m.in, m.out, m.run, m.kind = in, []int{out}, fu.kernel, kind
}

// producer is the step before step before that writes slot sl, or -1.
func producer(p *graphPlan, sl, before int) int {
	for k := before - 1; k >= 0; k-- {
		for _, o := range p.steps[k].out {
			if o == sl {
				return k
			}
		}
	}
	return -1
}

func indexOf(steps []step, n *ir.Node) int {
	for i := range steps {
		if steps[i].node == n {
			return i
		}
	}
	return -1
}

// layerNormChain normalises float32 x over its last axis with the chain's γ, β and ε.
func layerNormChain(c *opContext, in []*Tensor, eps float64) (*Tensor, bool) {
	x, g, b := in[0], in[1], in[2]
	xs, ok := x.Data.([]float32)
	gs, ok1 := g.Data.([]float32)
	bs, ok2 := b.Data.([]float32)
	if !ok || !ok1 || !ok2 || x.DType != ir.Float32 || len(x.Shape) == 0 {
		return nil, false
	}
	cols := x.Shape[len(x.Shape)-1]
	if cols == 0 || len(gs) != cols || len(bs) != cols {
		return nil, false
	}
	out := c.tensorF32(ir.Float32, shapeOf(x))
	layerNorm32(out.Data.([]float32), xs, gs, bs, len(xs)/cols, cols, eps, nil, nil)
	return out, true
}

// residualNorm is layerNormChain of x = a + b, the residual connection's Add that
// exporters write right before a LayerNorm (a sublayer's output plus its input, or token
// plus position embeddings), for float32 a and b of one shape, or b repeating over a's
// leading axes (a position table added to each batch), or a over b's: it adds a and b
// into the output buffer and normalises there, one pass and one buffer less.
func residualNorm(c *opContext, in []*Tensor, eps float64) (*Tensor, bool) {
	a, b, g, be := in[0], in[1], in[2], in[3]
	if len(b.Shape) > len(a.Shape) {
		a, b = b, a // Add commutes bit for bit
	}
	av, ok := a.Data.([]float32)
	bv, ok1 := b.Data.([]float32)
	gs, ok2 := g.Data.([]float32)
	bs, ok3 := be.Data.([]float32)
	if !ok || !ok1 || !ok2 || !ok3 || a.DType != ir.Float32 || b.DType != ir.Float32 || len(a.Shape) == 0 ||
		!sameShape(a.Shape[len(a.Shape)-len(b.Shape):], b.Shape) {
		return nil, false
	}
	cols := a.Shape[len(a.Shape)-1]
	if cols == 0 || len(gs) != cols || len(bs) != cols || len(bv) == 0 {
		return nil, false
	}
	out := c.tensorF32(ir.Float32, shapeOf(a))
	o := out.Data.([]float32)
	for at := 0; at < len(o); at += len(bv) {
		arithRow32('+', o[at:at+len(bv)], av[at:], 1, bv, 1)
	}
	layerNorm32(o, o, gs, bs, len(o)/cols, cols, eps, nil, nil)
	return out, true
}

func geluFast(c *opContext, in []*Tensor) (*Tensor, bool) {
	x := in[0]
	src, ok := x.Data.([]float32)
	if !ok || x.DType != ir.Float32 {
		return nil, false
	}
	out := c.tensorF32(ir.Float32, shapeOf(x))
	dst := out.Data.([]float32)
	splitFlat(len(src), func(lo, hi int) { gelu32(dst[lo:hi], src[lo:hi]) })
	return out, true
}
