// Package ctest builds small models for the compression passes' tests and runs them
// with modelc's runtime.
package ctest

import (
	"context"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// Random returns n normal values from a fixed seed.
func Random(seed int64, n int) []float32 {
	r := rand.New(rand.NewSource(seed))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// Node makes a node.
func Node(name, op string, in, out []string, attrs ...*ir.Attribute) *ir.Node {
	return &ir.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: attrs}
}

// Ints and Int make attributes.
func Ints(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}
func Int(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}

// Model wraps nodes and initializers with a float32 input "x" of the given shape and
// output "y".
func Model(xShape []int64, nodes []*ir.Node, inits ...*ir.Tensor) *ir.Model {
	return &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Nodes: nodes, Initializers: inits,
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, xShape...)}},
		Outputs: []*ir.ValueInfo{{Name: "y"}},
	}}
}

// MLP is x[4,16] → MatMul W1[16,32] → Add b1 → Relu → Gemm(transB) W2[8,32] b2 → y.
func MLP(seed int64) *ir.Model {
	return Model([]int64{4, 16}, []*ir.Node{
		Node("fc1", "MatMul", []string{"x", "w1"}, []string{"h"}),
		Node("add1", "Add", []string{"h", "b1"}, []string{"hb"}),
		Node("relu", "Relu", []string{"hb"}, []string{"r"}),
		Node("fc2", "Gemm", []string{"r", "w2", "b2"}, []string{"y"}, Int("transB", 1)),
	},
		compress.Float32Tensor("w1", []int64{16, 32}, Random(seed, 512)),
		compress.Float32Tensor("b1", []int64{32}, Random(seed+1, 32)),
		compress.Float32Tensor("w2", []int64{8, 32}, Random(seed+2, 256)),
		compress.Float32Tensor("b2", []int64{8}, Random(seed+3, 8)))
}

// CNN is x[2,3,6,6] → Conv 3→8 → Relu → MaxPool 2 → Conv 8→4 → Relu → Flatten → Gemm → y.
func CNN(seed int64) *ir.Model {
	return Model([]int64{2, 3, 6, 6}, []*ir.Node{
		Node("conv1", "Conv", []string{"x", "cw1", "cb1"}, []string{"c1"}, Ints("pads", 1, 1, 1, 1)),
		Node("relu1", "Relu", []string{"c1"}, []string{"r1"}),
		Node("pool", "MaxPool", []string{"r1"}, []string{"p"}, Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)),
		Node("conv2", "Conv", []string{"p", "cw2", "cb2"}, []string{"c2"}, Ints("pads", 1, 1, 1, 1)),
		Node("relu2", "Relu", []string{"c2"}, []string{"r2"}),
		Node("flat", "Flatten", []string{"r2"}, []string{"f"}),
		Node("fc", "Gemm", []string{"f", "fw", "fb"}, []string{"y"}, Int("transB", 1)),
	},
		compress.Float32Tensor("cw1", []int64{8, 3, 3, 3}, Random(seed, 216)),
		compress.Float32Tensor("cb1", []int64{8}, Random(seed+1, 8)),
		compress.Float32Tensor("cw2", []int64{4, 8, 3, 3}, Random(seed+2, 288)),
		compress.Float32Tensor("cb2", []int64{4}, Random(seed+3, 4)),
		compress.Float32Tensor("fw", []int64{5, 36}, Random(seed+4, 180)),
		compress.Float32Tensor("fb", []int64{5}, Random(seed+5, 5)))
}

// Run runs m on x (the "x" input) and returns "y" as float32.
func Run(t testing.TB, m *ir.Model, x []float32) []float32 {
	t.Helper()
	s, err := runtime.New(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	var shape []int64
	for _, d := range m.Graph.Inputs[0].Type.Shape.Dims {
		shape = append(shape, d.Value)
	}
	in, err := runtime.FromIR(compress.Float32Tensor("x", shape, x))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": in})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	y, ok := out["y"].Data.([]float32)
	if !ok {
		t.Fatalf("y is %v", out["y"].DType)
	}
	return y
}

// MaxDiff is max |a−b|.
func MaxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		d := float64(a[i] - b[i])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
	}
	return m
}
