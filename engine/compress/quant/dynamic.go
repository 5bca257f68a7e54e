package quant

import (
	"fmt"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Dynamic quantizes in the style of onnxruntime's quantize_dynamic: weights are stored as
// 8-bit integers and activations are quantized to uint8 at run time, with their range
// measured on each input.
//
//   - MatMul and Gemm become DynamicQuantizeLinear(x) → MatMulInteger(xq, Wq, xzp, wzp)
//     → Cast(float) → Mul(x_scale · w_scale) (→ Add bias): the product runs in integers.
//     A Gemm's weight is stored transposed to [K, N] and its alpha and beta are folded
//     into the scale and the bias.
//   - Conv takes the QDQ form: DynamicQuantizeLinear → DequantizeLinear on the input and
//     DequantizeLinear on the weight, in front of the float Conv. onnxruntime's
//     ConvInteger only takes uint8 weights with one zero point, which would rule out
//     per-channel scales; its graph optimiser fuses this form instead.
func Dynamic(m *ir.Model, o Options) (*compress.Report, error) {
	if o.Type != ir.Int8 && o.Type != ir.Uint8 {
		return nil, fmt.Errorf("dynamic quantization to %v is not supported (int8, uint8)", o.Type)
	}
	r := &compress.Report{Pass: fmt.Sprintf("quantize %v dynamic", o.Type)}
	// Each layer's weight quantized first (MatMul and Gemm weights as [K, N] for
	// MatMulInteger), so the accuracy guard's choices are known before the graph changes.
	var plans []plan8
	for _, l := range compress.Layers(m, o.Exclude, r) {
		w, err := l.Weight.Float32s()
		if err != nil {
			return nil, err
		}
		shape, axis := l.Weight.Shape, l.OutAxis
		if l.Node.OpType != "Conv" {
			if l.OutAxis == 0 { // Gemm stored [N, K]: transposed to [K, N] for MatMulInteger
				w = transpose(w, int(shape[0]), int(shape[1]))
				shape = []int64{shape[1], shape[0]}
			}
			axis = 1
		}
		plans = append(plans, pick8(l, w, shape, axis, o))
	}
	if len(plans) == 0 {
		return r, nil
	}
	// DynamicQuantizeLinear is opset 11, a per-axis DequantizeLinear (Conv, per channel)
	// opset 13.
	need := int64(11)
	for _, p := range plans {
		if p.l.Node.OpType == "Conv" && p.q != nil && p.q.perAxis {
			need = 13
		}
	}
	if err := compress.RequireOpset(m, need); err != nil {
		return nil, err
	}
	names := compress.NewNames(m)
	// One DynamicQuantizeLinear per activation and graph, shared by the layers of that
	// graph that read it (a subgraph's layers get their own, inside the subgraph).
	type key struct {
		g *ir.Graph
		x string
	}
	dql := map[key][3]string{}
	var g *ir.Graph
	quantAct := func(at *ir.Node, x string) [3]string {
		if v, ok := dql[key{g, x}]; ok {
			return v
		}
		n := &ir.Node{Name: names.New(x + "_DynamicQuantizeLinear"), OpType: "DynamicQuantizeLinear", Inputs: []string{x},
			Outputs: []string{names.New(x + "_quantized"), names.New(x + "_scale"), names.New(x + "_zero_point")}}
		insertBefore(g, at, n)
		v := [3]string{n.Outputs[0], n.Outputs[1], n.Outputs[2]}
		dql[key{g, x}] = v
		return v
	}
	for _, p := range plans {
		l := p.l
		g = l.Graph
		if p.q == nil {
			keepFloat(r, p)
			continue
		}
		if l.Node.OpType == "Conv" {
			xq := quantAct(l.Node, l.Node.Inputs[0])
			dq := &ir.Node{Name: names.New(l.Name() + "/input_DequantizeLinear"), OpType: "DequantizeLinear",
				Inputs: xq[:], Outputs: []string{names.New(l.Node.Inputs[0] + "_dequantized")}}
			insertBefore(g, l.Node, dq)
			l.Node.Inputs[0] = dq.Outputs[0]
			if err := dequantWeight(m, p, o, names, r); err != nil {
				return nil, err
			}
			r.Layers[len(r.Layers)-1].Detail += ", QDQ form"
			continue
		}
		if err := matMulInteger(m, p, o, names, quantAct, r); err != nil {
			return nil, err
		}
	}
	guardNote(r, o)
	return r, nil
}

// matMulInteger rewrites a MatMul or Gemm layer into the integer form.
func matMulInteger(m *ir.Model, p plan8, o Options, names *compress.Names, quantAct func(*ir.Node, string) [3]string, r *compress.Report) error {
	l, q, shape := p.l, p.q, p.shape
	g := l.Graph
	n := l.Node
	alpha, beta := float32(1), float32(1)
	var bias string
	if n.OpType == "Gemm" {
		if a := n.Attr("alpha"); a != nil {
			alpha = a.Float
		}
		if a := n.Attr("beta"); a != nil {
			beta = a.Float
		}
		if len(n.Inputs) > 2 {
			bias = n.Inputs[2]
		}
	}
	var scaledBias *ir.Tensor
	if bias != "" && beta != 1 {
		bt := scopeInit(m, l, bias)
		if bt == nil || bt.DType != ir.Float32 {
			r.Skip(l.Name(), "Gemm with beta ≠ 1 and a bias that is not a float32 constant")
			return nil
		}
		bv, err := compress.Floats(bt)
		if err != nil {
			return err
		}
		for i := range bv {
			bv[i] *= beta
		}
		scaledBias = compress.Float32Tensor(names.New(bias+"_scaled"), bt.Shape, bv)
	}
	wq, wscale, wzp := q.tensors(names, l.Weight.Name, shape)
	// The output scale x_scale · w_scale · alpha: the weight part is folded into one
	// constant here.
	sc := make([]float32, len(q.scale))
	for i, s := range q.scale {
		sc[i] = s * alpha
	}
	wscale = compress.Float32Tensor(wscale.Name, wscale.Shape, sc)
	xq := quantAct(n, n.Inputs[0])
	base := l.Name()
	mmOut := names.New(base + "_int32")
	castOut := names.New(base + "_float")
	scaleOut := names.New(base + "_scale")
	mmIn := []string{xq[0], wq.Name, xq[2], wzp.Name}
	inits := []*ir.Tensor{wq, wscale, wzp}
	if allZero(wzp.Bytes()) { // symmetric int8: the zero point is optional and 0 by default
		mmIn, inits = mmIn[:3], inits[:2]
	}
	nodes := []*ir.Node{
		{Name: names.New(base + "/MatMulInteger"), OpType: "MatMulInteger", Inputs: mmIn, Outputs: []string{mmOut}},
		{Name: names.New(base + "/Cast"), OpType: "Cast", Inputs: []string{mmOut}, Outputs: []string{castOut},
			Attrs: []*ir.Attribute{attrInt("to", int64(ir.Float32))}},
		{Name: names.New(base + "/scale_Mul"), OpType: "Mul", Inputs: []string{xq[1], wscale.Name}, Outputs: []string{scaleOut}},
	}
	final := n.Outputs[0]
	mulOut := final
	if bias != "" {
		mulOut = names.New(base + "_scaled")
	}
	nodes = append(nodes, &ir.Node{Name: names.New(base + "/Mul"), OpType: "Mul", Inputs: []string{castOut, scaleOut}, Outputs: []string{mulOut}})
	if bias != "" {
		if scaledBias != nil {
			inits = append(inits, scaledBias)
			bias = scaledBias.Name
		}
		nodes = append(nodes, &ir.Node{Name: names.New(base + "/bias_Add"), OpType: "Add", Inputs: []string{mulOut, bias}, Outputs: []string{final}})
	}
	// Replace the layer by the new nodes, in its place.
	for i, x := range g.Nodes {
		if x == n {
			g.Nodes = append(g.Nodes[:i], append(nodes, g.Nodes[i+1:]...)...)
			break
		}
	}
	r.Layers = append(r.Layers, compress.LayerReport{
		Node: base, Op: n.OpType, Tensor: l.Weight.Name,
		ParamsBefore: l.Weight.NumElements(), ParamsAfter: l.Weight.NumElements(),
		RelError: q.relErr, ChannelError: q.chanErr, Detail: detail(o.Type, q.perAxis, o.Symmetric) + ", MatMulInteger" + guardWhy(p),
	})
	l.ReplaceWeight(m, inits...)
	return nil
}

// transpose returns the transpose of the rows×cols matrix a.
func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	const tile = 32 // cache-friendly tiles: the weights may be hundreds of MB
	for i0 := 0; i0 < rows; i0 += tile {
		for j0 := 0; j0 < cols; j0 += tile {
			for i := i0; i < min(i0+tile, rows); i++ {
				for j := j0; j < min(j0+tile, cols); j++ {
					t[j*rows+i] = a[i*cols+j]
				}
			}
		}
	}
	return t
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// scopeInit finds the initializer name as layer l's node sees it: in its own graph or,
// through the outer scope, in the enclosing graphs (nil if it is not a constant).
func scopeInit(m *ir.Model, l compress.Layer, name string) *ir.Tensor {
	if t := l.Graph.Initializer(name); t != nil {
		return t
	}
	var found *ir.Tensor
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		if found == nil {
			found = g.Initializer(name)
		}
	})
	return found
}
