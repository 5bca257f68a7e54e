package runtime

import (
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// Element-wise ops: arithmetic with broadcasting, comparisons, logic, unary math and
// activations.

func init() {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		sym := map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/'}[op]
		register(func(c *opContext, in []*Tensor) ([]*Tensor, error) {
			if err := need(in, 2); err != nil {
				return nil, err
			}
			if _, ok := in[0].Data.([]float32); ok && in[0].DType == in[1].DType && fastPaths {
				t, err := arith32(c, sym, in[0], in[1])
				if err != nil {
					return nil, err
				}
				return one(t)
			}
			t, err := arith(sym, in[0], in[1])
			if err != nil {
				return nil, err
			}
			return one(t)
		}, op)
	}
	register(opPow, "Pow")
	register(opMod, "Mod")
	register(variadic('M'), "Max")
	register(variadic('m'), "Min")
	register(variadic('+'), "Sum")
	register(opMean, "Mean")
	for op, sym := range map[string]byte{"Equal": '=', "Less": '<', "Greater": '>', "LessOrEqual": 'l', "GreaterOrEqual": 'g'} {
		register(compareKernel(sym), op)
	}
	for op, sym := range map[string]byte{"And": '&', "Or": '|', "Xor": '^'} {
		register(logicKernel(sym), op)
	}
	register(opNot, "Not")
	register(opWhere, "Where")
	register(opClip, "Clip")
	register(opPRelu, "PRelu")
	for op, sym := range map[string]byte{"BitwiseAnd": '&', "BitwiseOr": '|', "BitwiseXor": '^'} {
		register(bitwiseKernel(sym), op)
	}
	register(opBitShift, "BitShift")
	register(opBitwiseNot, "BitwiseNot")
	register(numUnary('a'), "Abs")
	register(numUnary('n'), "Neg")
	register(numUnary('s'), "Sign")
	register(opIsNaN, "IsNaN")
	register(opIsInf, "IsInf")

	// Unary float math, computed in float64 and rounded to the tensor's type.
	simple := map[string]func(float64) float64{
		"Sqrt": math.Sqrt, "Exp": math.Exp, "Log": math.Log, "Floor": math.Floor, "Ceil": math.Ceil,
		"Round": math.RoundToEven, "Erf": math.Erf, "Tanh": math.Tanh,
		"Sin": math.Sin, "Cos": math.Cos, "Tan": math.Tan, "Asin": math.Asin, "Acos": math.Acos,
		"Atan": math.Atan, "Sinh": math.Sinh, "Cosh": math.Cosh, "Asinh": math.Asinh,
		"Acosh": math.Acosh, "Atanh": math.Atanh,
		"Reciprocal": func(x float64) float64 { return 1 / x },
		"Sigmoid":    sigmoid,
		"Softsign":   func(x float64) float64 { return x / (1 + math.Abs(x)) },
		"Softplus":   softplus,
		"Mish":       func(x float64) float64 { return x * math.Tanh(softplus(x)) },
		"HardSwish": func(x float64) float64 {
			return x * math.Max(0, math.Min(1, x/6+0.5))
		},
	}
	for op, f := range simple {
		register(floatUnary(func(*opContext) func(float64) float64 { return f }), op)
	}
	register(opRelu, "Relu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 0.01))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}
	}), "LeakyRelu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 1))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * (math.Exp(x) - 1)
			}
			return x
		}
	}), "Elu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 1))
		return func(x float64) float64 { return math.Max(0, x) + math.Min(0, alpha*(math.Exp(x/alpha)-1)) }
	}), "Celu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 1.67326319217681884765625))
		gamma := float64(c.attrFloat("gamma", 1.05070102214813232421875))
		return func(x float64) float64 {
			if x <= 0 {
				return gamma * alpha * (math.Exp(x) - 1)
			}
			return gamma * x
		}
	}), "Selu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 0.2))
		beta := float64(c.attrFloat("beta", 0.5))
		return func(x float64) float64 { return math.Max(0, math.Min(1, alpha*x+beta)) }
	}), "HardSigmoid")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		alpha := float64(c.attrFloat("alpha", 1))
		return func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}
	}), "ThresholdedRelu")
	register(floatUnary(func(c *opContext) func(float64) float64 {
		if c.attrString("approximate", "none") == "tanh" {
			return func(x float64) float64 {
				return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
			}
		}
		return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	}), "Gelu")
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// ---- arithmetic -------------------------------------------------------------------------

func sameType(a, b *Tensor) error {
	if a.DType != b.DType {
		return errf("operand types differ: %v and %v", a.DType, b.DType)
	}
	return nil
}

// arith computes a op b with broadcasting for +, -, *, / on any numeric type. Integer
// division truncates toward zero; division by zero gives 0 (ONNX leaves it undefined).
func arith(op byte, a, b *Tensor) (*Tensor, error) {
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	switch av := a.Data.(type) {
	case []float32:
		return binaryOp(a, b, a.DType, av, b.Data.([]float32), arithRow[float32](op, false))
	case []float64:
		return binaryOp(a, b, a.DType, av, b.Data.([]float64), arithRow[float64](op, false))
	case []int64:
		return binaryOp(a, b, a.DType, av, b.Data.([]int64), arithRow[int64](op, true))
	case []int32:
		return binaryOp(a, b, a.DType, av, b.Data.([]int32), arithRow[int32](op, true))
	case []int16:
		return binaryOp(a, b, a.DType, av, b.Data.([]int16), arithRow[int16](op, true))
	case []int8:
		return binaryOp(a, b, a.DType, av, b.Data.([]int8), arithRow[int8](op, true))
	case []uint8:
		return binaryOp(a, b, a.DType, av, b.Data.([]uint8), arithRow[uint8](op, true))
	case []uint16:
		return binaryOp(a, b, a.DType, av, b.Data.([]uint16), arithRow[uint16](op, true))
	case []uint32:
		return binaryOp(a, b, a.DType, av, b.Data.([]uint32), arithRow[uint32](op, true))
	case []uint64:
		return binaryOp(a, b, a.DType, av, b.Data.([]uint64), arithRow[uint64](op, true))
	}
	return nil, unsupported("%v operands are not supported", a.DType)
}

func arithRow[T number](op byte, isInt bool) func(o, x []T, xs int, y []T, ys int) {
	switch op {
	case '+':
		return func(o, x []T, xs int, y []T, ys int) {
			if xs == 1 && ys == 1 {
				for i := range o {
					o[i] = x[i] + y[i]
				}
				return
			}
			for i := range o {
				o[i] = x[i*xs] + y[i*ys]
			}
		}
	case '-':
		return func(o, x []T, xs int, y []T, ys int) {
			for i := range o {
				o[i] = x[i*xs] - y[i*ys]
			}
		}
	case '*':
		return func(o, x []T, xs int, y []T, ys int) {
			if xs == 1 && ys == 1 {
				for i := range o {
					o[i] = x[i] * y[i]
				}
				return
			}
			for i := range o {
				o[i] = x[i*xs] * y[i*ys]
			}
		}
	case '/':
		return func(o, x []T, xs int, y []T, ys int) {
			for i := range o {
				d := y[i*ys]
				if isInt && d == 0 {
					o[i] = 0
					continue
				}
				o[i] = x[i*xs] / d
			}
		}
	case 'M':
		return func(o, x []T, xs int, y []T, ys int) {
			for i := range o {
				a, b := x[i*xs], y[i*ys]
				if a != a || a > b { // NaN propagates
					o[i] = a
				} else {
					o[i] = b
				}
			}
		}
	case 'm':
		return func(o, x []T, xs int, y []T, ys int) {
			for i := range o {
				a, b := x[i*xs], y[i*ys]
				if a != a || a < b {
					o[i] = a
				} else {
					o[i] = b
				}
			}
		}
	}
	panic("runtime: unknown arithmetic op")
}

// variadic folds Max, Min or Sum over any number of inputs with broadcasting.
func variadic(op byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		acc := in[0]
		for _, t := range in[1:] {
			var err error
			if acc, err = arith(op, acc, t); err != nil {
				return nil, err
			}
		}
		if len(in) == 1 {
			acc = &Tensor{DType: acc.DType, Shape: acc.Shape, Data: acc.Data}
		}
		return one(acc)
	}
}

func opMean(c *opContext, in []*Tensor) ([]*Tensor, error) {
	s, err := variadic('+')(c, in)
	if err != nil {
		return nil, err
	}
	n := &Tensor{DType: s[0].DType, Shape: []int{}, Data: alloc(s[0].DType, 1)}
	switch d := n.Data.(type) {
	case []float32:
		d[0] = float32(len(in))
	case []float64:
		d[0] = float64(len(in))
	default:
		return nil, unsupported("Mean of %v", s[0].DType)
	}
	t, err := arith('/', s[0], n)
	if err != nil {
		return nil, err
	}
	return one(t)
}

// opPow raises X to Y; Y may have another numeric type. The result has X's type.
func opPow(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, y := in[0], in[1]
	if xs, ok := x.Data.([]float32); ok && x.DType == ir.Float32 && y.DType.IsFloat() && y.Len() == 1 && len(y.Shape) <= len(x.Shape) && fastPaths {
		if float64s(y)[0] == 2 {
			// x² in float32 is correctly rounded, as float32(float64(x)²) is: the same bits.
			out := c.tensorF32(ir.Float32, shapeOf(x))
			o := out.Data.([]float32)
			for i, v := range xs {
				o[i] = v * v
			}
			return one(out)
		}
	}
	yv := float64s(y)
	yt := &Tensor{DType: ir.Float64, Shape: y.Shape, Data: yv}
	xf := &Tensor{DType: ir.Float64, Shape: x.Shape, Data: float64s(x)}
	r, err := binaryOp(xf, yt, ir.Float64, xf.Data.([]float64), yv, func(o, a []float64, as int, b []float64, bs int) {
		for i := range o {
			o[i] = math.Pow(a[i*as], b[i*bs])
		}
	})
	if err != nil {
		return nil, err
	}
	return one(castTo(r, x.DType))
}

// opMod is the remainder: with fmod=0 (integers) its sign follows the divisor, as in
// Python; with fmod=1 it follows the dividend, as C's fmod.
func opMod(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	fmod := c.attrInt("fmod", 0) == 1
	if a.DType.IsFloat() {
		af := &Tensor{DType: ir.Float64, Shape: a.Shape, Data: float64s(a)}
		bf := &Tensor{DType: ir.Float64, Shape: b.Shape, Data: float64s(b)}
		r, err := binaryOp(af, bf, ir.Float64, af.Data.([]float64), bf.Data.([]float64), func(o, x []float64, xs int, y []float64, ys int) {
			for i := range o {
				m := math.Mod(x[i*xs], y[i*ys])
				if !fmod && m != 0 && (m < 0) != (y[i*ys] < 0) {
					m += y[i*ys]
				}
				o[i] = m
			}
		})
		if err != nil {
			return nil, err
		}
		return one(castTo(r, a.DType))
	}
	ai := &Tensor{DType: ir.Int64, Shape: a.Shape, Data: int64s(a)}
	bi := &Tensor{DType: ir.Int64, Shape: b.Shape, Data: int64s(b)}
	r, err := binaryOp(ai, bi, ir.Int64, ai.Data.([]int64), bi.Data.([]int64), func(o, x []int64, xs int, y []int64, ys int) {
		for i := range o {
			d := y[i*ys]
			if d == 0 {
				o[i] = 0
				continue
			}
			m := x[i*xs] % d
			if !fmod && m != 0 && (m < 0) != (d < 0) {
				m += d
			}
			o[i] = m
		}
	})
	if err != nil {
		return nil, err
	}
	return one(castTo(r, a.DType))
}

// ---- comparisons and logic -----------------------------------------------------------

func compareKernel(op byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := sameType(a, b); err != nil {
			return nil, err
		}
		var t *Tensor
		var err error
		switch av := a.Data.(type) {
		case []float32:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]float32), cmpRow[float32](op))
		case []float64:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]float64), cmpRow[float64](op))
		case []int64:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]int64), cmpRow[int64](op))
		case []int32:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]int32), cmpRow[int32](op))
		case []int16:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]int16), cmpRow[int16](op))
		case []int8:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]int8), cmpRow[int8](op))
		case []uint8:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]uint8), cmpRow[uint8](op))
		case []uint16:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]uint16), cmpRow[uint16](op))
		case []uint32:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]uint32), cmpRow[uint32](op))
		case []uint64:
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]uint64), cmpRow[uint64](op))
		case []bool:
			if op != '=' {
				return nil, unsupported("comparing booleans")
			}
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]bool), eqRow[bool])
		case []string:
			if op != '=' {
				return nil, unsupported("ordering strings")
			}
			t, err = binaryOp(a, b, ir.Bool, av, b.Data.([]string), eqRow[string])
		default:
			return nil, unsupported("%v operands", a.DType)
		}
		if err != nil {
			return nil, err
		}
		return one(t)
	}
}

func eqRow[T comparable](o []bool, x []T, xs int, y []T, ys int) {
	for i := range o {
		o[i] = x[i*xs] == y[i*ys]
	}
}

func cmpRow[T number](op byte) func(o []bool, x []T, xs int, y []T, ys int) {
	return func(o []bool, x []T, xs int, y []T, ys int) {
		for i := range o {
			a, b := x[i*xs], y[i*ys]
			switch op {
			case '=':
				o[i] = a == b
			case '<':
				o[i] = a < b
			case '>':
				o[i] = a > b
			case 'l':
				o[i] = a <= b
			case 'g':
				o[i] = a >= b
			}
		}
	}
}

func logicKernel(op byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, ok1 := in[0].Data.([]bool)
		b, ok2 := in[1].Data.([]bool)
		if !ok1 || !ok2 {
			return nil, errf("needs bool operands, got %v and %v", in[0].DType, in[1].DType)
		}
		t, err := binaryOp(in[0], in[1], ir.Bool, a, b, func(o, x []bool, xs int, y []bool, ys int) {
			for i := range o {
				p, q := x[i*xs], y[i*ys]
				switch op {
				case '&':
					o[i] = p && q
				case '|':
					o[i] = p || q
				case '^':
					o[i] = p != q
				}
			}
		})
		if err != nil {
			return nil, err
		}
		return one(t)
	}
}

func opNot(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x, ok := in[0].Data.([]bool)
	if !ok {
		return nil, errf("needs a bool input, got %v", in[0].DType)
	}
	out := make([]bool, len(x))
	for i, v := range x {
		out[i] = !v
	}
	return one(&Tensor{DType: ir.Bool, Shape: shapeOf(in[0]), Data: out})
}

func bitwiseKernel(op byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := sameType(a, b); err != nil {
			return nil, err
		}
		var t *Tensor
		var err error
		switch av := a.Data.(type) {
		case []int64:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]int64), bitRow[int64](op))
		case []int32:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]int32), bitRow[int32](op))
		case []int16:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]int16), bitRow[int16](op))
		case []int8:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]int8), bitRow[int8](op))
		case []uint8:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint8), bitRow[uint8](op))
		case []uint16:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint16), bitRow[uint16](op))
		case []uint32:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint32), bitRow[uint32](op))
		case []uint64:
			t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint64), bitRow[uint64](op))
		default:
			return nil, errf("needs integer operands, got %v", a.DType)
		}
		if err != nil {
			return nil, err
		}
		return one(t)
	}
}

func bitRow[T integer](op byte) func(o, x []T, xs int, y []T, ys int) {
	return func(o, x []T, xs int, y []T, ys int) {
		for i := range o {
			a, b := x[i*xs], y[i*ys]
			switch op {
			case '&':
				o[i] = a & b
			case '|':
				o[i] = a | b
			case '^':
				o[i] = a ^ b
			case 'L':
				o[i] = a << uint64(b)
			case 'R':
				o[i] = a >> uint64(b)
			}
		}
	}
}

func opBitShift(c *opContext, in []*Tensor) ([]*Tensor, error) {
	op := byte('L')
	if c.attrString("direction", "") == "RIGHT" {
		op = 'R'
	}
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	var t *Tensor
	var err error
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	// Shift counts are read as unsigned, so a negative or too-large count shifts
	// everything out (an arithmetic right shift leaves the sign), as the suite expects.
	switch av := a.Data.(type) {
	case []int8:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]int8), bitRow[int8](op))
	case []int16:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]int16), bitRow[int16](op))
	case []int32:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]int32), bitRow[int32](op))
	case []int64:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]int64), bitRow[int64](op))
	case []uint8:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint8), bitRow[uint8](op))
	case []uint16:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint16), bitRow[uint16](op))
	case []uint32:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint32), bitRow[uint32](op))
	case []uint64:
		t, err = binaryOp(a, b, a.DType, av, b.Data.([]uint64), bitRow[uint64](op))
	default:
		return nil, errf("needs integer operands, got %v", a.DType)
	}
	if err != nil {
		return nil, err
	}
	return one(t)
}

func opBitwiseNot(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	out := &Tensor{DType: x.DType, Shape: shapeOf(x)}
	switch d := x.Data.(type) {
	case []int64:
		out.Data = mapSlice(d, func(v int64) int64 { return ^v })
	case []int32:
		out.Data = mapSlice(d, func(v int32) int32 { return ^v })
	case []int16:
		out.Data = mapSlice(d, func(v int16) int16 { return ^v })
	case []int8:
		out.Data = mapSlice(d, func(v int8) int8 { return ^v })
	case []uint8:
		out.Data = mapSlice(d, func(v uint8) uint8 { return ^v })
	case []uint16:
		out.Data = mapSlice(d, func(v uint16) uint16 { return ^v })
	case []uint32:
		out.Data = mapSlice(d, func(v uint32) uint32 { return ^v })
	case []uint64:
		out.Data = mapSlice(d, func(v uint64) uint64 { return ^v })
	default:
		return nil, errf("needs an integer input, got %v", x.DType)
	}
	return one(out)
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// opWhere picks X where the condition holds and Y elsewhere, all three broadcast.
func opWhere(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	cond, x, y := in[0], in[1], in[2]
	cv, ok := cond.Data.([]bool)
	if !ok {
		return nil, errf("condition must be bool, got %v", cond.DType)
	}
	if err := sameType(x, y); err != nil {
		return nil, err
	}
	shape, err := broadcastShape(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	// Build one index per output element into the concatenation [X..., Y...].
	idx := make([]int, prod(shape))
	nx := x.Len()
	walk(shape, [][]int{bstrides(cond.Shape, shape), bstrides(x.Shape, shape), bstrides(y.Shape, shape)}, func(o, n int, offs, steps []int) {
		for i := 0; i < n; i++ {
			if cv[offs[0]+i*steps[0]] {
				idx[o+i] = offs[1] + i*steps[1]
			} else {
				idx[o+i] = nx + offs[2] + i*steps[2]
			}
		}
	})
	both := alloc(x.DType, nx+y.Len())
	put(both, 0, x.Data)
	put(both, nx, y.Data)
	return one(&Tensor{DType: x.DType, Shape: shape, Data: take(both, idx)})
}

// ---- unary ------------------------------------------------------------------------------

// floatUnary applies a float64 function to a float tensor; mk reads the attributes once.
func floatUnary(mk func(*opContext) func(float64) float64) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if t, ok := unaryFast(c, x); ok {
			return one(t)
		}
		f := mk(c)
		out := &Tensor{DType: x.DType, Shape: shapeOf(x)}
		switch d := x.Data.(type) {
		case []float32:
			o := allocRaw[float32](c, len(d))
			for i, v := range d {
				o[i] = float32(f(float64(v)))
			}
			out.Data = o
		case []float64:
			o := make([]float64, len(d))
			for i, v := range d {
				o[i] = f(v)
			}
			out.Data = o
		default:
			return nil, unsupported("%v input (float types only)", x.DType)
		}
		return one(out)
	}
}

func opRelu(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if t, ok := unaryFast(c, x); ok {
		return one(t)
	}
	out := &Tensor{DType: x.DType, Shape: shapeOf(x)}
	switch d := x.Data.(type) {
	case []float32:
		out.Data = mapSlice(d, func(v float32) float32 { return reluT(v) })
	case []float64:
		out.Data = mapSlice(d, func(v float64) float64 { return reluT(v) })
	case []int64:
		out.Data = mapSlice(d, func(v int64) int64 { return reluT(v) })
	case []int32:
		out.Data = mapSlice(d, func(v int32) int32 { return reluT(v) })
	case []int16:
		out.Data = mapSlice(d, func(v int16) int16 { return reluT(v) })
	case []int8:
		out.Data = mapSlice(d, func(v int8) int8 { return reluT(v) })
	default:
		return nil, unsupported("%v input", x.DType)
	}
	return one(out)
}

func reluT[T number](v T) T {
	if v < 0 {
		return 0
	}
	return v
}

// numUnary: Abs, Neg and Sign on any numeric type.
func numUnary(op byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if t, ok := unaryFast(c, x); ok {
			return one(t)
		}
		out := &Tensor{DType: x.DType, Shape: shapeOf(x)}
		switch d := x.Data.(type) {
		case []float32:
			out.Data = numUnaryT(d, op)
		case []float64:
			out.Data = numUnaryT(d, op)
		case []int64:
			out.Data = numUnaryT(d, op)
		case []int32:
			out.Data = numUnaryT(d, op)
		case []int16:
			out.Data = numUnaryT(d, op)
		case []int8:
			out.Data = numUnaryT(d, op)
		case []uint8:
			out.Data = numUnaryT(d, op)
		case []uint16:
			out.Data = numUnaryT(d, op)
		case []uint32:
			out.Data = numUnaryT(d, op)
		case []uint64:
			out.Data = numUnaryT(d, op)
		default:
			return nil, unsupported("%v input", x.DType)
		}
		return one(out)
	}
}

func numUnaryT[T number](d []T, op byte) []T {
	out := make([]T, len(d))
	for i, v := range d {
		switch op {
		case 'a':
			if v < 0 {
				v = -v
			}
			out[i] = v
		case 'n':
			out[i] = -v
		case 's':
			switch {
			case v > 0:
				out[i] = 1
			case v < 0:
				var one T = 1
				out[i] = -one
			case v == 0:
				out[i] = 0
			default:
				out[i] = v // NaN
			}
		}
	}
	return out
}

func opIsNaN(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	v := float64s(in[0])
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = math.IsNaN(x)
	}
	return one(&Tensor{DType: ir.Bool, Shape: shapeOf(in[0]), Data: out})
}

func opIsInf(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	neg, pos := c.attrInt("detect_negative", 1) == 1, c.attrInt("detect_positive", 1) == 1
	v := float64s(in[0])
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = (neg && math.IsInf(x, -1)) || (pos && math.IsInf(x, 1))
	}
	return one(&Tensor{DType: ir.Bool, Shape: shapeOf(in[0]), Data: out})
}

// opClip bounds X to [min, max]: attributes before opset 11, optional inputs after.
func opClip(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.has("min") {
		lo = float64(c.attrFloat("min", 0))
	}
	if c.has("max") {
		hi = float64(c.attrFloat("max", 0))
	}
	if t := opt(in, 1); t != nil {
		lo = float64s(t)[0]
	}
	if t := opt(in, 2); t != nil {
		hi = float64s(t)[0]
	}
	v := float64s(x)
	out := make([]float64, len(v))
	for i, a := range v {
		// max then min: when min > max every value becomes max, as the spec says.
		if a < lo {
			a = lo
		}
		if a > hi {
			a = hi
		}
		out[i] = a
	}
	return one(fromFloat64s(x.DType, shapeOf(x), out))
}

func opPRelu(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, s := in[0], in[1]
	if err := sameType(x, s); err != nil {
		return nil, err
	}
	var t *Tensor
	var err error
	switch xv := x.Data.(type) {
	case []float32:
		t, err = binaryOp(x, s, x.DType, xv, s.Data.([]float32), preluRow[float32])
	case []float64:
		t, err = binaryOp(x, s, x.DType, xv, s.Data.([]float64), preluRow[float64])
	case []int64:
		t, err = binaryOp(x, s, x.DType, xv, s.Data.([]int64), preluRow[int64])
	case []int32:
		t, err = binaryOp(x, s, x.DType, xv, s.Data.([]int32), preluRow[int32])
	default:
		return nil, unsupported("%v input", x.DType)
	}
	if err != nil {
		return nil, err
	}
	if !sameShape(t.Shape, x.Shape) {
		return nil, errf("slope %v does not broadcast to X %v", s.Shape, x.Shape)
	}
	return one(t)
}

func preluRow[T number](o, x []T, xs int, y []T, ys int) {
	for i := range o {
		v := x[i*xs]
		if v < 0 {
			v *= y[i*ys]
		}
		o[i] = v
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
