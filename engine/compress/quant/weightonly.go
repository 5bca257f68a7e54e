package quant

import (
	"fmt"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// WeightOnly stores the weights of every MatMul, Gemm and Conv as int8 or uint8 and puts
// a DequantizeLinear in front of the layer: the file shrinks about fourfold and the
// model computes in float32 with the dequantized weights. 4-bit types go to Block. With
// o.MaxLayerError, a layer whose error exceeds it gets per-channel scales or stays
// float32 (see Options).
func WeightOnly(m *ir.Model, o Options) (*compress.Report, error) {
	if o.Type == ir.Int4 || o.Type == ir.Uint4 {
		return Block(m, o)
	}
	if o.Type != ir.Int8 && o.Type != ir.Uint8 {
		return nil, fmt.Errorf("weight-only quantization to %v is not supported (int8, uint8, int4, uint4)", o.Type)
	}
	r := &compress.Report{Pass: fmt.Sprintf("quantize %v weight-only", o.Type)}
	plans, err := planWeights(compress.Layers(m, o.Exclude, r), o)
	if err != nil || len(plans) == 0 {
		return r, err
	}
	if err := requireDQ(m, plans); err != nil {
		return nil, err
	}
	names := compress.NewNames(m)
	for _, p := range plans {
		if err := dequantWeight(m, p, o, names, r); err != nil {
			return nil, err
		}
	}
	guardNote(r, o)
	return r, nil
}

// planWeights decides each layer's 8-bit quantization of its weight as stored.
func planWeights(layers []compress.Layer, o Options) ([]plan8, error) {
	var plans []plan8
	for _, l := range layers {
		w, err := l.Weight.Float32s()
		if err != nil {
			return nil, err
		}
		plans = append(plans, pick8(l, w, l.Weight.Shape, l.OutAxis, o))
	}
	return plans, nil
}

// requireDQ raises the opset to what the planned DequantizeLinear nodes need: 10, or 13
// for per-axis scales.
func requireDQ(m *ir.Model, plans []plan8) error {
	need := int64(10)
	for _, p := range plans {
		if p.q != nil && p.q.perAxis {
			need = 13
		}
	}
	return compress.RequireOpset(m, need)
}

// dequantWeight replaces layer p.l's float weight by its 8-bit form p.q and a
// DequantizeLinear inserted before the layer (a layer the guard kept float32 is only
// reported).
func dequantWeight(m *ir.Model, p plan8, o Options, names *compress.Names, r *compress.Report) error {
	l, q := p.l, p.q
	if q == nil {
		keepFloat(r, p)
		return nil
	}
	g := l.Graph
	wq, scale, zp := q.tensors(names, l.Weight.Name, l.Weight.Shape)
	dq := &ir.Node{
		Name:    names.New(l.Name() + "/weight_DequantizeLinear"),
		OpType:  "DequantizeLinear",
		Inputs:  []string{wq.Name, scale.Name, zp.Name},
		Outputs: []string{names.New(l.Weight.Name + "_dequantized")},
	}
	if q.perAxis {
		dq.Attrs = []*ir.Attribute{attrInt("axis", int64(l.OutAxis))}
	}
	insertBefore(g, l.Node, dq)
	d := detail(q.dtype, q.perAxis, o.Symmetric) + guardWhy(p)
	r.Layers = append(r.Layers, compress.LayerReport{
		Node: l.Name(), Op: l.Node.OpType, Tensor: l.Weight.Name,
		ParamsBefore: l.Weight.NumElements(), ParamsAfter: l.Weight.NumElements(),
		RelError: q.relErr, ChannelError: q.chanErr, Detail: d,
	})
	l.Node.Inputs[1] = dq.Outputs[0]
	l.ReplaceWeight(m, wq, scale, zp)
	return nil
}

// guardWhy is the report's note of what the accuracy guard changed ("" if nothing).
func guardWhy(p plan8) string {
	if p.why == "" {
		return ""
	}
	return ", by the accuracy guard (" + p.why + ")"
}
