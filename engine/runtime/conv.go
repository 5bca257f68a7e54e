package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Convolution (N-D, grouped, dilated, padded) by im2col + GEMM, and ConvTranspose by
// GEMM + col2im. float32 goes through accel.SGEMM; float64 and float16 use the same
// lowering with float64 arithmetic.

func init() {
	register(opConv, "Conv")
	register(opConvTranspose, "ConvTranspose")
}

// convGeom is the geometry shared by Conv, pooling and ConvTranspose.
type convGeom struct {
	in, kernel, out  []int // spatial sizes
	strides, dil     []int
	padBegin, padEnd []int
	group            int // Conv's group attribute (1 where absent), read with the rest
}

// readGeometry reads kernel_shape/strides/dilations/pads/auto_pad for spatial input in
// and kernel k; ceil selects pooling's ceil_mode. geometry caches it.
func readGeometry(c *opContext, in, k []int, ceil bool) (*convGeom, error) {
	r := len(in)
	// Every Conv and pool computes this on every run: the five vectors share one array
	// and the attributes are read in place, two allocations instead of ten.
	buf := make([]int, 5*r)
	g := &convGeom{in: in, kernel: k, out: buf[:r:r], strides: buf[r : 2*r : 2*r], dil: buf[2*r : 3*r : 3*r],
		padBegin: buf[3*r : 4*r : 4*r], padEnd: buf[4*r:]}
	for i := range r {
		g.strides[i], g.dil[i] = 1, 1
	}
	if s := c.node.Attr("strides"); s != nil && len(s.Ints) == r {
		for i, v := range s.Ints {
			g.strides[i] = int(v)
		}
	}
	if d := c.node.Attr("dilations"); d != nil && len(d.Ints) == r {
		for i, v := range d.Ints {
			g.dil[i] = int(v)
		}
	}
	if p := c.node.Attr("pads"); p != nil {
		if len(p.Ints) != 2*r {
			return nil, errf("pads %v do not match %d spatial dimensions", p.Ints, r)
		}
		for i := range r {
			g.padBegin[i], g.padEnd[i] = int(p.Ints[i]), int(p.Ints[r+i])
		}
	}
	autoPad := c.attrString("auto_pad", "NOTSET")
	g.group = int(c.attrInt("group", 1))
	for i := 0; i < r; i++ {
		if g.strides[i] <= 0 || g.dil[i] <= 0 {
			return nil, errf("strides and dilations must be positive")
		}
		ext := (k[i]-1)*g.dil[i] + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			g.out[i] = (in[i] + g.strides[i] - 1) / g.strides[i]
			total := max(0, (g.out[i]-1)*g.strides[i]+ext-in[i])
			if autoPad == "SAME_UPPER" {
				g.padBegin[i], g.padEnd[i] = total/2, total-total/2
			} else {
				g.padBegin[i], g.padEnd[i] = total-total/2, total/2
			}
			continue
		case "VALID":
			g.padBegin[i], g.padEnd[i] = 0, 0
		case "NOTSET":
		default:
			return nil, unsupported("auto_pad %q", autoPad)
		}
		span := in[i] + g.padBegin[i] + g.padEnd[i] - ext
		if span < 0 {
			return nil, errf("kernel %v is larger than the padded input %v", k, in)
		}
		if ceil {
			g.out[i] = (span+g.strides[i]-1)/g.strides[i] + 1
			// The last window must start inside the input or its left padding.
			if (g.out[i]-1)*g.strides[i] >= in[i]+g.padBegin[i] {
				g.out[i]--
			}
		} else {
			g.out[i] = span/g.strides[i] + 1
		}
	}
	return g, nil
}

// as2D is a 1-D geometry as the 2-D one of height 1 (same sizes, same order).
func (g *convGeom) as2D() *convGeom {
	lift := func(v []int, one int) []int { return []int{one, v[0]} }
	return &convGeom{in: lift(g.in, 1), kernel: lift(g.kernel, 1), out: lift(g.out, 1), strides: lift(g.strides, 1),
		dil: lift(g.dil, 1), padBegin: lift(g.padBegin, 0), padEnd: lift(g.padEnd, 0), group: g.group}
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// Window classes in the im2col table.
const (
	inPad     = -1 // a position in the explicit padding
	outsideIt = -2 // beyond the padded input (pooling's ceil_mode windows)
)

// cachedTable returns g's window table, built once per node and geometry: the session
// keeps the last table of each node (a model usually runs on one input shape).
func (c *opContext) cachedTable(g *convGeom) []int {
	if v, ok := c.sess.tables.Load(c.node); ok {
		if e := v.(*tableEntry); e.g.equal(g) {
			return e.table
		}
	}
	t := g.windowTable()
	c.sess.tables.Store(c.node, &tableEntry{g: g, table: t})
	return t
}

type tableEntry struct {
	g     *convGeom
	table []int
}

func (g *convGeom) equal(h *convGeom) bool {
	return sameShape(g.in, h.in) && sameShape(g.kernel, h.kernel) && sameShape(g.out, h.out) && sameShape(g.strides, h.strides) &&
		sameShape(g.dil, h.dil) && sameShape(g.padBegin, h.padBegin) && sameShape(g.padEnd, h.padEnd)
}

// windowTable lists, for every kernel position kp and output position o, the spatial
// offset of the input element it reads (table[kp*O+o]), or inPad / outsideIt.
func (g *convGeom) windowTable() []int {
	K, O := prod(g.kernel), prod(g.out)
	r := len(g.in)
	ist := stridesOf(g.in)
	table := make([]int, K*O)
	kst, ost := stridesOf(g.kernel), stridesOf(g.out)
	for kp := 0; kp < K; kp++ {
		for o := 0; o < O; o++ {
			off, state := 0, 0
			for d := 0; d < r; d++ {
				kd := (kp / kst[d]) % g.kernel[d]
				od := (o / ost[d]) % g.out[d]
				p := od*g.strides[d] + kd*g.dil[d] - g.padBegin[d]
				switch {
				case p >= g.in[d]+g.padEnd[d] || p < -g.padBegin[d]:
					state = outsideIt
				case p < 0 || p >= g.in[d]:
					if state == 0 {
						state = inPad
					}
				default:
					off += p * ist[d]
				}
			}
			if state != 0 {
				table[kp*O+o] = state
			} else {
				table[kp*O+o] = off
			}
		}
	}
	return table
}

func opConv(c *opContext, in []*Tensor) ([]*Tensor, error) {
	return convRun(c, in, nil, nil, nil)
}

// convRun is Conv, with the weights and bias replaced by wOver and bOver when given (a
// BatchNormalization folded in at load, fuse.go) and the epilogue stages applied to
// every output row.
func convRun(c *opContext, in []*Tensor, wOver, bOver []float32, stages []epStage) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w, b := in[0], in[1], opt(in, 2)
	if err := sameType(x, w); err != nil {
		return nil, err
	}
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return nil, errf("X %v and W %v must both have rank ≥ 3", x.Shape, w.Shape)
	}
	g, err := geometry(c, x.Shape[2:], w.Shape[2:], false)
	if err != nil {
		return nil, err
	}
	group := g.group // cached with the geometry: no attribute lookup per run
	n, ch := x.Shape[0], x.Shape[1]
	m, cg := w.Shape[0], w.Shape[1]
	if group <= 0 || ch != cg*group || m%group != 0 {
		return nil, errf("X has %d channels, W %v, group %d: they do not fit", ch, w.Shape, group)
	}
	outShape := append(make([]int, 0, 2+len(g.out)), n, m) // one allocation, not two
	outShape = append(outShape, g.out...)
	xf, wf := toF32(x), toF32(w)
	var bias []float32
	if b != nil {
		bias = toF32(b)
		if len(bias) != m {
			return nil, errf("B has %d values for %d output channels", len(bias), m)
		}
	}
	if wOver != nil {
		if len(wOver) != len(wf) || len(bOver) != m {
			return nil, errf("fused weights do not match W %v", w.Shape)
		}
		wf, bias = wOver, bOver
	}
	if len(g.in) == 1 && fastPaths && !conv1dAs2D {
		return one(fromF32(x.DType, outShape, conv1dF32(c, xf, wf, bias, n, ch, m, group, g, stages)))
	}
	fixedW := wOver != nil || (c.inputFixed(1) && x.DType == ir.Float32 && w.DType == ir.Float32)
	if y := winogradConv(c, xf, wf, bias, n, ch, m, group, g, fixedW, stages); y != nil {
		return one(fromF32(x.DType, outShape, y))
	}
	var table []int
	if len(g.in) == 1 && fastPaths {
		g = g.as2D() // the previous lowering, kept for BenchmarkConv1D
	}
	if len(g.in) != 2 || !fastPaths {
		table = c.cachedTable(g) // the 2-D path needs no table
	}
	y := convF32(c, xf, wf, bias, n, ch, m, group, g, table, stages, fixedW)
	return one(fromF32(x.DType, outShape, y))
}

// convF32 runs the lowered convolution: per image and group, im2col then one GEMM.
func convF32(c *opContext, x, w, bias []float32, n, ch, m, group int, g *convGeom, table []int, stages []epStage, fixedW bool) []float32 {
	cg, mg := ch/group, m/group
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	y := c.outputF32(n * m * O) // every element is written by the GEMM (beta 0)
	if cg == 1 && mg == 1 && len(g.in) == 2 && fastPaths {
		depthwise2D(x, w, bias, y, n, ch, g, stages)
		return y
	}
	pointwise := K == 1 && O == S && allPositive(g.strides, 1) && allZero(g.padBegin) && allZero(g.padEnd)
	if pointwise && group == 1 && (n == 1 || O >= batchedConvMaxO) && fastPaths && convPointwise(c, x, w, bias, y, n, ch, m, O, stages, fixedW) {
		return y
	}
	if !pointwise && group == 1 && ch <= accel.ConvRowsMaxChannels && fastPaths && convRows(x, w, bias, y, n, ch, m, g, stages) {
		return y
	}
	// 2-D, not pointwise: an implicit GEMM (no im2col matrix) where the backend has one.
	implicit := !pointwise && table == nil && len(g.in) == 2 && fastPaths && S < 1<<31 && accel.HasConvImplicit2D()
	win := accel.Window2D{}
	if implicit {
		win = accel.Window2D{H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1], KH: g.kernel[0], KW: g.kernel[1],
			SH: g.strides[0], SW: g.strides[1], PH: g.padBegin[0], PW: g.padBegin[1], DH: g.dil[0], DW: g.dil[1]}
	}
	if implicit && n > 1 {
		// One image per task: no im2col copy to amortise, so no batching either.
		accel.ParallelFor(n, 1, func(i0, i1 int) {
			for img := i0; img < i1; img++ {
				for gi := 0; gi < group; gi++ {
					yg := y[(img*m+gi*mg)*O:]
					accel.ConvImplicit2D(mg, cg, win, w[gi*mg*cg*K:], x[(img*ch+gi*cg)*S:(img*ch+(gi+1)*cg)*S], yg)
					epilogueBlock(yg, mg, O, gi*mg, bias, stages)
				}
			}
		})
		return y
	}
	if n > 1 && group == 1 && O < batchedConvMaxO && table == nil && fastPaths {
		convBatched(c, x, w, bias, y, n, ch, m, g, pointwise, stages)
		return y
	}
	var col []float32
	if !pointwise && !implicit {
		col = allocRaw[float32](c, cg*K*O) // scratch: the im2col loop writes all of it
	}
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			xg := x[(img*ch+gi*cg)*S : (img*ch+(gi+1)*cg)*S]
			if implicit {
				yg := y[(img*m+gi*mg)*O:]
				accel.ConvImplicit2D(mg, cg, win, w[gi*mg*cg*K:], xg, yg)
				epilogueBlock(yg, mg, O, gi*mg, bias, stages)
				continue
			}
			src := xg
			if !pointwise && table == nil {
				// Channels split over the pool: each writes its own rows of col.
				grain := max(1, im2colGrain/max(K*O, 1))
				accel.ParallelFor(cg, grain, func(c0, c1 int) {
					im2col2D(col[c0*K*O:], xg[c0*S:], c1-c0, g, O)
				})
				src = col
			} else if !pointwise {
				for ci := 0; ci < cg; ci++ {
					plane := xg[ci*S : (ci+1)*S]
					for kp := 0; kp < K; kp++ {
						row := col[(ci*K+kp)*O : (ci*K+kp+1)*O]
						tab := table[kp*O : (kp+1)*O]
						for o, off := range tab {
							if off >= 0 {
								row[o] = plane[off]
							} else {
								row[o] = 0
							}
						}
					}
				}
				src = col
			}
			yg := y[(img*m+gi*mg)*O:]
			wg := w[gi*mg*cg*K:]
			accel.SGEMM(false, false, mg, O, cg*K, 1, wg, max(cg*K, 1), src, max(O, 1), 0, yg, max(O, 1))
			epilogueBlock(yg, mg, O, gi*mg, bias, stages)
		}
	}
	return y
}

// im2colGrain is the number of column values one im2col task writes at least.
const im2colGrain = 1 << 15

// batchedConvMaxO is the output size per image below which a batch is lowered as one
// GEMM over all its images (small images: one GEMM per image would be too narrow).
const batchedConvMaxO = 1024

// convBatched is convF32 for a batch of small 2-D images without groups: the columns of
// every image side by side, one GEMM of width n·O, then each image's rows moved into
// place with the epilogue.
func convBatched(c *opContext, x, w, bias, y []float32, n, ch, m int, g *convGeom, pointwise bool, stages []epStage) {
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	rows, width := ch*K, n*O
	col := allocRaw[float32](c, rows*width)
	accel.ParallelFor(n, 1, func(i0, i1 int) {
		for img := i0; img < i1; img++ {
			src := x[img*ch*S : (img+1)*ch*S]
			if !pointwise {
				im2col2D(col[img*O:], src, ch, g, width) // image img's columns, in place
				continue
			}
			for r := 0; r < rows; r++ {
				copy(col[r*width+img*O:r*width+(img+1)*O], src[r*O:(r+1)*O])
			}
		}
	})
	wide := allocRaw[float32](c, m*width)
	accel.SGEMM(false, false, m, width, rows, 1, w, max(rows, 1), col, width, 0, wide, width)
	for img := 0; img < n; img++ {
		yi := y[img*m*O : (img+1)*m*O]
		for j := 0; j < m; j++ {
			copy(yi[j*O:(j+1)*O], wide[j*width+img*O:j*width+(img+1)*O])
		}
		epilogueBlock(yi, m, O, 0, bias, stages)
	}
}

// depthwise2D is a 2-D Conv with one filter per channel (group = channels = outputs),
// without im2col: accel's depthwise kernel, the epilogue run on each finished plane.
func depthwise2D(x, w, bias, y []float32, n, ch int, g *convGeom, stages []epStage) {
	p := accel.Window2D{H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1], KH: g.kernel[0], KW: g.kernel[1],
		SH: g.strides[0], SW: g.strides[1], PH: g.padBegin[0], PW: g.padBegin[1], DH: g.dil[0], DW: g.dil[1]}
	// The first stage, when it is an activation the kernel takes, is applied by it.
	act := accel.Act{Kind: accel.ActNone}
	if len(stages) > 0 {
		if a, ok := pointwiseAct(stages[:1]); ok {
			act, stages = a, stages[1:]
		}
	}
	var post func(int, int, []float32)
	if len(stages) > 0 {
		post = func(c0, c1 int, planes []float32) { epilogueBlock(planes, c1-c0, p.OH*p.OW, c0, nil, stages) }
	}
	S, O := p.H*p.W, p.OH*p.OW
	for img := 0; img < n; img++ {
		accel.DepthwiseConv2D(p, x[img*ch*S:], w, bias, y[img*ch*O:], ch, act, post)
	}
}

func allZero(s []int) bool {
	for _, v := range s {
		if v != 0 {
			return false
		}
	}
	return true
}

func allPositive(s []int, v int) bool {
	for _, x := range s {
		if x != v {
			return false
		}
	}
	return true
}

// toF32 returns a float tensor's values as float32 (a view for float32 storage).
func toF32(t *Tensor) []float32 {
	if f, ok := t.Data.([]float32); ok {
		return f
	}
	v := float64s(t)
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

// fromF32 stores float32 results in a tensor of float dtype d (float64 widens).
func fromF32(d ir.DType, shape []int, v []float32) *Tensor {
	if d == ir.Float64 {
		return &Tensor{DType: d, Shape: shape, Data: convertSlice[float32, float64](v)}
	}
	return &Tensor{DType: d, Shape: shape, Data: v}
}

func opConvTranspose(c *opContext, in []*Tensor) ([]*Tensor, error) {
	return convTransposeRun(c, in, nil)
}

// convTransposeRun is ConvTranspose with the epilogue stages (fused activations, see
// fuseConvTranspose) run with the bias over each image's output.
func convTransposeRun(c *opContext, in []*Tensor, stages []epStage) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w, b := in[0], in[1], opt(in, 2)
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return nil, errf("X %v and W %v must both have rank ≥ 3", x.Shape, w.Shape)
	}
	group := int(c.attrInt("group", 1))
	n, ch := x.Shape[0], x.Shape[1]
	if group <= 0 || w.Shape[0] != ch || ch%group != 0 {
		return nil, errf("X has %d channels, W %v, group %d: they do not fit", ch, w.Shape, group)
	}
	mg := w.Shape[1]
	m := mg * group
	r := len(x.Shape) - 2
	inSp, k := x.Shape[2:], w.Shape[2:]
	strides, dil := ones(r), ones(r)
	if s, ok := c.attrInts("strides"); ok && len(s) == r {
		strides = s
	}
	if d, ok := c.attrInts("dilations"); ok && len(d) == r {
		dil = d
	}
	outPad := make([]int, r)
	if p, ok := c.attrInts("output_padding"); ok && len(p) == r {
		outPad = p
	}
	pb, pe := make([]int, r), make([]int, r)
	if p, ok := c.attrInts("pads"); ok && len(p) == 2*r {
		copy(pb, p[:r])
		copy(pe, p[r:])
	}
	out := make([]int, r)
	outShapeAttr, hasOutShape := c.attrInts("output_shape")
	if hasOutShape && len(outShapeAttr) == r+2 {
		outShapeAttr = outShapeAttr[2:]
	}
	autoPad := c.attrString("auto_pad", "NOTSET")
	for i := 0; i < r; i++ {
		full := strides[i]*(inSp[i]-1) + outPad[i] + (k[i]-1)*dil[i] + 1
		switch {
		case hasOutShape:
			out[i] = outShapeAttr[i]
			total := full - out[i]
			if autoPad == "SAME_LOWER" {
				pb[i], pe[i] = total-total/2, total/2
			} else {
				pb[i], pe[i] = total/2, total-total/2
			}
		case autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			out[i] = inSp[i] * strides[i]
			total := max(0, full-out[i])
			if autoPad == "SAME_UPPER" {
				pb[i], pe[i] = total/2, total-total/2
			} else {
				pb[i], pe[i] = total-total/2, total/2
			}
		default:
			out[i] = full - pb[i] - pe[i]
		}
		if out[i] < 0 {
			return nil, errf("negative output size")
		}
	}
	var bias []float32
	if b != nil {
		if bias = toF32(b); len(bias) != m {
			return nil, errf("B has %d values for %d output channels", len(bias), m)
		}
	}
	xf, wf := toF32(x), toF32(w)
	cg := ch / group
	K, S, O := prod(k), prod(inSp), prod(out)
	var land []int
	var g2 convT2D // 2-D: col2im by rows (convt_fast.go), no landing table
	if r == 2 && fastPaths && convTRows {
		g2 = convT2D{h: inSp[0], w: inSp[1], oh: out[0], ow: out[1], kh: k[0], kw: k[1], sh: strides[0], sw: strides[1],
			dh: dil[0], dw: dil[1], ph: pb[0], pw: pb[1]}
	} else {
		land = c.landTable(inSp, k, out, strides, dil, pb)
	}
	var y []float32
	if land == nil && g2.tiles() {
		y = c.outputF32(n * m * O) // every output written once
		if convTDirect(g2, xf, wf, bias, y, n, ch, m, group, stages) {
			return one(fromF32(x.DType, append([]int{n, m}, out...), y))
		}
	} else {
		y = allocZero[float32](c, n*m*O)
	}
	col := allocRaw[float32](c, mg*K*S) // written whole by the GEMM
	var wT []float32
	if land == nil {
		wT = c.convTWeights(wf, group, cg, mg*K)
	}
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			xg := xf[(img*ch+gi*cg)*S:]
			wg := wf[gi*cg*mg*K:]
			// col[(mg·K) × S] = Wgᵀ [(mg·K) × cg] · Xg [cg × S]
			if wT != nil {
				accel.SGEMM(false, false, mg*K, S, cg, 1, wT[gi*cg*mg*K:], max(cg, 1), xg, max(S, 1), 0, col, max(S, 1))
			} else {
				accel.SGEMM(true, false, mg*K, S, cg, 1, wg, max(mg*K, 1), xg, max(S, 1), 0, col, max(S, 1))
			}
			if land == nil {
				g2.col2im2D(y[(img*m+gi*mg)*O:(img*m+(gi+1)*mg)*O], col, mg)
				continue
			}
			for j := 0; j < mg; j++ {
				plane := y[(img*m+gi*mg+j)*O : (img*m+gi*mg+j+1)*O]
				for kp := 0; kp < K; kp++ {
					row := col[(j*K+kp)*S : (j*K+kp+1)*S]
					tab := land[kp*S : (kp+1)*S]
					for s, off := range tab {
						if off >= 0 {
							plane[off] += row[s]
						}
					}
				}
			}
		}
	}
	for img := 0; img < n; img++ {
		epilogueBlock(y[img*m*O:(img+1)*m*O], m, O, 0, bias, stages)
	}
	return one(fromF32(x.DType, append([]int{n, m}, out...), y))
}

// landTable lists where kernel offset kp applied at input position s lands in
// ConvTranspose's output (table[kp·S+s]), or -1; built once per node and geometry
// (the session keeps the last one of each node).
func (c *opContext) landTable(inSp, k, out, strides, dil, pb []int) []int {
	key := &convGeom{in: inSp, kernel: k, out: out, strides: strides, dil: dil, padBegin: pb, padEnd: pb}
	if v, ok := c.sess.tables.Load(c.node); ok {
		if e := v.(*tableEntry); e.g.equal(key) {
			return e.table
		}
	}
	r := len(inSp)
	K, S := prod(k), prod(inSp)
	ost := stridesOf(out)
	kst, ist := stridesOf(k), stridesOf(inSp)
	land := make([]int, K*S)
	for kp := 0; kp < K; kp++ {
		for s := 0; s < S; s++ {
			off := 0
			for d := 0; d < r; d++ {
				p := ((s/ist[d])%inSp[d])*strides[d] + ((kp/kst[d])%k[d])*dil[d] - pb[d]
				if p < 0 || p >= out[d] {
					off = -1
					break
				}
				off += p * ost[d]
			}
			land[kp*S+s] = off
		}
	}
	c.sess.tables.Store(c.node, &tableEntry{g: key, table: land})
	return land
}
