package runtime

import (
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
	bs8, bIsS8 := b.Data.([]int8)
	var out []int32
	if bIsS8 && k > 0 && fastPaths {
		out = allocRaw[int32](c, nb*m*n) // the integer GEMM overwrites every element
	} else {
		out = make([]int32, nb*m*n)
	}
	zeroB := true
	for _, z := range bzp {
		zeroB = zeroB && z == 0
	}
	if bIsS8 && zeroB && k > 0 && fastPaths {
		// Fast path: accel's exact integer GEMM, then subtract azp·colsum(B).
		for bi := 0; bi < nb; bi++ {
			bm := bs8[bOff[bi] : bOff[bi]+k*n]
			cm := out[bi*m*n : (bi+1)*m*n]
			switch av := a.Data.(type) {
			case []uint8:
				accel.GEMMU8S8(false, m, n, k, av[aOff[bi]:aOff[bi]+m*k], k, bm, n, cm, n)
			case []int8:
				accel.GEMMS8S8(false, m, n, k, av[aOff[bi]:aOff[bi]+m*k], k, bm, n, cm, n)
			default:
				return nil, unsupported("A of %v", a.DType)
			}
			var colsum []int32
			for i := 0; i < m; i++ {
				if azp[i] == 0 {
					continue
				}
				if colsum == nil {
					colsum = c.colSums(bm, k, n)
				}
				for j := 0; j < n; j++ {
					cm[i*n+j] -= azp[i] * colsum[j]
				}
			}
		}
		return &Tensor{DType: ir.Int32, Shape: outShape, Data: out}, nil
	}
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
