package runtime

import (
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// Pooling: MaxPool (with its optional Indices), AveragePool, LpPool and the global
// forms, N-D, with pads, dilations, strides and ceil_mode. Computed in float64.

func init() {
	register(opMaxPool, "MaxPool")
	register(poolKernel('a'), "AveragePool")
	register(poolKernel('p'), "LpPool")
	register(globalPool('a'), "GlobalAveragePool")
	register(globalPool('m'), "GlobalMaxPool")
	register(globalPool('p'), "GlobalLpPool")
}

func poolGeom(c *opContext, x *Tensor) (*convGeom, error) {
	if len(x.Shape) < 3 {
		return nil, errf("X needs rank ≥ 3, got %v", x.Shape)
	}
	k, ok := c.attrInts("kernel_shape")
	if !ok || len(k) != len(x.Shape)-2 {
		return nil, errf("kernel_shape %v does not match input %v", k, x.Shape)
	}
	return geometry(c, x.Shape[2:], k, c.attrInt("ceil_mode", 0) == 1)
}

func opMaxPool(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	g, err := poolGeom(c, x)
	if err != nil {
		return nil, err
	}
	nc := x.Shape[0] * x.Shape[1]
	S, K, O := prod(g.in), prod(g.kernel), prod(g.out)
	colMajor := c.attrInt("storage_order", 0) == 1
	if f, ok := x.Data.([]float32); ok && len(c.node.Outputs) < 2 && len(g.in) <= 2 && fastPaths {
		res := allocRaw[float32](c, nc*O)
		if len(g.in) == 1 {
			maxPool2D(res, f, nc, g.as2D())
		} else {
			maxPool2D(res, f, nc, g)
		}
		return one(&Tensor{DType: x.DType, Shape: append([]int{x.Shape[0], x.Shape[1]}, g.out...), Data: res})
	}
	table := c.cachedTable(g)
	if f, ok := x.Data.([]float32); ok && len(c.node.Outputs) < 2 {
		// The common case, without indices: stay in float32.
		res := allocRaw[float32](c, nc*O)
		for p := 0; p < nc; p++ {
			plane := f[p*S : (p+1)*S]
			for o := 0; o < O; o++ {
				best, seen := float32(0), false
				for kp := 0; kp < K; kp++ {
					if off := table[kp*O+o]; off >= 0 && (!seen || plane[off] > best) {
						best, seen = plane[off], true
					}
				}
				if !seen {
					best = float32(math.Inf(-1))
				}
				res[p*O+o] = best
			}
		}
		return one(&Tensor{DType: x.DType, Shape: append([]int{x.Shape[0], x.Shape[1]}, g.out...), Data: res})
	}
	v := float64s(x)
	res := make([]float64, nc*O)
	idx := make([]int64, nc*O)
	for p := 0; p < nc; p++ {
		plane := v[p*S : (p+1)*S]
		for o := 0; o < O; o++ {
			best, at := math.Inf(-1), -1
			for kp := 0; kp < K; kp++ {
				off := table[kp*O+o]
				if off >= 0 && (plane[off] > best || at < 0) {
					best, at = plane[off], off
				}
			}
			res[p*O+o] = best
			if colMajor && at >= 0 {
				at = colMajorOffset(at, g.in)
			}
			idx[p*O+o] = int64(p*S + at)
		}
	}
	outShape := append([]int{x.Shape[0], x.Shape[1]}, g.out...)
	return []*Tensor{
		fromFloat64s(x.DType, outShape, res),
		{DType: ir.Int64, Shape: append([]int{}, outShape...), Data: idx},
	}, nil
}

// colMajorOffset converts a row-major spatial offset to column-major (storage_order 1).
func colMajorOffset(off int, shape []int) int {
	st := stridesOf(shape)
	res, mul := 0, 1
	for d := 0; d < len(shape); d++ {
		res += ((off / st[d]) % shape[d]) * mul
		mul *= shape[d]
	}
	return res
}

func poolKernel(kind byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		g, err := poolGeom(c, x)
		if err != nil {
			return nil, err
		}
		includePad := c.attrInt("count_include_pad", 0) == 1
		p := float64(c.attrInt("p", 2))
		nc := x.Shape[0] * x.Shape[1]
		S, K, O := prod(g.in), prod(g.kernel), prod(g.out)
		table := c.cachedTable(g)
		v := float64s(x)
		res := make([]float64, nc*O)
		for pl := 0; pl < nc; pl++ {
			plane := v[pl*S : (pl+1)*S]
			for o := 0; o < O; o++ {
				var s float64
				n := 0
				for kp := 0; kp < K; kp++ {
					off := table[kp*O+o]
					switch {
					case off >= 0:
						if kind == 'p' {
							s += math.Pow(math.Abs(plane[off]), p)
						} else {
							s += plane[off]
						}
						n++
					case off == inPad && includePad:
						n++
					}
				}
				if kind == 'p' {
					res[pl*O+o] = math.Pow(s, 1/p)
				} else if n > 0 {
					res[pl*O+o] = s / float64(n)
				}
			}
		}
		return one(fromFloat64s(x.DType, append([]int{x.Shape[0], x.Shape[1]}, g.out...), res))
	}
}

func globalPool(kind byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if len(x.Shape) < 2 {
			return nil, errf("X needs rank ≥ 2")
		}
		nc, S := x.Shape[0]*x.Shape[1], prod(x.Shape[2:])
		out := []int{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			out = append(out, 1)
		}
		if f, ok := x.Data.([]float32); ok && kind == 'a' && x.DType == ir.Float32 && fastPaths {
			res := allocRaw[float32](c, nc)
			globalAverage32(res, f, S)
			return one(&Tensor{DType: x.DType, Shape: out, Data: res})
		}
		p := float64(c.attrInt("p", 2))
		v := float64s(x)
		res := make([]float64, nc)
		for i := 0; i < nc; i++ {
			plane := v[i*S : (i+1)*S]
			switch kind {
			case 'a':
				var s float64
				for _, f := range plane {
					s += f
				}
				res[i] = s / float64(S)
			case 'm':
				m := math.Inf(-1)
				for _, f := range plane {
					m = math.Max(m, f)
				}
				res[i] = m
			case 'p':
				var s float64
				for _, f := range plane {
					s += math.Pow(math.Abs(f), p)
				}
				res[i] = math.Pow(s, 1/p)
			}
		}
		return one(fromFloat64s(x.DType, out, res))
	}
}
