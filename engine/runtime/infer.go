package runtime

import (
	"sort"

	"github.com/modelc/modelc/engine/ir"
)

// Shape inference at load: from the graph inputs' declared types and the constants, the
// dtype and shape of every value, with the inputs' symbolic dimensions ("batch") carried
// through. The session uses it to fold Shape and Size of values whose shape is fully
// known, so their consumers become constants; the results are available through
// Session.ValueTypes. Dimensions that depend on data (NonZero, a Reshape to a computed
// shape) are unknown, and ops without a rule here leave their outputs unknown: the
// kernels check shapes at run time either way, so inference never rejects a model.

// dim is one inferred dimension: a size (v ≥ 0), a symbol from a graph input's declared
// shape (sym, v < 0), or unknown (v < 0, no symbol).
type dim struct {
	v   int
	sym string
}

var unknownDim = dim{v: -1}

func (d dim) static() bool { return d.v >= 0 }

// valueType is what inference knows of a value: its dtype (Undefined when unknown) and
// its shape (rank < 0 when unknown).
type valueType struct {
	dtype ir.DType
	rank  int
	shape []dim
}

var unknownType = valueType{rank: -1}

func (t valueType) known() bool { return t.dtype != ir.Undefined || t.rank >= 0 }

// static reports whether every dimension is a number.
func (t valueType) static() bool {
	if t.rank < 0 {
		return false
	}
	for _, d := range t.shape {
		if !d.static() {
			return false
		}
	}
	return true
}

// typeOf is the exact type of a computed value.
func typeOf(t *Tensor) valueType {
	vt := valueType{dtype: t.DType, rank: len(t.Shape), shape: make([]dim, len(t.Shape))}
	for i, d := range t.Shape {
		vt.shape[i] = dim{v: d}
	}
	return vt
}

// declared converts a graph input's declared type.
func declared(v *ir.ValueInfo) valueType {
	if v.Type == nil || v.Type.Kind != ir.TypeTensor {
		return unknownType
	}
	t := valueType{dtype: v.Type.ElemType, rank: -1}
	if v.Type.Shape != nil {
		t.rank = len(v.Type.Shape.Dims)
		for _, d := range v.Type.Shape.Dims {
			switch {
			case d.HasValue && d.Value >= 0:
				t.shape = append(t.shape, dim{v: int(d.Value)})
			case d.Param != "":
				t.shape = append(t.shape, dim{v: -1, sym: d.Param})
			default:
				t.shape = append(t.shape, unknownDim)
			}
		}
	}
	return t
}

// inferTypes fills p.types in graph order.
func (p *graphPlan) inferTypes(opset int64) {
	p.types = make([]valueType, len(p.names))
	for i := range p.types {
		p.types[i] = unknownType
		if p.init[i] != nil {
			p.types[i] = typeOf(p.init[i])
		}
	}
	for i, v := range p.g.Inputs {
		// Declared, even with an initializer: the caller may override its value.
		p.types[p.in[i]] = declared(v)
	}
	for _, st := range p.steps {
		in := make([]valueType, len(st.in))
		consts := make([]*Tensor, len(st.in))
		for j, sl := range st.in {
			in[j] = unknownType
			if sl >= 0 {
				in[j] = p.types[sl]
				if p.fixed[sl] {
					consts[j] = p.init[sl]
				}
			}
		}
		outs := inferNode(st.node, opset, in, consts)
		for j, sl := range st.out {
			if sl >= 0 && j < len(outs) {
				p.types[sl] = outs[j]
			}
		}
	}
}

// sameAs is the type of an op whose output has its input's dtype and shape.
var sameAs = map[string]bool{}

func init() {
	for _, op := range []string{"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish",
		"Tanh", "Softmax", "LogSoftmax", "Hardmax", "Gelu", "Softplus", "Softsign", "Mish", "Exp", "Log", "Sqrt", "Abs", "Neg",
		"Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
		"Asinh", "Acosh", "Atanh", "Clip", "Identity", "Dropout", "BatchNormalization", "InstanceNormalization",
		"LayerNormalization", "GroupNormalization", "LRN", "MeanVarianceNormalization", "CumSum", "Not", "BitwiseNot",
		"ThresholdedRelu", "Trilu"} {
		sameAs[op] = true
	}
}

// inferNode returns the types of n's outputs (shorter than its outputs, or unknown
// entries, where it cannot tell). consts holds the inputs whose values are fixed.
func inferNode(n *ir.Node, opset int64, in []valueType, consts []*Tensor) (out []valueType) {
	defer func() {
		if recover() != nil { // a malformed attribute: leave it to the kernel to report
			out = nil
		}
	}()
	get := func(i int) valueType {
		if i < len(in) {
			return in[i]
		}
		return unknownType
	}
	x := get(0)
	attrInt := func(name string, def int64) int64 {
		if a := n.Attr(name); a != nil {
			return a.Int
		}
		return def
	}
	switch op := n.OpType; {
	case sameAs[op]:
		return []valueType{x}
	case op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" || op == "Mod" || op == "Max" ||
		op == "Min" || op == "Sum" || op == "Mean" || op == "BitwiseAnd" || op == "BitwiseOr" || op == "BitwiseXor":
		t := x
		for _, o := range in[1:] {
			t = broadcastType(t, o)
		}
		t.dtype = x.dtype
		return []valueType{t}
	case op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual" ||
		op == "And" || op == "Or" || op == "Xor":
		t := broadcastType(x, get(1))
		t.dtype = ir.Bool
		return []valueType{t}
	case op == "Where":
		t := broadcastType(broadcastType(x, get(1)), get(2))
		t.dtype = get(1).dtype
		return []valueType{t}
	case op == "Cast":
		t := x
		t.dtype = ir.DType(attrInt("to", 0))
		return []valueType{t}
	case op == "CastLike":
		t := x
		t.dtype = get(1).dtype
		return []valueType{t}
	case op == "Shape":
		if x.rank < 0 {
			return []valueType{{dtype: ir.Int64, rank: 1, shape: []dim{unknownDim}}}
		}
		start, end := int(attrInt("start", 0)), int(attrInt("end", int64(x.rank)))
		if start < 0 {
			start += x.rank
		}
		if end < 0 {
			end += x.rank
		}
		start, end = clamp(start, 0, x.rank), clamp(end, 0, x.rank)
		return []valueType{{dtype: ir.Int64, rank: 1, shape: []dim{{v: max(0, end-start)}}}}
	case op == "Size":
		return []valueType{{dtype: ir.Int64, rank: 0}}
	case op == "MatMul" || op == "MatMulInteger":
		t := matmulType(x, get(1))
		if op == "MatMulInteger" {
			t.dtype = ir.Int32
		}
		return []valueType{t}
	case op == "Gemm":
		a, b := x, get(1)
		if a.rank != 2 || b.rank != 2 {
			return []valueType{{dtype: a.dtype, rank: 2, shape: []dim{unknownDim, unknownDim}}}
		}
		m, nn := a.shape[0], b.shape[1]
		if attrInt("transA", 0) == 1 {
			m = a.shape[1]
		}
		if attrInt("transB", 0) == 1 {
			nn = b.shape[0]
		}
		return []valueType{{dtype: a.dtype, rank: 2, shape: []dim{m, nn}}}
	case op == "Transpose":
		if x.rank < 0 {
			return []valueType{{dtype: x.dtype, rank: -1}}
		}
		perm := make([]int, x.rank)
		for i := range perm {
			perm[i] = x.rank - 1 - i
		}
		if a := n.Attr("perm"); a != nil && len(a.Ints) == x.rank {
			for i, v := range a.Ints {
				perm[i] = int(v)
			}
		}
		t := valueType{dtype: x.dtype, rank: x.rank, shape: make([]dim, x.rank)}
		for i, p := range perm {
			t.shape[i] = x.shape[p]
		}
		return []valueType{t}
	case op == "Flatten":
		if x.rank < 0 {
			return []valueType{{dtype: x.dtype, rank: 2, shape: []dim{unknownDim, unknownDim}}}
		}
		axis := int(attrInt("axis", 1))
		if axis < 0 {
			axis += x.rank
		}
		return []valueType{{dtype: x.dtype, rank: 2, shape: []dim{prodDims(x.shape[:axis]), prodDims(x.shape[axis:])}}}
	case op == "Reshape" && len(consts) > 1 && consts[1] != nil:
		spec := ints(consts[1])
		t := valueType{dtype: x.dtype, rank: len(spec), shape: make([]dim, len(spec))}
		for i, v := range spec {
			switch {
			case v == 0 && attrInt("allowzero", 0) == 0 && x.rank > i:
				t.shape[i] = x.shape[i]
			case v >= 0:
				t.shape[i] = dim{v: v}
			default:
				t.shape[i] = unknownDim
			}
		}
		if x.static() { // resolve -1 when the element count is known
			if s, err := reshapeTo(staticInts(x), spec, attrInt("allowzero", 0) == 1); err == nil {
				return []valueType{typeOfShape(x.dtype, s)}
			}
		}
		return []valueType{t}
	case (op == "Unsqueeze" || op == "Squeeze") && x.rank >= 0:
		var axes []int
		if a := n.Attr("axes"); a != nil {
			for _, v := range a.Ints {
				axes = append(axes, int(v))
			}
		} else if len(consts) > 1 && consts[1] != nil {
			axes = ints(consts[1])
		} else if op == "Unsqueeze" || len(in) > 1 && in[1].known() || len(n.Inputs) > 1 && n.Inputs[1] != "" {
			// axes given but not known here: squeezing every 1 would be a guess
			return []valueType{{dtype: x.dtype, rank: -1}}
		}
		if op == "Unsqueeze" {
			r := x.rank + len(axes)
			ins := make([]bool, r)
			for _, a := range axes {
				if a < 0 {
					a += r
				}
				ins[a] = true
			}
			t := valueType{dtype: x.dtype, rank: r}
			j := 0
			for i := 0; i < r; i++ {
				if ins[i] {
					t.shape = append(t.shape, dim{v: 1})
				} else {
					t.shape = append(t.shape, x.shape[j])
					j++
				}
			}
			return []valueType{t}
		}
		drop := make([]bool, x.rank)
		for _, a := range axes {
			if a < 0 {
				a += x.rank
			}
			drop[a] = true
		}
		t := valueType{dtype: x.dtype}
		for i, d := range x.shape {
			if axes == nil && d.v == 1 || drop[i] {
				continue
			}
			if axes == nil && !d.static() {
				return []valueType{{dtype: x.dtype, rank: -1}} // might be 1 at run time
			}
			t.shape = append(t.shape, d)
		}
		t.rank = len(t.shape)
		return []valueType{t}
	case op == "Concat" && x.rank >= 0:
		axis := int(attrInt("axis", 0))
		if axis < 0 {
			axis += x.rank
		}
		t := valueType{dtype: x.dtype, rank: x.rank, shape: append([]dim{}, x.shape...)}
		total := 0
		for _, o := range in {
			if o.rank != x.rank || !o.shape[axis].static() {
				t.shape[axis] = unknownDim
				return []valueType{t}
			}
			total += o.shape[axis].v
		}
		t.shape[axis] = dim{v: total}
		return []valueType{t}
	case op == "Gather" && x.rank >= 0 && get(1).rank >= 0:
		axis := int(attrInt("axis", 0))
		if axis < 0 {
			axis += x.rank
		}
		s := append(append(append([]dim{}, x.shape[:axis]...), get(1).shape...), x.shape[axis+1:]...)
		return []valueType{{dtype: x.dtype, rank: len(s), shape: s}}
	case (op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "LpPool") && x.rank >= 3:
		t := valueType{dtype: x.dtype, rank: x.rank, shape: make([]dim, x.rank)}
		for i := range t.shape {
			t.shape[i] = unknownDim
		}
		t.shape[0] = x.shape[0]
		if op == "Conv" {
			if w := get(1); w.rank >= 1 {
				t.shape[1] = w.shape[0]
			}
		} else {
			t.shape[1] = x.shape[1]
		}
		// Spatial sizes from the attributes, when the input's are numbers.
		k := staticInts(get(1))
		if op != "Conv" {
			if a := n.Attr("kernel_shape"); a != nil {
				k = nil
				for _, v := range a.Ints {
					k = append(k, int(v))
				}
			}
		} else if k != nil {
			k = k[2:]
		}
		sp := staticInts(valueType{rank: x.rank - 2, shape: x.shape[2:]})
		if k != nil && sp != nil && len(k) == len(sp) {
			c := &opContext{node: n, opset: opset}
			if g, err := geometry(c, sp, k, attrInt("ceil_mode", 0) == 1); err == nil {
				for i, o := range g.out {
					t.shape[2+i] = dim{v: o}
				}
			}
		}
		outs := []valueType{t}
		if op == "MaxPool" {
			idx := t
			idx.dtype = ir.Int64
			outs = append(outs, idx)
		}
		return outs
	case (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "GlobalLpPool") && x.rank >= 2:
		t := valueType{dtype: x.dtype, rank: x.rank, shape: append([]dim{}, x.shape...)}
		for i := 2; i < x.rank; i++ {
			t.shape[i] = dim{v: 1}
		}
		return []valueType{t}
	case (op == "LSTM" || op == "GRU" || op == "RNN") && x.rank == 3:
		dirs := dim{v: 1}
		if a := n.Attr("direction"); a != nil && string(a.String) == "bidirectional" {
			dirs = dim{v: 2}
		}
		h := dim{v: int(attrInt("hidden_size", -1))}
		if h.v < 0 {
			h = unknownDim
		}
		seq, batch := x.shape[0], x.shape[1]
		y, hs := []dim{seq, dirs, batch, h}, []dim{dirs, batch, h}
		if attrInt("layout", 0) == 1 {
			batch, seq = seq, batch
			y, hs = []dim{batch, seq, dirs, h}, []dim{batch, dirs, h}
		}
		outs := []valueType{{dtype: x.dtype, rank: 4, shape: y}, {dtype: x.dtype, rank: 3, shape: hs}}
		if op == "LSTM" {
			outs = append(outs, valueType{dtype: x.dtype, rank: 3, shape: hs})
		}
		return outs
	case op == "DynamicQuantizeLinear":
		t := x
		t.dtype = ir.Uint8
		return []valueType{t, {dtype: ir.Float32, rank: 0}, {dtype: ir.Uint8, rank: 0}}
	case op == "QuantizeLinear":
		t := x
		t.dtype = ir.Uint8
		if z := get(2); z.dtype != ir.Undefined {
			t.dtype = z.dtype
		} else if d := attrInt("output_dtype", 0); d != 0 {
			t.dtype = ir.DType(d)
		}
		return []valueType{t}
	case op == "DequantizeLinear":
		t := x
		t.dtype = get(1).dtype
		if d := attrInt("output_dtype", 0); d != 0 {
			t.dtype = ir.DType(d)
		}
		return []valueType{t}
	case op == "ConstantOfShape" && len(consts) > 0 && consts[0] != nil:
		dt := ir.Float32
		if a := n.Attr("value"); a != nil && a.Tensor != nil {
			dt = a.Tensor.DType
		}
		return []valueType{typeOfShape(dt, ints(consts[0]))}
	}
	return inferDataMovement(n, in, consts)
}

func typeOfShape(dt ir.DType, s []int) valueType {
	t := valueType{dtype: dt, rank: len(s), shape: make([]dim, len(s))}
	for i, v := range s {
		t.shape[i] = dim{v: v}
	}
	return t
}

// staticInts returns the dimensions when all are numbers, else nil.
func staticInts(t valueType) []int {
	if !t.static() {
		return nil
	}
	s := make([]int, t.rank)
	for i, d := range t.shape {
		s[i] = d.v
	}
	return s
}

func prodDims(ds []dim) dim {
	n := 1
	for _, d := range ds {
		if !d.static() {
			if len(ds) == 1 {
				return d // a lone symbol carries over
			}
			return unknownDim
		}
		n *= d.v
	}
	return dim{v: n}
}

// broadcastType is numpy broadcasting over inferred shapes: a 1 stretches, equal
// dimensions (numbers or the same symbol) stay, anything else is unknown.
func broadcastType(a, b valueType) valueType {
	if a.rank < 0 || b.rank < 0 {
		return valueType{dtype: a.dtype, rank: -1}
	}
	r := max(a.rank, b.rank)
	t := valueType{dtype: a.dtype, rank: r, shape: make([]dim, r)}
	for i := 0; i < r; i++ {
		da, db := dim{v: 1}, dim{v: 1}
		if j := i - (r - a.rank); j >= 0 {
			da = a.shape[j]
		}
		if j := i - (r - b.rank); j >= 0 {
			db = b.shape[j]
		}
		switch {
		case da.v == 1:
			t.shape[i] = db
		case db.v == 1:
			t.shape[i] = da
		case da == db && (da.static() || da.sym != ""):
			t.shape[i] = da
		case da.static() && !db.static() && db.sym == "", db.static() && !da.static() && da.sym == "":
			t.shape[i] = unknownDim // the unknown one could be 1
		case da.static():
			t.shape[i] = da // a symbol against a number: valid only if it is that number
		default:
			t.shape[i] = db
		}
	}
	return t
}

// matmulType follows numpy matmul: batch dimensions broadcast, 1-D operands drop out.
func matmulType(a, b valueType) valueType {
	if a.rank < 1 || b.rank < 1 {
		return valueType{dtype: a.dtype, rank: -1}
	}
	as, bs := a.shape, b.shape
	if a.rank == 1 {
		as = []dim{{v: 1}, as[0]}
	}
	if b.rank == 1 {
		bs = []dim{bs[0], {v: 1}}
	}
	batch := broadcastType(valueType{rank: len(as) - 2, shape: as[:len(as)-2]}, valueType{rank: len(bs) - 2, shape: bs[:len(bs)-2]})
	s := batch.shape
	if a.rank > 1 {
		s = append(s, as[len(as)-2])
	}
	if b.rank > 1 {
		s = append(s, bs[len(bs)-1])
	}
	return valueType{dtype: a.dtype, rank: len(s), shape: s}
}

// ValueTypes returns the dtype and shape inferred at load for every value of the main
// graph that has one: symbolic dimensions keep their names (Dim.Param), dimensions that
// depend on data are unknown. Sorted by name.
func (s *Session) ValueTypes() []*ir.ValueInfo {
	p := s.main
	var out []*ir.ValueInfo
	for sl, name := range p.names {
		t := p.types[sl]
		if !t.known() || name == "" {
			continue
		}
		it := &ir.Type{Kind: ir.TypeTensor, ElemType: t.dtype}
		if t.rank >= 0 {
			it.Shape = &ir.Shape{Dims: make([]ir.Dim, t.rank)}
			for i, d := range t.shape {
				switch {
				case d.static():
					it.Shape.Dims[i] = ir.Dim{Value: int64(d.v), HasValue: true}
				case d.sym != "":
					it.Shape.Dims[i] = ir.Dim{Param: d.sym}
				}
			}
		}
		out = append(out, &ir.ValueInfo{Name: name, Type: it})
	}
	sortValueInfos(out)
	return out
}

func sortValueInfos(v []*ir.ValueInfo) {
	sort.Slice(v, func(i, j int) bool { return v[i].Name < v[j].Name })
}
