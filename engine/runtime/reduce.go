package runtime

import (
	"github.com/modelc/modelc/accel"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/ir"
)

// Reductions (Reduce*, ArgMax/ArgMin, TopK, CumSum) and the softmax family.

func init() {
	for _, op := range []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		register(reduceKernel(op), op)
	}
	register(argKernel(true), "ArgMax")
	register(argKernel(false), "ArgMin")
	register(opTopK, "TopK")
	register(opCumSum, "CumSum")
	register(softmaxKernel('s'), "Softmax")
	register(softmaxKernel('l'), "LogSoftmax")
	register(softmaxKernel('h'), "Hardmax")
}

// reduceAxes reads the axes to reduce: an attribute up to opset 17 (12 for ReduceSum),
// an optional input after. No axes means all of them, unless noop_with_empty_axes.
func reduceAxes(c *opContext, in []*Tensor, r int) ([]bool, bool, error) {
	red := make([]bool, r)
	axes, ok := axesArg(c, in, 1)
	if !ok || len(axes) == 0 {
		if c.attrInt("noop_with_empty_axes", 0) == 1 {
			return red, true, nil
		}
		for i := range red {
			red[i] = true
		}
		return red, false, nil
	}
	for _, a := range axes {
		a, err := normAxis(a, r)
		if err != nil {
			return nil, false, err
		}
		red[a] = true
	}
	return red, false, nil
}

// reduceIndex maps every input element to its output element for reduced axes red.
func reduceIndex(shape []int, red []bool, keep bool) (outShape, keptShape []int, idx []int) {
	kept := make([]int, len(shape))
	for i, d := range shape {
		if red[i] {
			kept[i] = 1
			if keep {
				outShape = append(outShape, 1)
			}
		} else {
			kept[i] = d
			outShape = append(outShape, d)
		}
	}
	if outShape == nil {
		outShape = []int{}
	}
	st := stridesOf(kept)
	for i := range st {
		if red[i] {
			st[i] = 0
		}
	}
	return outShape, kept, stridedIndex(shape, 0, st)
}

func reduceKernel(op string) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		red, noop, err := reduceAxes(c, in, len(x.Shape))
		if err != nil {
			return nil, err
		}
		if noop {
			return one(view(x, shapeOf(x)))
		}
		keep := c.attrInt("keepdims", 1) == 1
		if t, ok := reduceSum32(c, op, x, red, keep); ok {
			return one(t)
		}
		outShape, _, idx := reduceIndex(x.Shape, red, keep)
		v := float64s(x)
		n := prod(outShape)
		acc := make([]float64, n)
		count := make([]int, n)
		init := 0.0
		switch op {
		case "ReduceMax":
			init = math.Inf(-1)
		case "ReduceMin":
			init = math.Inf(1)
		case "ReduceProd":
			init = 1
		}
		for i := range acc {
			acc[i] = init
		}
		for i, f := range v {
			o := idx[i]
			a := acc[o]
			switch op {
			case "ReduceMax":
				if f > a || math.IsNaN(f) {
					a = f
				}
			case "ReduceMin":
				if f < a || math.IsNaN(f) {
					a = f
				}
			case "ReduceProd":
				a *= f
			case "ReduceL1":
				a += math.Abs(f)
			case "ReduceL2", "ReduceSumSquare":
				a += f * f
			case "ReduceLogSumExp":
				a += math.Exp(f)
			default:
				a += f
			}
			acc[o] = a
			count[o]++
		}
		for i := range acc {
			switch op {
			case "ReduceMean":
				acc[i] /= float64(count[i])
			case "ReduceL2":
				acc[i] = math.Sqrt(acc[i])
			case "ReduceLogSum", "ReduceLogSumExp":
				acc[i] = math.Log(acc[i])
			}
		}
		if !x.DType.IsFloat() && (op == "ReduceMax" || op == "ReduceMin") {
			// An empty integer reduction gives the type's extreme; inf does not convert.
			for i := range acc {
				if math.IsInf(acc[i], 0) {
					acc[i] = intExtreme(x.DType, acc[i] < 0)
				}
			}
		}
		return one(fromFloat64s(x.DType, outShape, acc))
	}
}

func intExtreme(d ir.DType, lowest bool) float64 {
	bits := map[ir.DType]uint{ir.Int8: 8, ir.Int16: 16, ir.Int32: 32, ir.Int64: 64, ir.Uint8: 8, ir.Uint16: 16, ir.Uint32: 32, ir.Uint64: 64}[d]
	signed := d == ir.Int8 || d == ir.Int16 || d == ir.Int32 || d == ir.Int64
	switch {
	case signed && lowest:
		return -math.Ldexp(1, int(bits)-1)
	case signed:
		return math.Ldexp(1, int(bits)-1) - 1
	case lowest:
		return 0
	}
	return math.Ldexp(1, int(bits)) - 1
}

// axisView splits shape around axis: outer × dim × inner.
func axisView(shape []int, axis int) (outer, dim, inner int) {
	return prod(shape[:axis]), shape[axis], prod(shape[axis+1:])
}

func argKernel(isMax bool) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		axis, err := normAxis(int(c.attrInt("axis", 0)), len(x.Shape))
		if err != nil {
			return nil, err
		}
		last := c.attrInt("select_last_index", 0) == 1
		outer, dim, inner := axisView(x.Shape, axis)
		if dim == 0 {
			return nil, errf("cannot take the arg-extreme of an empty axis")
		}
		v := float64s(x)
		res := make([]int64, outer*inner)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				best, bi := v[o*dim*inner+i], 0
				for k := 1; k < dim; k++ {
					f := v[(o*dim+k)*inner+i]
					better := f > best
					if !isMax {
						better = f < best
					}
					if better || (last && f == best) {
						best, bi = f, k
					}
				}
				res[o*inner+i] = int64(bi)
			}
		}
		out := shapeOf(x)
		if c.attrInt("keepdims", 1) == 1 {
			out[axis] = 1
		} else {
			out = append(out[:axis], out[axis+1:]...)
		}
		return one(&Tensor{DType: ir.Int64, Shape: out, Data: res})
	}
}

func opTopK(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	k := int(c.attrInt("k", 0))
	if t := opt(in, 1); t != nil {
		k = int(int64s(t)[0])
	}
	axis, err := normAxis(int(c.attrInt("axis", -1)), len(x.Shape))
	if err != nil {
		return nil, err
	}
	largest := c.attrInt("largest", 1) == 1
	outer, dim, inner := axisView(x.Shape, axis)
	if k < 0 || k > dim {
		return nil, errf("k = %d out of range for an axis of %d", k, dim)
	}
	v := float64s(x)
	outShape := shapeOf(x)
	outShape[axis] = k
	idxs := make([]int64, outer*k*inner)
	order := make([]int, dim)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for j := range order {
				order[j] = j
			}
			at := func(j int) float64 { return v[(o*dim+j)*inner+i] }
			// Stable: equal values keep the lower index first, as the spec requires.
			sort.SliceStable(order, func(a, b int) bool {
				if largest {
					return at(order[a]) > at(order[b])
				}
				return at(order[a]) < at(order[b])
			})
			for j := 0; j < k; j++ {
				p := (o*k+j)*inner + i
				idxs[p] = int64(order[j])
			}
		}
	}
	// Values keep their exact type by gathering, not by converting float64 back.
	gi := make([]int, len(idxs))
	for p := range gi {
		o, rest := p/(k*inner), p%inner
		gi[p] = (o*dim+int(idxs[p]))*inner + rest
	}
	return []*Tensor{
		{DType: x.DType, Shape: outShape, Data: take(x.Data, gi)},
		{DType: ir.Int64, Shape: shapeOf(&Tensor{Shape: outShape}), Data: idxs},
	}, nil
}

func opCumSum(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	axis, err := normAxis(int(int64s(in[1])[0]), len(x.Shape))
	if err != nil {
		return nil, err
	}
	excl, rev := c.attrInt("exclusive", 0) == 1, c.attrInt("reverse", 0) == 1
	outer, dim, inner := axisView(x.Shape, axis)
	v := float64s(x)
	res := make([]float64, len(v))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			s := 0.0
			for j := 0; j < dim; j++ {
				k := j
				if rev {
					k = dim - 1 - j
				}
				p := (o*dim+k)*inner + i
				if excl {
					res[p] = s
					s += v[p]
				} else {
					s += v[p]
					res[p] = s
				}
			}
		}
	}
	return one(fromFloat64s(x.DType, shapeOf(x), res))
}

// softmaxKernel: before opset 13 the input is viewed as 2-D at axis (default 1) and the
// rows normalised whole; from 13 on, one axis (default -1) is normalised.
func softmaxKernel(kind byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		r := len(x.Shape)
		var outer, dim, inner int
		if c.opset < 13 {
			axis, err := normAxis(int(c.attrInt("axis", 1)), max(r, 1))
			if err != nil {
				return nil, err
			}
			outer, dim, inner = prod(x.Shape[:axis]), prod(x.Shape[axis:]), 1
		} else {
			axis, err := normAxis(int(c.attrInt("axis", -1)), max(r, 1))
			if err != nil {
				return nil, err
			}
			if r == 0 {
				outer, dim, inner = 1, 1, 1
			} else {
				outer, dim, inner = axisView(x.Shape, axis)
			}
		}
		if f, ok := x.Data.([]float32); ok && kind == 's' && inner == 1 && dim > 0 {
			out := c.tensorF32(x.DType, shapeOf(x))
			accel.Softmax(out.Data.([]float32), f, dim)
			return one(out)
		}
		if f, ok := x.Data.([]float32); ok && kind == 'l' && inner == 1 && dim > 0 && fastPaths {
			out := c.tensorF32(x.DType, shapeOf(x))
			logSoftmaxRows32(out.Data.([]float32), f, dim)
			return one(out)
		}
		if !x.DType.IsFloat() {
			return nil, unsupported("%v input", x.DType)
		}
		v := float64s(x)
		res := make([]float64, len(v))
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				at := func(j int) int { return (o*dim+j)*inner + i }
				m := math.Inf(-1)
				arg := 0
				for j := 0; j < dim; j++ {
					if v[at(j)] > m {
						m, arg = v[at(j)], j
					}
				}
				if kind == 'h' {
					for j := 0; j < dim; j++ {
						if j == arg {
							res[at(j)] = 1
						}
					}
					continue
				}
				s := 0.0
				for j := 0; j < dim; j++ {
					s += math.Exp(v[at(j)] - m)
				}
				for j := 0; j < dim; j++ {
					if kind == 'l' {
						res[at(j)] = v[at(j)] - m - math.Log(s)
					} else {
						res[at(j)] = math.Exp(v[at(j)]-m) / s
					}
				}
			}
		}
		return one(fromFloat64s(x.DType, shapeOf(x), res))
	}
}

// softmaxRows32 normalises rows of float32 values, accumulating in float64.
func softmaxRows32(dst, src []float32, cols int) {
	for r := 0; r+cols <= len(src); r += cols {
		row := src[r : r+cols]
		m := float32(math.Inf(-1))
		for _, v := range row {
			if v > m {
				m = v
			}
		}
		var s float64
		o := dst[r : r+cols]
		for j, v := range row {
			e := math.Exp(float64(v - m))
			o[j] = float32(e)
			s += e
		}
		inv := 1 / s
		for j := range o {
			o[j] = float32(float64(o[j]) * inv)
		}
	}
}
