package runtime

import (
	"math"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of a float32 Conv with the per-channel nodes that follow it:
//
//   - a BatchNormalization (inference, constant parameters) right after the Conv is
//     folded into the Conv's weights and bias: W'[m] = W[m]·s[m], b'[m] = b[m]·s[m] + t[m]
//     with s = scale/√(var+ε), t = B − mean·s (computed in float64, rounded once);
//   - Relu, Clip (constant bounds) and a BatchNormalization after an activation become
//     stages of an epilogue that runs on each output row right after its GEMM, while
//     the row is still in cache.
//
// Each absorbed node must be the only reader of its input, and that input must not be a
// graph output, so no other node ever sees the values that are no longer materialised.
// Folding BN into the weights is inference-equivalent up to float32 rounding (the
// fixtures and the fast-vs-generic tests check the tolerance). Only values that shape
// inference knows to be float32 are fused; at run time a fused node whose input is not
// float32 after all runs its original nodes one after another.

// epStage is one per-channel step of a fused Conv's epilogue.
type epStage struct {
	kind     byte      // 'r' Relu, 'c' Clip, 'a' affine (a BatchNormalization), 's' HardSigmoid, 'h' HardSwish (x·HardSigmoid(x)), 'g' Sigmoid, 'w' SiLU (x·Sigmoid(x))
	lo, hi   float32   // Clip's bounds; HardSigmoid's alpha and beta
	mul, add []float32 // per output channel (affine)
}

// convFusion is what the fused kernel carries: the weights and bias with any BN folded
// in, the epilogue, and the original steps for the fallback.
type convFusion struct {
	w, b   []float32 // nil: the Conv's own inputs
	stages []epStage
	orig   []step
}

// epilogueBlock runs the epilogue on rows consecutive output rows of cols values, the
// first of output channel ch0: one accel.BiasAct call when the stages are at most one
// clamp-type activation (then at most one Sigmoid or SiLU over the whole block), the
// row-by-row applyEpilogue otherwise. bias, when not nil, is indexed by channel.
func epilogueBlock(y []float32, rows, cols, ch0 int, bias []float32, stages []epStage) {
	if bias == nil && len(stages) == 0 || rows == 0 || cols == 0 {
		return
	}
	if rows > 1 && rows*cols >= 2*epilogueGrain {
		// A whole convolution's output (a 1×1 Conv's GEMM has no per-tile hook): run it in
		// slabs of rows that stay in cache between the bias pass and the activation's,
		// split over the pool. The slabs are fixed, so every thread count gives the same bits.
		accel.ParallelFor(rows, max(1, epilogueGrain/cols), func(r0, r1 int) {
			epilogueBlock(y[r0*cols:r1*cols], r1-r0, cols, ch0+r0, bias, stages)
		})
		return
	}
	var bs []float32
	if bias != nil {
		bs = bias[ch0 : ch0+rows]
	}
	act, rest := accel.Act{Kind: accel.ActNone}, stages
	if len(rest) > 0 {
		switch s := rest[0]; s.kind {
		case 'r':
			act, rest = accel.Act{Kind: accel.ActRelu}, rest[1:]
		case 'c':
			act, rest = accel.Act{Kind: accel.ActClip, P: s.lo, Q: s.hi}, rest[1:]
		case 's':
			act, rest = accel.Act{Kind: accel.ActHardSigmoid, P: s.lo, Q: s.hi}, rest[1:]
		case 'h':
			act, rest = accel.Act{Kind: accel.ActHardSwish, P: s.lo, Q: s.hi}, rest[1:]
		}
	}
	block := y[:rows*cols]
	switch {
	case len(rest) == 0:
		accel.BiasAct(block, rows, cols, bs, act)
	case len(rest) == 1 && act.Kind == accel.ActNone && rest[0].kind == 'w':
		if bs != nil { // the depthwise kernel adds its bias itself: no pass adding nothing
			accel.BiasAct(block, rows, cols, bs, act)
		}
		accel.SiLU(block, block)
	case len(rest) == 1 && act.Kind == accel.ActNone && rest[0].kind == 'g':
		if bs != nil {
			accel.BiasAct(block, rows, cols, bs, act)
		}
		sigmoid32(block, block)
	default:
		for j := 0; j < rows; j++ {
			applyEpilogue(y[j*cols:(j+1)*cols], ch0+j, bias, stages)
		}
	}
}

// epilogueGrain is the number of values one epilogue task works on: small enough to
// stay in L2 between passes.
const epilogueGrain = 1 << 14

// applyEpilogue adds the bias (if any) and runs the stages on the row of output channel ch.
func applyEpilogue(row []float32, ch int, bias []float32, stages []epStage) {
	var bv float32
	if bias != nil {
		bv = bias[ch]
	}
	// One pass for the common chains, with max instead of a branch per element (a
	// branch on the sign of random data mispredicts half the time). max(v, 0) differs
	// from Relu only in giving +0 for −0; NaN passes through both.
	switch {
	case len(stages) == 0:
		for o := range row {
			row[o] += bv
		}
		return
	case len(stages) == 1 && stages[0].kind == 'r':
		for o, v := range row {
			row[o] = max(v+bv, 0)
		}
		return
	case len(stages) == 2 && stages[0].kind == 'r' && stages[1].kind == 'a':
		m, a := stages[1].mul[ch], stages[1].add[ch]
		for o, v := range row {
			row[o] = max(v+bv, 0)*m + a
		}
		return
	}
	if bias != nil {
		bv := bias[ch]
		for o := range row {
			row[o] += bv
		}
	}
	for i := range stages {
		s := &stages[i]
		switch s.kind {
		case 'r':
			for o, v := range row {
				row[o] = max(v, 0)
			}
		case 'c':
			lo, hi := s.lo, s.hi
			for o, v := range row {
				if v < lo {
					v = lo
				}
				if v > hi {
					v = hi
				}
				row[o] = v
			}
		case 'a':
			m, a := s.mul[ch], s.add[ch]
			for o, v := range row {
				row[o] = v*m + a
			}
		case 's':
			hardSigmoid32(row, row, s.lo, s.hi)
		case 'h':
			al, be := s.lo, s.hi
			for o, v := range row {
				row[o] = v * min(max(al*v+be, 0), 1)
			}
		case 'g':
			sigmoid32(row, row)
		case 'w':
			accel.SiLU(row, row)
		}
	}
}

// hardSigmoid32 is max(0, min(1, alpha·x + beta)) in float32 (NaN stays NaN).
func hardSigmoid32(dst, src []float32, alpha, beta float32) {
	for i, v := range src {
		if u := alpha*v + beta; u != u {
			dst[i] = u
		} else {
			dst[i] = min(max(u, 0), 1)
		}
	}
}

// fuseConv rewrites p.steps, replacing each fusable Conv chain by one step.
func (s *Session) fuseConv(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	f32 := p.constF32
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		n := st.node
		if n.OpType != "Conv" || drop[i] || len(st.in) < 2 || len(st.out) != 1 || st.out[0] < 0 || st.in[0] < 0 {
			continue
		}
		if p.types[st.in[0]].dtype != ir.Float32 {
			continue
		}
		w := f32(st.in[1])
		if w == nil || len(p.init[st.in[1]].Shape) < 3 {
			continue
		}
		m := p.init[st.in[1]].Shape[0]
		var b []float32
		if len(st.in) > 2 && st.in[2] >= 0 {
			if b = f32(st.in[2]); b == nil || len(b) != m {
				continue
			}
		}
		fu := &convFusion{orig: []step{*st}}
		taken, cur := s.epilogueChain(p, st.out[0], i, drop, uses, reader, 5,
			func(e epStage) { fu.stages = append(fu.stages, e) },
			func(nx *step) bool {
				stage, ok := s.fusableStage(p, nx, m, f32)
				if !ok {
					return false
				}
				if stage.kind != 'a' || len(fu.stages) > 0 {
					fu.stages = append(fu.stages, stage)
					return true
				}
				// Right after the Conv: fold into the weights and bias.
				if fu.w == nil {
					fu.w, fu.b = append([]float32(nil), w...), make([]float32, m)
					copy(fu.b, b)
				}
				per := len(fu.w) / m
				for oc := 0; oc < m; oc++ {
					sc := float64(stage.mul[oc])
					for k := oc * per; k < (oc+1)*per; k++ {
						fu.w[k] = float32(float64(fu.w[k]) * sc)
					}
					fu.b[oc] = float32(float64(fu.b[oc])*sc + float64(stage.add[oc]))
				}
				return true
			})
		if len(taken) == 0 {
			continue
		}
		fu.orig = append(fu.orig, taken...)
		st.out = []int{cur}
		st.run = fu.kernel
	}
	p.removeSteps(drop)
}

// constF32 is the value of slot sl when it is a float32 constant, else nil.
func (p *graphPlan) constF32(sl int) []float32 {
	if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || p.init[sl].DType != ir.Float32 {
		return nil
	}
	v, _ := p.init[sl].Data.([]float32)
	return v
}

// epilogueChain follows the steps after step last that read its output (slot cur) and
// nothing else reads, taking each that accept fuses and, when gated is given, each
// x·HardSigmoid(x) or x·Sigmoid(x) pair (gatedStage), until maxSteps steps are taken or one
// does not fit. The taken steps are marked in drop; it returns them in order and the slot
// the chain ends in.
func (s *Session) epilogueChain(p *graphPlan, cur, last int, drop []bool, uses, reader []int, maxSteps int,
	gated func(epStage), accept func(nx *step) bool) (taken []step, out int) {
	for len(taken) < maxSteps {
		if gated != nil && uses[cur] == 2 && p.init[cur] == nil {
			stage, j, k, ok := s.gatedStage(p, cur, last, drop, uses)
			if !ok {
				break
			}
			gated(stage)
			taken = append(taken, p.steps[j], p.steps[k])
			drop[j], drop[k] = true, true
			cur, last = p.steps[k].out[0], k
			continue
		}
		if uses[cur] != 1 || p.init[cur] != nil {
			break
		}
		j := reader[cur]
		nx := &p.steps[j]
		if j <= last || drop[j] || len(nx.in) < 1 || len(nx.out) < 1 || nx.out[0] < 0 || nx.in[0] != cur || !accept(nx) {
			break
		}
		taken = append(taken, *nx)
		drop[j] = true
		cur, last = nx.out[0], j
	}
	return taken, cur
}

// gatedStage finds the two readers of slot cur (after step last) and reports whether
// they are an activation a = HardSigmoid(cur) or Sigmoid(cur), read only by a Mul of
// cur and a: then the pair is one stage, 'h' or 'w'; j is the activation's step, k the Mul's.
func (s *Session) gatedStage(p *graphPlan, cur, last int, drop []bool, uses []int) (e epStage, j, k int, ok bool) {
	var rd []int
	for i := last + 1; i < len(p.steps) && len(rd) <= 2; i++ {
		for _, sl := range p.steps[i].in {
			if sl == cur {
				rd = append(rd, i)
				break
			}
		}
	}
	if len(rd) != 2 {
		return e, 0, 0, false
	}
	j, k = rd[0], rd[1]
	a, m := &p.steps[j], &p.steps[k]
	std := func(n *ir.Node) bool { return n.Domain == "" || n.Domain == "ai.onnx" }
	if drop[j] || drop[k] || !std(a.node) || !std(m.node) || len(a.in) != 1 || len(a.out) != 1 || a.out[0] < 0 ||
		uses[a.out[0]] != 1 || p.init[a.out[0]] != nil || m.node.OpType != "Mul" || len(m.in) != 2 || len(m.out) != 1 || m.out[0] < 0 {
		return e, 0, 0, false
	}
	if !(m.in[0] == cur && m.in[1] == a.out[0] || m.in[1] == cur && m.in[0] == a.out[0]) {
		return e, 0, 0, false
	}
	switch a.node.OpType {
	case "HardSigmoid":
		e = epStage{kind: 'h', lo: 0.2, hi: 0.5}
		if at := a.node.Attr("alpha"); at != nil {
			e.lo = at.Float
		}
		if at := a.node.Attr("beta"); at != nil {
			e.hi = at.Float
		}
	case "Sigmoid":
		e = epStage{kind: 'w'}
	default:
		return e, 0, 0, false
	}
	return e, j, k, true
}

// fusableStage reports whether step st (reading a float32 Conv output with m channels)
// can join the epilogue, and as what.
func (s *Session) fusableStage(p *graphPlan, st *step, m int, f32 func(int) []float32) (epStage, bool) {
	n := st.node
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return epStage{}, false
	}
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return epStage{}, false
		}
	}
	switch n.OpType {
	case "Relu":
		return epStage{kind: 'r'}, len(st.in) == 1
	case "Sigmoid":
		return epStage{kind: 'g'}, len(st.in) == 1
	case "HardSigmoid":
		e := epStage{kind: 's', lo: 0.2, hi: 0.5}
		if a := n.Attr("alpha"); a != nil {
			e.lo = a.Float
		}
		if a := n.Attr("beta"); a != nil {
			e.hi = a.Float
		}
		return e, len(st.in) == 1
	case "Clip":
		lo, hi := math.Inf(-1), math.Inf(1)
		if a := n.Attr("min"); a != nil {
			lo = float64(a.Float)
		}
		if a := n.Attr("max"); a != nil {
			hi = float64(a.Float)
		}
		for k, dst := range []*float64{&lo, &hi} {
			if k+1 < len(st.in) && st.in[k+1] >= 0 {
				v := f32(st.in[k+1])
				if len(v) != 1 {
					return epStage{}, false
				}
				*dst = float64(v[0])
			}
		}
		return epStage{kind: 'c', lo: float32(lo), hi: float32(hi)}, true
	case "BatchNormalization":
		if len(st.in) != 5 {
			return epStage{}, false
		}
		if a := n.Attr("training_mode"); a != nil && a.Int != 0 {
			return epStage{}, false
		}
		var par [4][]float64
		for k := range par {
			sl := st.in[k+1]
			if sl < 0 || !p.fixed[sl] || p.init[sl] == nil {
				return epStage{}, false
			}
			t := p.init[sl]
			if t.DType != ir.Float32 && t.DType != ir.Float64 && t.DType != ir.Float16 && t.DType != ir.BFloat16 {
				return epStage{}, false
			}
			if par[k] = float64s(t); len(par[k]) != m {
				return epStage{}, false
			}
		}
		eps := 1e-5
		if a := n.Attr("epsilon"); a != nil {
			eps = float64(a.Float)
		}
		e := epStage{kind: 'a', mul: make([]float32, m), add: make([]float32, m)}
		for k := 0; k < m; k++ {
			// As opBatchNorm computes them.
			a := par[0][k] / math.Sqrt(par[3][k]+eps)
			e.mul[k], e.add[k] = float32(a), float32(par[1][k]-par[2][k]*a)
		}
		return e, true
	}
	return epStage{}, false
}

// kernel runs the fused chain: the Conv with its epilogue on float32 input, or the
// original nodes in turn otherwise.
func (fu *convFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if x := opt(in, 0); x != nil && x.DType == ir.Float32 && fastPaths {
		if _, ok := x.Data.([]float32); ok {
			return convRun(c, in, fu.w, fu.b, fu.stages)
		}
	}
	return runOriginal(c, fu.orig, in)
}

// runOriginal runs a fused chain's original steps in turn: the fallback of a fused
// kernel for input its fast path does not take. in are the first step's inputs.
func runOriginal(c *opContext, orig []step, in []*Tensor) ([]*Tensor, error) {
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	outs, err := c.sess.exec(c, orig[0], in)
	if err != nil {
		return nil, err
	}
	// Values made inside the chain, by slot; every other input is a constant.
	vals := map[int]*Tensor{}
	for k := 1; k < len(orig); k++ {
		prev := &orig[k-1]
		if len(outs) < 1 || outs[0] == nil {
			return nil, errf("fused node %q produced no output", prev.node.Name)
		}
		vals[prev.out[0]] = outs[0]
		st := &orig[k]
		args := make([]*Tensor, len(st.in))
		for j, sl := range st.in {
			if v, ok := vals[sl]; ok {
				args[j] = v
			} else if sl >= 0 {
				args[j] = c.plan.init[sl]
			}
		}
		c.node, c.step = st.node, st
		if outs, err = c.sess.exec(c, *st, args); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// Load-time fusion of the dequantization tail that onnxruntime's quantize_dynamic
// writes after every integer product: MatMulInteger → Cast(to float32) → Mul by a
// scale (a_scale·b_scale, a scalar or one value per column). The fused step converts
// and scales the int32 accumulators in one pass into a float32 buffer, skipping the
// int32→float32 copy; the result is bit-identical (the same conversion and the same
// float32 product). It runs where the Mul ran, so the scale, which may be computed
// after the MatMulInteger, is ready.

// qmmFusion is what the fused kernel carries: the original steps, for the fallback.
type qmmFusion struct {
	orig [3]step
}

// fuseIntMatMul rewrites p.steps, replacing each MatMulInteger → Cast → Mul chain.
func (s *Session) fuseIntMatMul(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "MatMulInteger" || len(st.out) != 1 || st.out[0] < 0 || len(st.in) < 2 {
			continue
		}
		r := st.out[0]
		if uses[r] != 1 || p.init[r] != nil {
			continue
		}
		j := reader[r]
		cast := &p.steps[j]
		if cast.node.OpType != "Cast" || j <= i || len(cast.in) != 1 || len(cast.out) != 1 || cast.out[0] < 0 {
			continue
		}
		if a := cast.node.Attr("to"); a == nil || ir.DType(a.Int) != ir.Float32 {
			continue
		}
		f := cast.out[0]
		if uses[f] != 1 || p.init[f] != nil {
			continue
		}
		k := reader[f]
		mul := &p.steps[k]
		if mul.node.OpType != "Mul" || k <= j || len(mul.in) != 2 || len(mul.out) != 1 || mul.out[0] < 0 {
			continue
		}
		scale := mul.in[1]
		if mul.in[1] == f {
			scale = mul.in[0]
		}
		if scale < 0 || scale == f || mul.in[0] != f && mul.in[1] != f {
			continue
		}
		fu := &qmmFusion{orig: [3]step{*st, *cast, *mul}}
		in := make([]int, 5)
		for q := range in[:4] {
			in[q] = -1
			if q < len(st.in) {
				in[q] = st.in[q]
			}
		}
		in[4] = scale
		*mul = step{node: st.node, run: fu.kernel, in: in, out: []int{mul.out[0]}}
		drop[i], drop[j] = true, true
	}
	p.removeSteps(drop)
}

// removeSteps drops the steps a fusion marked as taken into another.
func (p *graphPlan) removeSteps(drop []bool) {
	kept := p.steps[:0]
	for i, st := range p.steps {
		if !drop[i] {
			kept = append(kept, st)
		}
	}
	p.steps = kept
}

// readers counts, per slot, the steps (and graph outputs and subgraphs) reading it, and
// the last step that does; outputs and subgraph uses count twice, so they never look
// like a single reader.
func (p *graphPlan) readers(s *Session) (uses, reader []int) {
	uses = make([]int, len(p.names))
	reader = make([]int, len(p.names))
	for i, st := range p.steps {
		for _, sl := range st.in {
			if sl >= 0 {
				uses[sl]++
				reader[sl] = i
			}
		}
		for _, sub := range st.node.Subgraphs() {
			if sp := s.plans[sub]; sp != nil {
				for _, name := range sp.outer {
					if sl, ok := p.slots[name]; ok {
						uses[sl] += 2
					}
				}
			}
		}
	}
	for _, sl := range p.out {
		uses[sl] += 2
	}
	for _, sl := range p.outerS {
		uses[sl] += 2
	}
	return uses, reader
}

// kernel: the integer product, then float32(acc)·scale in one pass; other operand
// types and shapes run the three original nodes in turn.
func (fu *qmmFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	sc := in[4]
	if sv, ok := sc.Data.([]float32); ok && sc.DType == ir.Float32 && fastPaths {
		acc, err := intMatMul(c, in[0], in[1], opt(in, 2), opt(in, 3))
		if err != nil {
			return nil, err
		}
		if n, ok := scaleCols(sc.Shape, acc.Shape); ok && (len(sv) == 1 || len(sv) == n) {
			av := acc.Data.([]int32)
			out := allocRaw[float32](c, len(av))
			if len(sv) == 1 {
				s := sv[0]
				for i, v := range av {
					out[i] = float32(v) * s
				}
			} else {
				for r := 0; r+n <= len(av); r += n {
					o, a := out[r:r+n], av[r:r+n]
					for j, v := range a {
						o[j] = float32(v) * sv[j]
					}
				}
			}
			return one(&Tensor{DType: ir.Float32, Shape: acc.Shape, Data: out})
		}
	}
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	c.step = &fu.orig[0]
	outs, err := c.sess.exec(c, fu.orig[0], in[:len(fu.orig[0].in)])
	if err != nil {
		return nil, err
	}
	c.node, c.step = fu.orig[1].node, &fu.orig[1]
	if outs, err = c.sess.exec(c, fu.orig[1], outs[:1]); err != nil {
		return nil, err
	}
	mul := fu.orig[2]
	args := []*Tensor{outs[0], sc}
	if mul.in[0] != fu.orig[1].out[0] {
		args[0], args[1] = sc, outs[0]
	}
	c.node, c.step = mul.node, &mul
	return c.sess.exec(c, mul, args)
}

// scaleCols reports whether a scale of shape ss multiplies a value of shape xs without
// changing its shape, one value per tensor or per last-axis index, and returns the last
// dimension of xs.
func scaleCols(ss, xs []int) (int, bool) {
	if len(xs) == 0 || len(ss) > len(xs) {
		return 0, false
	}
	n := xs[len(xs)-1]
	for i, d := range ss {
		if i == len(ss)-1 {
			if d != 1 && d != n {
				return 0, false
			}
		} else if d != 1 {
			return 0, false
		}
	}
	return n, true
}
