package train

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// The ops of quantized graphs in operator form and of float16 graphs. Activations are
// fake-quantized: the forward computes what the integer graph computes (as float64), the
// backward passes the gradient straight through inside the integer range (the
// straight-through estimator); the ranges (scales, zero points) themselves are not
// trained.
func init() {
	register(quantizeLinear, "QuantizeLinear")
	register(dynamicQuantizeLinear, "DynamicQuantizeLinear")
	register(matMulInteger, "MatMulInteger")
	register(cast, "Cast")
}

// quantRange is the integer range of a quantized dtype.
func quantRange(d ir.DType) (lo, hi float64, err error) {
	switch d {
	case ir.Int8:
		return -128, 127, nil
	case ir.Uint8:
		return 0, 255, nil
	case ir.Int4:
		return -8, 7, nil
	case ir.Uint4:
		return 0, 15, nil
	case ir.Int16:
		return -32768, 32767, nil
	case ir.Uint16:
		return 0, 65535, nil
	}
	return 0, 0, fmt.Errorf("no fake quantization for %v", d)
}

// axisParams returns, per element of x, the index into a scale or zero point that is one
// value (per tensor) or one per position along the node's axis (per axis).
func axisParams(c *opCtx, x *T, scale *T) (func(i int) int, error) {
	if scale.Len() == 1 {
		return func(int) int { return 0 }, nil
	}
	axis := c.int("axis", 1)
	if axis < 0 {
		axis += len(x.Shape)
	}
	if len(scale.Shape) != 1 || axis < 0 || axis >= len(x.Shape) || x.Shape[axis] != scale.Len() {
		return nil, fmt.Errorf("scale of shape %v does not fit input %v along axis %d", scale.Shape, x.Shape, axis)
	}
	st := strides(x.Shape)[axis]
	n := x.Shape[axis]
	return func(i int) int { return (i / st) % n }, nil
}

// quantizeLinear: y = saturate(round(x/scale) + zero point), the integer range that of
// the zero point's dtype (uint8 without one). Backward: the straight-through estimator,
// dy/dx = 1/scale where x was not saturated.
func quantizeLinear(c *opCtx, in []*T) ([]*T, backFn, error) {
	x, scale := in[0], in[1]
	dtype := ir.Uint8
	var zero *T
	if len(in) > 2 && in[2] != nil {
		zero = in[2]
		t := c.net.Model.Graph.Initializer(c.node.Inputs[2])
		if t == nil {
			return nil, nil, fmt.Errorf("the zero point %q must be an initializer (its dtype gives the integer range)", c.node.Inputs[2])
		}
		dtype = t.DType
	}
	if a := c.node.Attr("output_dtype"); a != nil && a.Int != 0 {
		dtype = ir.DType(a.Int)
	}
	lo, hi, err := quantRange(dtype)
	if err != nil {
		return nil, nil, err
	}
	at, err := axisParams(c, x, scale)
	if err != nil {
		return nil, nil, err
	}
	y := zerosLike(x)
	pass := make([]bool, x.Len())
	for i, v := range x.D {
		k := at(i)
		zp := 0.0
		if zero != nil {
			zp = zero.D[k]
		}
		r := math.RoundToEven(v/scale.D[k]) + zp
		pass[i] = r >= lo && r <= hi
		y.D[i] = math.Min(math.Max(r, lo), hi)
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i, v := range g[0].D {
			if pass[i] {
				gx.D[i] = v / scale.D[at(i)]
			}
		}
		return []*T{gx}
	}
	return []*T{y}, back, nil
}

// dequantizeActivation is DequantizeLinear on a value computed by the graph (not a
// quantized initializer): y = (x − zero point)·scale, dy/dx = scale.
func dequantizeActivation(c *opCtx, in []*T) ([]*T, backFn, error) {
	x, scale := in[0], in[1]
	var zero *T
	if len(in) > 2 {
		zero = in[2]
	}
	at, err := axisParams(c, x, scale)
	if err != nil {
		return nil, nil, err
	}
	y := zerosLike(x)
	for i, v := range x.D {
		k := at(i)
		if zero != nil {
			v -= zero.D[k]
		}
		y.D[i] = v * scale.D[k]
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i, v := range g[0].D {
			gx.D[i] = v * scale.D[at(i)]
		}
		return []*T{gx}
	}
	return []*T{y}, back, nil
}

// dynamicQuantizeLinear quantizes x to uint8 with the range of x itself (ONNX: the range
// always includes 0, scale = range/255, zero point = saturate(round(−min/scale))).
// Backward: dy/dx = 1/scale (the scale's own dependence on x is not differentiated, as
// fake quantization with an observed range does).
func dynamicQuantizeLinear(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	lo, hi := 0.0, 0.0
	for _, v := range x.D {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	scale := float64(float32((hi - lo) / 255)) // the scale output is float32
	zp := 0.0
	if scale > 0 {
		zp = math.Min(math.Max(math.RoundToEven(-lo/scale), 0), 255)
	}
	y := zerosLike(x)
	if scale > 0 {
		for i, v := range x.D {
			y.D[i] = math.Min(math.Max(math.RoundToEven(v/scale)+zp, 0), 255)
		}
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		if scale > 0 {
			for i, v := range g[0].D {
				gx.D[i] = v / scale
			}
		}
		return []*T{gx}
	}
	return []*T{y, {D: []float64{scale}}, {D: []float64{zp}}}, back, nil
}

// matMulInteger: (A − a_zero_point)·(B − b_zero_point) for A [..., M, K] and B [K, N]
// (b_zero_point one value or one per column). A weight B trained on its grid (see
// matMulIntegerGrid) is seen as the integers of its float shadow; its gradient is the
// integers' gradient divided by the scale (straight through inside the range).
func matMulInteger(c *opCtx, in []*T) ([]*T, backFn, error) {
	mm := c.mm()
	a, b := in[0], in[1]
	if len(a.Shape) < 2 || len(b.Shape) != 2 {
		return nil, nil, fmt.Errorf("MatMulInteger of %v and %v: A of rank ≥ 2 and a 2-D B are supported", a.Shape, b.Shape)
	}
	k, n := b.Shape[0], b.Shape[1]
	if a.Shape[len(a.Shape)-1] != k {
		return nil, nil, fmt.Errorf("MatMulInteger of %v and %v: inner sizes differ", a.Shape, b.Shape)
	}
	m := a.Len() / k
	aq := a
	if len(in) > 2 && in[2] != nil {
		if in[2].Len() != 1 {
			return nil, nil, fmt.Errorf("a per-row a_zero_point is not supported")
		}
		aq = zerosLike(a)
		for i, v := range a.D {
			aq.D[i] = v - in[2].D[0]
		}
	}
	bq := zerosLike(b)
	var pass []bool
	p := c.net.params[c.node.Inputs[1]]
	if p != nil && p.Grid != nil && !p.Grid.isFloat() {
		pass = make([]bool, b.Len())
		for i, v := range b.D {
			if s := p.Grid.Scale[i]; s != 0 {
				r := math.RoundToEven(v/s) + p.Grid.Zero[i]
				pass[i] = r >= p.Grid.Lo && r <= p.Grid.Hi
			}
			bq.D[i] = p.Grid.level(i, v) - p.Grid.Zero[i]
		}
	} else {
		copy(bq.D, b.D)
		if len(in) > 3 && in[3] != nil {
			z := in[3]
			if z.Len() != 1 && z.Len() != n {
				return nil, nil, fmt.Errorf("b_zero_point of %d values for %d columns", z.Len(), n)
			}
			for i := range bq.D {
				bq.D[i] -= z.D[(i%n)%z.Len()]
			}
		}
	}
	out := New(append(append([]int(nil), a.Shape[:len(a.Shape)-1]...), n)...)
	mm(false, false, m, n, k, aq.D, bq.D, out.D)
	back := func(g []*T) []*T {
		ga, gb := zerosLike(a), zerosLike(b)
		mm(false, true, m, k, n, g[0].D, bq.D, ga.D)
		if pass != nil {
			mm(true, false, k, n, m, aq.D, g[0].D, gb.D)
			for i := range gb.D {
				if pass[i] {
					gb.D[i] /= p.Grid.Scale[i]
				} else {
					gb.D[i] = 0
				}
			}
		} else {
			gb = nil
		}
		return []*T{ga, gb}
	}
	return []*T{out}, back, nil
}

// cast to a float type passes values and gradients through unchanged (training computes
// in float64; a float16 graph's weights are rounded by their grid, its activations are
// not); to an integer type it truncates toward zero as ONNX's Cast does, to bool it
// gives 1 for non-zero, with no gradient.
func cast(c *opCtx, in []*T) ([]*T, backFn, error) {
	to := ir.DType(c.int("to", int(ir.Float32)))
	x := in[0]
	if to.IsFloat() {
		back := func(g []*T) []*T { return []*T{g[0]} }
		return []*T{x}, back, nil
	}
	if to == ir.String {
		return nil, nil, fmt.Errorf("Cast to %v is not supported while training", to)
	}
	y := zerosLike(x)
	for i, v := range x.D {
		y.D[i] = math.Trunc(v)
		if to == ir.Bool && v != 0 { // a mask's condition: true is 1
			y.D[i] = 1
		}
	}
	return []*T{y}, nil, nil
}
