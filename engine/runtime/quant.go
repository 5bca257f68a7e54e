package runtime

import (
	"context"
	"math"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Quantized ops: QuantizeLinear / DequantizeLinear (per tensor, per axis and blocked;
// int8, uint8, int16, uint16, int4, uint4), DynamicQuantizeLinear, and the integer
// MatMul/Conv families. Integer products are exact (int32 accumulation); the uint8 ×
// int8 matrix products go through accel's integer GEMM.

func init() {
	register(opQuantizeLinear, "QuantizeLinear")
	register(opDequantizeLinear, "DequantizeLinear")
	register(opDynamicQuantizeLinear, "DynamicQuantizeLinear")
	register(opMatMulInteger, "MatMulInteger")
	register(opConvInteger, "ConvInteger")
	register(opQLinearMatMul, "QLinearMatMul")
	register(opQLinearConv, "QLinearConv")
}

// qrange is the saturation range of a quantized dtype.
func qrange(d ir.DType) (float64, float64, bool) {
	switch d {
	case ir.Uint8:
		return 0, 255, true
	case ir.Int8:
		return -128, 127, true
	case ir.Uint16:
		return 0, 65535, true
	case ir.Int16:
		return -32768, 32767, true
	case ir.Int4:
		return -8, 7, true
	case ir.Uint4:
		return 0, 15, true
	case ir.Int32:
		return math.MinInt32, math.MaxInt32, true
	}
	return 0, 0, false
}

// paramIndex maps every element of a tensor of shape xs to the index of its scale and
// zero point: a scalar (or one-element) scale is per tensor, a 1-D scale runs along
// axis, a scale of x's rank with blockSize > 0 holds one value per block along axis.
func paramIndex(xs, ss []int, axis, blockSize int) ([]int, error) {
	n := prod(xs)
	ns := prod(ss)
	idx := make([]int, n)
	switch {
	case ns == 1 && (len(ss) <= 1 || blockSize == 0):
		return idx, nil
	case len(ss) == 1 && blockSize == 0:
		a, err := normAxis(axis, len(xs))
		if err != nil {
			return nil, err
		}
		if ss[0] != xs[a] {
			return nil, errf("%d scales for axis %d of size %d", ss[0], a, xs[a])
		}
		st := stridesOf(xs)
		for i := range idx {
			idx[i] = (i / st[a]) % xs[a]
		}
		return idx, nil
	case len(ss) == len(xs) && blockSize > 0:
		a, err := normAxis(axis, len(xs))
		if err != nil {
			return nil, err
		}
		for d := range xs {
			want := xs[d]
			if d == a {
				want = (xs[d] + blockSize - 1) / blockSize
			}
			if ss[d] != want {
				return nil, errf("blocked scale shape %v does not fit %v with block size %d on axis %d", ss, xs, blockSize, a)
			}
		}
		st, sst := stridesOf(xs), stridesOf(ss)
		for i := range idx {
			off := 0
			for d := range xs {
				c := (i / st[d]) % xs[d]
				if d == a {
					c /= blockSize
				}
				off += c * sst[d]
			}
			idx[i] = off
		}
		return idx, nil
	}
	return nil, errf("scale shape %v does not fit input %v (axis %d, block_size %d)", ss, xs, axis, blockSize)
}

func opQuantizeLinear(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, scale, zp := in[0], in[1], opt(in, 2)
	if t, ok := quantizeFast(c, x, scale, zp); ok {
		return one(t)
	}
	outType := ir.Uint8
	if zp != nil {
		outType = zp.DType
	} else if c.has("output_dtype") && c.attrInt("output_dtype", 0) != 0 {
		outType = ir.DType(c.attrInt("output_dtype", 0))
	}
	lo, hi, ok := qrange(outType)
	if !ok || outType == ir.Int32 {
		return nil, unsupported("quantizing to %v", outType)
	}
	idx, err := paramIndex(x.Shape, scale.Shape, int(c.attrInt("axis", 1)), int(c.attrInt("block_size", 0)))
	if err != nil {
		return nil, err
	}
	xv, sv := float64s(x), float64s(scale)
	zv := make([]float64, len(sv))
	if zp != nil {
		zv = float64s(zp)
	}
	out := make([]float64, len(xv))
	for i, f := range xv {
		// The division is done in float32 when x is float32, as the reference does.
		q := f / sv[idx[i]]
		if x.DType != ir.Float64 {
			q = float64(float32(f) / float32(sv[idx[i]]))
		}
		v := math.RoundToEven(q) + zv[idx[i]]
		if math.IsNaN(v) {
			v = zv[idx[i]]
		}
		out[i] = math.Max(lo, math.Min(hi, v))
	}
	return one(fromFloat64s(outType, shapeOf(x), out))
}

func opDequantizeLinear(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, scale, zp := in[0], in[1], opt(in, 2)
	if t, ok := dequantizeFast(c, x, scale, zp); ok {
		return one(t)
	}
	if _, _, ok := qrange(x.DType); !ok {
		return nil, unsupported("dequantizing %v", x.DType)
	}
	idx, err := paramIndex(x.Shape, scale.Shape, int(c.attrInt("axis", 1)), int(c.attrInt("block_size", 0)))
	if err != nil {
		return nil, err
	}
	outType := scale.DType
	if c.has("output_dtype") && c.attrInt("output_dtype", 0) != 0 {
		outType = ir.DType(c.attrInt("output_dtype", 0))
	}
	xv, sv := float64s(x), float64s(scale)
	zv := make([]float64, len(sv))
	if zp != nil {
		zv = float64s(zp)
	}
	out := make([]float64, len(xv))
	for i, q := range xv {
		// (x − zp)·scale in float32, as the reference computes it for float32 scales.
		if scale.DType == ir.Float64 {
			out[i] = (q - zv[idx[i]]) * sv[idx[i]]
		} else {
			out[i] = float64(float32(q-zv[idx[i]]) * float32(sv[idx[i]]))
		}
	}
	return one(fromFloat64s(outType, shapeOf(x), out))
}

func opDynamicQuantizeLinear(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if t, ok := dynQuantFast(c, in[0]); ok {
		return t, nil
	}
	x := toF32(in[0])
	var mn, mx float32
	for _, v := range x {
		mn, mx = min(mn, v), max(mx, v)
	}
	scale := (mx - mn) / 255
	var zp float32
	if scale != 0 {
		zp = float32(math.Max(0, math.Min(255, math.RoundToEven(float64(0-mn/scale)))))
	}
	y := make([]uint8, len(x))
	for i, v := range x {
		q := float64(zp)
		if scale != 0 {
			q = math.RoundToEven(float64(v/scale)) + float64(zp)
		}
		y[i] = uint8(math.Max(0, math.Min(255, q)))
	}
	return []*Tensor{
		{DType: ir.Uint8, Shape: shapeOf(in[0]), Data: y},
		{DType: ir.Float32, Shape: []int{}, Data: []float32{scale}},
		{DType: ir.Uint8, Shape: []int{}, Data: []uint8{uint8(zp)}},
	}, nil
}

// int32s returns integer values as int32.
func int32s(t *Tensor) []int32 {
	if v, ok := t.Data.([]int32); ok {
		return v
	}
	return convertSlice[int64, int32](int64s(t))
}

// zeroPoints expands an optional zero point to n values (per tensor or per index).
func zeroPoints(zp *Tensor, n int, what string) ([]int32, error) {
	out := make([]int32, n)
	if zp == nil {
		return out, nil
	}
	v := int32s(zp)
	switch len(v) {
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case n:
		copy(out, v)
	default:
		return nil, errf("%s has %d values, expected 1 or %d", what, len(v), n)
	}
	return out, nil
}

// intMatMul computes (A − azp)·(B − bzp) exactly in int32 with matmul's broadcasting;
// azp is per row of A (M values), bzp per column of B (N values).
func intMatMul(c *opContext, a, b, azpT, bzpT *Tensor) (*Tensor, error) {
	m, k, n, batch, aB, bB, outShape, err := matmulShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	azp, err := zeroPoints(azpT, m, "a_zero_point")
	if err != nil {
		return nil, err
	}
	bzp, err := zeroPoints(bzpT, n, "b_zero_point")
	if err != nil {
		return nil, err
	}
	nb := prod(batch)
	aOff := stridedIndex(batch, 0, scaled(bstrides(aB, batch), m*k))
	bOff := stridedIndex(batch, 0, scaled(bstrides(bB, batch), k*n))
	if t, ok := intMatMulFast(c, a, b, azp, bzp, m, k, n, nb, aOff, bOff, outShape); ok {
		return t, nil
	}
	out := make([]int32, nb*m*n)
	av, bv := int32s(a), int32s(b)
	for bi := 0; bi < nb; bi++ {
		A, B, C := av[aOff[bi]:], bv[bOff[bi]:], out[bi*m*n:]
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				x := A[i*k+p] - azp[i]
				for j := 0; j < n; j++ {
					C[i*n+j] += x * (B[p*n+j] - bzp[j])
				}
			}
		}
	}
	return &Tensor{DType: ir.Int32, Shape: outShape, Data: out}, nil
}

// intMatMulFast is intMatMul through accel's exact integer GEMMs: A (uint8 or int8)
// times B as int8 — a uint8 B is shifted by −128 (cached when B is a weight), its zero
// points with it — then the zero points come off with row and column sums:
// Σ(a−za)(b−zb) = Σab − za·Σb − zb·Σa + k·za·zb, all in wrapping int32 like the
// reference loop, so the result is bit-identical.
func intMatMulFast(c *opContext, a, b *Tensor, azp, bzp []int32, m, k, n, nb int, aOff, bOff []int, outShape []int) (*Tensor, bool) {
	if !fastPaths || k == 0 {
		return nil, false
	}
	bIdx := 1 // B's input index: MatMulInteger (and its fused form) 1, QLinearMatMul 3
	if c.node != nil && c.node.OpType == "QLinearMatMul" {
		bIdx = 3
	}
	var bs8 []int8
	switch bv := b.Data.(type) {
	case []int8:
		bs8 = bv
	case []uint8:
		bs8 = c.shiftedU8(bv, bIdx)
		shifted := make([]int32, n)
		for j, z := range bzp {
			shifted[j] = z - 128
		}
		bzp = shifted
	default:
		return nil, false
	}
	au8, isU8 := a.Data.([]uint8)
	as8, isS8 := a.Data.([]int8)
	if !isU8 && !isS8 {
		return nil, false
	}
	out := allocRaw[int32](c, nb*m*n) // the integer GEMM overwrites every element
	zeroA, zeroB := true, true
	for _, z := range azp {
		zeroA = zeroA && z == 0
	}
	for _, z := range bzp {
		zeroB = zeroB && z == 0
	}
	var rowsum []int32
	if !zeroB {
		rowsum = make([]int32, m)
	}
	// A weight (a fixed 2-D B, the same matrix for every batch) is packed for accel's
	// kernel once per session, not on every call.
	var pk *accel.PackedB8
	if len(b.Shape) == 2 && len(bs8) > 0 && c.sess != nil && c.inputFixed(bIdx) {
		pk = c.packedB8(bs8, k, n)
	}
	// One zero point for all of A (the per-tensor case) that fits A's type: the packed
	// kernel takes it off itself, as za·Σb per column.
	za0, kernelZA := int32(0), false
	if pk != nil && !zeroA {
		za0, kernelZA = azp[0], true
		for _, z := range azp {
			kernelZA = kernelZA && z == za0
		}
		if isU8 {
			kernelZA = kernelZA && za0 >= 0 && za0 <= 255
		} else {
			kernelZA = kernelZA && za0 >= -128 && za0 <= 127
		}
		if !kernelZA {
			za0 = 0 // per-row zero points: taken off below
		}
	}
	for bi := 0; bi < nb; bi++ {
		bm := bs8[bOff[bi] : bOff[bi]+k*n]
		cm := out[bi*m*n : (bi+1)*m*n]
		if isU8 {
			am := au8[aOff[bi] : aOff[bi]+m*k]
			if pk != nil {
				accel.GEMMU8S8PackedZP(m, am, k, uint8(za0), pk, cm, n)
			} else {
				accel.GEMMU8S8(false, m, n, k, am, k, bm, n, cm, n)
			}
			if rowsum != nil {
				for i := range rowsum {
					var s int32
					for _, v := range am[i*k : (i+1)*k] {
						s += int32(v)
					}
					rowsum[i] = s
				}
			}
		} else {
			am := as8[aOff[bi] : aOff[bi]+m*k]
			if pk != nil {
				accel.GEMMS8S8PackedZP(m, am, k, int8(za0), pk, cm, n)
			} else {
				accel.GEMMS8S8(false, m, n, k, am, k, bm, n, cm, n)
			}
			if rowsum != nil {
				for i := range rowsum {
					var s int32
					for _, v := range am[i*k : (i+1)*k] {
						s += int32(v)
					}
					rowsum[i] = s
				}
			}
		}
		if (zeroA || kernelZA) && zeroB {
			continue
		}
		var colsum []int32
		if !zeroA && !kernelZA {
			colsum = c.colSums(bm, k, n, bIdx)
		}
		k32 := int32(k)
		for i := 0; i < m; i++ {
			row := cm[i*n : (i+1)*n]
			za := azp[i]
			if za != 0 && !kernelZA {
				for j := range row {
					row[j] -= za * colsum[j]
				}
			}
			if !zeroB {
				ra := rowsum[i]
				for j, zb := range bzp {
					row[j] -= zb*ra - k32*za*zb
				}
			}
		}
	}
	return &Tensor{DType: ir.Int32, Shape: outShape, Data: out}, true
}

// packIntWeights packs, at load, the constant 2-D int8 (or uint8, shifted) B of every
// MatMulInteger (fused with its Cast → Mul tail or not) and QLinearMatMul for accel's
// integer GEMM, into the same per-node cache intMatMulFast reads, so no run repacks it.
func (s *Session) packIntWeights(p *graphPlan) {
	if !fastPaths {
		return
	}
	for i := range p.steps {
		st := &p.steps[i]
		bIdx := 1
		switch st.node.OpType {
		case "MatMulInteger":
		case "QLinearMatMul":
			bIdx = 3
		default:
			continue
		}
		if bIdx >= len(st.in) || st.in[bIdx] < 0 || !p.fixed[st.in[bIdx]] {
			continue
		}
		b := p.init[st.in[bIdx]]
		if b == nil || len(b.Shape) != 2 {
			continue
		}
		k, n := b.Shape[0], b.Shape[1]
		c := &opContext{node: st.node, opset: s.opset, sess: s, ctx: context.Background(), plan: p, step: st}
		var bs8 []int8
		switch bv := b.Data.(type) {
		case []int8:
			bs8 = bv
		case []uint8:
			if len(bv) == k*n {
				bs8 = c.shiftedU8(bv, bIdx)
			}
		}
		if len(bs8) > 0 && len(bs8) == k*n {
			c.packedB8(bs8, k, n)
		}
	}
}

// packedB8 returns the k×n int8 weight b packed for accel's integer GEMM, kept per node
// (like the column sums) and repacked only when the node sees other data.
func (c *opContext) packedB8(b []int8, k, n int) *accel.PackedB8 {
	type id struct {
		p    *int8
		k, n int
	}
	return nodeCached(c, "packB8", id{&b[0], k, n}, func() *accel.PackedB8 { return accel.PackB8(b, k, n, n) })
}

// shiftedU8 returns the uint8 values of input i minus 128 as int8 (the same bits with the
// top one flipped), kept per node when the input is a weight.
func (c *opContext) shiftedU8(v []uint8, i int) []int8 {
	cache := c.sess != nil && len(v) > 0 && c.inputFixed(i)
	type entry struct {
		p *uint8
		n int
		s []int8
	}
	key := struct {
		node *ir.Node
		tag  string
		i    int
	}{c.node, "u8shift", i}
	if cache {
		if e, ok := c.sess.tables.Load(key); ok {
			if e := e.(*entry); e.p == &v[0] && e.n == len(v) {
				return e.s
			}
		}
	}
	s := make([]int8, len(v))
	for j, x := range v {
		s[j] = int8(x ^ 0x80)
	}
	if cache {
		c.sess.tables.Store(key, &entry{p: &v[0], n: len(v), s: s})
	}
	return s
}

func opMatMulInteger(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	t, err := intMatMul(c, in[0], in[1], opt(in, 2), opt(in, 3))
	if err != nil {
		return nil, err
	}
	return one(t)
}

// requantize maps int32 accumulators to the output's quantized type:
// saturate(round_half_even(acc · mult[col]) + yzp).
func requantize(acc []int32, mult func(i int) float64, yzp float64, outType ir.DType, shape []int) (*Tensor, error) {
	lo, hi, ok := qrange(outType)
	if !ok {
		return nil, unsupported("output of %v", outType)
	}
	v := make([]float64, len(acc))
	for i, a := range acc {
		q := math.RoundToEven(float64(float32(float64(a)*mult(i)))) + yzp
		v[i] = math.Max(lo, math.Min(hi, q))
	}
	return fromFloat64s(outType, shape, v), nil
}

func opQLinearMatMul(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 8); err != nil {
		return nil, err
	}
	a, as, azp, b, bs, bzp, ys, yzp := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	acc, err := intMatMul(c, a, b, azp, bzp)
	if err != nil {
		return nil, err
	}
	n := acc.Shape[len(acc.Shape)-1]
	asv, bsv, ysv := float64s(as), float64s(bs), float64s(ys)[0]
	if len(asv) != 1 {
		return nil, unsupported("per-row a_scale")
	}
	mult := func(i int) float64 {
		s := bsv[0]
		if len(bsv) > 1 {
			s = bsv[i%n]
		}
		return float64(float32(asv[0]) * float32(s) / float32(ysv))
	}
	t, err := requantize(acc.Data.([]int32), mult, float64s(yzp)[0], yzp.DType, acc.Shape)
	if err != nil {
		return nil, err
	}
	return one(t)
}

// intConv is the exact integer convolution of (x − xzp) and (w − wzp[m]) by im2col.
func intConv(c *opContext, x, w, xzpT, wzpT *Tensor) ([]int32, []int, error) {
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return nil, nil, errf("X %v and W %v must both have rank ≥ 3", x.Shape, w.Shape)
	}
	group := int(c.attrInt("group", 1))
	n, ch := x.Shape[0], x.Shape[1]
	m, cg := w.Shape[0], w.Shape[1]
	if group <= 0 || ch != cg*group || m%group != 0 {
		return nil, nil, errf("X has %d channels, W %v, group %d: they do not fit", ch, w.Shape, group)
	}
	g, err := geometry(c, x.Shape[2:], w.Shape[2:], false)
	if err != nil {
		return nil, nil, err
	}
	xzp, err := zeroPoints(xzpT, 1, "x_zero_point")
	if err != nil {
		return nil, nil, err
	}
	wzp, err := zeroPoints(wzpT, m, "w_zero_point")
	if err != nil {
		return nil, nil, err
	}
	if y, ok := intConvFast(c, x, w, xzp[0], wzp, n, ch, m, group, g); ok {
		return y, append([]int{n, m}, g.out...), nil
	}
	xv, wv := int32s(x), int32s(w)
	mg := m / group
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	table := g.windowTable()
	col := make([]int32, cg*K*O)
	y := make([]int32, n*m*O)
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			for ci := 0; ci < cg; ci++ {
				plane := xv[(img*ch+gi*cg+ci)*S:]
				for kp := 0; kp < K; kp++ {
					row := col[(ci*K+kp)*O : (ci*K+kp+1)*O]
					for o, off := range table[kp*O : (kp+1)*O] {
						if off >= 0 {
							row[o] = plane[off] - xzp[0]
						} else {
							row[o] = 0 // padding holds the zero point: nothing after subtraction
						}
					}
				}
			}
			for j := 0; j < mg; j++ {
				oc := gi*mg + j
				wr := wv[oc*cg*K : (oc+1)*cg*K]
				yr := y[(img*m+oc)*O : (img*m+oc+1)*O]
				for p, wq := range wr {
					wq -= wzp[oc]
					if wq == 0 {
						continue
					}
					cr := col[p*O : (p+1)*O]
					for o := range yr {
						yr[o] += wq * cr[o]
					}
				}
			}
		}
	}
	return y, append([]int{n, m}, g.out...), nil
}

// intConvFast is intConv through accel's integer GEMM: per image and group, the
// transposed im2col of X (one row of cg·K values per output position, the zero point
// where the window covers padding, so it contributes nothing) times Wᵀ, then the zero
// points come off with sums as in intMatMulFast. A uint8 W is shifted to int8 (cached
// for a weight). Bit-identical to the reference loop (wrapping int32 throughout).
func intConvFast(c *opContext, x, w *Tensor, xzp int32, wzp []int32, n, ch, m, group int, g *convGeom) ([]int32, bool) {
	if !fastPaths {
		return nil, false
	}
	var ws8 []int8
	switch wv := w.Data.(type) {
	case []int8:
		ws8 = wv
	case []uint8:
		ws8 = c.shiftedU8(wv, 1)
		shifted := make([]int32, len(wzp))
		for j, z := range wzp {
			shifted[j] = z - 128
		}
		wzp = shifted
	default:
		return nil, false
	}
	xu8, isU8 := x.Data.([]uint8)
	xs8, isS8 := x.Data.([]int8)
	if !isU8 && !isS8 {
		return nil, false
	}
	cg, mg := ch/group, m/group
	K, O, S := prod(g.kernel), prod(g.out), prod(g.in)
	P := cg * K
	if P == 0 || O == 0 {
		return nil, false
	}
	table := c.cachedTable(g)
	y := allocRaw[int32](c, n*m*O) // every element is written below
	acc := allocRaw[int32](c, O*mg)
	xsum := allocRaw[int32](c, O)
	wsum := make([]int32, m)
	for oc := range wsum {
		var s int32
		for _, v := range ws8[oc*P : (oc+1)*P] {
			s += int32(v)
		}
		wsum[oc] = s
	}
	var colU []uint8
	var colS []int8
	if isU8 {
		colU = allocRaw[uint8](c, O*P)
	} else {
		colS = allocRaw[int8](c, O*P)
	}
	P32 := int32(P)
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			base := (img*ch + gi*cg) * S
			wg := ws8[gi*mg*P : (gi+1)*mg*P]
			if isU8 {
				im2colT(colU, xu8[base:base+cg*S], cg, K, O, S, table, uint8(xzp))
				accel.GEMMU8S8(true, O, mg, P, colU, P, wg, P, acc, mg)
				rowSums(xsum, colU, P)
			} else {
				im2colT(colS, xs8[base:base+cg*S], cg, K, O, S, table, int8(xzp))
				accel.GEMMS8S8(true, O, mg, P, colS, P, wg, P, acc, mg)
				rowSums(xsum, colS, P)
			}
			for j := 0; j < mg; j++ {
				oc := gi*mg + j
				zw := wzp[oc]
				fix := P32*xzp*zw - xzp*wsum[oc]
				yr := y[(img*m+oc)*O : (img*m+oc+1)*O]
				for o := range yr {
					yr[o] = acc[o*mg+j] - zw*xsum[o] + fix
				}
			}
		}
	}
	return y, true
}

// im2colT writes the transposed im2col of cg planes of S values: row o holds, for every
// channel and kernel position, the input value the window at output o reads, or zp.
func im2colT[T uint8 | int8](dst, x []T, cg, K, O, S int, table []int, zp T) {
	P := cg * K
	for ci := 0; ci < cg; ci++ {
		plane := x[ci*S : (ci+1)*S]
		for kp := 0; kp < K; kp++ {
			col := ci*K + kp
			for o, off := range table[kp*O : (kp+1)*O] {
				v := zp
				if off >= 0 {
					v = plane[off]
				}
				dst[o*P+col] = v
			}
		}
	}
}

// rowSums writes the sum of each row of P values of v.
func rowSums[T uint8 | int8](out []int32, v []T, P int) {
	for o := range out {
		var s int32
		for _, x := range v[o*P : (o+1)*P] {
			s += int32(x)
		}
		out[o] = s
	}
}

func opConvInteger(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	y, shape, err := intConv(c, in[0], in[1], opt(in, 2), opt(in, 3))
	if err != nil {
		return nil, err
	}
	return one(&Tensor{DType: ir.Int32, Shape: shape, Data: y})
}

func opQLinearConv(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 8); err != nil {
		return nil, err
	}
	x, xs, xzp, w, ws, wzp, ys, yzp := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	acc, shape, err := intConv(c, x, w, xzp, wzp)
	if err != nil {
		return nil, err
	}
	m, O := shape[1], prod(shape[2:])
	if b := opt(in, 8); b != nil {
		bv := int32s(b)
		if len(bv) != m {
			return nil, errf("B has %d values for %d output channels", len(bv), m)
		}
		for i := range acc {
			acc[i] += bv[(i/O)%m]
		}
	}
	xsv, wsv, ysv := float64s(xs)[0], float64s(ws), float64s(ys)[0]
	if len(wsv) != 1 && len(wsv) != m {
		return nil, errf("w_scale has %d values for %d output channels", len(wsv), m)
	}
	mult := func(i int) float64 {
		s := wsv[0]
		if len(wsv) > 1 {
			s = wsv[(i/O)%m]
		}
		return float64(float32(xsv) * float32(s) / float32(ysv))
	}
	t, err := requantize(acc, mult, float64s(yzp)[0], yzp.DType, shape)
	if err != nil {
		return nil, err
	}
	return one(t)
}
