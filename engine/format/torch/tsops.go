package torch

// The aten → ONNX mapping of the TorchScript graph reader.

import (
	"fmt"
	"math"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// tsArgs are the arguments of one call.
type tsArgs struct {
	b   *tsBuilder
	op  string
	pos []any
	kw  map[string]any
}

func (a *tsArgs) get(i int, name string) (any, bool) {
	if i >= 0 && i < len(a.pos) {
		return a.pos[i], true
	}
	if v, ok := a.kw[name]; ok {
		return v, true
	}
	return nil, false
}

func (a *tsArgs) tensor(i int, name string) (*tsTensor, error) {
	v, _ := a.get(i, name)
	t, ok := v.(*tsTensor)
	if !ok {
		return nil, a.b.fail("%s: argument %s is %s, not a tensor", a.op, name, tsTypeName(v))
	}
	return t, nil
}

func (a *tsArgs) optTensor(i int, name string) (*tsTensor, error) {
	v, _ := a.get(i, name)
	if v == nil {
		return nil, nil
	}
	return a.tensor(i, name)
}

func (a *tsArgs) int(i int, name string, def int64) (int64, error) {
	v, ok := a.get(i, name)
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, a.b.fail("%s: argument %s must be a constant integer, got %s", a.op, name, tsTypeName(v))
}

func (a *tsArgs) float(i int, name string, def float64) (float64, error) {
	v, ok := a.get(i, name)
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, a.b.fail("%s: argument %s must be a constant number, got %s", a.op, name, tsTypeName(v))
}

func (a *tsArgs) bool(i int, name string, def bool) (bool, error) {
	v, ok := a.get(i, name)
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	}
	return false, a.b.fail("%s: argument %s must be a constant bool, got %s", a.op, name, tsTypeName(v))
}

// ints reads a constant int list (a single int stands for a list of n copies).
func (a *tsArgs) ints(i int, name string, n int, def []int64) ([]int64, error) {
	v, ok := a.get(i, name)
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case int64:
		out := make([]int64, max(n, 1))
		for k := range out {
			out[k] = x
		}
		return out, nil
	case *tsList:
		var out []int64
		for _, it := range x.items {
			iv, ok := it.(int64)
			if !ok {
				return nil, a.b.fail("%s: argument %s must be constant integers, it holds %s", a.op, name, tsTypeName(it))
			}
			out = append(out, iv)
		}
		if len(out) == 0 {
			return def, nil
		}
		if len(out) == 1 && n > 1 {
			for len(out) < n {
				out = append(out, out[0])
			}
		}
		return out, nil
	}
	return nil, a.b.fail("%s: argument %s must be constant integers, got %s", a.op, name, tsTypeName(v))
}

// asTensor turns a value into a tensor: scalars become constants of dtype like (a float
// scalar stays float), int lists with symbolic entries become an int64 vector.
func (b *tsBuilder) asTensor(v any, like ir.DType) (*tsTensor, error) {
	switch x := v.(type) {
	case *tsTensor:
		return x, nil
	case int64:
		return &tsTensor{b.constF(float64(x), like), 0, like}, nil
	case float64:
		dt := like
		if dt != ir.Float64 && dt != ir.Float16 && dt != ir.BFloat16 {
			dt = ir.Float32
		}
		return &tsTensor{b.constF(x, dt), 0, dt}, nil
	case bool:
		v := 0.0
		if x {
			v = 1
		}
		return &tsTensor{b.constF(v, like), 0, like}, nil
	case *tsList:
		return b.shapeTensor(x)
	}
	return nil, b.fail("%s cannot be used as a tensor", tsTypeName(v))
}

// shapeTensor makes a 1-D int64 tensor of a list of ints and 0-d int tensors.
func (b *tsBuilder) shapeTensor(l *tsList) (*tsTensor, error) {
	var consts []int64
	allConst := true
	for _, it := range l.items {
		switch x := it.(type) {
		case int64:
			consts = append(consts, x)
		case *tsTensor:
			allConst = false
		default:
			return nil, b.fail("a list holding %s cannot be a shape", tsTypeName(it))
		}
	}
	if allConst {
		return &tsTensor{b.constI64(consts, false), 1, ir.Int64}, nil
	}
	var parts []string
	for _, it := range l.items {
		switch x := it.(type) {
		case int64:
			parts = append(parts, b.constI64([]int64{x}, false))
		case *tsTensor:
			n := x.name
			if x.dtype != ir.Int64 {
				n = b.node1("Cast", []string{n}, attrInt("to", int64(ir.Int64)))
			}
			if x.rank == 0 {
				n = b.node1("Unsqueeze", []string{n, b.constI64([]int64{0}, false)})
			}
			parts = append(parts, n)
		}
	}
	return &tsTensor{b.node1("Concat", parts, attrInt("axis", 0)), 1, ir.Int64}, nil
}

func (b *tsBuilder) cast(t *tsTensor, dt ir.DType) *tsTensor {
	if t.dtype == dt {
		return t
	}
	return &tsTensor{b.node1("Cast", []string{t.name}, attrInt("to", int64(dt))), t.rank, dt}
}

func isFloat(d ir.DType) bool {
	return d == ir.Float32 || d == ir.Float64 || d == ir.Float16 || d == ir.BFloat16
}

func (b *tsBuilder) isConst(t *tsTensor) bool {
	_, ok := b.inits[t.name]
	return ok
}

// binary emits an elementwise ONNX op with torch's type promotion (a Python scalar
// takes the tensor's dtype; an int tensor with a float becomes float32).
func (b *tsBuilder) binary(op string, x, y any) (*tsTensor, error) {
	xt, xIsT := x.(*tsTensor)
	yt, yIsT := y.(*tsTensor)
	if !xIsT && !yIsT {
		return nil, b.fail("%s of two constants (%s, %s) is not supported", op, tsTypeName(x), tsTypeName(y))
	}
	var err error
	if !xIsT {
		like := yt.dtype
		if _, f := x.(float64); f && !isFloat(like) {
			yt = b.cast(yt, ir.Float32)
			like = ir.Float32
		}
		if xt, err = b.asTensor(x, like); err != nil {
			return nil, err
		}
	}
	if !yIsT {
		like := xt.dtype
		if _, f := y.(float64); f && !isFloat(like) {
			xt = b.cast(xt, ir.Float32)
			like = ir.Float32
		}
		if yt, err = b.asTensor(y, like); err != nil {
			return nil, err
		}
	}
	if xt.dtype != yt.dtype {
		dt := ir.Float32
		if isFloat(xt.dtype) && !isFloat(yt.dtype) {
			dt = xt.dtype
		} else if isFloat(yt.dtype) && !isFloat(xt.dtype) {
			dt = yt.dtype
		} else if xt.rank == 0 && yt.rank != 0 {
			dt = yt.dtype
		} else if yt.rank == 0 {
			dt = xt.dtype
		}
		xt, yt = b.cast(xt, dt), b.cast(yt, dt)
	}
	// Two computed tensors of different ranks broadcast in torch too, but a traced
	// network rarely does it: it is what a wrong guess of an input's rank looks like.
	if xt.rank > 0 && yt.rank > 0 && xt.rank != yt.rank && !b.isConst(xt) && !b.isConst(yt) {
		return nil, b.fail("%s of tensors of rank %d and %d", op, xt.rank, yt.rank)
	}
	rank := max(xt.rank, yt.rank)
	if xt.rank < 0 || yt.rank < 0 {
		rank = -1
	}
	out := &tsTensor{b.node1(op, []string{xt.name, yt.name}), rank, xt.dtype}
	if op == "Equal" || op == "Less" || op == "Greater" {
		out.dtype = ir.Bool
	}
	return out, nil
}

func (b *tsBuilder) unary(op string, x *tsTensor, attrs ...*ir.Attribute) *tsTensor {
	return &tsTensor{b.node1(op, []string{x.name}, attrs...), x.rank, x.dtype}
}

func normDim(d int64, rank int) (int64, bool) {
	if d < 0 {
		if rank < 0 {
			return d, false
		}
		d += int64(rank)
	}
	return d, rank < 0 || d >= 0 && d < int64(rank)
}

// scalarTypes maps torch's ScalarType codes (the dtype= integers in code/) to ir dtypes.
var scalarTypes = map[int64]ir.DType{0: ir.Uint8, 1: ir.Int8, 2: ir.Int16, 3: ir.Int32, 4: ir.Int64, 5: ir.Float16, 6: ir.Float32, 7: ir.Float64, 11: ir.Bool, 15: ir.BFloat16}

var tsUnary = map[string]string{
	"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
	"neg": "Neg", "abs": "Abs", "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "reciprocal": "Reciprocal",
	"sin": "Sin", "cos": "Cos", "hardswish": "HardSwish", "sign": "Sign", "round": "Round", "softplus": "Softplus",
}

var tsIdentity = map[string]bool{"contiguous": true, "detach": true, "clone": true, "dropout": true, "feature_dropout": true, "alpha_dropout": true, "lift_fresh": true}

// call maps one call of code/ (torch.*, ops.prim.*, builtins) to nodes.
func (b *tsBuilder) call(qual string, pos []any, kw map[string]any) (any, error) {
	name := qual
	switch {
	case strings.HasPrefix(name, "torch."):
		name = strings.TrimPrefix(name, "torch.")
	case strings.HasPrefix(name, "ops.aten."):
		name = strings.TrimPrefix(name, "ops.aten.")
	case strings.HasPrefix(name, "ops.prim."):
		name = "prim::" + strings.TrimPrefix(name, "ops.prim.")
	}
	a := &tsArgs{b: b, op: "aten::" + name, pos: pos, kw: kw}
	if strings.HasPrefix(name, "prim::") {
		a.op = name
	}
	base := name
	if strings.HasSuffix(base, "_") && !strings.HasSuffix(base, "__") && !strings.HasPrefix(base, "_") {
		base = strings.TrimSuffix(base, "_") // in-place form
	}
	if op, ok := tsUnary[base]; ok {
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		return b.unary(op, x), nil
	}
	if tsIdentity[base] {
		x, err := a.tensor(0, "input")
		if err != nil {
			return nil, err
		}
		if strings.Contains(base, "dropout") {
			if train, err := a.bool(2, "train", false); err != nil || train {
				return nil, b.fail("%s in training mode is random; trace the module in eval mode (model.eval())", a.op)
			}
		}
		return x, nil
	}
	switch base {
	case "int", "float", "bool", "prim::NumToTensor", "Int", "Float", "ScalarImplicit":
		v, _ := a.get(0, "a")
		switch x := v.(type) {
		case int64, float64, bool:
			if base == "float" || base == "Float" {
				if i, ok := x.(int64); ok {
					return float64(i), nil
				}
			}
			if base == "int" || base == "Int" {
				if f, ok := x.(float64); ok {
					return int64(f), nil
				}
			}
			return x, nil
		case *tsTensor:
			if x.rank > 0 {
				return nil, b.fail("%s of a tensor of rank %d", a.op, x.rank)
			}
			return x, nil
		}
		return nil, b.fail("%s of %s", a.op, tsTypeName(v))
	case "device", "prim::device", "layout":
		return tsOpaque{"device"}, nil
	case "annotate":
		v, _ := a.get(1, "value")
		return v, nil
	case "getattr":
		if len(a.pos) != 2 {
			return nil, b.fail("getattr needs an object and a constant name")
		}
		n, ok := a.pos[1].(string)
		if !ok {
			return nil, b.fail("getattr needs an object and a constant name")
		}
		return b.attr(a.pos[0], n)
	case "prim::dtype":
		x, err := a.tensor(0, "a")
		if err != nil {
			return nil, err
		}
		for code, d := range scalarTypes {
			if d == x.dtype {
				return code, nil
			}
		}
		return nil, b.fail("prim::dtype of a %v tensor", x.dtype)
	case "prim::TupleUnpack", "prim::ListUnpack":
		v, _ := a.get(0, "a")
		return v, nil

	case "add", "sub", "rsub":
		x, _ := a.get(0, "self")
		y, _ := a.get(1, "other")
		alpha, err := a.float(2, "alpha", 1)
		if err != nil {
			return nil, err
		}
		if base == "rsub" {
			x, y = y, x
			if alpha != 1 {
				if x, err = b.binary("Mul", x, alpha); err != nil {
					return nil, err
				}
			}
		} else if alpha != 1 {
			if y, err = b.binary("Mul", y, alpha); err != nil {
				return nil, err
			}
		}
		if base == "add" {
			return b.binary("Add", x, y)
		}
		return b.binary("Sub", x, y)
	case "mul":
		x, _ := a.get(0, "self")
		y, _ := a.get(1, "other")
		return b.binary("Mul", x, y)
	case "div", "true_divide", "floor_divide":
		x, _ := a.get(0, "self")
		y, _ := a.get(1, "other")
		mode, _ := a.get(2, "rounding_mode")
		if base == "floor_divide" {
			mode = "floor"
		}
		out, err := b.binary("Div", x, y)
		if err != nil {
			return nil, err
		}
		switch mode {
		case nil:
			if !isFloat(out.dtype) { // true division of integers gives floats
				xt, _ := b.asTensor(x, ir.Float32)
				yt, _ := b.asTensor(y, ir.Float32)
				b.g.Nodes = b.g.Nodes[:len(b.g.Nodes)-1]
				return b.binary("Div", b.cast(xt, ir.Float32), b.cast(yt, ir.Float32))
			}
		case "trunc":
			if isFloat(out.dtype) {
				return nil, b.fail("%s with rounding_mode=\"trunc\" on floats is not mapped", a.op)
			}
		case "floor":
			if isFloat(out.dtype) {
				return b.unary("Floor", out), nil
			}
		}
		return out, nil
	case "pow":
		x, _ := a.get(0, "self")
		y, _ := a.get(1, "exponent")
		return b.binary("Pow", x, y)
	case "eq", "lt", "gt":
		x, _ := a.get(0, "self")
		y, _ := a.get(1, "other")
		return b.binary(map[string]string{"eq": "Equal", "lt": "Less", "gt": "Greater"}[base], x, y)
	case "rsqrt":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		return b.unary("Reciprocal", b.unary("Sqrt", x)), nil
	case "matmul", "mm", "bmm":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		y, err := a.tensor(1, "other")
		if err != nil {
			return nil, err
		}
		if base == "bmm" && (x.rank != 3 || y.rank != 3) || base == "mm" && (x.rank != 2 || y.rank != 2) {
			return nil, b.fail("%s of tensors of rank %d and %d", a.op, x.rank, y.rank)
		}
		r := max(x.rank, y.rank)
		if x.rank == 1 || y.rank == 1 {
			r--
		}
		return &tsTensor{b.node1("MatMul", []string{x.name, y.name}), r, x.dtype}, nil
	case "linear":
		x, err := a.tensor(0, "input")
		if err != nil {
			return nil, err
		}
		w, err := a.tensor(1, "weight")
		if err != nil {
			return nil, err
		}
		bias, err := a.optTensor(2, "bias")
		if err != nil {
			return nil, err
		}
		if x.rank == 2 {
			ins := []string{x.name, w.name}
			if bias != nil {
				ins = append(ins, bias.name)
			}
			return &tsTensor{b.node1("Gemm", ins, attrInt("transB", 1)), 2, x.dtype}, nil
		}
		wt := b.node1("Transpose", []string{w.name}, attrInts("perm", []int64{1, 0}))
		y := &tsTensor{b.node1("MatMul", []string{x.name, wt}), x.rank, x.dtype}
		if bias == nil {
			return y, nil
		}
		return &tsTensor{b.node1("Add", []string{y.name, bias.name}), x.rank, x.dtype}, nil
	case "addmm":
		c, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		x, err := a.tensor(1, "mat1")
		if err != nil {
			return nil, err
		}
		y, err := a.tensor(2, "mat2")
		if err != nil {
			return nil, err
		}
		beta, err := a.float(3, "beta", 1)
		if err != nil {
			return nil, err
		}
		alpha, err := a.float(4, "alpha", 1)
		if err != nil {
			return nil, err
		}
		return &tsTensor{b.node1("Gemm", []string{x.name, y.name, c.name}, attrFloat("alpha", alpha), attrFloat("beta", beta)), 2, x.dtype}, nil
	case "t":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		if x.rank < 2 {
			return x, nil
		}
		return b.unary("Transpose", x, attrInts("perm", []int64{1, 0})), nil

	case "_convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d":
		return b.conv(a, base)
	case "batch_norm":
		x, err := a.tensor(0, "input")
		if err != nil {
			return nil, err
		}
		mean, err := a.tensor(3, "running_mean")
		if err != nil {
			return nil, b.fail("aten::batch_norm without running statistics (track_running_stats=False) is not mapped")
		}
		vr, err := a.tensor(4, "running_var")
		if err != nil {
			return nil, err
		}
		training, err := a.bool(5, "training", false)
		if err != nil {
			return nil, err
		}
		if training {
			return nil, b.fail("aten::batch_norm in training mode: trace the module in eval mode (model.eval())")
		}
		eps, err := a.float(7, "eps", 1e-5)
		if err != nil {
			return nil, err
		}
		if x.rank >= 0 && x.rank < 2 {
			return nil, b.fail("aten::batch_norm of a tensor of rank %d", x.rank)
		}
		mt := b.inits[mean.name]
		if mt == nil || len(mt.Shape) != 1 {
			return nil, b.fail("aten::batch_norm: running_mean is not a stored vector")
		}
		c := mt.Shape[0]
		w, err := a.optTensor(1, "weight")
		if err != nil {
			return nil, err
		}
		bi, err := a.optTensor(2, "bias")
		if err != nil {
			return nil, err
		}
		wn, bn := "", ""
		if w != nil {
			wn = w.name
		} else {
			wn = b.addInit(ir.Float32, []int64{c}, ir.Float32Bytes(fill(int(c), 1)))
		}
		if bi != nil {
			bn = bi.name
		} else {
			bn = b.addInit(ir.Float32, []int64{c}, ir.Float32Bytes(fill(int(c), 0)))
		}
		return b.unaryIns("BatchNormalization", x, []string{x.name, wn, bn, mean.name, vr.name}, attrFloat("epsilon", eps)), nil
	case "layer_norm":
		x, err := a.tensor(0, "input")
		if err != nil {
			return nil, err
		}
		ns, err := a.ints(1, "normalized_shape", 0, nil)
		if err != nil {
			return nil, err
		}
		if x.rank >= 0 && len(ns) > x.rank {
			return nil, b.fail("aten::layer_norm over %d dimensions of a tensor of rank %d", len(ns), x.rank)
		}
		w, err := a.optTensor(2, "weight")
		if err != nil {
			return nil, err
		}
		bi, err := a.optTensor(3, "bias")
		if err != nil {
			return nil, err
		}
		eps, err := a.float(4, "eps", 1e-5)
		if err != nil {
			return nil, err
		}
		wn := ""
		if w != nil {
			wn = w.name
		} else {
			wn = b.addInit(ir.Float32, ns, ir.Float32Bytes(fill(int(ir.NumElements(ns)), 1)))
		}
		ins := []string{x.name, wn}
		if bi != nil {
			ins = append(ins, bi.name)
		}
		return b.unaryIns("LayerNormalization", x, ins, attrInt("axis", -int64(len(ns))), attrFloat("epsilon", eps)), nil
	case "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool2d_with_indices":
		return b.pool(a, base)
	case "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		nd := int(base[len(base)-2] - '0')
		size, err := a.ints(1, "output_size", nd, nil)
		if err != nil {
			return nil, err
		}
		for _, s := range size {
			if s != 1 {
				return nil, b.fail("%s to output size %v: only output size 1 (global pooling) is mapped, as a trace keeps no input sizes", a.op, size)
			}
		}
		if x.rank >= 0 && x.rank != nd+2 {
			return nil, b.fail("%s of a tensor of rank %d", a.op, x.rank)
		}
		if strings.Contains(base, "max") {
			y := b.unary("GlobalMaxPool", x)
			return &tsList{items: []any{y, nil}, tuple: true}, nil
		}
		return b.unary("GlobalAveragePool", x), nil

	case "hardtanh", "clamp", "clip", "relu6":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		lo, hi := -math.MaxFloat32, math.MaxFloat32
		if base == "relu6" {
			lo, hi = 0, 6
		} else {
			d0, d1 := -1.0, 1.0
			if base != "hardtanh" {
				d0, d1 = lo, hi
			}
			if lo, err = a.float(1, "min_val", d0); err != nil {
				return nil, err
			}
			if hi, err = a.float(2, "max_val", d1); err != nil {
				return nil, err
			}
		}
		return b.unaryIns("Clip", x, []string{x.name, b.constF(lo, x.dtype), b.constF(hi, x.dtype)}), nil
	case "hardsigmoid":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		return b.unary("HardSigmoid", x, attrFloat("alpha", 1.0/6), attrFloat("beta", 0.5)), nil
	case "silu":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		return &tsTensor{b.node1("Mul", []string{x.name, b.unary("Sigmoid", x).name}), x.rank, x.dtype}, nil
	case "gelu":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		approx, _ := a.get(1, "approximate")
		if approx == "tanh" {
			// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
			x3 := b.node1("Mul", []string{x.name, b.node1("Mul", []string{x.name, x.name})})
			inner := b.node1("Add", []string{x.name, b.node1("Mul", []string{x3, b.constF(0.044715, x.dtype)})})
			t := b.node1("Tanh", []string{b.node1("Mul", []string{inner, b.constF(math.Sqrt(2/math.Pi), x.dtype)})})
			one := b.node1("Add", []string{t, b.constF(1, x.dtype)})
			return &tsTensor{b.node1("Mul", []string{b.node1("Mul", []string{x.name, one}), b.constF(0.5, x.dtype)}), x.rank, x.dtype}, nil
		}
		e := b.node1("Erf", []string{b.node1("Div", []string{x.name, b.constF(math.Sqrt2, x.dtype)})})
		one := b.node1("Add", []string{e, b.constF(1, x.dtype)})
		return &tsTensor{b.node1("Mul", []string{b.node1("Mul", []string{x.name, one}), b.constF(0.5, x.dtype)}), x.rank, x.dtype}, nil
	case "leaky_relu":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		s, err := a.float(1, "negative_slope", 0.01)
		if err != nil {
			return nil, err
		}
		return b.unary("LeakyRelu", x, attrFloat("alpha", s)), nil
	case "elu":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		al, err := a.float(1, "alpha", 1)
		if err != nil {
			return nil, err
		}
		return b.unary("Elu", x, attrFloat("alpha", al)), nil
	case "softmax", "log_softmax", "_softmax":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		d, err := a.int(1, "dim", -1)
		if err != nil {
			return nil, err
		}
		op := "Softmax"
		if base == "log_softmax" {
			op = "LogSoftmax"
		}
		return b.unary(op, x, attrInt("axis", d)), nil

	case "cat", "concat", "stack":
		lv, _ := a.get(0, "tensors")
		l, ok := lv.(*tsList)
		if !ok || len(l.items) == 0 {
			return nil, b.fail("%s needs a list of tensors", a.op)
		}
		d, err := a.int(1, "dim", 0)
		if err != nil {
			return nil, err
		}
		var names []string
		rank := -1
		var dt ir.DType
		for _, it := range l.items {
			t, ok := it.(*tsTensor)
			if !ok {
				return nil, b.fail("%s of %s", a.op, tsTypeName(it))
			}
			if rank >= 0 && t.rank >= 0 && t.rank != rank {
				return nil, b.fail("%s of tensors of rank %d and %d", a.op, rank, t.rank)
			}
			rank, dt = t.rank, t.dtype
			n := t.name
			if base == "stack" {
				n = b.node1("Unsqueeze", []string{n, b.constI64([]int64{d}, false)})
			}
			names = append(names, n)
		}
		if base == "stack" {
			if rank >= 0 {
				rank++
			}
		}
		return &tsTensor{b.node1("Concat", names, attrInt("axis", d)), rank, dt}, nil
	case "flatten":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		s, err := a.int(1, "start_dim", 0)
		if err != nil {
			return nil, err
		}
		e, err := a.int(2, "end_dim", -1)
		if err != nil {
			return nil, err
		}
		if x.rank < 0 {
			return nil, b.fail("aten::flatten of a tensor of unknown rank")
		}
		if x.rank == 0 {
			return b.reshapeConst(x, []int64{1}), nil
		}
		s, ok1 := normDim(s, x.rank)
		e, ok2 := normDim(e, x.rank)
		if !ok1 || !ok2 || s > e {
			return nil, b.fail("aten::flatten(%d, %d) of a tensor of rank %d", s, e, x.rank)
		}
		if e != int64(x.rank-1) {
			// keep the dims after end: [0]*s, -1, then those dims copied from the shape
			shape := b.node1("Shape", []string{x.name})
			tail := b.node1("Slice", []string{shape, b.constI64([]int64{e + 1}, false), b.constI64([]int64{int64(x.rank)}, false)})
			head := b.constI64(append(make([]int64, s), -1), false)
			full := b.node1("Concat", []string{head, tail}, attrInt("axis", 0))
			return &tsTensor{b.node1("Reshape", []string{x.name, full}), int(s) + 1 + x.rank - 1 - int(e), x.dtype}, nil
		}
		return b.reshapeConst(x, append(make([]int64, s), -1)), nil
	case "view", "reshape", "_reshape_alias":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		sv, _ := a.get(1, "size")
		shape, err := b.asShape(sv)
		if err != nil {
			return nil, err
		}
		return &tsTensor{b.node1("Reshape", []string{x.name, shape.name}), shapeLen(sv), x.dtype}, nil
	case "permute":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		dims, err := a.ints(1, "dims", 0, nil)
		if err != nil {
			return nil, err
		}
		if x.rank >= 0 && len(dims) != x.rank {
			return nil, b.fail("aten::permute with %d dims of a tensor of rank %d", len(dims), x.rank)
		}
		for i := range dims {
			dims[i], _ = normDim(dims[i], len(dims))
		}
		return &tsTensor{b.node1("Transpose", []string{x.name}, attrInts("perm", dims)), len(dims), x.dtype}, nil
	case "transpose", "swapaxes":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		d0, err := a.int(1, "dim0", 0)
		if err != nil {
			return nil, err
		}
		d1, err := a.int(2, "dim1", 0)
		if err != nil {
			return nil, err
		}
		return b.transpose(x, d0, d1)
	case "unsqueeze":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		d, err := a.int(1, "dim", 0)
		if err != nil {
			return nil, err
		}
		r := x.rank
		if r >= 0 {
			r++
		}
		return &tsTensor{b.node1("Unsqueeze", []string{x.name, b.constI64([]int64{d}, false)}), r, x.dtype}, nil
	case "squeeze":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		if _, ok := a.get(1, "dim"); !ok {
			return &tsTensor{b.node1("Squeeze", []string{x.name}), -1, x.dtype}, nil
		}
		dims, err := a.ints(1, "dim", 1, nil)
		if err != nil {
			return nil, err
		}
		r := x.rank
		if r >= 0 {
			r -= len(dims)
		}
		return &tsTensor{b.node1("Squeeze", []string{x.name, b.constI64(dims, false)}), r, x.dtype}, nil
	case "chunk", "unsafe_chunk":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		n, err := a.int(1, "chunks", 1)
		if err != nil {
			return nil, err
		}
		d, err := a.int(2, "dim", 0)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > 4096 {
			return nil, b.fail("aten::chunk into %d pieces", n)
		}
		outs := b.node("Split", []string{x.name}, int(n), attrInt("axis", d), attrInt("num_outputs", n))
		l := &tsList{}
		for _, o := range outs {
			l.items = append(l.items, &tsTensor{o, x.rank, x.dtype})
		}
		return l, nil
	case "split", "split_with_sizes", "unsafe_split":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		sv, _ := a.get(1, "split_size")
		l, ok := sv.(*tsList)
		if !ok {
			return nil, b.fail("%s into pieces of a fixed size needs the dimension's size, which a trace does not keep; only explicit split sizes are mapped", a.op)
		}
		sizes, err := a.ints(1, "split_size", 0, nil)
		if err != nil {
			return nil, err
		}
		d, err := a.int(2, "dim", 0)
		if err != nil {
			return nil, err
		}
		if len(sizes) == 0 || len(sizes) > 4096 || len(l.items) != len(sizes) {
			return nil, b.fail("%s into %d pieces", a.op, len(sizes))
		}
		outs := b.node("Split", []string{x.name, b.constI64(sizes, false)}, len(sizes), attrInt("axis", d))
		res := &tsList{}
		for _, o := range outs {
			res.items = append(res.items, &tsTensor{o, x.rank, x.dtype})
		}
		return res, nil
	case "slice":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		d, err := a.int(1, "dim", 0)
		if err != nil {
			return nil, err
		}
		start, err := a.int(2, "start", 0)
		if err != nil {
			return nil, err
		}
		end, err := a.int(3, "end", math.MaxInt64)
		if err != nil {
			return nil, err
		}
		step, err := a.int(4, "step", 1)
		if err != nil {
			return nil, err
		}
		if start == 0 && end == math.MaxInt64 && step == 1 {
			return x, nil
		}
		return &tsTensor{b.node1("Slice", []string{x.name, b.constI64([]int64{start}, false), b.constI64([]int64{end}, false), b.constI64([]int64{d}, false), b.constI64([]int64{step}, false)}), x.rank, x.dtype}, nil
	case "select":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		d, err := a.int(1, "dim", 0)
		if err != nil {
			return nil, err
		}
		iv, _ := a.get(2, "index")
		idx, err := b.asTensor(iv, ir.Int64)
		if err != nil {
			return nil, err
		}
		r := x.rank
		if r > 0 {
			r--
		}
		return &tsTensor{b.node1("Gather", []string{x.name, b.cast(idx, ir.Int64).name}, attrInt("axis", d)), r, x.dtype}, nil
	case "embedding":
		w, err := a.tensor(0, "weight")
		if err != nil {
			return nil, err
		}
		idx, err := a.tensor(1, "indices")
		if err != nil {
			return nil, err
		}
		if isInput(b.inputs, idx.name) && isFloat(idx.dtype) {
			idx.dtype = ir.Int64 // a model input used as indices takes token ids
			if idx.rank == 4 {
				return nil, b.fail("aten::embedding of indices of rank 4 (an input's rank is guessed)")
			}
		}
		r := idx.rank
		if r >= 0 {
			r++
		}
		return &tsTensor{b.node1("Gather", []string{w.name, b.cast(idx, ir.Int64).name}, attrInt("axis", 0)), r, w.dtype}, nil
	case "mean", "sum", "amax", "amin":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		op := map[string]string{"mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin"}[base]
		dv, _ := a.get(1, "dim")
		if _, isDType := dv.(int64); isDType && (base == "mean" || base == "sum") && len(pos) == 2 {
			dv = nil // mean(x, dtype)
		}
		keep, err := a.bool(2, "keepdim", false)
		if err != nil {
			return nil, err
		}
		k := int64(0)
		if keep {
			k = 1
		}
		if dv == nil {
			return &tsTensor{b.node1(op, []string{x.name}, attrInt("keepdims", k)), 0, x.dtype}, nil
		}
		dims, err := a.ints(1, "dim", 1, nil)
		if err != nil {
			return nil, err
		}
		r := x.rank
		if r >= 0 && !keep {
			r -= len(dims)
		}
		return &tsTensor{b.node1(op, []string{x.name, b.constI64(dims, false)}, attrInt("keepdims", k)), r, x.dtype}, nil
	case "size":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		shape := b.node1("Shape", []string{x.name})
		if _, ok := a.get(1, "dim"); !ok {
			return &tsTensor{shape, 1, ir.Int64}, nil
		}
		d, err := a.int(1, "dim", 0)
		if err != nil {
			return nil, err
		}
		if x.rank >= 0 {
			if _, ok := normDim(d, x.rank); !ok {
				return nil, b.fail("aten::size(%d) of a tensor of rank %d", d, x.rank)
			}
		}
		return &tsTensor{b.node1("Gather", []string{shape, b.constI64([]int64{d}, true)}, attrInt("axis", 0)), 0, ir.Int64}, nil
	case "zeros", "ones", "full", "zeros_like", "ones_like", "full_like":
		var shape *tsTensor
		var err error
		val := 0.0
		if strings.HasPrefix(base, "ones") {
			val = 1
		}
		dt := ir.Float32
		rank := -1
		dtArg := 1
		if strings.HasSuffix(base, "_like") {
			x, err := a.tensor(0, "self")
			if err != nil {
				return nil, err
			}
			shape = &tsTensor{b.node1("Shape", []string{x.name}), 1, ir.Int64}
			dt, rank = x.dtype, x.rank
		} else {
			sv, _ := a.get(0, "size")
			if shape, err = b.asShape(sv); err != nil {
				return nil, err
			}
			rank = shapeLen(sv)
		}
		if strings.HasPrefix(base, "full") {
			if val, err = a.float(1, "fill_value", 0); err != nil {
				return nil, err
			}
			dtArg = 2
		}
		if code, err := a.int(dtArg, "dtype", -1); err == nil && code >= 0 {
			d, ok := scalarTypes[code]
			if !ok {
				return nil, b.fail("%s: dtype code %d is not mapped", a.op, code)
			}
			dt = d
		}
		vdt := scalarTensorType(dt)
		vt, err := ir.NewTensor("value", vdt, []int64{1}, scalarBytes(val, vdt))
		if err != nil {
			return nil, err
		}
		if vdt != dt {
			return &tsTensor{b.node1("Cast", []string{b.node1("ConstantOfShape", []string{shape.name}, &ir.Attribute{Name: "value", Type: ir.AttrTensor, Tensor: vt})}, attrInt("to", int64(dt))), rank, dt}, nil
		}
		return &tsTensor{b.node1("ConstantOfShape", []string{shape.name}, &ir.Attribute{Name: "value", Type: ir.AttrTensor, Tensor: vt}), rank, dt}, nil
	case "to", "type_as":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		if base == "type_as" {
			y, err := a.tensor(1, "other")
			if err != nil {
				return nil, err
			}
			return b.cast(x, y.dtype), nil
		}
		code := int64(-1)
		if v, ok := kw["dtype"].(int64); ok {
			code = v
		} else {
			for _, p := range pos[1:] {
				if v, ok := p.(int64); ok {
					code = v
					break
				}
				if _, ok := p.(bool); ok {
					break
				}
			}
		}
		if code < 0 {
			return x, nil
		}
		d, ok := scalarTypes[code]
		if !ok {
			return nil, b.fail("aten::to dtype code %d is not mapped", code)
		}
		return b.cast(x, d), nil
	case "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_bilinear2d", "upsample_linear1d", "upsample_trilinear3d":
		return b.upsample(a, base)
	case "lstm", "gru":
		return b.rnn(a, base)
	case "_transformer_encoder_layer_fwd":
		return b.encoderLayer(a)
	case "scaled_dot_product_attention":
		q, err := a.tensor(0, "query")
		if err != nil {
			return nil, err
		}
		k, err := a.tensor(1, "key")
		if err != nil {
			return nil, err
		}
		v, err := a.tensor(2, "value")
		if err != nil {
			return nil, err
		}
		if q.rank != k.rank || q.rank != v.rank || q.rank < 2 {
			return nil, b.fail("%s of query, key and value of rank %d, %d, %d", a.op, q.rank, k.rank, v.rank)
		}
		mask, _ := a.get(3, "attn_mask")
		if causal, _ := a.bool(5, "is_causal", false); causal {
			return nil, b.fail("aten::scaled_dot_product_attention with is_causal=True is not mapped")
		}
		kt, err := b.transpose(k, -2, -1)
		if err != nil {
			return nil, err
		}
		s := b.node1("MatMul", []string{q.name, kt.name})
		sc, _ := a.get(6, "scale")
		var scale string
		if f, ok := sc.(float64); ok {
			scale = b.constF(f, q.dtype)
		} else {
			// 1/√(last dim of q)
			shape := b.node1("Shape", []string{q.name})
			last := b.node1("Gather", []string{shape, b.constI64([]int64{-1}, true)}, attrInt("axis", 0))
			scale = b.node1("Reciprocal", []string{b.node1("Sqrt", []string{b.node1("Cast", []string{last}, attrInt("to", int64(q.dtype)))})})
		}
		s = b.node1("Mul", []string{s, scale})
		if mt, ok := mask.(*tsTensor); ok {
			if mt.dtype == ir.Bool {
				neg := b.constF(math.Inf(-1), q.dtype)
				zero := b.constF(0, q.dtype)
				s = b.node1("Add", []string{s, b.node1("Where", []string{mt.name, zero, neg})})
			} else {
				s = b.node1("Add", []string{s, mt.name})
			}
		}
		p := b.node1("Softmax", []string{s}, attrInt("axis", -1))
		return &tsTensor{b.node1("MatMul", []string{p, v.name}), q.rank, q.dtype}, nil
	case "constant_pad_nd", "pad":
		x, err := a.tensor(0, "self")
		if err != nil {
			return nil, err
		}
		pads, err := a.ints(1, "pad", 0, nil)
		if err != nil {
			return nil, err
		}
		if base == "pad" {
			if mode, _ := a.get(2, "mode"); mode != nil && mode != "constant" {
				return nil, b.fail("aten::pad mode %v is not mapped", mode)
			}
		}
		val, err := a.float(2, "value", 0)
		if base == "pad" {
			val, err = a.float(3, "value", 0)
		}
		if err != nil {
			return nil, err
		}
		if x.rank < 0 || len(pads)%2 != 0 || len(pads)/2 > x.rank {
			return nil, b.fail("%s of %d pads on a tensor of rank %d", a.op, len(pads), x.rank)
		}
		on := make([]int64, 2*x.rank)
		for i := 0; i < len(pads)/2; i++ {
			d := x.rank - 1 - i
			on[d], on[x.rank+d] = pads[2*i], pads[2*i+1]
		}
		return b.unaryIns("Pad", x, []string{x.name, b.constI64(on, false), b.constF(val, x.dtype)}), nil
	}
	return nil, b.fail("%s has no ONNX mapping in modelc (the ops the TorchScript reader maps are listed in the README)", a.op)
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func (b *tsBuilder) unaryIns(op string, x *tsTensor, ins []string, attrs ...*ir.Attribute) *tsTensor {
	return &tsTensor{b.node1(op, ins, attrs...), x.rank, x.dtype}
}

func (b *tsBuilder) reshapeConst(x *tsTensor, shape []int64) *tsTensor {
	return &tsTensor{b.node1("Reshape", []string{x.name, b.constI64(shape, false)}), len(shape), x.dtype}
}

func (b *tsBuilder) asShape(v any) (*tsTensor, error) {
	switch x := v.(type) {
	case *tsList:
		return b.shapeTensor(x)
	case *tsTensor:
		if x.rank == 1 && x.dtype == ir.Int64 {
			return x, nil
		}
	}
	return nil, b.fail("%s is not a shape", tsTypeName(v))
}

func shapeLen(v any) int {
	if l, ok := v.(*tsList); ok {
		return len(l.items)
	}
	return -1
}

func (b *tsBuilder) transpose(x *tsTensor, d0, d1 int64) (*tsTensor, error) {
	if x.rank < 0 {
		return nil, b.fail("aten::transpose of a tensor of unknown rank")
	}
	d0, ok0 := normDim(d0, x.rank)
	d1, ok1 := normDim(d1, x.rank)
	if !ok0 || !ok1 {
		return nil, b.fail("aten::transpose(%d, %d) of a tensor of rank %d", d0, d1, x.rank)
	}
	perm := make([]int64, x.rank)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[d0], perm[d1] = perm[d1], perm[d0]
	return b.unary("Transpose", x, attrInts("perm", perm)), nil
}

func (b *tsBuilder) conv(a *tsArgs, base string) (any, error) {
	x, err := a.tensor(0, "input")
	if err != nil {
		return nil, err
	}
	w, err := a.tensor(1, "weight")
	if err != nil {
		return nil, err
	}
	bias, err := a.optTensor(2, "bias")
	if err != nil {
		return nil, err
	}
	nd := w.rank - 2
	if nd < 1 {
		return nil, b.fail("%s with a weight of rank %d", a.op, w.rank)
	}
	if x.rank != w.rank {
		return nil, b.fail("%s of an input of rank %d with a weight of rank %d (unbatched inputs are not mapped)", a.op, x.rank, w.rank)
	}
	one := make([]int64, nd)
	zero := make([]int64, nd)
	for i := range one {
		one[i] = 1
	}
	transposed := strings.Contains(base, "transpose")
	var stride, pad, dil, outPad []int64
	groups := int64(1)
	autoPad := ""
	if stride, err = a.ints(3, "stride", nd, one); err != nil {
		return nil, err
	}
	if pv, _ := a.get(4, "padding"); pv == "same" || pv == "valid" {
		if pv == "same" {
			autoPad = "SAME_UPPER"
		}
		pad = zero
	} else if pad, err = a.ints(4, "padding", nd, zero); err != nil {
		return nil, err
	}
	switch base {
	case "_convolution":
		if dil, err = a.ints(5, "dilation", nd, one); err != nil {
			return nil, err
		}
		if transposed, err = a.bool(6, "transposed", false); err != nil {
			return nil, err
		}
		if outPad, err = a.ints(7, "output_padding", nd, zero); err != nil {
			return nil, err
		}
		if groups, err = a.int(8, "groups", 1); err != nil {
			return nil, err
		}
	case "conv1d", "conv2d", "conv3d":
		if dil, err = a.ints(5, "dilation", nd, one); err != nil {
			return nil, err
		}
		if groups, err = a.int(6, "groups", 1); err != nil {
			return nil, err
		}
	default: // conv_transpose: input, weight, bias, stride, padding, output_padding, groups, dilation
		if outPad, err = a.ints(5, "output_padding", nd, zero); err != nil {
			return nil, err
		}
		if groups, err = a.int(6, "groups", 1); err != nil {
			return nil, err
		}
		if dil, err = a.ints(7, "dilation", nd, one); err != nil {
			return nil, err
		}
	}
	if len(stride) != nd || len(pad) != nd || len(dil) != nd {
		return nil, b.fail("%s: stride %v, padding %v, dilation %v do not fit %d spatial dimensions", a.op, stride, pad, dil, nd)
	}
	ins := []string{x.name, w.name}
	if bias != nil {
		ins = append(ins, bias.name)
	}
	attrs := []*ir.Attribute{attrInts("strides", stride), attrInts("dilations", dil), attrInt("group", groups)}
	if autoPad != "" {
		attrs = append(attrs, attrString("auto_pad", autoPad))
	} else {
		attrs = append(attrs, attrInts("pads", append(append([]int64{}, pad...), pad...)))
	}
	op := "Conv"
	if transposed {
		op = "ConvTranspose"
		if len(outPad) == nd {
			attrs = append(attrs, attrInts("output_padding", outPad))
		}
	}
	return &tsTensor{b.node1(op, ins, attrs...), x.rank, x.dtype}, nil
}

func (b *tsBuilder) pool(a *tsArgs, base string) (any, error) {
	x, err := a.tensor(0, "self")
	if err != nil {
		return nil, err
	}
	nd := int(base[strings.Index(base, "pool")+4] - '0')
	if x.rank >= 0 && x.rank != nd+2 {
		return nil, b.fail("%s of a tensor of rank %d", a.op, x.rank)
	}
	zero := make([]int64, nd)
	one := make([]int64, nd)
	for i := range one {
		one[i] = 1
	}
	k, err := a.ints(1, "kernel_size", nd, nil)
	if err != nil {
		return nil, err
	}
	if len(k) != nd {
		return nil, b.fail("%s: kernel size %v", a.op, k)
	}
	s, err := a.ints(2, "stride", nd, k)
	if err != nil {
		return nil, err
	}
	p, err := a.ints(3, "padding", nd, zero)
	if err != nil {
		return nil, err
	}
	attrs := []*ir.Attribute{attrInts("kernel_shape", k), attrInts("strides", s), attrInts("pads", append(append([]int64{}, p...), p...))}
	if strings.HasPrefix(base, "max") {
		d, err := a.ints(4, "dilation", nd, one)
		if err != nil {
			return nil, err
		}
		ceil, err := a.bool(5, "ceil_mode", false)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, attrInts("dilations", d), attrInt("ceil_mode", b2i(ceil)))
		y := &tsTensor{b.node1("MaxPool", []string{x.name}, attrs...), x.rank, x.dtype}
		if strings.HasSuffix(base, "indices") {
			return &tsList{items: []any{y, nil}, tuple: true}, nil
		}
		return y, nil
	}
	ceil, err := a.bool(4, "ceil_mode", false)
	if err != nil {
		return nil, err
	}
	cip, err := a.bool(5, "count_include_pad", true)
	if err != nil {
		return nil, err
	}
	if dv, _ := a.get(6, "divisor_override"); dv != nil {
		return nil, b.fail("%s with divisor_override is not mapped", a.op)
	}
	attrs = append(attrs, attrInt("ceil_mode", b2i(ceil)), attrInt("count_include_pad", b2i(cip)))
	return &tsTensor{b.node1("AveragePool", []string{x.name}, attrs...), x.rank, x.dtype}, nil
}

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

func (b *tsBuilder) upsample(a *tsArgs, base string) (any, error) {
	x, err := a.tensor(0, "self")
	if err != nil {
		return nil, err
	}
	nd := int(base[len(base)-2] - '0')
	if x.rank >= 0 && x.rank != nd+2 {
		return nil, b.fail("%s of a tensor of rank %d", a.op, x.rank)
	}
	nearest := strings.Contains(base, "nearest")
	attrs := []*ir.Attribute{}
	scaleIdx := 2
	if nearest {
		attrs = append(attrs, attrString("mode", "nearest"), attrString("coordinate_transformation_mode", "asymmetric"), attrString("nearest_mode", "floor"))
	} else {
		ac, err := a.bool(2, "align_corners", false)
		if err != nil {
			return nil, err
		}
		ctm := "pytorch_half_pixel"
		if ac {
			ctm = "align_corners"
		}
		attrs = append(attrs, attrString("mode", "linear"), attrString("coordinate_transformation_mode", ctm))
		scaleIdx = 3
	}
	if sv, _ := a.get(1, "output_size"); sv != nil {
		size, err := b.asShape(sv)
		if err != nil {
			return nil, err
		}
		shape := b.node1("Shape", []string{x.name})
		nc := b.node1("Slice", []string{shape, b.constI64([]int64{0}, false), b.constI64([]int64{2}, false)})
		full := b.node1("Concat", []string{nc, size.name}, attrInt("axis", 0))
		return &tsTensor{b.node1("Resize", []string{x.name, "", "", full}, attrs...), x.rank, x.dtype}, nil
	}
	var scales []float32
	sv, _ := a.get(scaleIdx, "scale_factors")
	l, ok := sv.(*tsList)
	if ok {
		for _, it := range l.items {
			switch f := it.(type) {
			case float64:
				scales = append(scales, float32(f))
			case int64:
				scales = append(scales, float32(f))
			}
		}
	} else { // (x, output_size, [align_corners,] scales_h, scales_w)
		for i := scaleIdx; i < len(a.pos); i++ {
			if f, ok := a.pos[i].(float64); ok {
				scales = append(scales, float32(f))
			}
		}
	}
	if len(scales) != nd {
		return nil, b.fail("%s: neither an output size nor %d scale factors", a.op, nd)
	}
	sc := append([]float32{1, 1}, scales...)
	sn := b.addInit(ir.Float32, []int64{int64(len(sc))}, ir.Float32Bytes(sc))
	return &tsTensor{b.node1("Resize", []string{x.name, "", sn}, attrs...), x.rank, x.dtype}, nil
}

// rnn maps aten::lstm / aten::gru(input, hx, params, has_biases, num_layers, dropout,
// train, bidirectional, batch_first) to one ONNX LSTM/GRU per layer, with torch's gate
// order (LSTM i,f,g,o; GRU r,z,n) rearranged by Split/Concat nodes on the weights.
func (b *tsBuilder) rnn(a *tsArgs, base string) (any, error) {
	x, err := a.tensor(0, "input")
	if err != nil {
		return nil, err
	}
	hv, _ := a.get(1, "hx")
	var hx []*tsTensor
	switch h := hv.(type) {
	case *tsTensor:
		hx = []*tsTensor{h}
	case *tsList:
		for _, it := range h.items {
			t, ok := it.(*tsTensor)
			if !ok {
				return nil, b.fail("%s: the initial state holds %s", a.op, tsTypeName(it))
			}
			hx = append(hx, t)
		}
	}
	want := 2
	if base == "gru" {
		want = 1
	}
	if len(hx) != want {
		return nil, b.fail("%s: %d initial state tensors", a.op, len(hx))
	}
	pv, _ := a.get(2, "params")
	pl, ok := pv.(*tsList)
	if !ok {
		return nil, b.fail("%s: parameters are %s", a.op, tsTypeName(pv))
	}
	var params []*tsTensor
	for _, it := range pl.items {
		t, ok := it.(*tsTensor)
		if !ok {
			return nil, b.fail("%s: a parameter is %s", a.op, tsTypeName(it))
		}
		params = append(params, t)
	}
	hasB, err := a.bool(3, "has_biases", true)
	if err != nil {
		return nil, err
	}
	layers, err := a.int(4, "num_layers", 1)
	if err != nil {
		return nil, err
	}
	if train, _ := a.bool(6, "train", false); train {
		return nil, b.fail("%s in training mode: trace in eval mode", a.op)
	}
	bidir, err := a.bool(7, "bidirectional", false)
	if err != nil {
		return nil, err
	}
	bf, err := a.bool(8, "batch_first", false)
	if err != nil {
		return nil, err
	}
	if x.rank != 3 {
		return nil, b.fail("%s of an input of rank %d (batched sequences have rank 3)", a.op, x.rank)
	}
	dirs := int64(1)
	if bidir {
		dirs = 2
	}
	per := 2
	if hasB {
		per = 4
	}
	if int64(len(params)) != layers*dirs*int64(per) || layers < 1 || layers > 64 {
		return nil, b.fail("%s: %d parameters for %d layers", a.op, len(params), layers)
	}
	w0 := b.inits[params[1].name] // weight_hh: [gates·H, H]
	if w0 == nil || len(w0.Shape) != 2 {
		return nil, b.fail("%s: weight_hh is not a stored matrix", a.op)
	}
	hidden := w0.Shape[1]
	gates := int64(4)
	order := []int{0, 3, 1, 2} // ONNX i,o,f,c from torch i,f,g,o
	op := "LSTM"
	if base == "gru" {
		gates, order, op = 3, []int{1, 0, 2}, "GRU" // ONNX z,r,h from torch r,z,n
	}
	reorder := func(t string) string {
		parts := b.node("Split", []string{t}, int(gates), attrInt("axis", 0), attrInt("num_outputs", gates))
		var ro []string
		for _, i := range order {
			ro = append(ro, parts[i])
		}
		return b.node1("Concat", ro, attrInt("axis", 0))
	}
	unsq0 := func(t string) string { return b.node1("Unsqueeze", []string{t, b.constI64([]int64{0}, false)}) }
	seq := x.name
	if bf {
		seq = b.node1("Transpose", []string{seq}, attrInts("perm", []int64{1, 0, 2}))
	}
	var hOuts, cOuts []string
	for l := int64(0); l < layers; l++ {
		var ws, rs, bs []string
		if w, r, bias, ok := b.rnnConsts(params[l*dirs*int64(per):(l+1)*dirs*int64(per)], dirs, per, int(gates), int(hidden), order); ok {
			ws, rs = []string{w}, []string{r}
			if hasB {
				bs = []string{bias}
			}
		} else {
			for d := int64(0); d < dirs; d++ {
				p := params[(l*dirs+d)*int64(per):]
				ws = append(ws, unsq0(reorder(p[0].name)))
				rs = append(rs, unsq0(reorder(p[1].name)))
				if hasB {
					bs = append(bs, unsq0(b.node1("Concat", []string{reorder(p[2].name), reorder(p[3].name)}, attrInt("axis", 0))))
				}
			}
		}
		cat := func(v []string) string {
			if len(v) == 1 {
				return v[0]
			}
			return b.node1("Concat", v, attrInt("axis", 0))
		}
		sliceState := func(h string) string {
			return b.node1("Slice", []string{h, b.constI64([]int64{l * dirs}, false), b.constI64([]int64{(l + 1) * dirs}, false), b.constI64([]int64{0}, false)})
		}
		ins := []string{seq, cat(ws), cat(rs), "", "", sliceState(hx[0].name)}
		if hasB {
			ins[3] = cat(bs)
		}
		nout := 2
		if op == "LSTM" {
			ins = append(ins, sliceState(hx[1].name))
			nout = 3
		}
		dir := "forward"
		if bidir {
			dir = "bidirectional"
		}
		attrs := []*ir.Attribute{attrInt("hidden_size", hidden), attrString("direction", dir)}
		if op == "GRU" {
			attrs = append(attrs, attrInt("linear_before_reset", 1))
		}
		outs := b.node(op, ins, nout, attrs...)
		// Y [seq, dirs, batch, H] → [seq, batch, dirs·H]
		y := b.node1("Transpose", []string{outs[0]}, attrInts("perm", []int64{0, 2, 1, 3}))
		seq = b.node1("Reshape", []string{y, b.constI64([]int64{0, 0, -1}, false)})
		hOuts = append(hOuts, outs[1])
		if op == "LSTM" {
			cOuts = append(cOuts, outs[2])
		}
	}
	out := seq
	if bf {
		out = b.node1("Transpose", []string{out}, attrInts("perm", []int64{1, 0, 2}))
	}
	catState := func(v []string) string {
		if len(v) == 1 {
			return v[0]
		}
		return b.node1("Concat", v, attrInt("axis", 0))
	}
	res := &tsList{tuple: true, items: []any{&tsTensor{out, 3, x.dtype}, &tsTensor{catState(hOuts), 3, x.dtype}}}
	if op == "LSTM" {
		res.items = append(res.items, &tsTensor{catState(cOuts), 3, x.dtype})
	}
	return res, nil
}

// encoderLayer maps aten::_transformer_encoder_layer_fwd, the fused inference path
// nn.TransformerEncoderLayer takes when traced without gradients (batch_first input
// [B, S, E]): self-attention, residuals, layer norms and the feed-forward block.
func (b *tsBuilder) encoderLayer(a *tsArgs) (any, error) {
	x, err := a.tensor(0, "src")
	if err != nil {
		return nil, err
	}
	if x.rank != 3 {
		return nil, b.fail("%s of an input of rank %d (it takes [batch, sequence, embedding])", a.op, x.rank)
	}
	e, err := a.int(1, "embed_dim", 0)
	if err != nil {
		return nil, err
	}
	h, err := a.int(2, "num_heads", 0)
	if err != nil {
		return nil, err
	}
	if e <= 0 || h <= 0 || e%h != 0 {
		return nil, b.fail("%s: embedding %d and %d heads", a.op, e, h)
	}
	var ts [16]*tsTensor
	names := []string{"", "", "", "qkv_weight", "qkv_bias", "proj_weight", "proj_bias", "", "", "", "norm_weight_1", "norm_bias_1", "norm_weight_2", "norm_bias_2", "ffn_weight_1", "ffn_bias_1", "ffn_weight_2", "ffn_bias_2"}
	for i := 3; i < 18; i++ {
		if names[i] == "" {
			continue
		}
		if ts[i-3], err = a.tensor(i, names[i]); err != nil {
			return nil, err
		}
	}
	gelu, err := a.bool(7, "use_gelu", false)
	if err != nil {
		return nil, err
	}
	normFirst, err := a.bool(8, "norm_first", false)
	if err != nil {
		return nil, err
	}
	eps, err := a.float(9, "eps", 1e-5)
	if err != nil {
		return nil, err
	}
	if m, _ := a.get(18, "mask"); m != nil {
		return nil, b.fail("%s with a mask is not mapped", a.op)
	}
	lin := func(in string, w, bias *tsTensor) string {
		wt := b.node1("Transpose", []string{w.name}, attrInts("perm", []int64{1, 0}))
		return b.node1("Add", []string{b.node1("MatMul", []string{in, wt}), bias.name})
	}
	ln := func(in string, w, bias *tsTensor) string {
		return b.node1("LayerNormalization", []string{in, w.name, bias.name}, attrInt("axis", -1), attrFloat("epsilon", eps))
	}
	d := e / h
	attn := func(in string) string {
		qkv := b.node("Split", []string{lin(in, ts[0], ts[1])}, 3, attrInt("axis", -1), attrInt("num_outputs", 3))
		heads := func(t string, perm []int64) string {
			r := b.node1("Reshape", []string{t, b.constI64([]int64{0, 0, h, d}, false)})
			return b.node1("Transpose", []string{r}, attrInts("perm", perm))
		}
		q := heads(qkv[0], []int64{0, 2, 1, 3})
		k := heads(qkv[1], []int64{0, 2, 3, 1})
		v := heads(qkv[2], []int64{0, 2, 1, 3})
		s := b.node1("Mul", []string{b.node1("MatMul", []string{q, k}), b.constF(1/math.Sqrt(float64(d)), x.dtype)})
		o := b.node1("MatMul", []string{b.node1("Softmax", []string{s}, attrInt("axis", -1)), v})
		o = b.node1("Reshape", []string{b.node1("Transpose", []string{o}, attrInts("perm", []int64{0, 2, 1, 3})), b.constI64([]int64{0, 0, e}, false)})
		return lin(o, ts[2], ts[3])
	}
	ffn := func(in string) string {
		y := lin(in, ts[11], ts[12])
		if gelu {
			er := b.node1("Erf", []string{b.node1("Div", []string{y, b.constF(math.Sqrt2, x.dtype)})})
			y = b.node1("Mul", []string{b.node1("Mul", []string{y, b.node1("Add", []string{er, b.constF(1, x.dtype)})}), b.constF(0.5, x.dtype)})
		} else {
			y = b.node1("Relu", []string{y})
		}
		return lin(y, ts[13], ts[14])
	}
	add := func(p, q string) string { return b.node1("Add", []string{p, q}) }
	out := x.name
	if normFirst {
		out = add(out, attn(ln(out, ts[7], ts[8])))
		out = add(out, ffn(ln(out, ts[9], ts[10])))
	} else {
		out = ln(add(out, attn(out)), ts[7], ts[8])
		out = ln(add(out, ffn(out)), ts[9], ts[10])
	}
	return &tsTensor{out, 3, x.dtype}, nil
}

// rnnConsts reorders the gates of one layer's stored float32 weights into ONNX's W, R
// and B (as Constant values), so the graph holds them as data, not as Split/Concat.
func (b *tsBuilder) rnnConsts(p []*tsTensor, dirs int64, per, gates, hidden int, order []int) (w, r, bias string, ok bool) {
	var wd, rd, bd []float32
	var cols [2]int64
	for d := 0; d < int(dirs); d++ {
		q := p[d*per:]
		for k := 0; k < per; k++ {
			t := b.inits[q[k].name]
			if t == nil || t.DType != ir.Float32 || len(t.Shape) == 0 || int(t.Shape[0]) != gates*hidden || t.NumElements()%int64(gates*hidden) != 0 {
				return "", "", "", false
			}
		}
		take := func(t *ir.Tensor) []float32 {
			f, _ := t.Float32s()
			c := len(f) / (gates * hidden)
			out := make([]float32, 0, len(f))
			for _, g := range order {
				out = append(out, f[g*hidden*c:(g+1)*hidden*c]...)
			}
			return out
		}
		wt, rt := b.inits[q[0].name], b.inits[q[1].name]
		if len(wt.Shape) != 2 || len(rt.Shape) != 2 {
			return "", "", "", false
		}
		cols = [2]int64{wt.Shape[1], rt.Shape[1]}
		wd = append(wd, take(wt)...)
		rd = append(rd, take(rt)...)
		if per == 4 {
			bd = append(bd, take(b.inits[q[2].name])...)
			bd = append(bd, take(b.inits[q[3].name])...)
		}
	}
	gh := int64(gates * hidden)
	w = b.addInit(ir.Float32, []int64{dirs, gh, cols[0]}, ir.Float32Bytes(wd))
	r = b.addInit(ir.Float32, []int64{dirs, gh, cols[1]}, ir.Float32Bytes(rd))
	if per == 4 {
		bias = b.addInit(ir.Float32, []int64{dirs, 2 * gh}, ir.Float32Bytes(bd))
	}
	return w, r, bias, true
}

var _ = fmt.Sprintf
