package quant

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// FloatOptions control the float16/bfloat16 conversion.
type FloatOptions struct {
	Type ir.DType // Float16 or BFloat16
	// KeepIO keeps the graph's float32 inputs and outputs float32, with Cast nodes inside.
	KeepIO bool
	// Exclude keeps matching nodes in float32.
	Exclude compress.Exclude
}

// Fragile lists the ops kept in float32 by default: reductions and normalisations whose
// sums overflow or lose too much in 16 bits, exponentials and logarithms, and index or
// shape computations that must stay exact (the set onnxconverter-common's float16
// converter blocks, plus the normalisations).
var Fragile = map[string]bool{
	"Softmax": true, "LogSoftmax": true, "LayerNormalization": true, "InstanceNormalization": true,
	"GroupNormalization": true, "RMSNormalization": true, "ReduceMean": true, "ReduceSum": true,
	"ReduceSumSquare": true, "ReduceLogSumExp": true, "ReduceL2": true, "ReduceProd": true,
	"Exp": true, "Log": true, "Pow": true, "Sqrt": true, "Reciprocal": true, "Erf": true,
	"CumSum": true, "Range": true, "TopK": true, "NonMaxSuppression": true, "RoiAlign": true,
	"Resize": true, "Upsample": true, "RandomUniformLike": true, "RandomNormalLike": true,
	"Einsum": true,
}

// noBFloat16 are common ops whose ONNX schema (up to opset 21) has no bfloat16 type: a
// bfloat16 conversion keeps them in float32.
var noBFloat16 = map[string]bool{
	"Conv": true, "ConvTranspose": true, "MaxPool": true, "AveragePool": true, "GlobalAveragePool": true,
	"GlobalMaxPool": true, "LpPool": true, "LRN": true, "InstanceNormalization": true, "RNN": true,
	"GRU": true, "LSTM": true,
}

// noConvert are ops whose float inputs keep their type whatever their neighbours do:
// Cast converts by itself, and the quantization ops take float32 scales.
var noConvert = map[string]bool{
	"Cast": true, "QuantizeLinear": true, "DequantizeLinear": true, "DynamicQuantizeLinear": true,
	"MatMulInteger": true, "ConvInteger": true, "Shape": true, "Size": true,
}

// Float16 converts the model's float32 computation to float16 (or bfloat16): float32
// initializers become 16-bit, and Cast nodes join the parts kept in float32 (fragile ops,
// excluded nodes, ops of other domains, subgraph-holding ops) to the rest.
func Float16(m *ir.Model, o FloatOptions) (*compress.Report, error) {
	half := o.Type
	if half != ir.Float16 && half != ir.BFloat16 {
		return nil, fmt.Errorf("float conversion to %v is not supported (float16, bfloat16)", half)
	}
	r := &compress.Report{Pass: "convert to " + half.String()}
	g := m.Graph
	names := compress.NewNames(m)
	orig := inferTypes(g)
	cur := map[string]ir.DType{}
	for k, v := range orig {
		cur[k] = v
	}
	if !o.KeepIO {
		for _, v := range g.Inputs {
			if cur[v.Name] == ir.Float32 && g.Initializer(v.Name) == nil {
				cur[v.Name] = half
				v.Type.ElemType = half
			}
		}
	}
	isHalf := map[*ir.Node]bool{}
	var kept []string
	for _, n := range g.Nodes {
		if !touchesFloat32(n, orig) || noConvert[n.OpType] {
			continue
		}
		switch {
		case n.Domain != "" && n.Domain != "ai.onnx":
			kept = append(kept, fmt.Sprintf("%s (%s, domain %s)", compress.NodeName(n), n.OpType, n.Domain))
		case Fragile[n.OpType]:
			kept = append(kept, fmt.Sprintf("%s (%s)", compress.NodeName(n), n.OpType))
		case half == ir.BFloat16 && noBFloat16[n.OpType]:
			kept = append(kept, fmt.Sprintf("%s (%s, no bfloat16 in ONNX)", compress.NodeName(n), n.OpType))
		case o.Exclude.Matches(n):
			kept = append(kept, fmt.Sprintf("%s (%s, excluded)", compress.NodeName(n), n.OpType))
		case len(n.Subgraphs()) > 0:
			kept = append(kept, fmt.Sprintf("%s (%s, has subgraphs)", compress.NodeName(n), n.OpType))
		default:
			isHalf[n] = true
		}
	}
	// A float32 initializer is converted when every node reading it computes in 16 bits
	// (and it is not an overridable graph input); otherwise the half nodes get a Cast.
	consumers := compress.Consumers(g)
	inputs := map[string]bool{}
	for _, v := range g.Inputs {
		inputs[v.Name] = true
	}
	convertInit := map[string]bool{}
	for _, t := range g.Initializers {
		if t.DType != ir.Float32 || inputs[t.Name] || compress.IsGraphOutput(g, t.Name) || len(consumers[t.Name]) == 0 {
			continue
		}
		all := true
		for _, c := range consumers[t.Name] {
			all = all && isHalf[c]
		}
		convertInit[t.Name] = all
	}
	for _, t := range g.Initializers {
		if !convertInit[t.Name] {
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		h := make([]uint16, len(v))
		if half == ir.Float16 {
			accel.F32ToF16(h, v)
		} else {
			accel.F32ToBF16(h, v)
		}
		back := make([]float32, len(v))
		if half == ir.Float16 {
			accel.F16ToF32(back, h)
		} else {
			accel.BF16ToF32(back, h)
		}
		r.Layers = append(r.Layers, compress.LayerReport{Tensor: t.Name, Op: "initializer",
			ParamsBefore: t.NumElements(), ParamsAfter: t.NumElements(), RelError: compress.RelError(v, back), Detail: half.String()})
		b := make([]byte, 2*len(h))
		for i, x := range h {
			b[2*i], b[2*i+1] = byte(x), byte(x>>8)
		}
		t.DType = half
		if err := t.SetBytes(b); err != nil {
			return nil, err
		}
		cur[t.Name] = half
	}
	// Walk the nodes in order, converting the inputs each needs and recording the types
	// its outputs now have.
	casts := map[[2]string]string{}
	castTo := func(x string, to ir.DType) (string, *ir.Node) {
		key := [2]string{x, to.String()}
		if c, ok := casts[key]; ok {
			return c, nil
		}
		out := names.New(x + "_" + to.String())
		n := &ir.Node{Name: names.New(x + "/Cast_" + to.String()), OpType: "Cast", Inputs: []string{x}, Outputs: []string{out},
			Attrs: []*ir.Attribute{attrInt("to", int64(to))}}
		casts[key] = out
		cur[out] = to
		return out, n
	}
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType == "Constant" && isHalf[n] {
			if a := n.Attr("value"); a != nil && a.Tensor != nil && a.Tensor.DType == ir.Float32 {
				v, err := a.Tensor.Float32s()
				if err != nil {
					return nil, err
				}
				b := make([]byte, 2*len(v))
				for i, f := range v {
					x := ir.Float32ToFloat16(f)
					if half == ir.BFloat16 {
						x = ir.Float32ToBFloat16(f)
					}
					b[2*i], b[2*i+1] = byte(x), byte(x>>8)
				}
				a.Tensor.DType = half
				if err := a.Tensor.SetBytes(b); err != nil {
					return nil, err
				}
			}
		}
		if !noConvert[n.OpType] {
			for i, x := range n.Inputs {
				if x == "" {
					continue
				}
				t := cur[x]
				var c *ir.Node
				switch {
				case isHalf[n] && t == ir.Float32:
					n.Inputs[i], c = castTo(x, half)
				case !isHalf[n] && t == half && orig[x] == ir.Float32:
					n.Inputs[i], c = castTo(x, ir.Float32)
				}
				if c != nil {
					nodes = append(nodes, c)
				}
			}
		}
		nodes = append(nodes, n)
		for _, out := range n.Outputs {
			if isHalf[n] && orig[out] == ir.Float32 {
				cur[out] = half
			} else {
				cur[out] = orig[out]
			}
		}
	}
	g.Nodes = nodes
	// Graph outputs: cast back to float32 when asked to keep the I/O types.
	for _, v := range g.Outputs {
		if cur[v.Name] != half || orig[v.Name] != ir.Float32 {
			continue
		}
		if !o.KeepIO {
			if v.Type != nil {
				v.Type.ElemType = half
			}
			continue
		}
		inner := names.New(v.Name + "_" + half.String())
		for _, n := range g.Nodes {
			for i := range n.Outputs {
				if n.Outputs[i] == v.Name {
					n.Outputs[i] = inner
				}
			}
			for i := range n.Inputs {
				if n.Inputs[i] == v.Name {
					n.Inputs[i] = inner
				}
			}
		}
		g.Nodes = append(g.Nodes, &ir.Node{Name: names.New(v.Name + "/Cast_float32"), OpType: "Cast", Inputs: []string{inner},
			Outputs: []string{v.Name}, Attrs: []*ir.Attribute{attrInt("to", int64(ir.Float32))}})
	}
	for _, v := range g.ValueInfos {
		if v.Type != nil && v.Type.Kind == ir.TypeTensor && v.Type.ElemType == ir.Float32 && cur[v.Name] == half {
			v.Type.ElemType = half
		}
	}
	sort.Strings(kept)
	if len(kept) > 0 {
		r.Notes = append(r.Notes, "kept in float32: "+strings.Join(kept, ", "))
	}
	if o.KeepIO {
		r.Notes = append(r.Notes, "graph inputs and outputs kept float32")
	}
	return r, nil
}

// touchesFloat32 reports whether n reads or writes a float32 value.
func touchesFloat32(n *ir.Node, types map[string]ir.DType) bool {
	for _, x := range n.Inputs {
		if types[x] == ir.Float32 {
			return true
		}
	}
	for _, x := range n.Outputs {
		if types[x] == ir.Float32 {
			return true
		}
	}
	return false
}

// inferTypes gives the element type of every value of g it can tell: from the inputs,
// initializers and recorded value infos, then node by node from a small table of how
// ops type their outputs (most: like their first typed input).
func inferTypes(g *ir.Graph) map[string]ir.DType {
	t := map[string]ir.DType{}
	for _, v := range append(append(append([]*ir.ValueInfo{}, g.Inputs...), g.ValueInfos...), g.Outputs...) {
		if v.Type != nil && v.Type.Kind == ir.TypeTensor && v.Type.ElemType != ir.Undefined {
			t[v.Name] = v.Type.ElemType
		}
	}
	for _, x := range g.Initializers {
		t[x.Name] = x.DType
	}
	first := func(n *ir.Node) ir.DType {
		for _, x := range n.Inputs {
			if d, ok := t[x]; ok && x != "" {
				return d
			}
		}
		return ir.Undefined
	}
	for _, n := range g.Nodes {
		var out []ir.DType
		switch n.OpType {
		case "Cast":
			if a := n.Attr("to"); a != nil {
				out = []ir.DType{ir.DType(a.Int)}
			}
		case "Shape", "Size", "ArgMax", "ArgMin", "NonZero":
			out = []ir.DType{ir.Int64}
		case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
			out = []ir.DType{ir.Bool}
		case "Constant":
			if a := n.Attr("value"); a != nil && a.Tensor != nil {
				out = []ir.DType{a.Tensor.DType}
			}
		case "ConstantOfShape":
			out = []ir.DType{ir.Float32}
			if a := n.Attr("value"); a != nil && a.Tensor != nil {
				out = []ir.DType{a.Tensor.DType}
			}
		case "DynamicQuantizeLinear":
			out = []ir.DType{ir.Uint8, ir.Float32, ir.Uint8}
		case "QuantizeLinear":
			out = []ir.DType{ir.Uint8}
			if len(n.Inputs) > 2 {
				if d, ok := t[n.Inputs[2]]; ok {
					out = []ir.DType{d}
				}
			}
		case "DequantizeLinear":
			out = []ir.DType{ir.Float32}
			if len(n.Inputs) > 1 {
				if d, ok := t[n.Inputs[1]]; ok {
					out = []ir.DType{d}
				}
			}
		case "MatMulInteger", "ConvInteger":
			out = []ir.DType{ir.Int32}
		case "TopK":
			out = []ir.DType{first(n), ir.Int64}
		case "MaxPool":
			out = []ir.DType{first(n), ir.Int64}
		default:
			out = []ir.DType{first(n)}
		}
		for i, o := range n.Outputs {
			if _, known := t[o]; known || o == "" {
				continue
			}
			d := out[min(i, len(out)-1)]
			if d != ir.Undefined {
				t[o] = d
			}
		}
	}
	return t
}
