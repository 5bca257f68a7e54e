package quant

import (
	"fmt"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// WeightOnly stores the weights of every MatMul, Gemm and Conv as int8 or uint8 and puts
// a DequantizeLinear in front of the layer: the file shrinks about fourfold and the
// model computes in float32 with the dequantized weights. 4-bit types go to Block.
func WeightOnly(m *ir.Model, o Options) (*compress.Report, error) {
	if o.Type == ir.Int4 || o.Type == ir.Uint4 {
		return Block(m, o)
	}
	if o.Type != ir.Int8 && o.Type != ir.Uint8 {
		return nil, fmt.Errorf("weight-only quantization to %v is not supported (int8, uint8, int4, uint4)", o.Type)
	}
	r := &compress.Report{Pass: fmt.Sprintf("quantize %v weight-only", o.Type)}
	layers := compress.Layers(m, o.Exclude, r)
	if len(layers) == 0 {
		return r, nil
	}
	// Per-axis DequantizeLinear is opset 13, per-tensor opset 10.
	need := int64(10)
	if o.PerChannel {
		need = 13
	}
	if err := compress.RequireOpset(m, need); err != nil {
		return nil, err
	}
	names := compress.NewNames(m)
	for _, l := range layers {
		if err := dequantWeight(m, l, o, names, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// dequantWeight replaces layer l's float weight by its 8-bit form and a DequantizeLinear
// inserted before the layer.
func dequantWeight(m *ir.Model, l compress.Layer, o Options, names *compress.Names, r *compress.Report) error {
	g := l.Graph
	w, err := l.Weight.Float32s()
	if err != nil {
		return err
	}
	q := quantize8(w, l.Weight.Shape, l.OutAxis, o.Type, o.PerChannel, o.Symmetric)
	wq, scale, zp := q.tensors(names, l.Weight.Name, l.Weight.Shape)
	dq := &ir.Node{
		Name:    names.New(l.Name() + "/weight_DequantizeLinear"),
		OpType:  "DequantizeLinear",
		Inputs:  []string{wq.Name, scale.Name, zp.Name},
		Outputs: []string{names.New(l.Weight.Name + "_dequantized")},
	}
	if o.PerChannel {
		dq.Attrs = []*ir.Attribute{attrInt("axis", int64(l.OutAxis))}
	}
	insertBefore(g, l.Node, dq)
	r.Layers = append(r.Layers, compress.LayerReport{
		Node: l.Name(), Op: l.Node.OpType, Tensor: l.Weight.Name,
		ParamsBefore: l.Weight.NumElements(), ParamsAfter: l.Weight.NumElements(),
		RelError: q.relErr, Detail: detail(o.Type, o.PerChannel, o.Symmetric),
	})
	l.Node.Inputs[1] = dq.Outputs[0]
	l.ReplaceWeight(m, wq, scale, zp)
	return nil
}
