package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func vi(name string, dt ir.DType, shape ...int64) *ir.ValueInfo {
	return &ir.ValueInfo{Name: name, Type: ir.TensorType(dt, shape...)}
}

func f32(shape []int, v ...float32) *Tensor { return &Tensor{DType: ir.Float32, Shape: shape, Data: v} }

// chain builds x → Relu → Neg → Relu → y.
func chain() *ir.Model {
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{vi("x", ir.Float32, 3)},
		Outputs: []*ir.ValueInfo{vi("y", ir.Float32, 3)},
		Nodes: []*ir.Node{
			{Name: "a", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"t1"}},
			{Name: "b", OpType: "Neg", Inputs: []string{"t1"}, Outputs: []string{"t2"}},
			{Name: "c", OpType: "Add", Inputs: []string{"t2", "t1"}, Outputs: []string{"y"}},
		},
	}}
}

func TestMemoryPlanFreesAfterLastUse(t *testing.T) {
	s, err := New(chain(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The input x dies after node a; t1 and t2 are last used by node c; nothing after b.
	free := func(i int) string {
		var names []string
		for _, sl := range s.main.steps[i].free {
			names = append(names, s.main.names[sl])
		}
		return strings.Join(names, ",")
	}
	if free(0) != "x" || free(1) != "" || free(2) != "t1,t2" {
		t.Errorf("free lists %q %q %q", free(0), free(1), free(2))
	}
	out, err := s.Run(context.Background(), map[string]*Tensor{"x": f32([]int{3}, -1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Data.([]float32); got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("y = %v", got)
	}
}

func TestUnsupportedOpsListedTogether(t *testing.T) {
	m := chain()
	m.Graph.Nodes[0].OpType = "Frobnicate"
	m.Graph.Nodes[2].Domain = "com.example"
	_, err := New(m, Options{})
	if ir.KindOf(err) != ir.KindUnsupported || !strings.Contains(err.Error(), `"a" (Frobnicate)`) || !strings.Contains(err.Error(), `"c" (Add, domain com.example)`) {
		t.Fatalf("error %v", err)
	}
}

func TestBadInputsAreClearErrors(t *testing.T) {
	s, err := New(chain(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []map[string]*Tensor{
		{},                         // missing
		{"x": f32([]int{2}, 1, 2)}, // wrong dimension
		{"x": {DType: ir.Int64, Shape: []int{3}, Data: []int64{1, 2, 3}}}, // wrong type
		{"x": f32([]int{3}, 1, 2, 3), "z": f32([]int{1}, 1)},              // unknown input
	} {
		if _, err := s.Run(context.Background(), in); ir.KindOf(err) != ir.KindInvalidArgument {
			t.Errorf("inputs %v: error %v", in, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Run(ctx, map[string]*Tensor{"x": f32([]int{3}, 1, 2, 3)}); ir.KindOf(err) != ir.KindCancelled {
		t.Errorf("cancelled run: %v", err)
	}
}

func TestKernelErrorNamesNode(t *testing.T) {
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{vi("a", ir.Float32, 2), vi("b", ir.Float32, 3)},
		Outputs: []*ir.ValueInfo{vi("y", ir.Float32)},
		Nodes:   []*ir.Node{{Name: "sum1", OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"y"}}},
	}}
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), map[string]*Tensor{"a": f32([]int{2}, 1, 2), "b": f32([]int{3}, 1, 2, 3)})
	if err == nil || !strings.Contains(err.Error(), `node "sum1" (Add)`) || !strings.Contains(err.Error(), "broadcast") {
		t.Fatalf("error %v", err)
	}
}

func TestFloat16RoundsAfterEveryOp(t *testing.T) {
	// 1 + 2⁻¹¹ is not a float16: the sum must round to 1 before the next op sees it.
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{vi("a", ir.Float16, 1), vi("b", ir.Float16, 1)},
		Outputs: []*ir.ValueInfo{vi("y", ir.Float16, 1)},
		Nodes: []*ir.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"s"}},
			{Name: "sub", OpType: "Sub", Inputs: []string{"s", "a"}, Outputs: []string{"y"}},
		},
	}}
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := func(v float32) *Tensor { return &Tensor{DType: ir.Float16, Shape: []int{1}, Data: []float32{v}} }
	out, err := s.Run(context.Background(), map[string]*Tensor{"a": h(1), "b": h(1.0 / 2048)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Data.([]float32)[0]; got != 0 {
		t.Errorf("float16 (1 + 2⁻¹¹) − 1 = %v, want 0", got)
	}
	it, err := ToIR("y", out["y"])
	if err != nil || it.DType != ir.Float16 || len(it.Bytes()) != 2 {
		t.Errorf("ToIR: %v %v", it, err)
	}
}
