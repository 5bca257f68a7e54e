package train

import (
	"math"
	"slices"

	"github.com/modelc/modelc/accel"
)

func init() {
	register(binary, "Add", "Sub", "Mul", "Div")
	register(unary, "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Clip", "Neg", "Identity", "Dropout")
	register(softmax, "Softmax", "LogSoftmax")
}

func binary(c *opCtx, in []*T) ([]*T, backFn, error) {
	a, b := in[0], in[1]
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	op := c.node.OpType
	if row := rowLen(a.Shape, b.Shape, shape); row > 0 {
		out, back := binaryRows(c, op, a, b, shape, row)
		return []*T{out}, back, nil
	}
	ia, ib := bindex(a.Shape, shape), bindex(b.Shape, shape)
	out := New(shape...)
	for i := range out.D {
		x, y := a.D[ia[i]], b.D[ib[i]]
		switch op {
		case "Add":
			out.D[i] = x + y
		case "Sub":
			out.D[i] = x - y
		case "Mul":
			out.D[i] = x * y
		case "Div":
			out.D[i] = x / y
		}
	}
	back := func(g []*T) []*T {
		ga, gb := New(shape...), New(shape...)
		for i, v := range g[0].D {
			x, y := a.D[ia[i]], b.D[ib[i]]
			switch op {
			case "Add":
				ga.D[i], gb.D[i] = v, v
			case "Sub":
				ga.D[i], gb.D[i] = v, -v
			case "Mul":
				ga.D[i], gb.D[i] = v*y, v*x
			case "Div":
				ga.D[i], gb.D[i] = v/y, -v*x/(y*y)
			}
		}
		return []*T{reduceTo(ga, a.Shape, ia), reduceTo(gb, b.Shape, ib)}
	}
	return []*T{out}, back, nil
}

// rowLen returns the row length for binaryRows when each operand either has the output's
// shape or is one row repeated along the leading dimensions (its shape, less leading 1s,
// is the output's trailing dimensions: a bias), and 0 when the operands broadcast some
// other way.
func rowLen(a, b, out []int) int {
	n := numel(out)
	row := n
	for _, s := range [][]int{a, b} {
		if numel(s) == n && len(s) == len(out) {
			continue
		}
		for len(s) > 0 && s[0] == 1 {
			s = s[1:]
		}
		if len(s) > len(out) || !slices.Equal(s, out[len(out)-len(s):]) || row != n {
			return 0 // not a row, or two rows (the output is then one of them, whole)
		}
		row = numel(s)
	}
	return row
}

// binaryRows is binary for operands that are whole or one repeated row (see rowLen):
// element j of row r reads a full operand at r·row+j and a row operand at j, so no index
// maps are built, and the gradient of a row operand is the sum of the rows.
func binaryRows(c *opCtx, op string, a, b *T, shape []int, row int) (*T, backFn) {
	n := numel(shape)
	rows := n / row
	part := func(t *T, r int) []float64 { // the row of t that row r of the output reads
		if t.Len() == row {
			return t.D
		}
		return t.D[r*row : (r+1)*row]
	}
	out := c.out(shape...)
	for r := 0; r < rows; r++ {
		x, y, o := part(a, r), part(b, r), out.D[r*row:(r+1)*row]
		switch op {
		case "Add":
			for j := range o {
				o[j] = x[j] + y[j]
			}
		case "Sub":
			for j := range o {
				o[j] = x[j] - y[j]
			}
		case "Mul":
			for j := range o {
				o[j] = x[j] * y[j]
			}
		case "Div":
			for j := range o {
				o[j] = x[j] / y[j]
			}
		}
	}
	back := func(g []*T) []*T {
		gy := g[0].D
		if op == "Add" && a.Len() == n && b.Len() == n {
			return []*T{g[0], g[0]} // a gradient is never changed once stored: both may share it
		}
		// A row operand's gradient is written by the first row and added to by the others.
		ga, gb := c.out(a.Shape...), c.out(b.Shape...)
		for r := 0; r < rows; r++ {
			x, y, gr := part(a, r), part(b, r), gy[r*row:(r+1)*row]
			da, db := part(ga, r), part(gb, r)
			acc := r > 0 // rows after the first add into a row operand's gradient
			for j, v := range gr {
				var va, vb float64
				switch op {
				case "Add":
					va, vb = v, v
				case "Sub":
					va, vb = v, -v
				case "Mul":
					va, vb = v*y[j], v*x[j]
				case "Div":
					va, vb = v/y[j], -v*x[j]/(y[j]*y[j])
				}
				if acc && a.Len() == row {
					da[j] += va
				} else {
					da[j] = va
				}
				if acc && b.Len() == row {
					db[j] += vb
				} else {
					db[j] = vb
				}
			}
		}
		return []*T{ga, gb}
	}
	return out, back
}

// unary covers the activations: f and its derivative from the input x and output y.
func unary(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	op := c.node.OpType
	if op == "Relu" { // the common case: no derivative array, no per-element switch
		y := c.out(x.Shape...)
		accel.ParallelFor(len(x.D), elemsPerTask, func(lo, hi int) {
			for i, v := range x.D[lo:hi] {
				y.D[lo+i] = reluBits(v)
			}
		})
		back := func(g []*T) []*T {
			gx := c.out(x.Shape...)
			accel.ParallelFor(len(gx.D), elemsPerTask, func(lo, hi int) {
				yd := y.D[lo:hi]
				for i, v := range g[0].D[lo:hi] {
					gx.D[lo+i] = passWherePositive(v, yd[i])
				}
			})
			return []*T{gx}
		}
		return []*T{y}, back, nil
	}
	alpha := c.float("alpha", map[string]float64{"LeakyRelu": 0.01, "HardSigmoid": 0.2}[op])
	beta := c.float("beta", 0.5)
	lo, hi := math.Inf(-1), math.Inf(1)
	if op == "Clip" {
		if len(in) > 1 && in[1] != nil {
			lo = in[1].D[0]
		}
		if len(in) > 2 && in[2] != nil {
			hi = in[2].D[0]
		}
		if a := c.node.Attr("min"); a != nil {
			lo = float64(a.Float)
		}
		if a := c.node.Attr("max"); a != nil {
			hi = float64(a.Float)
		}
	}
	tanhGelu := c.str("approximate", "none") == "tanh"
	var mask []float64 // Dropout
	if op == "Dropout" && c.net.Train {
		ratio := 0.5
		if a := c.node.Attr("ratio"); a != nil {
			ratio = float64(a.Float)
		}
		if len(in) > 1 && in[1] != nil {
			ratio = in[1].D[0]
		}
		mask = make([]float64, len(x.D))
		for i := range mask {
			if c.net.rng.Float64() >= ratio {
				mask[i] = 1 / (1 - ratio)
			}
		}
	}
	y := zerosLike(x)
	d := make([]float64, len(x.D)) // dy/dx
	for i, v := range x.D {
		switch op {
		case "Relu":
			if v > 0 {
				y.D[i], d[i] = v, 1
			}
		case "LeakyRelu":
			y.D[i], d[i] = v, 1
			if v < 0 {
				y.D[i], d[i] = alpha*v, alpha
			}
		case "Sigmoid":
			s := 1 / (1 + math.Exp(-v))
			y.D[i], d[i] = s, s*(1-s)
		case "Tanh":
			t := math.Tanh(v)
			y.D[i], d[i] = t, 1-t*t
		case "HardSigmoid":
			t := alpha*v + beta
			switch {
			case t <= 0:
			case t >= 1:
				y.D[i] = 1
			default:
				y.D[i], d[i] = t, alpha
			}
		case "HardSwish":
			t := v/6 + 0.5
			switch {
			case t <= 0:
			case t >= 1:
				y.D[i], d[i] = v, 1
			default:
				y.D[i], d[i] = v*t, t+v/6
			}
		case "Gelu":
			if tanhGelu {
				k := math.Sqrt(2 / math.Pi)
				u := k * (v + 0.044715*v*v*v)
				th := math.Tanh(u)
				y.D[i] = 0.5 * v * (1 + th)
				d[i] = 0.5*(1+th) + 0.5*v*(1-th*th)*k*(1+3*0.044715*v*v)
			} else {
				cdf := 0.5 * (1 + math.Erf(v/math.Sqrt2))
				y.D[i] = v * cdf
				d[i] = cdf + v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)
			}
		case "Clip":
			y.D[i] = math.Min(math.Max(v, lo), hi)
			if v >= lo && v <= hi {
				d[i] = 1
			}
		case "Neg":
			y.D[i], d[i] = -v, -1
		case "Identity":
			y.D[i], d[i] = v, 1
		case "Dropout":
			y.D[i], d[i] = v, 1
			if mask != nil {
				y.D[i], d[i] = v*mask[i], mask[i]
			}
		}
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i, v := range g[0].D {
			gx.D[i] = v * d[i]
		}
		return []*T{gx}
	}
	outs := []*T{y}
	if op == "Dropout" && len(c.node.Outputs) > 1 {
		m := zerosLike(x)
		for i := range m.D {
			m.D[i] = 1
			if mask != nil && mask[i] == 0 {
				m.D[i] = 0
			}
		}
		outs = append(outs, m)
	}
	return outs, back, nil
}

// softmax along one axis (opset 13 semantics).
func softmax(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	axis := c.int("axis", -1)
	if axis < 0 {
		axis += len(x.Shape)
	}
	outer, n, inner := split(x.Shape, axis)
	log := c.node.OpType == "LogSoftmax"
	y := zerosLike(x)
	for o := 0; o < outer; o++ {
		for k := 0; k < inner; k++ {
			base := o*n*inner + k
			mx := math.Inf(-1)
			for j := 0; j < n; j++ {
				mx = math.Max(mx, x.D[base+j*inner])
			}
			s := 0.0
			for j := 0; j < n; j++ {
				s += math.Exp(x.D[base+j*inner] - mx)
			}
			for j := 0; j < n; j++ {
				v := x.D[base+j*inner] - mx
				if log {
					y.D[base+j*inner] = v - math.Log(s)
				} else {
					y.D[base+j*inner] = math.Exp(v) / s
				}
			}
		}
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for o := 0; o < outer; o++ {
			for k := 0; k < inner; k++ {
				base := o*n*inner + k
				dot := 0.0
				for j := 0; j < n; j++ {
					i := base + j*inner
					if log {
						dot += g[0].D[i]
					} else {
						dot += g[0].D[i] * y.D[i]
					}
				}
				for j := 0; j < n; j++ {
					i := base + j*inner
					if log {
						gx.D[i] = g[0].D[i] - math.Exp(y.D[i])*dot
					} else {
						gx.D[i] = y.D[i] * (g[0].D[i] - dot)
					}
				}
			}
		}
		return []*T{gx}
	}
	return []*T{y}, back, nil
}

// split views shape as [outer, shape[axis], inner].
func split(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= d
		case i > axis:
			inner *= d
		}
	}
	return outer, shape[axis], inner
}

// reluBits is max(v, 0) without a branch (activations change sign at random, so a
// branch mispredicts half the time): the value's bits are kept when its sign bit is
// clear and cleared when it is set (−0 and negative values give +0; a NaN passes).
func reluBits(v float64) float64 {
	b := int64(math.Float64bits(v))
	return math.Float64frombits(uint64(b &^ (b >> 63)))
}

// passWherePositive is g where y > 0 and 0 elsewhere (Relu's backward from its output y),
// without a branch: y's bits read as an integer are positive exactly when y > 0.
func passWherePositive(g, y float64) float64 {
	yb := int64(math.Float64bits(y))
	keep := uint64((-yb) >> 63) // all ones when yb > 0
	return math.Float64frombits(math.Float64bits(g) & keep)
}
