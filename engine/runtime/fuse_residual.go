package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of a residual connection: an Add of a Conv's output and another value
// of the same shape (ResNet's blocks, MobileNetV2's and EfficientNet's inverted
// residuals, a feature pyramid's lateral Conv plus the upsampled level above), with a
// clamp-type activation after the Add (ResNet's Relu) when the sum has no other reader.
// The fused step runs the Conv step as it was (with whatever epilogue or SE scale it
// already took), then adds the other operand and applies the activation in one pass
// over the Conv's output (accel.AddAct), in place: the Add's and the activation's passes
// over memory, and their buffers, are gone. The bits are those of the separate nodes
// (the same float32 sum, BiasAct's activation).
//
// The fused step runs where the Add ran, since the other operand (a downsampling Conv,
// the upsampled level) may be computed after the Conv. That is always possible: the
// Conv's inputs are ready before the Conv, and the Add was the Conv output's only reader.
// At run time an operand of another shape (a broadcast) or dtype runs the Add and the
// activation as nodes.

// residualFusing switches the fusion off, for the tests comparing with the separate nodes.
var residualFusing = true

// residualFusion is what the fused step carries.
type residualFusion struct {
	conv    kernel    // the Conv step's kernel
	nIn     int       // the Conv step's inputs; the Add's other operand follows them
	convArg int       // which of the Add's operands is the Conv's output (0 or 1)
	act     accel.Act // the activation after the Add (ActNone: none)
	add     step      // the original Add, for the fallback
	actStep *step     // the original activation, nil if none
}

// fuseResidualAdd rewrites p.steps, folding each such Add (and activation) into the Conv
// step that makes one of its operands.
func (s *Session) fuseResidualAdd(p *graphPlan) {
	if !fastPaths || !residualFusing {
		return
	}
	uses, reader := p.readers(s)
	producer := map[int]int{} // slot → the step making it
	for i, st := range p.steps {
		for _, sl := range st.out {
			if sl >= 0 {
				producer[sl] = i
			}
		}
	}
	drop := make([]bool, len(p.steps))
	for k := range p.steps {
		add := &p.steps[k]
		if add.node.OpType != "Add" || !stdDomain(add.node) || len(add.in) != 2 || len(add.out) != 1 || add.out[0] < 0 ||
			add.in[0] < 0 || add.in[1] < 0 || add.in[0] == add.in[1] || p.typeAt(add.out[0]).dtype != ir.Float32 {
			continue
		}
		// The operand made by a Conv for this Add alone; of two, the later one (its
		// output is the more likely to be in cache).
		ci := -1
		for side, sl := range add.in {
			j, ok := producer[sl]
			if !ok || j >= k || drop[j] || uses[sl] != 1 || p.init[sl] != nil || !residualConv(p, &p.steps[j], sl) ||
				!maybeSameShape(p.typeAt(sl), p.typeAt(add.in[1-side])) {
				continue
			}
			if ci < 0 || j > producer[add.in[ci]] {
				ci = side
			}
		}
		if ci < 0 {
			continue
		}
		j := producer[add.in[ci]]
		conv := p.steps[j]
		fu := &residualFusion{conv: conv.run, nIn: len(conv.in), convArg: ci, act: accel.Act{Kind: accel.ActNone}, add: *add}
		out := add.out[0]
		if a, r, ok := s.residualAct(p, out, k, drop, uses, reader); ok {
			st := p.steps[r]
			fu.act, fu.actStep = a, &st
			out = st.out[0]
			drop[r] = true
		}
		conv.in = append(append([]int(nil), conv.in...), add.in[1-ci])
		conv.out = []int{out}
		conv.run = fu.kernel
		p.steps[k] = conv
		drop[j] = true
	}
	p.removeSteps(drop)
}

// residualConv reports whether st is a Conv step (plain or already fused with its
// epilogue) whose float32 output is slot sl and that writes a fresh buffer.
func residualConv(p *graphPlan, st *step, sl int) bool {
	return st.node.OpType == "Conv" && stdDomain(st.node) && st.kind == "" && !st.shape && len(st.out) == 1 &&
		st.out[0] == sl && p.typeAt(sl).dtype == ir.Float32
}

// maybeSameShape reports false when both shapes are known and differ.
func maybeSameShape(a, b valueType) bool {
	if !a.static() || !b.static() {
		return true
	}
	if a.rank != b.rank {
		return false
	}
	for d := range a.shape {
		if a.shape[d].v != b.shape[d].v {
			return false
		}
	}
	return true
}

// residualAct finds the activation that alone reads the sum (slot sum, made by step k):
// Relu, Clip with constant bounds or HardSigmoid. It returns the activation and its step.
func (s *Session) residualAct(p *graphPlan, sum, k int, drop []bool, uses, reader []int) (accel.Act, int, bool) {
	if uses[sum] != 1 || p.init[sum] != nil {
		return accel.Act{}, 0, false
	}
	r := reader[sum]
	st := &p.steps[r]
	if r <= k || drop[r] || len(st.in) < 1 || st.in[0] != sum || len(st.out) != 1 || st.out[0] < 0 {
		return accel.Act{}, 0, false
	}
	for _, sl := range st.in[1:] {
		if sl == sum {
			return accel.Act{}, 0, false
		}
	}
	stage, ok := s.fusableStage(p, st, 0, p.constF32)
	if !ok || stage.kind == 'a' || stage.kind == 'g' {
		return accel.Act{}, 0, false
	}
	a, ok := pointwiseAct([]epStage{stage})
	if !ok || a.Kind == accel.ActSiLU {
		return accel.Act{}, 0, false
	}
	return a, r, true
}

// kernel runs the fused step: in = the Conv step's inputs, then the Add's other operand.
func (fu *residualFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	outs, err := fu.conv(c, in[:fu.nIn])
	if err != nil {
		return nil, err
	}
	if len(outs) < 1 || outs[0] == nil {
		return nil, errf("fused node %q produced no output", c.node.Name)
	}
	y, r := outs[0], in[fu.nIn]
	if yv, ok := y.Data.([]float32); ok && y.DType == ir.Float32 && r != nil && r.DType == ir.Float32 && sameShape(y.Shape, r.Shape) {
		if rv, ok := r.Data.([]float32); ok && len(rv) == len(yv) {
			accel.AddAct(yv, yv, rv, fu.act)
			return outs[:1], nil
		}
	}
	// Another shape or dtype: the Add and the activation as the graph has them.
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	args := []*Tensor{y, y}
	args[1-fu.convArg] = r
	c.node, c.step = fu.add.node, &fu.add
	if outs, err = c.sess.exec(c, fu.add, args); err != nil || fu.actStep == nil {
		return outs, err
	}
	if len(outs) < 1 || outs[0] == nil {
		return nil, errf("fused node %q produced no output", fu.add.node.Name)
	}
	as := fu.actStep
	args = make([]*Tensor, len(as.in))
	args[0] = outs[0]
	for j, sl := range as.in[1:] {
		if sl >= 0 {
			args[j+1] = c.plan.init[sl]
		}
	}
	c.node, c.step = as.node, as
	return c.sess.exec(c, *as, args)
}
