package runtime

import (
	"math"
)

// Normalisations: batch, instance, layer, group, local response, mean-variance. They
// compute in float64 (statistics over many values) and cast back to the input's type.

func init() {
	register(opBatchNorm, "BatchNormalization")
	register(opInstanceNorm, "InstanceNormalization")
	register(opLayerNorm, "LayerNormalization")
	register(opGroupNorm, "GroupNormalization")
	register(opLRN, "LRN")
	register(opMVN, "MeanVarianceNormalization")
}

// channelParam reads a per-channel vector of length c.
func channelParam(t *Tensor, c int, what string) ([]float64, error) {
	if t == nil {
		return nil, errf("%s is required", what)
	}
	v := float64s(t)
	if len(v) != c {
		return nil, errf("%s has %d values for %d channels", what, len(v), c)
	}
	return v, nil
}

func opBatchNorm(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 5); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 2 {
		return nil, errf("X needs rank ≥ 2, got %v", x.Shape)
	}
	n, ch, sp := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	eps := float64(c.attrFloat("epsilon", 1e-5))
	scale, err := channelParam(in[1], ch, "scale")
	if err != nil {
		return nil, err
	}
	bias, err := channelParam(in[2], ch, "B")
	if err != nil {
		return nil, err
	}
	mean, err := channelParam(in[3], ch, "mean")
	if err != nil {
		return nil, err
	}
	variance, err := channelParam(in[4], ch, "var")
	if err != nil {
		return nil, err
	}
	training := c.attrInt("training_mode", 0) == 1 && len(c.node.Outputs) > 1
	var v []float64
	if _, f32 := x.Data.([]float32); !f32 || training {
		v = float64s(x)
	}
	var runMean, runVar []float64
	if training {
		// Normalise with the batch statistics; update the running ones with momentum.
		mom := float64(c.attrFloat("momentum", 0.9))
		bm, bv := make([]float64, ch), make([]float64, ch)
		cnt := float64(n * sp)
		for b := 0; b < n; b++ {
			for k := 0; k < ch; k++ {
				for _, f := range v[(b*ch+k)*sp : (b*ch+k+1)*sp] {
					bm[k] += f
				}
			}
		}
		for k := range bm {
			bm[k] /= cnt
		}
		for b := 0; b < n; b++ {
			for k := 0; k < ch; k++ {
				for _, f := range v[(b*ch+k)*sp : (b*ch+k+1)*sp] {
					bv[k] += (f - bm[k]) * (f - bm[k])
				}
			}
		}
		runMean, runVar = make([]float64, ch), make([]float64, ch)
		for k := range bv {
			bv[k] /= cnt
			runMean[k] = mean[k]*mom + bm[k]*(1-mom)
			runVar[k] = variance[k]*mom + bv[k]*(1-mom)
		}
		mean, variance = bm, bv
	}
	if f, ok := x.Data.([]float32); ok && !training {
		// Inference on float32: one multiply-add per element with per-channel constants.
		out := allocRaw[float32](c, len(f))
		for b := 0; b < n; b++ {
			for k := 0; k < ch; k++ {
				a := scale[k] / math.Sqrt(variance[k]+eps)
				sa, sh := float32(a), float32(bias[k]-mean[k]*a)
				base := (b*ch + k) * sp
				for i, xv := range f[base : base+sp] {
					out[base+i] = xv*sa + sh
				}
			}
		}
		return one(&Tensor{DType: x.DType, Shape: shapeOf(x), Data: out})
	}
	out := make([]float64, len(v))
	for b := 0; b < n; b++ {
		for k := 0; k < ch; k++ {
			a := scale[k] / math.Sqrt(variance[k]+eps)
			sh := bias[k] - mean[k]*a
			base := (b*ch + k) * sp
			for i := 0; i < sp; i++ {
				out[base+i] = v[base+i]*a + sh
			}
		}
	}
	res := []*Tensor{fromFloat64s(x.DType, shapeOf(x), out)}
	if training {
		res = append(res, fromFloat64s(in[3].DType, []int{ch}, runMean), fromFloat64s(in[4].DType, []int{ch}, runVar))
	}
	return res, nil
}

func opInstanceNorm(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 3 {
		return nil, errf("X needs rank ≥ 3, got %v", x.Shape)
	}
	n, ch, sp := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	scale, err := channelParam(in[1], ch, "scale")
	if err != nil {
		return nil, err
	}
	bias, err := channelParam(in[2], ch, "B")
	if err != nil {
		return nil, err
	}
	eps := float64(c.attrFloat("epsilon", 1e-5))
	v := float64s(x)
	out := make([]float64, len(v))
	for b := 0; b < n; b++ {
		for k := 0; k < ch; k++ {
			base := (b*ch + k) * sp
			normalize(out[base:base+sp], v[base:base+sp], eps, func(int) float64 { return scale[k] }, func(int) float64 { return bias[k] })
		}
	}
	return one(fromFloat64s(x.DType, shapeOf(x), out))
}

// normalize writes (x−mean)/√(var+eps)·scale(i)+bias(i) and returns mean and 1/σ.
func normalize(dst, src []float64, eps float64, scale, bias func(int) float64) (float64, float64) {
	var m float64
	for _, f := range src {
		m += f
	}
	m /= float64(max(len(src), 1))
	var s float64
	for _, f := range src {
		s += (f - m) * (f - m)
	}
	inv := 1 / math.Sqrt(s/float64(max(len(src), 1))+eps)
	for i, f := range src {
		dst[i] = (f-m)*inv*scale(i) + bias(i)
	}
	return m, inv
}

func opLayerNorm(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	axis, err := normAxis(int(c.attrInt("axis", -1)), r)
	if err != nil {
		return nil, err
	}
	eps := float64(c.attrFloat("epsilon", 1e-5))
	norm := x.Shape[axis:]
	rows, cols := prod(x.Shape[:axis]), prod(norm)
	if _, err := broadcastShape(in[1].Shape, norm); err != nil {
		return nil, errf("scale %v does not broadcast to %v", in[1].Shape, norm)
	}
	if xf, ok := x.Data.([]float32); ok && fastPaths {
		if sf, ok := in[1].Data.([]float32); ok {
			return layerNormFast(c, x, xf, broadcastTo(in[1], norm).Data.([]float32), sf, opt(in, 2), norm, axis, rows, cols, eps)
		}
	}
	scale := float64s(broadcastTo(in[1], norm))
	bias := make([]float64, cols)
	if b := opt(in, 2); b != nil {
		bias = float64s(broadcastTo(b, norm))
	}
	v := float64s(x)
	out := make([]float64, len(v))
	means, invs := make([]float64, rows), make([]float64, rows)
	for i := 0; i < rows; i++ {
		means[i], invs[i] = normalize(out[i*cols:(i+1)*cols], v[i*cols:(i+1)*cols], eps,
			func(j int) float64 { return scale[j] }, func(j int) float64 { return bias[j] })
	}
	statShape := shapeOf(x)
	for i := axis; i < r; i++ {
		statShape[i] = 1
	}
	st := in[0].DType
	if s := c.attrInt("stash_type", 1); s == 1 {
		st = 1 // float32 statistics
	}
	return []*Tensor{
		fromFloat64s(x.DType, shapeOf(x), out),
		fromFloat64s(st, statShape, means),
		fromFloat64s(st, append([]int{}, statShape...), invs),
	}, nil
}

func opGroupNorm(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 2 {
		return nil, errf("X needs rank ≥ 2")
	}
	g := int(c.attrInt("num_groups", 0))
	n, ch, sp := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	if g <= 0 || ch%g != 0 {
		return nil, errf("num_groups %d does not divide %d channels", g, ch)
	}
	eps := float64(c.attrFloat("epsilon", 1e-5))
	scale, bias := float64s(in[1]), float64s(in[2])
	per := ch / g
	chanParam := func(p []float64, k int) float64 {
		if len(p) == g && g != ch { // opset 18: one value per group
			return p[k/per]
		}
		return p[k]
	}
	if (len(scale) != ch && len(scale) != g) || len(bias) != len(scale) {
		return nil, errf("scale and bias need %d (or %d) values", ch, g)
	}
	v := float64s(x)
	out := make([]float64, len(v))
	size := per * sp
	for b := 0; b < n; b++ {
		for gi := 0; gi < g; gi++ {
			base := (b*ch + gi*per) * sp
			normalize(out[base:base+size], v[base:base+size], eps,
				func(i int) float64 { return chanParam(scale, gi*per+i/sp) },
				func(i int) float64 { return chanParam(bias, gi*per+i/sp) })
		}
	}
	return one(fromFloat64s(x.DType, shapeOf(x), out))
}

func opLRN(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if len(x.Shape) < 3 {
		return nil, errf("X needs rank ≥ 3")
	}
	size := int(c.attrInt("size", 0))
	if size <= 0 {
		return nil, errf("size must be positive")
	}
	alpha, beta, bias := float64(c.attrFloat("alpha", 1e-4)), float64(c.attrFloat("beta", 0.75)), float64(c.attrFloat("bias", 1))
	n, ch, sp := x.Shape[0], x.Shape[1], prod(x.Shape[2:])
	v := float64s(x)
	out := make([]float64, len(v))
	lo, hi := (size-1)/2, (size-1+1)/2 // floor and ceil of (size-1)/2
	for b := 0; b < n; b++ {
		for k := 0; k < ch; k++ {
			for i := 0; i < sp; i++ {
				var s float64
				for j := max(0, k-lo); j <= min(ch-1, k+hi); j++ {
					f := v[(b*ch+j)*sp+i]
					s += f * f
				}
				p := (b*ch+k)*sp + i
				out[p] = v[p] / math.Pow(bias+alpha/float64(size)*s, beta)
			}
		}
	}
	return one(fromFloat64s(x.DType, shapeOf(x), out))
}

func opMVN(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axes, ok := c.attrInts("axes")
	if !ok {
		axes = []int{0, 2, 3}
	}
	red := make([]bool, len(x.Shape))
	for _, a := range axes {
		a, err := normAxis(a, len(x.Shape))
		if err != nil {
			return nil, err
		}
		red[a] = true
	}
	outShape, _, idx := reduceIndex(x.Shape, red, true)
	v := float64s(x)
	m := prod(outShape)
	sum, sq, cnt := make([]float64, m), make([]float64, m), make([]float64, m)
	for i, f := range v {
		sum[idx[i]] += f
		sq[idx[i]] += f * f
		cnt[idx[i]]++
	}
	out := make([]float64, len(v))
	for i, f := range v {
		o := idx[i]
		mean := sum[o] / cnt[o]
		variance := sq[o]/cnt[o] - mean*mean
		out[i] = (f - mean) / (math.Sqrt(variance) + 1e-9)
	}
	return one(fromFloat64s(x.DType, shapeOf(x), out))
}
