package tflite

import (
	"encoding/binary"

	"github.com/modelc/modelc/engine/ir"
)

// CalibrationModel returns a copy of m (sharing its tensors) in which each op the writer
// lowers to several TFLite ops (LayerNormalization) is spelled out in ONNX ops whose
// outputs carry the names the writer gives its intermediate tensors, so that calibrating
// the copy yields a range for every int8 tensor of a full-integer model. m is not changed.
func CalibrationModel(m *ir.Model) *ir.Model {
	g := *m.Graph
	g.Nodes = nil
	g.Initializers = append([]*ir.Tensor(nil), m.Graph.Initializers...)
	for _, n := range m.Graph.Nodes {
		if n.OpType != "LayerNormalization" || len(n.Inputs) < 2 || (n.Domain != "" && n.Domain != "ai.onnx") {
			g.Nodes = append(g.Nodes, n)
			continue
		}
		name := n.Outputs[0]
		x := n.Inputs[0]
		axis := attrInt(n, "axis", -1)
		// the axes from axis to the last: negative ones, as the rank may be unknown here
		var axes []int64
		if axis < 0 {
			for a := axis; a < 0; a++ {
				axes = append(axes, a)
			}
		} else {
			axes = nil // resolved below from the input's rank when known
			for _, vi := range append(append([]*ir.ValueInfo(nil), m.Graph.Inputs...), m.Graph.ValueInfos...) {
				if vi.Name == x && vi.Type != nil && vi.Type.Shape != nil {
					for a := axis; a < int64(len(vi.Type.Shape.Dims)); a++ {
						axes = append(axes, a)
					}
				}
			}
			if axes == nil {
				g.Nodes = append(g.Nodes, n)
				continue
			}
		}
		d := make([]byte, 8*len(axes))
		for i, a := range axes {
			binary.LittleEndian.PutUint64(d[8*i:], uint64(a))
		}
		at, _ := ir.NewTensor(name+"_calib_axes", ir.Int64, []int64{int64(len(axes))}, d)
		et, _ := ir.NewTensor(name+"_calib_eps", ir.Float32, nil, f32bytes([]float32{attrFloat(n, "epsilon", 1e-5)}))
		g.Initializers = append(g.Initializers, at, et)
		mk := func(op string, in []string, out string) {
			g.Nodes = append(g.Nodes, &ir.Node{Name: out + "_calib", OpType: op, Inputs: in, Outputs: []string{out}})
		}
		keep := &ir.Attribute{Name: "keepdims", Type: ir.AttrInt, Int: 1}
		mk("ReduceMean", []string{x, at.Name}, name+"_mean")
		g.Nodes[len(g.Nodes)-1].Attrs = []*ir.Attribute{keep}
		mk("Sub", []string{x, name + "_mean"}, name+"_centered")
		mk("Mul", []string{name + "_centered", name + "_centered"}, name+"_sqdiff")
		mk("ReduceMean", []string{name + "_sqdiff", at.Name}, name+"_var")
		g.Nodes[len(g.Nodes)-1].Attrs = []*ir.Attribute{keep}
		mk("Add", []string{name + "_var", et.Name}, name+"_vareps")
		mk("Sqrt", []string{name + "_vareps"}, name+"_sqrt")
		mk("Reciprocal", []string{name + "_sqrt"}, name+"_rsqrt")
		mk("Mul", []string{name + "_centered", name + "_rsqrt"}, name+"_norm")
		if len(n.Inputs) > 2 && n.Inputs[2] != "" {
			mk("Mul", []string{name + "_norm", n.Inputs[1]}, name+"_scaled")
			mk("Add", []string{name + "_scaled", n.Inputs[2]}, name)
		} else {
			mk("Mul", []string{name + "_norm", n.Inputs[1]}, name)
		}
	}
	c := *m
	c.Graph = &g
	return &c
}
