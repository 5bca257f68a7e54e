package runtime

import (
	"slices"

	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of ShuffleNet's channel shuffle. Every block ends in
//
//	Concat(axis 1) of g branches [N, c, H, W]  →  Reshape [N, g, c, H, W]
//	  →  Transpose(perm 0, 2, 1, 3, 4)  →  Reshape [N, g·c, H, W]
//
// which copies the feature map twice (Concat, then Transpose; the Reshapes are views).
// The result is the branches' channels interleaved: output channel i·g + b is channel i
// of branch b. The fused step writes exactly that, one plane copy per channel, straight
// from the branches. Fused when each value in the chain is read only by the next node,
// both Reshape targets are constants and the perm is the shuffle's; at run time the
// branches must be float32 images of one shape and the targets must resolve to the
// shapes above, otherwise the four original nodes run.

// shuffleFusion is what the fused step carries: the original steps (for the fallback)
// and the two Reshape targets.
type shuffleFusion struct {
	orig         []step
	split, merge []int // the Reshape targets, as written (0 and -1 unresolved)
	zero         [2]bool
}

// shuffleFused switches the fusion on; BenchmarkChannelShuffle turns it off.
var shuffleFused = true

// fuseChannelShuffle rewrites p.steps: each Concat starting the chain above becomes the
// fused step, with the last Reshape's output; the other three steps are dropped.
func (s *Session) fuseChannelShuffle(p *graphPlan) {
	if !fastPaths || !shuffleFused {
		return
	}
	uses, reader := p.readers(s)
	drop := make([]bool, len(p.steps))
	// next returns the step reading slot sl, if it is the only reader and of type op.
	next := func(sl, after int, op string) (int, *step) {
		if sl < 0 || uses[sl] != 1 || p.init[sl] != nil {
			return -1, nil
		}
		j := reader[sl]
		if j <= after || drop[j] || p.steps[j].node.OpType != op || !stdDomain(p.steps[j].node) ||
			len(p.steps[j].out) != 1 || p.steps[j].out[0] < 0 || p.steps[j].in[0] != sl {
			return -1, nil
		}
		return j, &p.steps[j]
	}
	target := func(st *step) ([]int, bool, bool) { // a Reshape's constant target and allowzero
		if len(st.in) != 2 || st.in[1] < 0 || !p.fixed[st.in[1]] || p.init[st.in[1]] == nil {
			return nil, false, false
		}
		a := st.node.Attr("allowzero")
		return ints(p.init[st.in[1]]), a != nil && a.Int == 1, true
	}
	for k := range p.steps {
		cat := &p.steps[k]
		if cat.node.OpType != "Concat" || !stdDomain(cat.node) || drop[k] || len(cat.in) < 2 || len(cat.out) != 1 {
			continue
		}
		if a := cat.node.Attr("axis"); a == nil || a.Int != 1 && a.Int != -3 {
			continue
		}
		j1, r1 := next(cat.out[0], k, "Reshape")
		if r1 == nil {
			continue
		}
		j2, tr := next(r1.out[0], j1, "Transpose")
		if tr == nil {
			continue
		}
		if a := tr.node.Attr("perm"); a == nil || !slices.Equal(a.Ints, []int64{0, 2, 1, 3, 4}) {
			continue
		}
		j3, r2 := next(tr.out[0], j2, "Reshape")
		if r2 == nil {
			continue
		}
		split, z1, ok1 := target(r1)
		merge, z2, ok2 := target(r2)
		if !ok1 || !ok2 || len(split) != 5 || len(merge) != 4 {
			continue
		}
		fu := &shuffleFusion{orig: []step{*cat, *r1, *tr, *r2}, split: split, merge: merge, zero: [2]bool{z1, z2}}
		cat.out, cat.run = []int{r2.out[0]}, fu.kernel
		drop[j1], drop[j2], drop[j3] = true, true, true
	}
	p.removeSteps(drop)
}

// resolves reports whether the Reshape target spec, applied to input shape in, gives
// want (0 copies the input's dimension unless allowZero, one -1 is inferred; the
// element counts are equal by construction).
func resolves(spec, in, want []int, allowZero bool) bool {
	if len(spec) != len(want) {
		return false
	}
	inferred := 0
	for i, d := range spec {
		switch {
		case d == -1:
			inferred++
		case d == 0 && !allowZero:
			if i >= len(in) || in[i] != want[i] {
				return false
			}
		case d != want[i]:
			return false
		}
	}
	return inferred <= 1
}

// kernel runs the fused shuffle: in are the Concat's inputs.
func (fu *shuffleFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if y, ok := fu.shuffle(c, in); ok {
		return one(y)
	}
	return runOriginal(c, fu.orig, in)
}

// shuffle is the fast path: nil, false when the inputs are not g float32 images of one
// shape or the targets do not resolve to [N, g, c, H, W] and [N, g·c, H, W].
func (fu *shuffleFusion) shuffle(c *opContext, in []*Tensor) (*Tensor, bool) {
	g := len(in)
	for _, t := range in {
		if t == nil || t.DType != ir.Float32 || len(t.Shape) != 4 || !sameShape(t.Shape, in[0].Shape) {
			return nil, false
		}
		if _, ok := t.Data.([]float32); !ok {
			return nil, false
		}
	}
	n, ch, h, w := in[0].Shape[0], in[0].Shape[1], in[0].Shape[2], in[0].Shape[3]
	cat, split, moved := [4]int{n, g * ch, h, w}, [5]int{n, g, ch, h, w}, [5]int{n, ch, g, h, w}
	if !resolves(fu.split, cat[:], split[:], fu.zero[0]) || !resolves(fu.merge, moved[:], cat[:], fu.zero[1]) {
		return nil, false
	}
	hw := h * w
	y := allocRaw[float32](c, n*g*ch*hw)
	for b, t := range in {
		x := t.Data.([]float32)
		for img := 0; img < n; img++ {
			for i := 0; i < ch; i++ {
				dst := ((img*ch+i)*g + b) * hw
				copy(y[dst:dst+hw], x[(img*ch+i)*hw:(img*ch+i+1)*hw])
			}
		}
	}
	return &Tensor{DType: ir.Float32, Shape: []int{n, g * ch, h, w}, Data: y}, true
}
