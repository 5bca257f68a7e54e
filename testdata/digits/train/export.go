package main

import (
	"encoding/binary"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// The exported graphs take "input" float32 [N, 64] (pixels / 16) and give "logits"
// float32 [N, 10]. Opset 17 and IR version 8: what most exporters write today; passes that
// need newer ops (blocked int4 DequantizeLinear) raise the opset themselves.

func f32Tensor(name string, shape []int, v []float32) *ir.Tensor {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	s := make([]int64, len(shape))
	for i, d := range shape {
		s[i] = int64(d)
	}
	t, err := ir.NewTensor(name, ir.Float32, s, b)
	if err != nil {
		panic(err) // shapes come from the param table above: a mismatch is a bug here
	}
	return t
}

func i64Tensor(name string, v ...int64) *ir.Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	t, err := ir.NewTensor(name, ir.Int64, []int64{int64(len(v))}, b)
	if err != nil {
		panic(err)
	}
	return t
}

func batchType(width int64) *ir.Type {
	return &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: &ir.Shape{Dims: []ir.Dim{{Param: "N"}, {Value: width, HasValue: true}}}}
}

func newModel(name string, g *ir.Graph) *ir.Model {
	g.Name = name
	g.Inputs = []*ir.ValueInfo{{Name: "input", Type: batchType(64)}}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", Type: batchType(10)}}
	return &ir.Model{
		IRVersion:    8,
		Opsets:       []ir.OpsetImport{{Domain: "", Version: 17}},
		ProducerName: "modelc testdata/digits/train",
		Graph:        g,
		DocString:    "UCI optical digits classifier (" + name + "), trained with gorgonia; see testdata/digits/README.md",
	}
}

func node(name, op string, in, out []string, attrs ...*ir.Attribute) *ir.Node {
	return &ir.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: attrs}
}

func ints(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}

func intAttr(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}

// exportMLP: MatMul + Add + Relu, twice, then MatMul + Add; weights stored [in, out].
func exportMLP(w [][]float32) (*ir.Model, error) {
	spec := mlpSpec()
	g := &ir.Graph{}
	for i, p := range spec.params {
		g.Initializers = append(g.Initializers, f32Tensor(p.name, p.shape, w[i]))
	}
	h := "input"
	for l := 1; l <= 3; l++ {
		fc := "fc" + string(rune('0'+l))
		out := fc + ".out"
		g.Nodes = append(g.Nodes,
			node(fc+"/MatMul", "MatMul", []string{h, fc + ".weight"}, []string{fc + ".mm"}),
			node(fc+"/Add", "Add", []string{fc + ".mm", fc + ".bias"}, []string{out}))
		h = out
		if l < 3 {
			g.Nodes = append(g.Nodes, node(fc+"/Relu", "Relu", []string{out}, []string{fc + ".relu"}))
			h = fc + ".relu"
		}
	}
	g.Nodes[len(g.Nodes)-1].Outputs[0] = "logits"
	return newModel("mlp", g), nil
}

// exportCNN: Reshape to [N,1,8,8], Conv+Relu twice, MaxPool 2×2, Flatten, Gemm+Relu, Gemm.
func exportCNN(w [][]float32) (*ir.Model, error) {
	spec := cnnSpec()
	g := &ir.Graph{}
	for i, p := range spec.params {
		g.Initializers = append(g.Initializers, f32Tensor(p.name, p.shape, w[i]))
	}
	g.Initializers = append(g.Initializers, i64Tensor("image_shape", -1, 1, 8, 8))
	g.Nodes = []*ir.Node{
		node("reshape", "Reshape", []string{"input", "image_shape"}, []string{"image"}),
		node("conv1", "Conv", []string{"image", "conv1.weight", "conv1.bias"}, []string{"conv1.out"},
			ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)),
		node("relu1", "Relu", []string{"conv1.out"}, []string{"relu1.out"}),
		node("conv2", "Conv", []string{"relu1.out", "conv2.weight", "conv2.bias"}, []string{"conv2.out"},
			ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)),
		node("relu2", "Relu", []string{"conv2.out"}, []string{"relu2.out"}),
		node("pool", "MaxPool", []string{"relu2.out"}, []string{"pool.out"}, ints("kernel_shape", 2, 2), ints("strides", 2, 2)),
		node("flatten", "Flatten", []string{"pool.out"}, []string{"flat"}, intAttr("axis", 1)),
		node("fc1", "Gemm", []string{"flat", "fc1.weight", "fc1.bias"}, []string{"fc1.out"}, intAttr("transB", 1)),
		node("relu3", "Relu", []string{"fc1.out"}, []string{"relu3.out"}),
		node("fc2", "Gemm", []string{"relu3.out", "fc2.weight", "fc2.bias"}, []string{"logits"}, intAttr("transB", 1)),
	}
	return newModel("cnn", g), nil
}
