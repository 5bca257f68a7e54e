package runtime

import "github.com/modelc/modelc/engine/ir"

// Concat without a copy. When a float32 Concat joins values that are each one
// contiguous block of its output (every axis before the concatenation axis has size 1:
// the channel Concat of SqueezeNet's fire modules and of a UNet's skip connections, batch
// 1), and each of those values is made by a step of this graph for this Concat alone, the
// plan places them: each producing step gets the slice of the Concat's output that its
// value occupies. A kernel that asks for its output with opContext.outputF32 writes it
// there directly; any other kernel's output is copied there once its step has run (the
// copy the Concat would have made). The Concat then finds its parts side by side in its
// buffer and returns that buffer as it is (concatView), copying nothing.
//
// The output buffer comes from the run's arena when the first part is computed; each
// placed part is a view into it, counted by the arena like any view, so the buffer lives
// until the Concat's output (a view of all of it) dies. A part whose run-time shape or
// dtype differs from the plan's is not placed, and the Concat copies as before.

// concatPlacement switches placing off, for the tests comparing with the copying Concat.
var concatPlacement = true

// placement is where a step's output goes: values [off, off+n) of placed Concat group.
type placement struct {
	group, off, n int
}

// placeConcats marks the producers of every Concat that can be computed in place
// (main graph only: subgraph runs have no arena to lend the buffer from).
func (p *graphPlan) placeConcats(s *Session) {
	if !fastPaths || !concatPlacement {
		return
	}
	uses, _ := p.readers(s)
	producer := make([]int, len(p.names)) // slot → index of the step making it, +1
	for i, st := range p.steps {
		for _, sl := range st.out {
			if sl >= 0 {
				producer[sl] = i + 1
			}
		}
	}
	for i := range p.steps {
		st := &p.steps[i]
		// A plain Concat: a fused step that starts at one (the channel shuffle) has
		// another output than the node's.
		if st.node.OpType != "Concat" || st.kind != "" || len(st.out) != 1 || st.out[0] < 0 || len(st.in) < 2 ||
			len(st.node.Outputs) != 1 || p.slots[st.node.Outputs[0]] != st.out[0] {
			continue
		}
		out := p.typeAt(st.out[0])
		if out.dtype != ir.Float32 || !out.static() {
			continue
		}
		var a int64
		if at := st.node.Attr("axis"); at != nil {
			a = at.Int
		}
		axis, err := normAxis(int(a), out.rank)
		if err != nil {
			continue
		}
		outer := 1
		for d := 0; d < axis; d++ {
			outer *= out.shape[d].v
		}
		if outer != 1 {
			continue
		}
		parts := make([]placement, len(st.in))
		off, ok, seen := 0, true, map[int]bool{}
		for j, sl := range st.in {
			if sl < 0 || seen[sl] || p.init[sl] != nil || uses[sl] != 1 || producer[sl] == 0 {
				ok = false
				break
			}
			seen[sl] = true
			pst := &p.steps[producer[sl]-1]
			t := p.typeAt(sl)
			if pst.shape || pst.into != nil || len(pst.out) != 1 || len(pst.node.Subgraphs()) > 0 || t.dtype != ir.Float32 || !t.static() || t.rank != out.rank {
				ok = false
				break
			}
			n := 1
			for _, d := range t.shape {
				n *= d.v
			}
			parts[j] = placement{group: len(p.concats), off: off, n: n}
			off += n
		}
		total := 1
		for _, d := range out.shape {
			total *= d.v
		}
		if !ok || off != total || total == 0 {
			continue
		}
		for j, sl := range st.in {
			pl := parts[j]
			p.steps[producer[sl]-1].into = &pl
		}
		p.concats = append(p.concats, total)
		st.gathers = len(p.concats)
	}
}

// typeAt is the inferred type of slot sl (unknown past the inferred slots).
func (p *graphPlan) typeAt(sl int) valueType {
	if sl < 0 || sl >= len(p.types) {
		return unknownType
	}
	return p.types[sl]
}

// placedSlice is the slice of the Concat output that pl names, the buffer taken from
// the run's arena when its group's first part is computed.
func (sc *scope) placedSlice(c *opContext, pl *placement) []float32 {
	if sc.placed == nil {
		sc.placed = make([][]float32, len(sc.plan.concats))
	}
	buf := sc.placed[pl.group]
	if buf == nil {
		buf = allocRaw[float32](c, sc.plan.concats[pl.group])
		sc.placed[pl.group] = buf
	}
	return buf[pl.off : pl.off+pl.n : pl.off+pl.n]
}

// place puts a placed step's output into its slice dst: as it is when the kernel wrote
// it there, copied there otherwise. An output of another dtype or size stays where it is.
func place(t *Tensor, dst []float32) *Tensor {
	v, ok := t.Data.([]float32)
	if !ok || t.DType != ir.Float32 || len(v) != len(dst) || len(dst) == 0 {
		return t
	}
	if &v[0] != &dst[0] {
		copy(dst, v)
	}
	return &Tensor{DType: t.DType, Shape: t.Shape, Data: dst}
}

// outputF32 is storage for a kernel's float32 output of n values that the kernel writes
// completely: the step's slice of a Concat output when the plan placed it there, pooled
// memory otherwise.
func (c *opContext) outputF32(n int) []float32 {
	if len(c.dest) == n && n > 0 {
		return c.dest
	}
	return allocRaw[float32](c, n)
}

// concatView returns the Concat's output as the placed buffer when its parts lie in it
// side by side, in order, filling it (the placed producers wrote them so), or nil.
func (c *opContext) concatView(parts []*Tensor, out []int) *Tensor {
	if c == nil || c.step == nil || c.step.gathers == 0 || c.scope == nil || c.scope.placed == nil {
		return nil
	}
	buf := c.scope.placed[c.step.gathers-1]
	off := 0
	for _, p := range parts {
		v, ok := p.Data.([]float32)
		if !ok || p.DType != ir.Float32 || len(v) == 0 || off+len(v) > len(buf) || &v[0] != &buf[off] {
			return nil
		}
		off += len(v)
	}
	if off != len(buf) || off != prod(out) {
		return nil
	}
	return &Tensor{DType: ir.Float32, Shape: out, Data: buf}
}
