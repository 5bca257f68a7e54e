package train

// arena recycles the buffers of training steps. Every step of a run asks for the same
// sizes (one batch shape, one graph), so instead of allocating and zeroing the
// activations, gradients and float32 scratch of each step afresh (and collecting them
// later), a tape takes its buffers from the net's arena and Tape.Release hands them back
// for the next step.
type arena struct {
	free64 map[int][][]float64
	free32 map[int][][]float32
}

func (a *arena) get64(n int) []float64 {
	if l := a.free64[n]; len(l) > 0 {
		b := l[len(l)-1]
		a.free64[n] = l[:len(l)-1]
		return b
	}
	return make([]float64, n)
}

func (a *arena) get32(n int) []float32 {
	if l := a.free32[n]; len(l) > 0 {
		b := l[len(l)-1]
		a.free32[n] = l[:len(l)-1]
		return b
	}
	return make([]float32, n)
}

func (a *arena) put64(b []float64) {
	if a.free64 == nil {
		a.free64 = map[int][][]float64{}
	}
	a.free64[len(b)] = append(a.free64[len(b)], b)
}

func (a *arena) put32(b []float32) {
	if a.free32 == nil {
		a.free32 = map[int][][]float32{}
	}
	a.free32[len(b)] = append(a.free32[len(b)], b)
}

// out returns a tensor whose values the caller overwrites entirely (they may hold an
// earlier step's numbers). Outside a tape (an op run on its own) it is a fresh tensor.
func (c *opCtx) out(shape ...int) *T {
	if c.tape == nil {
		return New(shape...)
	}
	d := c.net.arena.get64(numel(shape))
	c.tape.owned64 = append(c.tape.owned64, d)
	return &T{Shape: append([]int(nil), shape...), D: d}
}

// zeros returns a zero tensor of the shape, for ops that accumulate into it.
func (c *opCtx) zeros(shape ...int) *T {
	t := c.out(shape...)
	if c.tape != nil {
		clear(t.D)
	}
	return t
}

// f32 returns n float32 values the caller overwrites entirely, kept until the tape is
// released.
func (c *opCtx) f32(n int) []float32 {
	if c.tape == nil {
		return make([]float32, n)
	}
	d := c.net.arena.get32(n)
	c.tape.owned32 = append(c.tape.owned32, d)
	return d
}

// to32 is the package's to32 into a buffer of the tape.
func (c *opCtx) to32(v []float64) []float32 {
	out := c.f32(len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// to32Once is to32 remembered for the op: its backward pass multiplies by the same
// operands as its forward pass (a weight, the input), and converts each of them once. A
// value is never changed once a tape holds it, so its first element's address and length
// name its float32 copy for the op's lifetime.
func (c *opCtx) to32Once(v []float64) []float32 {
	if len(v) == 0 {
		return nil
	}
	key := &v[0]
	if f, ok := c.f32Copies[key]; ok && len(f) == len(v) {
		return f
	}
	if c.f32Copies == nil {
		c.f32Copies = map[*float64][]float32{}
	}
	f := c.to32(v)
	c.f32Copies[key] = f
	return f
}

// Release hands the tape's buffers back to its net for the next step. The tape's values
// and the gradients its backward pass produced must not be used afterwards; values
// copied out (the loss, Param.Grad, argmax results) stay valid. The arena then holds
// this tape's buffers only: what an earlier step of another shape left (the short last
// batch of an epoch) goes to the garbage collector, so the arena never keeps more than
// one step's memory.
func (tp *Tape) Release() {
	a := &tp.net.arena
	a.free64, a.free32 = nil, nil
	for _, b := range tp.owned64 {
		a.put64(b)
	}
	for _, b := range tp.owned32 {
		a.put32(b)
	}
	tp.owned64, tp.owned32, tp.Values = nil, nil, nil
}
