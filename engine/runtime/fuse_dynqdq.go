package runtime

import (
	"math"

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
	return runPair(c, &fu.orig, in, 3)
}

// runPair runs a fused pair's original steps in turn: the first on in, the second on
// the first's outputs, all of them (want is how many the first gives).
func runPair(c *opContext, orig *[2]step, in []*Tensor, want int) ([]*Tensor, error) {
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	mid, err := c.sess.exec(c, orig[0], in)
	if err != nil {
		return nil, err
	}
	if len(mid) != want {
		return nil, errf("fused node %q produced %d outputs, want %d", orig[0].node.Name, len(mid), want)
	}
	c.node, c.step = orig[1].node, &orig[1]
	return c.sess.exec(c, orig[1], mid)
}

// Load-time fusion of a per-channel Mul → DynamicQuantizeLinear: the squeeze-and-
// excitation scale of EfficientNet and MobileNetV3 blocks, whose product the projection
// Conv reads quantized. (In a float model fuseSEScale folds the scale into that Conv;
// here the quantization sits between them.) Run as written, the product is written
// whole, then read twice (its range, then the quantizing pass). Fused, the range comes
// from each channel's own minimum and maximum times its scale, which is exact: rounding
// a product is monotone in the other factor, so the extreme products are those of the
// extreme values. Then each product is formed and quantized in a register
// (accel.QuantizeScaledU8Rows). Fused when the Mul's output is read only by the
// DynamicQuantizeLinear; at run time the operands must be one float32 tensor and one
// value per channel, finite, non-zero and without NaN, or the two original steps run.

// scaleDynQuantFusion is what the fused step carries: the Mul and DynamicQuantizeLinear
// steps, for the fallback.
type scaleDynQuantFusion struct {
	orig [2]step
}

// fuseScaleDynQuant rewrites p.steps: each Mul of such a pair becomes the fused step,
// with the DynamicQuantizeLinear's three outputs, and the DynamicQuantizeLinear is
// dropped.
func (s *Session) fuseScaleDynQuant(p *graphPlan) {
	if !fastPaths || !dynQDQFused {
		return
	}
	uses, reader := p.readers(s)
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "Mul" || !stdDomain(st.node) || len(st.in) != 2 || st.in[0] < 0 || st.in[1] < 0 ||
			len(st.out) != 1 || st.out[0] < 0 || uses[st.out[0]] != 1 || p.init[st.out[0]] != nil {
			continue
		}
		j := reader[st.out[0]]
		dql := &p.steps[j]
		if j <= i || drop[j] || dql.node.OpType != "DynamicQuantizeLinear" || !stdDomain(dql.node) ||
			len(dql.in) != 1 || dql.in[0] != st.out[0] || len(dql.out) != 3 {
			continue
		}
		fu := &scaleDynQuantFusion{orig: [2]step{*st, *dql}}
		st.out, st.run = dql.out, fu.kernel
		drop[j] = true
	}
	p.removeSteps(drop)
}

// kernel runs Mul then DynamicQuantizeLinear on the Mul's operands.
func (fu *scaleDynQuantFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if outs, ok := scaleDynQuant(c, in[0], in[1]); ok {
		return outs, nil
	}
	return runPair(c, &fu.orig, in, 1)
}

// scaleDynQuant is the fast path of the pair: false where the operands are not a float32
// tensor and one finite, non-zero value per row of it, or the tensor holds a NaN.
func scaleDynQuant(c *opContext, a, b *Tensor) ([]*Tensor, bool) {
	if !fastPaths || a == nil || b == nil || a.DType != ir.Float32 || b.DType != ir.Float32 {
		return nil, false
	}
	av, ok1 := a.Data.([]float32)
	bv, ok2 := b.Data.([]float32)
	if !ok1 || !ok2 {
		return nil, false
	}
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, false
	}
	rows, inner, period, aFull, ok := rowBroadcast(a.Shape, b.Shape, shape)
	if !ok || inner < 16 {
		return nil, false
	}
	full, per := av, bv
	if !aFull {
		full, per = bv, av
	}
	mn, mx, mul := allocRaw[float32](c, rows), allocRaw[float32](c, rows), allocRaw[float32](c, rows)
	accel.MinMaxNaNRows(full, rows, inner, mn, mx)
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for r := range mul {
		m := per[r%period]
		if m != m || m == 0 || math.IsInf(float64(m), 0) || mn[r] != mn[r] {
			return nil, false // products that may be NaN, or a NaN: the original steps
		}
		p0, p1 := mn[r]*m, mx[r]*m
		if m < 0 {
			p0, p1 = p1, p0
		}
		lo, hi, mul[r] = min(lo, p0), max(hi, p1), m
	}
	scale, zp := dynQuantParams(lo, hi)
	q := allocRaw[uint8](c, len(full))
	if scale != 0 {
		accel.QuantizeScaledU8Rows(q, full, rows, inner, mul, scale, uint8(zp))
	} else {
		for i := range q {
			q[i] = uint8(zp)
		}
	}
	return []*Tensor{
		{DType: ir.Uint8, Shape: shape, Data: q},
		{DType: ir.Float32, Shape: []int{}, Data: []float32{scale}},
		{DType: ir.Uint8, Shape: []int{}, Data: []uint8{uint8(zp)}},
	}, true
}
