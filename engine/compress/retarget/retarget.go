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
	"strings"

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
	r := &compress.Report{Pass: fmt.Sprintf("retarget %s %dx%d → %dx%d", name, oldH, oldW, shape[2], shape[3])}
	before, err := Shapes(m, map[string][]int64{name: {1, shape[1], oldH, oldW}})
	if err != nil {
		return nil, fmt.Errorf("running the model at its declared shape: %w", err)
	}
	// The feature map each flatten will see at the new size: the part of the graph in
	// front of the flattens runs at the new size as it is (the layers behind them would
	// not, their weights still expect the old size).
	var flattens []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType == "Flatten" || n.OpType == "Reshape" && len(before[n.Outputs[0]]) == 2 {
			if len(before[n.Inputs[0]]) == 4 {
				flattens = append(flattens, n)
			}
		}
	}
	var sources []string
	for _, n := range flattens {
		sources = append(sources, n.Inputs[0])
	}
	for i := 2; i < 4; i++ {
		dims[i] = ir.Dim{Value: shape[i], HasValue: true}
	}
	if err := resamplePositions(m, name, []int64{1, shape[1], shape[2], shape[3]}, before, r); err != nil {
		return nil, err
	}
	now, err := Shapes(front(m, sources), map[string][]int64{name: {1, shape[1], shape[2], shape[3]}})
	if err != nil {
		return nil, fmt.Errorf("the layers before the classifier do not run at %dx%d: %w", shape[2], shape[3], err)
	}
	names := compress.NewNames(m)
	fixes := map[*ir.Node][]*ir.Node{}
	for _, n := range flattens {
		old, cur := before[n.Inputs[0]], now[n.Inputs[0]]
		if cur[2] < 1 || cur[3] < 1 {
			return nil, fmt.Errorf("node %s: the feature map it flattens is empty at %dx%d", n.DisplayName(), shape[2], shape[3])
		}
		if old[2] != cur[2] || old[3] != cur[3] {
			fixes[n] = restore(n, old[2:], cur[2:], names, r)
		}
	}
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		nodes = append(nodes, fixes[n]...)
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	after, err := Shapes(m, map[string][]int64{name: {1, shape[1], shape[2], shape[3]}})
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

// restore inserts before n the nodes that map its feature map, now cur (height, width),
// back to the size old it had when the layers behind n were trained: an adaptive average
// pool, as torch's AdaptiveAvgPool2d. Whole factors take one op (Resize nearest to
// upsample — each value copied to a block is the average of that one value —, AveragePool
// to downsample); other sizes a fixed averaging matrix per axis (MatMul).
func restore(n *ir.Node, old, cur []int, names *compress.Names, r *compress.Report) []*ir.Node {
	src := n.Inputs[0]
	out := names.New(src + "_retargeted")
	n.Inputs[0] = out
	what := fmt.Sprintf("%dx%d back to %dx%d before %s", cur[0], cur[1], old[0], old[1], n.DisplayName())
	switch {
	case old[0]%cur[0] == 0 && old[1]%cur[1] == 0:
		sh, sw := old[0]/cur[0], old[1]/cur[1]
		node := &ir.Node{Name: names.New(n.Name + "/restore"), OpType: "Resize", Inputs: []string{src, "", names.New(out + "_scales")}, Outputs: []string{out},
			Attrs: []*ir.Attribute{
				{Name: "mode", Type: ir.AttrString, String: []byte("nearest")},
				{Name: "coordinate_transformation_mode", Type: ir.AttrString, String: []byte("asymmetric")},
				{Name: "nearest_mode", Type: ir.AttrString, String: []byte("floor")},
			}}
		r.Notes = append(r.Notes, fmt.Sprintf("%s: Resize (nearest, ×%dx%d) %s", node.Name, sh, sw, what))
		return []*ir.Node{constant(node.Inputs[2], []int64{4}, []float32{1, 1, float32(sh), float32(sw)}), node}
	case cur[0]%old[0] == 0 && cur[1]%old[1] == 0:
		kh, kw := int64(cur[0]/old[0]), int64(cur[1]/old[1])
		node := &ir.Node{Name: names.New(n.Name + "/restore"), OpType: "AveragePool", Inputs: []string{src}, Outputs: []string{out},
			Attrs: []*ir.Attribute{{Name: "kernel_shape", Type: ir.AttrInts, Ints: []int64{kh, kw}}, {Name: "strides", Type: ir.AttrInts, Ints: []int64{kh, kw}}}}
		r.Notes = append(r.Notes, fmt.Sprintf("%s: AveragePool %dx%d %s", node.Name, kh, kw, what))
		return []*ir.Node{node}
	}
	// [N, C, h, w] · Pw [w, W] → [N, C, h, W]; transposed to [N, C, W, h] · Ph [h, H] →
	// [N, C, W, H]; transposed back. MatMul with a matrix on the right is what every
	// runtime (and modelc's trainer) supports; an axis that keeps its size is skipped.
	base := names.New(n.Name + "/adaptive_pool")
	var nodes []*ir.Node
	x := src
	step := func(op string, in []string, attrs ...*ir.Attribute) {
		y := names.New(base + "_" + op)
		nodes = append(nodes, &ir.Node{Name: y, OpType: op, Inputs: in, Outputs: []string{y}, Attrs: attrs})
		x = y
	}
	swap := &ir.Attribute{Name: "perm", Type: ir.AttrInts, Ints: []int64{0, 1, 3, 2}}
	if cur[1] != old[1] {
		pw := names.New(base + "_width")
		nodes = append(nodes, constant(pw, []int64{int64(cur[1]), int64(old[1])}, AdaptivePoolMatrix(cur[1], old[1])))
		step("MatMul", []string{x, pw})
	}
	if cur[0] != old[0] {
		ph := names.New(base + "_height")
		nodes = append(nodes, constant(ph, []int64{int64(cur[0]), int64(old[0])}, AdaptivePoolMatrix(cur[0], old[0])))
		step("Transpose", []string{x}, swap)
		step("MatMul", []string{x, ph})
		step("Transpose", []string{x}, swap)
	}
	nodes[len(nodes)-1].Outputs[0] = out
	for _, nd := range nodes {
		if nd.OpType == "MatMul" {
			r.Fixed = append(r.Fixed, literal(nd.Name))
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%s: adaptive average pool (MatMul by fixed averaging matrices) %s", base, what))
	return nodes
}

// literal is a path.Match pattern that matches name alone.
func literal(name string) string {
	var b strings.Builder
	for _, c := range name {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// AdaptivePoolMatrix is the [in, out] matrix M with x·M = torch's adaptive_avg_pool1d(x,
// out) for a row x of in values: output i averages inputs floor(i·in/out) up to
// ceil((i+1)·in/out) (exclusive), so it shrinks or stretches by any ratio.
func AdaptivePoolMatrix(in, out int) []float32 {
	m := make([]float32, in*out)
	for i := 0; i < out; i++ {
		lo, hi := i*in/out, ((i+1)*in+out-1)/out
		for j := lo; j < hi; j++ {
			m[j*out+i] = 1 / float32(hi-lo)
		}
	}
	return m
}

// constant is a Constant node, not an initializer: training (compress --recover) treats
// float initializers as weights, and these resampling factors must stay as they are.
func constant(name string, shape []int64, v []float32) *ir.Node {
	t, _ := ir.NewTensor(name, ir.Float32, shape, ir.Float32Bytes(v))
	return &ir.Node{Name: name, OpType: "Constant", Outputs: []string{name},
		Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: t}}}
}

// front is m cut down to the nodes that compute the values targets, which become its
// outputs.
func front(m *ir.Model, targets []string) *ir.Model {
	need := map[string]bool{}
	for _, t := range targets {
		need[t] = true
	}
	keep := make([]bool, len(m.Graph.Nodes))
	for i := len(m.Graph.Nodes) - 1; i >= 0; i-- {
		n := m.Graph.Nodes[i]
		for _, o := range n.Outputs {
			if need[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, in := range n.Inputs {
				need[in] = true
			}
		}
	}
	g := *m.Graph
	g.Nodes = nil
	for i, n := range m.Graph.Nodes {
		if keep[i] {
			g.Nodes = append(g.Nodes, n)
		}
	}
	g.Outputs = nil
	for _, t := range targets {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: t})
	}
	mc := *m
	mc.Graph = &g
	return &mc
}

// Shapes runs m once on zeros of the given input shapes and returns the shape of every
// value.
func Shapes(m *ir.Model, inputs map[string][]int64) (map[string][]int, error) {
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
