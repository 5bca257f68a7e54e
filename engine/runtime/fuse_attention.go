package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of scaled dot-product attention as exporters write it:
// MatMul(Q, Kᵀ) → Softmax over the last axis → MatMul(·, V), with the scale by a constant
// either on Q before the product (torch's MultiheadAttention: Div by √d; modelc's Keras
// import: Mul by 1/√d) or on the scores after it (Div or Mul). The fused step runs, for
// each batch-and-head matrix, the scores GEMM with the scale as its alpha, the softmax
// in place and the second GEMM, in a scratch buffer that stays in cache: no scaled copy
// of Q, no scores and probabilities tensors, heads side by side on the pool. Folding the
// scale into alpha rounds once instead of twice (the fused-vs-unfused test's tolerance).
//
// Every intermediate must be read only by the next node of the chain and be no graph
// output. At run time, operands that are not float32 or whose batch dimensions differ
// (broadcasting) run the original steps.

// attnFusion is what the fused kernel carries: the scale and the original steps.
type attnFusion struct {
	scale float32
	orig  []step
}

// fuseAttention rewrites p.steps, replacing each attention chain by one step where its
// second MatMul was.
func (s *Session) fuseAttention(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	// only is the step that makes slot sl when sl is read by one step and is no output.
	only := func(sl, before int) int {
		if sl < 0 || uses[sl] != 1 || p.init[sl] != nil {
			return -1
		}
		return producer(p, sl, before)
	}
	// scaleOf is the factor of a Div or Mul step by a scalar float constant, and the other input.
	scaleOf := func(st *step) (float32, int, bool) {
		if len(st.in) != 2 || len(st.out) != 1 || !(plainOp(st, "Div") || plainOp(st, "Mul")) {
			return 0, 0, false
		}
		c := func(sl int) (float64, bool) {
			if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || !p.init[sl].DType.IsFloat() || p.init[sl].Len() != 1 {
				return 0, false
			}
			return float64s(p.init[sl])[0], true
		}
		if v, ok := c(st.in[1]); ok && st.in[0] >= 0 && v != 0 {
			if st.node.OpType == "Div" {
				return float32(1 / v), st.in[0], true
			}
			return float32(v), st.in[0], true
		}
		if v, ok := c(st.in[0]); ok && st.node.OpType == "Mul" && st.in[1] >= 0 {
			return float32(v), st.in[1], true
		}
		return 0, 0, false
	}
	// lastAxis reports whether Softmax step st normalises over the last axis of its rank-r
	// input (before opset 13 it flattens from its axis on: the same when that is r−1).
	lastAxis := func(st *step, r int) bool {
		ax := int64(-1)
		if s.opset < 13 {
			ax = 1
		}
		if a := st.node.Attr("axis"); a != nil {
			ax = a.Int
		}
		if ax < 0 {
			ax += int64(r)
		}
		return r >= 2 && ax == int64(r-1)
	}
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		sm := &p.steps[i]
		if drop[i] || !plainOp(sm, "Softmax") || len(sm.in) != 1 || len(sm.out) != 1 || sm.in[0] < 0 ||
			!lastAxis(sm, p.types[sm.in[0]].rank) {
			continue
		}
		scale, post, pre := float32(1), -1, -1
		k := only(sm.in[0], i)
		if k < 0 || drop[k] {
			continue
		}
		if f, src, ok := scaleOf(&p.steps[k]); ok { // scores scaled after the product
			scale, post = f, k
			if k = only(src, k); k < 0 || drop[k] {
				continue
			}
		}
		m1 := &p.steps[k]
		if !plainOp(m1, "MatMul") || len(m1.in) != 2 || m1.in[0] < 0 || m1.in[1] < 0 {
			continue
		}
		q := m1.in[0]
		if j := only(q, k); j >= 0 && !drop[j] && post < 0 { // Q scaled before the product
			if f, src, ok := scaleOf(&p.steps[j]); ok {
				scale, q, pre = f, src, j
			}
		}
		j := reader[sm.out[0]]
		if uses[sm.out[0]] != 1 || p.init[sm.out[0]] != nil || drop[j] || j <= i || !plainOp(&p.steps[j], "MatMul") ||
			p.steps[j].in[0] != sm.out[0] || p.steps[j].in[1] < 0 {
			continue
		}
		m2 := &p.steps[j]
		// The original steps in graph order, for the fallback.
		fu := &attnFusion{scale: scale}
		if pre >= 0 {
			fu.orig, drop[pre] = append(fu.orig, p.steps[pre]), true
		}
		fu.orig, drop[k] = append(fu.orig, *m1), true
		if post >= 0 {
			fu.orig, drop[post] = append(fu.orig, p.steps[post]), true
		}
		fu.orig, drop[i] = append(fu.orig, *sm, *m2), true
		m2.in, m2.run, m2.kind = []int{q, m1.in[1], m2.in[1]}, fu.kernel, "Attention"
	}
	p.removeSteps(drop)
}

func (fu *attnFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if fastPaths {
		if t, ok := fu.fast(c, in); ok {
			return one(t)
		}
	}
	return runChain(c, fu.orig, c.step.in, in)
}

// attnParWork is the multiply-adds (over all heads) from which heads run on the pool.
const attnParWork = 1 << 18

// fast runs softmax(scale·Q·Kᵀ)·V for float32 Q [..., S, d], Kᵀ [..., d, T] and
// V [..., T, dv] with equal batch dimensions, one head after another or side by side.
func (fu *attnFusion) fast(c *opContext, in []*Tensor) (*Tensor, bool) {
	q, kt, v := in[0], in[1], in[2]
	qv, ok := q.Data.([]float32)
	kv, ok1 := kt.Data.([]float32)
	vv, ok2 := v.Data.([]float32)
	r := len(q.Shape)
	if !ok || !ok1 || !ok2 || q.DType != ir.Float32 || kt.DType != ir.Float32 || v.DType != ir.Float32 ||
		r < 2 || len(kt.Shape) != r || len(v.Shape) != r ||
		!sameShape(q.Shape[:r-2], kt.Shape[:r-2]) || !sameShape(q.Shape[:r-2], v.Shape[:r-2]) {
		return nil, false
	}
	S, d, T, dv := q.Shape[r-2], q.Shape[r-1], kt.Shape[r-1], v.Shape[r-1]
	if kt.Shape[r-2] != d || v.Shape[r-2] != T || S == 0 || T == 0 || d == 0 || dv == 0 {
		return nil, false
	}
	nb := prod(q.Shape[:r-2])
	out := c.tensorF32(ir.Float32, append(shapeOf(q)[:r-1], dv))
	ov := out.Data.([]float32)
	scratch := allocRaw[float32](c, nb*S*T) // each head its own scores: heads may run side by side
	head := func(h0, h1 int) {
		for h := h0; h < h1; h++ {
			sc := scratch[h*S*T : (h+1)*S*T]
			accel.SGEMM(false, false, S, T, d, fu.scale, qv[h*S*d:(h+1)*S*d], d, kv[h*d*T:(h+1)*d*T], T, 0, sc, T)
			accel.Softmax(sc, sc, T)
			accel.SGEMM(false, false, S, dv, T, 1, sc, T, vv[h*T*dv:(h+1)*T*dv], dv, 0, ov[h*S*dv:(h+1)*S*dv], dv)
		}
	}
	if nb > 1 && nb*S*T*(d+dv) >= attnParWork {
		accel.ParallelFor(nb, 1, head)
	} else {
		head(0, nb)
	}
	return out, true
}
