package runtime

import (
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of a linear layer as exporters write it for input of rank above 2
// (Gemm takes only matrices): MatMul of an activation by a constant 2-D weight, then an
// Add of a constant bias over the last axis (torch writes Add(bias, MatMul), tf2onnx
// Add(MatMul, bias)), optionally followed by a Relu or a GELU chain that fuseChains has
// already made one step. The fused step runs one GEMM that adds the bias itself (gemmFast:
// accel.SGEMMBias, or the plain loop for small products) and the activation on the GEMM's
// output while it is still in cache, instead of three or four passes over the output
// with a buffer each.
//
// The MatMul's output and the Add's must be read only by the next node of the chain and
// be no graph output. At run time an input that is not float32, or a weight or bias of
// another shape than the plan saw, runs the original steps.

// linearFusion is what the fused kernel carries: the activation ("", "Relu" or "Gelu")
// and the original steps for the fallback.
type linearFusion struct {
	act  string
	orig []step
}

// linearFusionOn lets a benchmark time the plan without this fusion.
var linearFusionOn = true

// fuseLinear rewrites p.steps, replacing each MatMul + Add(bias) (+ activation) chain by
// one step. It runs after fuseChains, whose fused GELU steps it recognises by kind.
func (s *Session) fuseLinear(p *graphPlan) {
	if !fastPaths || !linearFusionOn {
		return
	}
	uses, reader := p.readers(s)
	// next is the only reader of slot sl, when sl is a plain value (no graph output).
	next := func(sl int) (int, bool) {
		if sl < 0 || uses[sl] != 1 || p.init[sl] != nil {
			return 0, false
		}
		return reader[sl], true
	}
	constF32 := func(sl, rank int) bool {
		return sl >= 0 && p.fixed[sl] && p.init[sl] != nil && p.init[sl].DType == ir.Float32 && len(p.init[sl].Shape) == rank
	}
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		mm := &p.steps[i]
		if drop[i] || !plainOp(mm, "MatMul") || len(mm.in) != 2 || len(mm.out) != 1 || mm.in[0] < 0 ||
			!constF32(mm.in[1], 2) || !(p.types[mm.in[0]].dtype == ir.Float32 || p.types[mm.in[0]].dtype == ir.Undefined) {
			continue
		}
		n := p.init[mm.in[1]].Shape[1]
		a, ok := next(mm.out[0])
		if !ok || drop[a] || a <= i || !plainOp(&p.steps[a], "Add") || len(p.steps[a].in) != 2 || len(p.steps[a].out) != 1 {
			continue
		}
		add := &p.steps[a]
		bias := add.in[0]
		if bias == mm.out[0] {
			bias = add.in[1]
		}
		if !constF32(bias, 1) || p.init[bias].Shape[0] != n {
			continue
		}
		fu := &linearFusion{orig: []step{*mm, *add}}
		chain := []int{a}
		out := add.out[0]
		if j, ok := next(out); ok && !drop[j] && j > a && len(p.steps[j].in) == 1 && len(p.steps[j].out) == 1 {
			switch {
			case plainOp(&p.steps[j], "Relu"):
				fu.act = "Relu"
			case p.steps[j].kind == "Gelu":
				fu.act = "Gelu"
			}
			if fu.act != "" {
				fu.orig = append(fu.orig, p.steps[j])
				chain = append(chain, j)
				out = p.steps[j].out[0]
			}
		}
		for _, k := range chain {
			drop[k] = true
		}
		mm.in, mm.out, mm.run, mm.kind = []int{mm.in[0], mm.in[1], bias}, []int{out}, fu.kernel, "Linear"
	}
	p.removeSteps(drop)
}

// plainOp reports whether st runs the standard ONNX op op, not fused into anything.
func plainOp(st *step, op string) bool {
	n := st.node
	return n.OpType == op && (n.Domain == "" || n.Domain == "ai.onnx") && st.kind == ""
}

// kernel runs x·W + bias and the activation on float32 x of rank ≥ 2, W k×n and bias of n
// values; anything else runs the original steps.
func (fu *linearFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if fastPaths {
		if t, ok := fu.fast(c, in); ok {
			return one(t)
		}
	}
	return runChain(c, fu.orig, c.step.in, in)
}

func (fu *linearFusion) fast(c *opContext, in []*Tensor) (*Tensor, bool) {
	x, w, b := in[0], in[1], in[2]
	xv, ok := x.Data.([]float32)
	wv, ok1 := w.Data.([]float32)
	_, ok2 := b.Data.([]float32)
	if !ok || !ok1 || !ok2 || x.DType != ir.Float32 || w.DType != ir.Float32 || b.DType != ir.Float32 ||
		len(x.Shape) < 2 || len(w.Shape) != 2 || len(b.Shape) != 1 {
		return nil, false
	}
	k, n := w.Shape[0], w.Shape[1]
	if x.Shape[len(x.Shape)-1] != k || b.Shape[0] != n || k == 0 || n == 0 {
		return nil, false
	}
	m := len(xv) / k
	y, ok := gemmFast(c, xv, wv, b, false, false, m, n, k, k, n, 1, 1)
	if !ok {
		return nil, false
	}
	y.Shape = append(shapeOf(x)[:len(x.Shape)-1], n)
	yv := y.Data.([]float32)
	switch fu.act {
	case "Relu":
		relu32(yv, yv)
	case "Gelu": // in place, split between the threads (bert_tiny's 64×512: 25 µs on one)
		splitFlat(len(yv), func(lo, hi int) { gelu32(yv[lo:hi], yv[lo:hi]) })
	}
	return y, true
}
