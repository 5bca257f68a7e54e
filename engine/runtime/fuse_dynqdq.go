package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of DynamicQuantizeLinear → DequantizeLinear. A dynamically quantized
// model puts the pair in front of every float op that reads a quantized activation: in
// what modelc's compress --mode dynamic writes, each depthwise Conv (a grouped
// convolution, which the integer convolution does not take) reads its input through
// one. Run as written, the pair writes a uint8 tensor and reads it back: a range pass,
// a quantizing pass and a dequantizing pass. Fused, one step finds the range, then
// quantizes and dequantizes each value in a register (accel.QuantDequantU8): the same
// values, bit for bit. Fused when the DynamicQuantizeLinear's three outputs are read
// only by one DequantizeLinear, as its (x, x_scale, x_zero_point), and that one
// produces float32.

// dynQDQFusion is what the fused step carries: the two original steps, for inputs the
// fast path does not take.
type dynQDQFusion struct {
	orig [2]step
}

// dynQDQFused switches the fusion on; tests turn it off to compare.
var dynQDQFused = true

// fuseDynQuantDequant rewrites p.steps: each DynamicQuantizeLinear of such a pair becomes
// the fused step, with the DequantizeLinear's output, and the DequantizeLinear is dropped.
func (s *Session) fuseDynQuantDequant(p *graphPlan) {
	if !fastPaths || !dynQDQFused {
		return
	}
	uses, reader := p.readers(s)
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "DynamicQuantizeLinear" || !stdDomain(st.node) || len(st.in) != 1 || st.in[0] < 0 ||
			len(st.out) != 3 {
			continue
		}
		q, sc, zp := st.out[0], st.out[1], st.out[2]
		if q < 0 || sc < 0 || zp < 0 || uses[q] != 1 || uses[sc] != 1 || uses[zp] != 1 {
			continue
		}
		j := reader[q]
		if reader[sc] != j || reader[zp] != j || j <= i || drop[j] {
			continue
		}
		dq := &p.steps[j]
		if dq.node.OpType != "DequantizeLinear" || !stdDomain(dq.node) || len(dq.in) != 3 || dq.in[0] != q ||
			dq.in[1] != sc || dq.in[2] != zp || len(dq.out) != 1 || dq.out[0] < 0 {
			continue
		}
		if a := dq.node.Attr("output_dtype"); a != nil && a.Int != 0 && ir.DType(a.Int) != ir.Float32 {
			continue
		}
		if a := dq.node.Attr("block_size"); a != nil && a.Int != 0 {
			continue
		}
		fu := &dynQDQFusion{orig: [2]step{*st, *dq}}
		st.out, st.run = []int{dq.out[0]}, fu.kernel
		drop[j] = true
	}
	p.removeSteps(drop)
}

// kernel runs the pair on x: in one pass where x is float32 without NaN, otherwise the
// two original steps in turn.
func (fu *dynQDQFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if x := in[0]; x != nil && x.DType == ir.Float32 {
		if xv, ok := x.Data.([]float32); ok {
			if scale, zp, ok := dynQuantRange(xv); ok {
				y := allocRaw[float32](c, len(xv))
				if scale != 0 {
					accel.QuantDequantU8(y, xv, scale, uint8(zp))
				} else { // every value quantizes to the zero point
					clear(y)
				}
				return one(&Tensor{DType: ir.Float32, Shape: shapeOf(x), Data: y})
			}
		}
	}
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	q, err := c.sess.exec(c, fu.orig[0], in)
	if err != nil {
		return nil, err
	}
	if len(q) != 3 {
		return nil, errf("fused node %q produced %d outputs, want 3", fu.orig[0].node.Name, len(q))
	}
	c.node, c.step = fu.orig[1].node, &fu.orig[1]
	return c.sess.exec(c, fu.orig[1], q)
}
