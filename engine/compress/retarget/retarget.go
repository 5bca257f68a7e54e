// Package retarget changes the input resolution of a vision model: the declared input
// shape is replaced, and every Flatten (or Reshape to two dimensions) of a feature map
// gets a node in front that brings the feature map back to the size the layer was trained for (Resize
// nearest to upsample after a smaller input, AveragePool after a larger one, by whole
// factors), so the weights keep their shapes. The result is run once at the new size with
// modelc's runtime: its outputs must keep their shapes, or the pass fails naming why.
package retarget

import (
	"context"
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// Retarget sets input name's shape to shape (an [N, C, H, W] image input; N is kept
// symbolic when it was).
func Retarget(m *ir.Model, name string, shape []int64) (*compress.Report, error) {
	g := m.Graph
	var in *ir.ValueInfo
	for _, v := range g.Inputs {
		if v.Name == name {
			in = v
		}
	}
	if in == nil || in.Type == nil || in.Type.Shape == nil {
		return nil, fmt.Errorf("the model has no input %q with a declared shape", name)
	}
	dims := in.Type.Shape.Dims
	if len(dims) != 4 || len(shape) != 4 {
		return nil, fmt.Errorf("input %q: only [N, C, H, W] image inputs are retargeted (declared rank %d, given %d)", name, len(dims), len(shape))
	}
	if !dims[2].HasValue || !dims[3].HasValue || (dims[1].HasValue && dims[1].Value != shape[1]) {
		return nil, fmt.Errorf("input %q: the channels must stay and the height and width must be declared", name)
	}
	oldH, oldW := dims[2].Value, dims[3].Value
	fh, fw := float64(shape[2])/float64(oldH), float64(shape[3])/float64(oldW)
	r := &compress.Report{Pass: fmt.Sprintf("retarget %s %dx%d → %dx%d", name, oldH, oldW, shape[2], shape[3])}
	before, err := shapes(m, map[string][]int64{name: {1, shape[1], oldH, oldW}})
	if err != nil {
		return nil, fmt.Errorf("running the model at its declared shape: %w", err)
	}
	names := compress.NewNames(m)
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType == "Flatten" || n.OpType == "Reshape" && len(before[n.Outputs[0]]) == 2 {
			x := before[n.Inputs[0]]
			if len(x) == 4 && (fh != 1 || fw != 1) {
				fix, inits, err := restore(n, x, fh, fw, names, r)
				if err != nil {
					return nil, err
				}
				nodes = append(nodes, fix)
				g.Initializers = append(g.Initializers, inits...)
			}
		}
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	for i := 2; i < 4; i++ {
		dims[i] = ir.Dim{Value: shape[i], HasValue: true}
	}
	after, err := shapes(m, map[string][]int64{name: {1, shape[1], shape[2], shape[3]}})
	if err != nil {
		return nil, fmt.Errorf("the model does not run at %dx%d: %w", shape[2], shape[3], err)
	}
	for _, o := range g.Outputs {
		if fmt.Sprint(before[o.Name]) != fmt.Sprint(after[o.Name]) {
			return nil, fmt.Errorf("output %q changes shape %v → %v at the new size (a shape-dependent constant?)", o.Name, before[o.Name], after[o.Name])
		}
	}
	return r, nil
}

// restore inserts before n a node that maps the feature map x, computed at the new input
// size, back to its old spatial size x[2:].
func restore(n *ir.Node, x []int, fh, fw float64, names *compress.Names, r *compress.Report) (*ir.Node, []*ir.Tensor, error) {
	src := n.Inputs[0]
	out := names.New(src + "_retargeted")
	var node *ir.Node
	var inits []*ir.Tensor
	switch {
	case fh < 1 && fw < 1 && whole(1/fh) && whole(1/fw):
		sh, sw := math.Round(1/fh), math.Round(1/fw)
		scales := names.New(out + "_scales")
		t, _ := ir.NewTensor(scales, ir.Float32, []int64{4}, ir.Float32Bytes([]float32{1, 1, float32(sh), float32(sw)}))
		node = &ir.Node{Name: names.New(n.Name + "/restore"), OpType: "Resize", Inputs: []string{src, "", scales}, Outputs: []string{out},
			Attrs: []*ir.Attribute{
				{Name: "mode", Type: ir.AttrString, String: []byte("nearest")},
				{Name: "coordinate_transformation_mode", Type: ir.AttrString, String: []byte("asymmetric")},
				{Name: "nearest_mode", Type: ir.AttrString, String: []byte("floor")},
			}}
		r.Notes = append(r.Notes, fmt.Sprintf("%s: Resize (nearest, ×%g) back to %dx%d before %s", node.Name, sh, x[2], x[3], n.DisplayName()))
		inits = append(inits, t)
	case fh > 1 && fw > 1 && whole(fh) && whole(fw):
		kh, kw := int64(math.Round(fh)), int64(math.Round(fw))
		node = &ir.Node{Name: names.New(n.Name + "/restore"), OpType: "AveragePool", Inputs: []string{src}, Outputs: []string{out},
			Attrs: []*ir.Attribute{{Name: "kernel_shape", Type: ir.AttrInts, Ints: []int64{kh, kw}}, {Name: "strides", Type: ir.AttrInts, Ints: []int64{kh, kw}}}}
		r.Notes = append(r.Notes, fmt.Sprintf("%s: AveragePool %dx%d back to %dx%d before %s", node.Name, kh, kw, x[2], x[3], n.DisplayName()))
	default:
		return nil, nil, fmt.Errorf("node %s flattens a %dx%d feature map: the new size must be the old one times or divided by a whole number in both directions", n.DisplayName(), x[2], x[3])
	}
	n.Inputs[0] = out
	return node, inits, nil
}

func whole(v float64) bool { return math.Abs(v-math.Round(v)) < 1e-9 && v >= 1 }

// shapes runs m once on zeros and returns the shape of every value.
func shapes(m *ir.Model, inputs map[string][]int64) (map[string][]int, error) {
	g := *m.Graph
	outs := map[string]bool{}
	g.Outputs = append([]*ir.ValueInfo(nil), g.Outputs...)
	for _, o := range g.Outputs {
		outs[o.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" && !outs[o] {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
				outs[o] = true
			}
		}
	}
	mc := *m
	mc.Graph = &g
	s, err := runtime.New(&mc, runtime.Options{})
	if err != nil {
		return nil, err
	}
	feed := map[string]*runtime.Tensor{}
	for name, shape := range inputs {
		dt := ir.Float32
		for _, v := range m.Graph.Inputs {
			if v.Name == name && v.Type != nil && v.Type.ElemType != 0 {
				dt = v.Type.ElemType
			}
		}
		t, err := runtime.FromFloat64s(dt, shape, make([]float64, ir.NumElements(shape)))
		if err != nil {
			return nil, err
		}
		feed[name] = t
	}
	vals, err := s.Run(context.Background(), feed)
	if err != nil {
		return nil, err
	}
	res := map[string][]int{}
	for k, v := range vals {
		res[k] = v.Shape
	}
	return res, nil
}
