package schema

import (
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func model(opset int64, nodes []*ir.Node, inits ...*ir.Tensor) *ir.Model {
	return &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: opset}}, Graph: &ir.Graph{
		Name:         "g",
		Nodes:        nodes,
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 3)}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32}}},
		Initializers: inits,
	}}
}

func tensor(t *testing.T, name string, d ir.DType, shape ...int64) *ir.Tensor {
	t.Helper()
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	size, _ := d.ByteSize(n)
	w, err := ir.NewTensor(name, d, shape, make([]byte, size))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ints(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}

func TestLookupFollowsOpsets(t *testing.T) {
	if s := Lookup("", "ReduceMean", 17); s == nil || s.SinceVersion != 13 {
		t.Fatalf("ReduceMean at 17: %+v", s)
	}
	if s := Lookup("ai.onnx", "ReduceMean", 18); s == nil || s.SinceVersion != 18 {
		t.Fatalf("ReduceMean at 18: %+v", s)
	}
	if s := Lookup("", "Gelu", 19); s != nil {
		t.Fatalf("Gelu exists only from opset 20, got %+v", s)
	}
	if MinIRVersion(21) != 10 || LatestOpset("") < 23 || !KnownDomain("ai.onnx.ml") || KnownDomain("com.microsoft") {
		t.Fatal("table facts are off")
	}
}

func TestCheckFindsWhatOnnxruntimeRefuses(t *testing.T) {
	cases := []struct {
		name string
		m    *ir.Model
		want string
	}{
		{"axes attribute at opset 18", model(18, []*ir.Node{{Name: "rm", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{ints("axes", 1)}}}),
			`node "rm" (ReduceMean): ReduceMean-18 has no attribute "axes"`},
		{"bfloat16 Cast at opset 12", model(12, []*ir.Node{
			{Name: "c1", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"b"}, Attrs: []*ir.Attribute{{Name: "to", Type: ir.AttrInt, Int: int64(ir.BFloat16)}}},
			{Name: "c2", OpType: "Cast", Inputs: []string{"b"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{{Name: "to", Type: ir.AttrInt, Int: int64(ir.Float32)}}}}),
			`node "c1" (Cast): output "b" is tensor(bfloat16), which Cast-9 does not allow`},
		{"Gemm of float32 and float16", model(13, []*ir.Node{{Name: "gemm", OpType: "Gemm", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}}, tensor(t, "w", ir.Float16, 3, 3)),
			"type parameter T of Gemm is bound to different types (tensor(float) and tensor(float16))"},
		{"op newer than the opset", model(13, []*ir.Node{{Name: "g", OpType: "Gelu", Inputs: []string{"x"}, Outputs: []string{"y"}}}),
			"Gelu does not exist in opset 13 of ai.onnx (it was added in opset 20)"},
		{"missing required attribute", model(13, []*ir.Node{{Name: "c", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"y"}}}),
			`required attribute "to" of Cast-13 is missing`},
		{"too many inputs", model(13, []*ir.Node{{Name: "r", OpType: "Relu", Inputs: []string{"x", "x"}, Outputs: []string{"y"}}}),
			"Relu-13 takes 1 inputs, the node has 2"},
		{"undefined input", model(13, []*ir.Node{{Name: "r", OpType: "Relu", Inputs: []string{"nope"}, Outputs: []string{"y"}}}),
			`input "nope" is not produced by any node, graph input or initializer`},
		{"a cycle", model(13, []*ir.Node{
			{Name: "b", OpType: "Add", Inputs: []string{"x", "a"}, Outputs: []string{"y"}},
			{Name: "a", OpType: "Relu", Inputs: []string{"y"}, Outputs: []string{"a"}}}),
			`node "b" (Add): input "a" comes from a node that cannot be ordered before this one`},
		{"graph output type", model(13, []*ir.Node{{Name: "c", OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{{Name: "to", Type: ir.AttrInt, Int: int64(ir.Float16)}}}}),
			`output "y" is tensor(float16), but the graph declares it tensor(float)`},
	}
	for _, c := range cases {
		err := Check(c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want it to say %q", c.name, err, c.want)
		}
	}
}

func TestCheckAcceptsValidModels(t *testing.T) {
	// A subgraph using an outer-scope weight, a Constant, and a com.microsoft op (not checked).
	then := &ir.Graph{Name: "then", Nodes: []*ir.Node{{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"t"}}},
		Outputs: []*ir.ValueInfo{{Name: "t", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32}}}}
	els := &ir.Graph{Name: "else", Nodes: []*ir.Node{{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"e"}}},
		Outputs: []*ir.ValueInfo{{Name: "e", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32}}}}
	m := model(17, []*ir.Node{
		{Name: "k", OpType: "Constant", Outputs: []string{"cond"}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: tensor(t, "cond", ir.Bool)}}},
		{Name: "if", OpType: "If", Inputs: []string{"cond"}, Outputs: []string{"z"}, Attrs: []*ir.Attribute{
			{Name: "then_branch", Type: ir.AttrGraph, Graph: then}, {Name: "else_branch", Type: ir.AttrGraph, Graph: els}}},
		{Name: "ms", OpType: "FusedGelu", Domain: "com.microsoft", Inputs: []string{"z"}, Outputs: []string{"y"}},
	}, tensor(t, "w", ir.Float32, 3, 3))
	m.Opsets = append(m.Opsets, ir.OpsetImport{Domain: "com.microsoft", Version: 1})
	if err := Check(m); err != nil {
		t.Fatal(err)
	}
	// onnxruntime runs nodes in any order that can be sorted, and so does the checker.
	m.Graph.Nodes[0], m.Graph.Nodes[1] = m.Graph.Nodes[1], m.Graph.Nodes[0]
	if err := Check(m); err != nil {
		t.Fatalf("unsorted: %v", err)
	}
	// The same If with a float16 branch output is refused.
	els.Outputs[0].Type.ElemType = ir.Float16
	if err := Check(m); err == nil || !strings.Contains(err.Error(), "tensor(float) in then_branch but tensor(float16) in else_branch") {
		t.Fatalf("got %v", err)
	}
}
