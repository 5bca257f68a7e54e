package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Integer convolution for the QDQ form that modelc's compress writes (and onnxruntime's
// quantizer too): DequantizeLinear(x_q, x_scale, x_zero_point) and DequantizeLinear of a
// constant int8 weight, in front of a float Conv (→ its Relu, Clip, BatchNormalization,
// HardSwish, ... epilogue). Run as written, the activation is dequantized to float32 and
// the convolution runs in float32: the int8 model is slower than the float one. Fused at
// load, the step reads x_q itself and computes
//
//	y[oc] = float32(Σ (x_q − x_zp)·w_q[oc]) · (x_scale·w_scale[oc]) + bias[oc]
//
// with the exact int32 sum on accel's packed integer GEMM (AVX-512 VNNI vpdpbusd where
// the CPU has it), then the epilogue. That is the float Conv of the dequantized values
// up to float32 rounding (one rounding of the exact sum instead of one per product), so
// it agrees with onnxruntime within the tolerance the float Conv already has. Values of
// other types or shapes at run time take the original steps.

// qdqConv is what the fused step carries.
type qdqConv struct {
	m, ch  int             // output and input channels
	kshape []int           // spatial kernel size (1 or 2 values)
	wT     *accel.PackedB8 // the int8 weight transposed to P×m (P = ch·K) and packed
	wScale []float32       // per output channel
	wZP    []int32         // per output channel; nil: all 0
	bias   []float32       // nil: none
	stages []epStage       // the epilogue after the bias
	orig   []step          // DequantizeLinear, Conv, the epilogue's nodes: the fallback
}

// fuseQDQConv rewrites p.steps, replacing each DequantizeLinear → Conv (→ epilogue) chain
// whose weight is a dequantized int8 constant by one integer-convolution step. It runs
// after folding (the weight's DequantizeLinear is then a constant, its float value kept
// for the fallback) and before fuseConv.
func (s *Session) fuseQDQConv(p *graphPlan) {
	if !fastPaths {
		return
	}
	producer := map[string]*ir.Node{} // for the folded weight's DequantizeLinear
	for _, n := range p.g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	stepOf := map[int]int{}
	for i, st := range p.steps {
		for _, o := range st.out {
			if o >= 0 {
				stepOf[o] = i
			}
		}
	}
	uses, reader := p.readers(s)
	std := func(n *ir.Node) bool { return n.Domain == "" || n.Domain == "ai.onnx" }
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "Conv" || !std(st.node) || drop[i] || len(st.in) < 2 || len(st.out) != 1 || st.out[0] < 0 || st.in[0] < 0 {
			continue
		}
		d, ok := stepOf[st.in[0]]
		if !ok || drop[d] || uses[st.in[0]] != 1 || p.init[st.in[0]] != nil {
			continue
		}
		dq := p.steps[d]
		if dq.node.OpType != "DequantizeLinear" || !std(dq.node) || len(dq.in) < 2 || dq.in[0] < 0 || dq.in[1] < 0 || len(dq.out) != 1 {
			continue
		}
		if t := p.types[dq.in[0]].dtype; t != ir.Uint8 && t != ir.Int8 {
			continue
		}
		if a := st.node.Attr("group"); a != nil && a.Int != 1 {
			continue
		}
		q := quantConvWeight(p, producer, st.node.Inputs[1])
		if q == nil || !p.fixed[st.in[1]] || p.init[st.in[1]] == nil {
			continue
		}
		if len(st.in) > 2 && st.in[2] >= 0 {
			b := p.init[st.in[2]]
			if !p.fixed[st.in[2]] || b == nil || b.DType != ir.Float32 {
				continue
			}
			bv, _ := b.Data.([]float32)
			if len(bv) != q.m {
				continue
			}
			q.bias = bv
		}
		q.orig = []step{dq, *st}
		cur, last := st.out[0], i
		for len(q.orig) < 7 {
			if uses[cur] == 2 && p.init[cur] == nil {
				stage, j, k, ok := s.gatedStage(p, cur, last, drop, uses)
				if !ok {
					break
				}
				q.stages = append(q.stages, stage)
				q.orig = append(q.orig, p.steps[j], p.steps[k])
				drop[j], drop[k] = true, true
				cur, last = p.steps[k].out[0], k
				continue
			}
			if uses[cur] != 1 || p.init[cur] != nil {
				break
			}
			j := reader[cur]
			nx := &p.steps[j]
			if j <= last || drop[j] || len(nx.out) < 1 || nx.out[0] < 0 || nx.in[0] != cur {
				break
			}
			stage, ok := s.fusableStage(p, nx, q.m, func(sl int) []float32 {
				if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || p.init[sl].DType != ir.Float32 {
					return nil
				}
				v, _ := p.init[sl].Data.([]float32)
				return v
			})
			if !ok {
				break
			}
			q.stages = append(q.stages, stage)
			q.orig = append(q.orig, *nx)
			drop[j] = true
			cur, last = nx.out[0], j
		}
		drop[d] = true
		st.in = append([]int(nil), dq.in...)
		st.out = []int{cur}
		st.run = q.kernel
	}
	kept := p.steps[:0]
	for i, st := range p.steps {
		if !drop[i] {
			kept = append(kept, st)
		}
	}
	p.steps = kept
}

// quantConvWeight returns the fusion's weight part when the Conv weight named w is
// DequantizeLinear of constant int8 values with float32 scales per tensor or per output
// channel (axis 0), and int8 zero points of the same shape (or none); nil otherwise.
func quantConvWeight(p *graphPlan, producer map[string]*ir.Node, w string) *qdqConv {
	n := producer[w]
	if n == nil || n.OpType != "DequantizeLinear" || len(n.Inputs) < 2 || (n.Domain != "" && n.Domain != "ai.onnx") {
		return nil
	}
	wq, sc := p.consts[n.Inputs[0]], p.consts[n.Inputs[1]]
	if wq == nil || sc == nil || wq.DType != ir.Int8 || sc.DType != ir.Float32 || len(wq.Shape) < 3 || len(wq.Shape) > 4 {
		return nil
	}
	wv, _ := wq.Data.([]int8)
	sv, _ := sc.Data.([]float32)
	m := wq.Shape[0]
	if len(wv) != prod(wq.Shape) || m == 0 || len(wv) == 0 {
		return nil
	}
	switch {
	case len(sv) == 1 && len(sc.Shape) <= 1:
	case len(sv) == m && len(sc.Shape) == 1 && n.Attr("axis") != nil && (n.Attr("axis").Int == 0 || n.Attr("axis").Int == -int64(len(wq.Shape))):
	default:
		return nil
	}
	q := &qdqConv{m: m, ch: wq.Shape[1], kshape: wq.Shape[2:], wScale: make([]float32, m)}
	for oc := range q.wScale {
		q.wScale[oc] = sv[min(oc, len(sv)-1)]
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		zp := p.consts[n.Inputs[2]]
		if zp == nil || zp.DType != ir.Int8 {
			return nil
		}
		zv, _ := zp.Data.([]int8)
		if len(zv) != len(sv) || !sameShape(zp.Shape, sc.Shape) {
			return nil
		}
		for oc, z := range zv {
			if z != 0 && q.wZP == nil {
				q.wZP = make([]int32, m)
			}
			if q.wZP != nil {
				q.wZP[oc] = int32(z)
			}
		}
		if q.wZP != nil && len(zv) == 1 {
			for oc := range q.wZP {
				q.wZP[oc] = int32(zv[0])
			}
		}
	}
	// Wᵀ (P×m): the GEMM's B, so that the activations are its uint8 (or int8) A.
	P := len(wv) / m
	wt := make([]int8, len(wv))
	for oc := 0; oc < m; oc++ {
		for k, v := range wv[oc*P : (oc+1)*P] {
			wt[k*m+oc] = v
		}
	}
	q.wT = accel.PackB8(wt, P, m, m)
	return q
}

// kernel runs the integer convolution when x_q is uint8 or int8 with one scale and zero
// point and the Conv is 1-D or 2-D over the channels the weight expects; the original
// steps otherwise.
func (q *qdqConv) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if y, ok, err := q.run(c, in); ok || err != nil {
		return y, err
	}
	return q.fallback(c, in)
}

func (q *qdqConv) run(c *opContext, in []*Tensor) ([]*Tensor, bool, error) {
	x, xs, xzpT := in[0], in[1], opt(in, 2)
	if !fastPaths || x == nil || xs == nil || len(x.Shape) != 2+len(q.kshape) || x.Shape[1] != q.ch {
		return nil, false, nil
	}
	sv, _ := xs.Data.([]float32)
	if xs.DType != ir.Float32 || len(sv) != 1 {
		return nil, false, nil
	}
	var xzp int32
	if xzpT != nil {
		if xzpT.DType != x.DType {
			return nil, false, nil
		}
		switch v := xzpT.Data.(type) {
		case []uint8:
			if len(v) != 1 {
				return nil, false, nil
			}
			xzp = int32(v[0])
		case []int8:
			if len(v) != 1 {
				return nil, false, nil
			}
			xzp = int32(v[0])
		default:
			return nil, false, nil
		}
	}
	xu8, isU8 := x.Data.([]uint8)
	xs8, isS8 := x.Data.([]int8)
	if !isU8 && !isS8 {
		return nil, false, nil
	}
	g, err := geometry(c, x.Shape[2:], q.kshape, false)
	if err != nil {
		return nil, true, err
	}
	n, m, ch := x.Shape[0], q.m, q.ch
	outShape := append([]int{n, m}, g.out...)
	if len(g.in) == 1 {
		g = g.as2D() // a 1-D convolution is a 2-D one of height 1
	}
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	P := ch * K
	if O == 0 || n == 0 {
		return []*Tensor{{DType: ir.Float32, Shape: outShape, Data: allocRaw[float32](c, n*m*O)}}, true, nil
	}
	scale := make([]float32, m)
	for oc := range scale {
		scale[oc] = sv[0] * q.wScale[oc]
	}
	y := allocRaw[float32](c, n*m*O) // the epilogue below writes every element
	acc := allocRaw[int32](c, O*m)
	var colU []uint8
	var colS []int8
	if isU8 {
		colU = allocRaw[uint8](c, O*P)
	} else {
		colS = allocRaw[int8](c, O*P)
	}
	// A weight zero point comes off as wzp[oc]·Σ_p (x − x_zp) over each window: the
	// sums of the column rows (padding holds x_zp, so it adds nothing).
	var xsum []int32
	if q.wZP != nil {
		xsum = allocRaw[int32](c, O)
	}
	grain := max(1, im2colGrain/max(P, 1))
	for img := 0; img < n; img++ {
		if isU8 {
			xi := xu8[img*ch*S : (img+1)*ch*S]
			accel.ParallelFor(O, grain, func(o0, o1 int) {
				im2colT2D(colU[o0*P:o1*P], xi, ch, g, o0, o1, uint8(xzp))
				if xsum != nil {
					rowSums(xsum[o0:o1], colU[o0*P:o1*P], P)
				}
			})
			accel.GEMMU8S8PackedZP(O, colU, P, uint8(xzp), q.wT, acc, m)
		} else {
			xi := xs8[img*ch*S : (img+1)*ch*S]
			accel.ParallelFor(O, grain, func(o0, o1 int) {
				im2colT2D(colS[o0*P:o1*P], xi, ch, g, o0, o1, int8(xzp))
				if xsum != nil {
					rowSums(xsum[o0:o1], colS[o0*P:o1*P], P)
				}
			})
			accel.GEMMS8S8PackedZP(O, colS, P, int8(xzp), q.wT, acc, m)
		}
		yi := y[img*m*O : (img+1)*m*O]
		// acc is O×m (position-major); y is channel-major: each task takes a band of
		// channels, reading one cache line of acc per position.
		accel.ParallelFor(m, 16, func(c0, c1 int) {
			sc := scale[c0:c1]
			if xsum == nil {
				for o := 0; o < O; o++ {
					for j, v := range acc[o*m+c0 : o*m+c1] {
						yi[(c0+j)*O+o] = float32(v) * sc[j]
					}
				}
			} else {
				zw := q.wZP[c0:c1]
				P32 := int32(P)
				for o := 0; o < O; o++ {
					d := xsum[o] - P32*xzp // Σ (x − x_zp) over the window, wrapping like the reference
					for j, v := range acc[o*m+c0 : o*m+c1] {
						yi[(c0+j)*O+o] = float32(v-zw[j]*d) * sc[j]
					}
				}
			}
			epilogueBlock(yi[c0*O:c1*O], c1-c0, O, c0, q.bias, q.stages)
		})
	}
	return []*Tensor{{DType: ir.Float32, Shape: outShape, Data: y}}, true, nil
}

// im2colT2D writes rows [o0, o1) of the transposed im2col of ch planes: row o (output
// position oh·OW+ow) holds, for every channel and kernel position, the input value the
// window reads, or pad (the zero point: it contributes nothing) in the padding.
func im2colT2D[T uint8 | int8](dst, x []T, ch int, g *convGeom, o0, o1 int, pad T) {
	H, W := g.in[0], g.in[1]
	KH, KW := g.kernel[0], g.kernel[1]
	OW := g.out[1]
	P := ch * KH * KW
	if KH == 1 && KW == 1 && g.strides[0] == 1 && g.strides[1] == 1 && g.padBegin[0] == 0 && g.padBegin[1] == 0 &&
		g.out[0] == H && OW == W {
		// Pointwise: a transpose of [ch, H·W] to [H·W, ch], by tiles of positions.
		S := H * W
		const tile = 64
		for t0 := o0; t0 < o1; t0 += tile {
			t1 := min(t0+tile, o1)
			for ci := 0; ci < ch; ci++ {
				src := x[ci*S+t0 : ci*S+t1]
				for o, v := range src {
					dst[(t0-o0+o)*P+ci] = v
				}
			}
		}
		return
	}
	for o := o0; o < o1; o++ {
		oh, ow := o/OW, o%OW
		row := dst[(o-o0)*P : (o-o0+1)*P]
		ih0 := oh*g.strides[0] - g.padBegin[0]
		iw0 := ow*g.strides[1] - g.padBegin[1]
		i := 0
		for ci := 0; ci < ch; ci++ {
			plane := x[ci*H*W : (ci+1)*H*W]
			for kh := 0; kh < KH; kh++ {
				ih := ih0 + kh*g.dil[0]
				if ih < 0 || ih >= H {
					for kw := 0; kw < KW; kw++ {
						row[i+kw] = pad
					}
					i += KW
					continue
				}
				line := plane[ih*W : (ih+1)*W]
				for kw := 0; kw < KW; kw++ {
					v := pad
					if iw := iw0 + kw*g.dil[1]; iw >= 0 && iw < W {
						v = line[iw]
					}
					row[i+kw] = v
				}
				i += KW
			}
		}
	}
}

// fallback runs the original steps in turn: the DequantizeLinear, then the Conv and its
// epilogue's nodes, each reading the values made before it or the plan's constants.
func (q *qdqConv) fallback(c *opContext, in []*Tensor) ([]*Tensor, error) {
	node, stp := c.node, c.step
	defer func() { c.node, c.step = node, stp }()
	vals := map[int]*Tensor{}
	for k, sl := range q.orig[0].in {
		if sl >= 0 && k < len(in) {
			vals[sl] = in[k]
		}
	}
	var outs []*Tensor
	for k := range q.orig {
		st := &q.orig[k]
		args := make([]*Tensor, len(st.in))
		for j, sl := range st.in {
			if v, ok := vals[sl]; ok {
				args[j] = v
			} else if sl >= 0 {
				args[j] = c.plan.init[sl]
			}
		}
		c.node, c.step = st.node, st
		var err error
		if outs, err = c.sess.exec(c, *st, args); err != nil {
			return nil, err
		}
		if len(outs) < 1 || outs[0] == nil {
			return nil, errf("fused node %q produced no output", st.node.Name)
		}
		vals[st.out[0]] = outs[0]
	}
	return outs, nil
}
