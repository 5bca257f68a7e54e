package runtime

import (
	"math"
	"unsafe"

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
//	y[oc] = float32(Σ (x_q − x_zp)·(w_q[oc] − w_zp[oc])) · (x_scale·w_scale[oc]) + bias[oc]
//
// with the exact int32 sum on accel's integer GEMM (AVX-512 VNNI vpdpbusd where the CPU
// has it; qconvRun lays the operands out), then the epilogue. That is the float Conv of the dequantized values
// up to float32 rounding (one rounding of the exact sum instead of one per product), so
// it agrees with onnxruntime within the tolerance the float Conv already has. Values of
// other types or shapes at run time take the original steps.

// qconvOutQuant switches on the fusion of the QuantizeLinear of a fused convolution's
// result; tests turn it off to compare.
var qconvOutQuant = true

// qdqConvFusion switches the fusion on; benchmarks turn it off to time the path it
// replaces (DequantizeLinear, then the float Conv).
var qdqConvFusion = true

// qdqConv is what the fused step carries.
type qdqConv struct {
	m, ch  int             // output and input channels
	kshape []int           // spatial kernel size (1 or 2 values)
	w      *accel.PackedA8 // W as stored, m×P (P = ch·K), packed for the kernel
	wSum   []int32         // Σ_p w[oc][p]
	wScale []float32       // per output channel
	wZP    []int32         // per output channel; nil: all 0
	bias   []float32       // nil: none
	stages []epStage       // the epilogue after the bias
	outQ   *outQuant       // the QuantizeLinear of the result, taken in; nil: float32 out
	orig   []step          // DequantizeLinear, Conv, the epilogue's nodes (and QuantizeLinear): the fallback
}

// outQuant is a static model's QuantizeLinear of a fused convolution's result: one
// constant scale and zero point, to uint8 or int8.
type outQuant struct {
	q     accel.OutQuant
	dtype ir.DType
}

// fuseQDQConv rewrites p.steps, replacing each DequantizeLinear → Conv (→ epilogue) chain
// whose weight is a dequantized int8 constant by one integer-convolution step. It runs
// after folding (the weight's DequantizeLinear is then a constant, its float value kept
// for the fallback) and before fuseConv.
func (s *Session) fuseQDQConv(p *graphPlan) {
	if !fastPaths || !qdqConvFusion {
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
	// A DequantizeLinear read by several Convs (a residual block's input, read by its
	// first Conv and by the downsampling one) is fused into each; it is dropped when all
	// its readers were.
	fusedReaders := map[int]int{}
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "Conv" || !std(st.node) || drop[i] || len(st.in) < 2 || len(st.out) != 1 || st.out[0] < 0 || st.in[0] < 0 {
			continue
		}
		d, ok := stepOf[st.in[0]]
		if !ok || drop[d] || p.init[st.in[0]] != nil {
			continue
		}
		dq := p.steps[d]
		if dq.node.OpType != "DequantizeLinear" || !std(dq.node) || len(dq.in) < 2 || dq.in[0] < 0 || dq.in[1] < 0 || len(dq.out) != 1 {
			continue
		}
		if t := p.types[dq.in[0]].dtype; t != ir.Uint8 && t != ir.Int8 || p.types[st.in[0]].dtype != ir.Float32 {
			continue // the fused step computes in float32, as the float32 Conv it replaces
		}
		if a := st.node.Attr("group"); a != nil && a.Int != 1 {
			continue
		}
		q := quantConvWeight(p, producer, st.node.Inputs[1])
		if q == nil || !p.fixed[st.in[1]] || p.init[st.in[1]] == nil || p.init[st.in[1]].DType != ir.Float32 {
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
		taken, cur := s.epilogueChain(p, st.out[0], i, drop, uses, reader, 5,
			func(e epStage) { q.stages = append(q.stages, e) },
			func(nx *step) bool {
				stage, ok := s.fusableStage(p, nx, q.m, func(sl int) []float32 {
					if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || p.init[sl].DType != ir.Float32 {
						return nil
					}
					v, _ := p.init[sl].Data.([]float32)
					return v
				})
				if ok {
					q.stages = append(q.stages, stage)
				}
				return ok
			})
		q.orig = append(q.orig, taken...)
		if j, oq := quantOfResult(p, cur, i, drop, uses, reader); oq != nil && qconvOutQuant {
			// The result's only reader quantizes it (static QDQ: the next layer's
			// input): the step writes the bytes itself, and the float32 tensor
			// between them is never stored.
			q.outQ, q.orig = oq, append(q.orig, p.steps[j])
			drop[j], cur = true, p.steps[j].out[0]
		}
		if fusedReaders[d]++; fusedReaders[d] == uses[dq.out[0]] {
			drop[d] = true
		}
		st.in = append([]int(nil), dq.in...)
		st.out = []int{cur}
		st.run = q.kernel
	}
	p.removeSteps(drop)
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
	P := len(wv) / m
	q.w = accel.PackA8(wv, m, P, P)
	q.wSum = make([]int32, m)
	for oc := range q.wSum {
		for _, v := range wv[oc*P : (oc+1)*P] {
			q.wSum[oc] += int32(v)
		}
	}
	return q
}

// quantOfResult returns the step j that is slot cur's only reader (after step last) when
// it is a QuantizeLinear with one constant, finite, non-zero float32 scale and a constant
// uint8 or int8 zero point (or none: uint8 0), and what it does; nil otherwise.
func quantOfResult(p *graphPlan, cur, last int, drop []bool, uses, reader []int) (int, *outQuant) {
	if uses[cur] != 1 || p.init[cur] != nil {
		return 0, nil
	}
	j := reader[cur]
	st := &p.steps[j]
	if j <= last || drop[j] || st.node.OpType != "QuantizeLinear" || !stdDomain(st.node) || len(st.in) < 2 ||
		st.in[0] != cur || st.in[1] < 0 || len(st.out) != 1 || st.out[0] < 0 {
		return 0, nil
	}
	constant := func(sl int) *Tensor {
		if sl < 0 || !p.fixed[sl] {
			return nil
		}
		return p.init[sl]
	}
	sc := constant(st.in[1])
	if sc == nil || sc.DType != ir.Float32 {
		return 0, nil
	}
	sv, _ := sc.Data.([]float32)
	if len(sv) != 1 || sv[0] == 0 || math.IsInf(float64(sv[0]), 0) || sv[0] != sv[0] {
		return 0, nil
	}
	oq := &outQuant{q: accel.OutQuant{Scale: sv[0]}, dtype: ir.Uint8}
	if len(st.in) > 2 && st.in[2] >= 0 {
		zp := constant(st.in[2])
		if zp == nil {
			return 0, nil
		}
		switch v := zp.Data.(type) {
		case []uint8:
			if zp.DType != ir.Uint8 || len(v) != 1 {
				return 0, nil
			}
			oq.q.ZP = int32(v[0])
		case []int8:
			if zp.DType != ir.Int8 || len(v) != 1 {
				return 0, nil
			}
			oq.q.ZP, oq.q.Signed, oq.dtype = int32(v[0]), true, ir.Int8
		default:
			return 0, nil
		}
	} else if a := st.node.Attr("output_dtype"); a != nil && a.Int != 0 && ir.DType(a.Int) != ir.Uint8 {
		return 0, nil
	}
	return j, oq
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
	g, err := geometry(c, x.Shape[2:], q.kshape, false)
	if err != nil {
		return nil, true, err
	}
	for _, p := range g.padBegin {
		if p < 0 {
			return nil, false, nil // negative pads (a crop) take the original steps
		}
	}
	outShape := append([]int{x.Shape[0], q.m}, g.out...)
	if len(g.in) == 1 {
		g = g.as2D() // a 1-D convolution is a 2-D one of height 1
	}
	dtype := ir.Float32
	if q.outQ != nil {
		dtype = q.outQ.dtype
	}
	switch xv := x.Data.(type) {
	case []uint8:
		if x.DType == ir.Uint8 {
			return []*Tensor{{DType: dtype, Shape: outShape, Data: qconvRun(c, q, xv, uint8(xzp), sv[0], g)}}, true, nil
		}
	case []int8:
		if x.DType == ir.Int8 {
			return []*Tensor{{DType: dtype, Shape: outShape, Data: qconvRun(c, q, xv, int8(xzp), sv[0], g)}}, true, nil
		}
	}
	return nil, false, nil
}

// qconvRun is the integer convolution of the images x (N×ch×H×W, or height 1 for 1-D)
// with zero point xzp and scale xs, channel-major all the way: the window matrix B
// (P = ch·K rows, one per input channel and kernel position, and one column per output
// position of every image; for a pointwise convolution X itself), shifted to int8 by
// flipping the top bit when x is uint8, then accel.GEMMS8S8Dequant of W times B, whose
// rows are y's, dequantized as they are made. With b = x − s (s = 128 for uint8, 0 for
// int8) and bz = x_zp − s, what is wanted is
//
//	Σ (w − wzp)(b − bz) = Σ w·b − bz·Σw − wzp·Σ(b − bz)
//
// in wrapping int32 like the reference; a window over the padding reads bz there, which
// contributes nothing.
//
// It returns y as float32, or, with q.outQ, quantized: by the kernel itself where the
// epilogue runs in it, else by a pass after it.
func qconvRun[T uint8 | int8](c *opContext, q *qdqConv, x []T, xzp T, xs float32, g *convGeom) any {
	ch, m := q.ch, q.m
	n := len(x) / max(ch*prod(g.in), 1)
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	P := ch * K
	act, fused := pointwiseAct(q.stages)
	var y []float32
	var y8 []byte // with q.outQ and the epilogue in the kernel: the quantized result, written by it
	var res any
	switch {
	case q.outQ == nil || !fused:
		y = allocRaw[float32](c, n*m*O) // the kernel (and the epilogue) write every element
		res = y
	case q.outQ.dtype == ir.Int8:
		v := allocRaw[int8](c, n*m*O)
		y8, res = bytesOf(v), v
	default:
		v := allocRaw[uint8](c, n*m*O)
		y8, res = v, v
	}
	if O == 0 || n == 0 {
		if q.outQ != nil && y != nil {
			return quantizeResult(c, y, q.outQ)
		}
		return res
	}
	var flip uint8
	if _, ok := any(xzp).(uint8); ok {
		flip = 0x80
	}
	bz := int8(uint8(xzp) ^ flip)
	// B: for a pointwise convolution, each image's X itself (ch×O, its bytes flipped by
	// the kernel as it packs them); otherwise the windows of all the images side by side,
	// flipped as they are gathered.
	b, ldb, imgStride, bflip := int8sOf(x), O, ch*O, flip
	pointwise := K == 1 && O == S && allPositive(g.strides, 1) && allZero(g.padBegin) && allZero(g.padEnd)
	if !pointwise {
		width := n * O
		b, ldb, imgStride, bflip = allocRaw[int8](c, P*width), width, O, 0
		win := accel.Window2D{H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1], KH: g.kernel[0], KW: g.kernel[1],
			SH: g.strides[0], SW: g.strides[1], PH: g.padBegin[0], PW: g.padBegin[1], DH: g.dil[0], DW: g.dil[1]}
		if parts := windowParts(win, n*ch, K*O); parts > 1 {
			// Fewer planes than the threads can share evenly (a raw-audio or RGB stem):
			// each plane's gather in parts along its output rows (or columns).
			accel.ParallelFor(n*ch*parts, 1, func(t0, t1 int) {
				for t := t0; t < t1; t++ {
					r, part := t/parts, t%parts
					img, ci := r/ch, r%ch
					sub, plane, at := windowPart(win, bytesOf(x[r*S:(r+1)*S]), part, parts)
					accel.WindowRows8(b[ci*K*width+img*O+at:], width, plane, 1, sub, flip, bz)
				}
			})
		} else {
			// Task r writes the K rows of image r/ch, channel r%ch: one call per image's
			// run of channels.
			accel.ParallelFor(n*ch, max(1, im2colGrain/max(K*O, 1)), func(r0, r1 int) {
				for r := r0; r < r1; {
					img, ci := r/ch, r%ch
					planes := min(ch-ci, r1-r)
					accel.WindowRows8(b[ci*K*width+img*O:], width, bytesOf(x[r*S:(r+planes)*S]), planes, win, flip, bz)
					r += planes
				}
			})
		}
	}
	// The corrections: fix[oc] = bz·Σw; with weight zero points, wzp·(Σb − P·bz) per
	// position, which the kernel computes from its column sums.
	fix, scale := allocRaw[int32](c, m), allocRaw[float32](c, m)
	for oc := range fix {
		fix[oc], scale[oc] = int32(bz)*q.wSum[oc], xs*q.wScale[oc]
	}
	var bias []float32
	if fused {
		bias = q.bias
	} else {
		act = accel.Act{Kind: accel.ActNone} // the epilogue below adds the bias and runs the stages
	}
	// The products: per image, y's m×O block of W times the image's columns of B; or, for
	// a batch of small images whose windows sit side by side in B, one m×(n·O) product
	// into a scratch matrix, its columns then copied to each image's block. (Image by
	// image, a batch of 4×4 maps was 16 products of 16 columns, each packing its own B
	// and filling half of the kernel's 32-column tiles.)
	imgs, width, out, out8, ldy := n, O, y, y8, O
	merged := !pointwise && n > 1 && O < qconvCols
	if merged {
		imgs, width, ldy = 1, n*O, n*O
		if y8 != nil {
			out8 = allocRaw[byte](c, m*width)
		} else {
			out = allocRaw[float32](c, m*width)
		}
	}
	// Tasks: blocks of rows × runs of columns, inside one image: runs of up to qconvCols
	// positions; where that leaves a thread idle, shorter runs (at least 64 positions:
	// the weights are packed once, so this costs nothing), then blocks of rows (whole
	// blocks of the packed weights; each task then packs the same B). Every value is
	// computed whole inside one task, so the bits do not depend on the split.
	want := 1
	if threads := accel.MaxThreads(); m*width*P >= threads*qconvTaskWork {
		want = (threads + imgs - 1) / imgs
	}
	colTasks := max((width+qconvCols-1)/qconvCols, min(want, width/64))
	cols := min(width, ((width+colTasks-1)/colTasks+31)/32*32)
	colTasks = (width + cols - 1) / cols
	rows := m
	if colTasks < want {
		split := min((want+colTasks-1)/colTasks, (m+47)/48)
		blk := q.w.RowBlock()
		rows = ((m+split-1)/split + blk - 1) / blk * blk
	}
	rowTasks := (m + rows - 1) / rows
	accel.ParallelFor(imgs*colTasks*rowTasks, 1, func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			img, rest := t/(colTasks*rowTasks), t%(colTasks*rowTasks)
			r0, j0 := rest/colTasks*rows, rest%colTasks*cols
			r1, j1 := min(m, r0+rows), min(width, j0+cols)
			d := accel.Dequant{Fix: fix[r0:r1], KBZ: int32(P) * int32(bz), Scale: scale[r0:r1], Act: act}
			if q.wZP != nil {
				d.ZW = q.wZP[r0:r1]
			}
			if bias != nil {
				d.Bias = bias[r0:r1]
			}
			bj, yj := b[img*imgStride+j0:], (img*m+r0)*ldy+j0
			if out8 != nil {
				accel.GEMMS8S8Quant(q.w, r0, r1, j1-j0, bj, ldb, bflip, out8[yj:], ldy, &d, q.outQ.q)
			} else {
				accel.GEMMS8S8Dequant(q.w, r0, r1, j1-j0, bj, ldb, bflip, out[yj:], ldy, &d)
			}
		}
	})
	if merged {
		accel.ParallelFor(n, max(1, qconvCopyGrain/max(m*O, 1)), func(i0, i1 int) {
			for img := i0; img < i1; img++ {
				for r := 0; r < m; r++ {
					if y8 != nil {
						copy(y8[(img*m+r)*O:(img*m+r+1)*O], out8[r*width+img*O:])
					} else {
						copy(y[(img*m+r)*O:(img*m+r+1)*O], out[r*width+img*O:])
					}
				}
			}
		})
	}
	if !fused {
		for img := 0; img < n; img++ {
			epilogueBlock(y[img*m*O:(img+1)*m*O], m, O, 0, q.bias, q.stages)
		}
	}
	if q.outQ != nil && y != nil {
		return quantizeResult(c, y, q.outQ)
	}
	return res
}

// windowParts is how many parts each of planes planes' window matrices (K·O values
// each) is gathered in: 1 where the planes alone give every thread an even share, else
// enough parts for two tasks per thread, none under a quarter of im2colGrain values.
// A plane splits along its output rows, or along its output columns when it is one
// row (a 1-D convolution).
func windowParts(win accel.Window2D, planes, values int) int {
	threads := accel.MaxThreads()
	if threads == 1 || planes >= 2*threads || win.OH == 1 && win.H != 1 {
		return 1
	}
	parts := min((2*threads+planes-1)/planes, values/(im2colGrain/4))
	if win.OH > 1 {
		parts = min(parts, win.OH)
	} else {
		parts = min(parts, win.OW/64)
	}
	return max(parts, 1)
}

// windowPart is part i of parts of one plane's gather (windowParts): the window of that
// part's output rows (or columns), the plane's bytes it reads, and the offset of its
// first output position in the plane's rows of the window matrix. A part that starts
// past the leading padding reads the plane from its first row (column) on, with no
// padding before it; the trailing padding follows from the part's output size.
func windowPart(win accel.Window2D, plane []byte, i, parts int) (accel.Window2D, []byte, int) {
	sub := win
	if win.OH > 1 {
		o0, o1 := i*win.OH/parts, (i+1)*win.OH/parts
		sub.OH = o1 - o0
		if first := o0*win.SH - win.PH; first > 0 {
			skip := min(first, win.H)
			sub.PH, sub.H, plane = 0, win.H-skip, plane[skip*win.W:]
		} else {
			sub.PH = -first
		}
		return sub, plane, o0 * win.OW
	}
	o0, o1 := i*win.OW/parts, (i+1)*win.OW/parts
	sub.OW = o1 - o0
	if first := o0*win.SW - win.PW; first > 0 {
		skip := min(first, win.W)
		sub.PW, sub.W, plane = 0, win.W-skip, plane[skip:]
	} else {
		sub.PW = -first
	}
	return sub, plane, o0
}

// quantizeResult is the fused QuantizeLinear as a pass of its own over the float32
// result (where the epilogue did not run in the kernel): the same bits as the node.
func quantizeResult(c *opContext, y []float32, oq *outQuant) any {
	if oq.dtype == ir.Int8 {
		v := allocRaw[int8](c, len(y))
		accel.QuantizeS8(v, y, oq.q.Scale, int8(oq.q.ZP))
		return v
	}
	v := allocRaw[uint8](c, len(y))
	accel.QuantizeU8(v, y, oq.q.Scale, uint8(oq.q.ZP))
	return v
}

// The kernel blocks B for the cache itself: a qconvRun task is large, a run of up to
// qconvCols output positions with all the rows; rows are split only to keep the threads
// busy on a deep layer's few positions, into tasks of at least qconvTaskWork
// multiply-adds.
const (
	qconvCols      = 1024
	qconvTaskWork  = 1 << 21
	qconvCopyGrain = 1 << 15 // values a task of the merged product's copy moves
)

// bytesOf is v's memory as bytes, for accel's byte kernels.
func bytesOf[T uint8 | int8](v []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
}

// int8sOf is v's memory as int8, for accel's int8 kernels (which flip uint8's top bit
// themselves).
func int8sOf[T uint8 | int8](v []T) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
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
