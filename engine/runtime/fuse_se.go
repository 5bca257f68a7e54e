package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Load-time fusion of the squeeze-and-excitation scale into the pointwise Conv after it.
// EfficientNet and MobileNetV3 blocks (as torch and other exporters write them) end in
//
//	s = Sigmoid/HardSigmoid(Conv(act(Conv(GlobalAveragePool(x)))))   one value per channel
//	y = Conv1×1(Mul(s, x))                                            the projection
//
// and the Mul is a full pass over the block's widest feature map, written to memory only
// for the Conv to read it back. Scaling input channel ci by s[ci] is scaling column ci of
// the Conv's weights, W'[m][ci] = W[m][ci]·s[ci]: m·C products per run instead of C·H·W,
// and no scaled feature map at all (where m > H·W the image is scaled instead, into a
// scratch buffer). The result differs from Mul-then-Conv only by float32
// rounding (each product w·(s·x) becomes (w·s)·x).
//
// Fused when the Mul's output is read only by a Conv (not itself fused) with constant
// float32 weights that is pointwise: 1×1 kernel, group 1, unit strides, no padding. At run
// time the scale must be [1, C, 1, 1] against an image [1, C, H, W], both float32 (a batch,
// or any other broadcast, runs the Mul and the Conv as before).

// seFusion is what the fused step carries: the original Mul and Conv steps.
type seFusion struct {
	mul, conv step
}

// fuseSEScale rewrites p.steps, folding each per-channel Mul into the pointwise Conv that
// reads it. The fused step runs where the Conv ran, with inputs (Mul's two, W, B).
func (s *Session) fuseSEScale(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	drop := make([]bool, len(p.steps))
	for k := range p.steps {
		mul := &p.steps[k]
		if mul.node.OpType != "Mul" || !stdDomain(mul.node) || len(mul.in) != 2 || len(mul.out) != 1 || mul.out[0] < 0 ||
			mul.in[0] < 0 || mul.in[1] < 0 {
			continue
		}
		o := mul.out[0]
		if uses[o] != 1 || p.init[o] != nil || p.types[o].dtype != ir.Float32 {
			continue
		}
		j := reader[o]
		if j <= k || drop[j] {
			continue
		}
		conv := &p.steps[j]
		if !s.pointwiseConv(p, conv, o) {
			continue
		}
		fu := &seFusion{mul: *mul, conv: *conv}
		in := []int{mul.in[0], mul.in[1], conv.in[1], -1}
		if len(conv.in) > 2 {
			in[3] = conv.in[2]
		}
		conv.in, conv.run = in, fu.kernel
		drop[k] = true
	}
	p.removeSteps(drop)
}

func stdDomain(n *ir.Node) bool { return n.Domain == "" || n.Domain == "ai.onnx" }

// pointwiseConv reports whether st is an unfused Conv reading slot x as its input, with
// constant float32 weights [M, C, 1, 1], group 1, unit strides and no padding.
func (s *Session) pointwiseConv(p *graphPlan, st *step, x int) bool {
	n := st.node
	if n.OpType != "Conv" || !stdDomain(n) || len(st.in) < 2 || len(st.in) > 3 || st.in[0] != x || len(st.out) != 1 ||
		st.out[0] < 0 || st.out[0] != p.slots[n.Outputs[0]] { // a fused Conv writes a later node's output
		return false
	}
	w := st.in[1]
	if w < 0 || !p.fixed[w] || p.init[w] == nil || p.init[w].DType != ir.Float32 || len(p.init[w].Shape) != 4 ||
		p.init[w].Shape[2] != 1 || p.init[w].Shape[3] != 1 {
		return false
	}
	if len(st.in) == 3 && st.in[2] >= 0 && (!p.fixed[st.in[2]] || p.init[st.in[2]] == nil || p.init[st.in[2]].DType != ir.Float32) {
		return false
	}
	for _, a := range n.Attrs {
		switch a.Name {
		case "group":
			if a.Int != 1 {
				return false
			}
		case "strides", "dilations", "pads":
			for _, v := range a.Ints {
				if a.Name == "pads" && v != 0 || a.Name != "pads" && v != 1 {
					return false
				}
			}
		case "auto_pad":
			if v := string(a.String); v != "" && v != "NOTSET" && v != "VALID" {
				return false
			}
		case "kernel_shape":
		default:
			return false
		}
	}
	return true
}

// kernel runs the fused step: in = (Mul's two inputs, W, B).
func (fu *seFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if x, sc, ok := seOperands(in[0], in[1]); ok && fastPaths && in[2] != nil && in[2].DType == ir.Float32 {
		w, ok := in[2].Data.([]float32)
		if ch := x.Shape[1]; ok && len(in[2].Shape) == 4 && in[2].Shape[1] == ch && len(w) == in[2].Shape[0]*ch {
			s := sc.Data.([]float32)
			if m, hw := in[2].Shape[0], x.Shape[2]*x.Shape[3]; m > hw {
				// More output channels than pixels (the 7×7 late layers): scaling the
				// image is the smaller product, and still one fewer pass than Mul + Conv.
				// The Conv runs on its own weight, so as its own step: its weight is then
				// input 1, fixed, and the kernels may keep what they derive from it.
				xs := allocRaw[float32](c, ch*hw)
				scaleRows(xs, x.Data.([]float32), s, hw)
				node, stp := c.node, c.step
				defer func() { c.node, c.step = node, stp }()
				c.node, c.step = fu.conv.node, &fu.conv
				return convRun(c, []*Tensor{{DType: ir.Float32, Shape: x.Shape, Data: xs}, in[2], opt(in, 3)}, nil, nil, nil)
			}
			ws := allocRaw[float32](c, len(w))
			accel.ParallelFor(len(w)/ch, max(1, seTaskValues/ch), func(r0, r1 int) {
				for r := r0 * ch; r < r1*ch; r += ch {
					for ci, v := range w[r : r+ch] {
						ws[r+ci] = v * s[ci]
					}
				}
			})
			scaled := &Tensor{DType: ir.Float32, Shape: in[2].Shape, Data: ws}
			return convRun(c, []*Tensor{x, scaled, opt(in, 3)}, nil, nil, nil)
		}
	}
	// Anything else: the Mul, then the Conv on its result.
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	c.node, c.step = fu.mul.node, &fu.mul
	outs, err := c.sess.exec(c, fu.mul, in[:2])
	if err != nil {
		return nil, err
	}
	if len(outs) < 1 || outs[0] == nil {
		return nil, errf("fused node %q produced no output", fu.mul.node.Name)
	}
	c.node, c.step = fu.conv.node, &fu.conv
	args := []*Tensor{outs[0], in[2]}
	if len(fu.conv.in) > 2 {
		args = append(args, in[3])
	}
	return c.sess.exec(c, fu.conv, args)
}

// seOperands sorts the Mul's operands into an image [1, C, H, W] and a scale [1, C, 1, 1],
// both float32, and reports whether they are that.
func seOperands(a, b *Tensor) (x, scale *Tensor, ok bool) {
	if a == nil || b == nil || a.DType != ir.Float32 || b.DType != ir.Float32 {
		return nil, nil, false
	}
	if len(b.Shape) == 4 && b.Shape[2]*b.Shape[3] != 1 {
		a, b = b, a
	}
	if len(a.Shape) != 4 || len(b.Shape) != 4 || a.Shape[0] != 1 || b.Shape[0] != 1 || a.Shape[1] != b.Shape[1] ||
		b.Shape[2] != 1 || b.Shape[3] != 1 {
		return nil, nil, false
	}
	if _, ok := a.Data.([]float32); !ok {
		return nil, nil, false
	}
	if _, ok := b.Data.([]float32); !ok {
		return nil, nil, false
	}
	return a, b, true
}

// scaleRows writes dst[r][k] = src[r][k]·s[r] for rows of n values.
func scaleRows(dst, src, s []float32, n int) {
	accel.ParallelFor(len(s), max(1, seTaskValues/max(n, 1)), func(r0, r1 int) {
		for r, sv := range s[r0:r1] {
			r += r0
			d, x := dst[r*n:(r+1)*n], src[r*n:(r+1)*n]
			for k, v := range x {
				d[k] = v * sv
			}
		}
	})
}

// seTaskValues is the number of products one task of the SE scaling computes at least:
// the scaled weights of an EfficientNet projection (up to 1152×320) took about 100 µs on
// one thread, a few µs of work is enough to hand to a second one.
const seTaskValues = 1 << 13
