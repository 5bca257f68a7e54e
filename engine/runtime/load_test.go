package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// shuffled is chain() with its nodes written consumer first, as onnxruntime's quantizer
// writes some graphs.
func shuffled() *ir.Model {
	m := chain()
	n := m.Graph.Nodes
	m.Graph.Nodes = []*ir.Node{n[2], n[1], n[0]}
	return m
}

func TestUnsortedGraphIsSortedOnLoad(t *testing.T) {
	m := shuffled()
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*Tensor{"x": f32([]int{3}, -1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Data.([]float32); got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("y = %v", got)
	}
	if m.Graph.Nodes[0].Name != "c" {
		t.Errorf("the model was changed: nodes start with %q", m.Graph.Nodes[0].Name)
	}
}

func TestUnsortedSubgraphWithOuterNames(t *testing.T) {
	// then: (x·2 written after its use) + late, where late is made in the main graph
	// after the If node; else: the constant 0.
	two, _ := ir.NewTensor("two", ir.Float32, []int64{}, []byte{0, 0, 0, 0x40})
	then := &ir.Graph{Name: "then", Initializers: []*ir.Tensor{two},
		Nodes: []*ir.Node{
			{Name: "t_add", OpType: "Add", Inputs: []string{"dbl", "late"}, Outputs: []string{"t_out"}},
			{Name: "t_mul", OpType: "Mul", Inputs: []string{"x", "two"}, Outputs: []string{"dbl"}},
		},
		Outputs: []*ir.ValueInfo{vi("t_out", ir.Float32, 3)}}
	els := &ir.Graph{Name: "else",
		Nodes:   []*ir.Node{{Name: "e_neg", OpType: "Neg", Inputs: []string{"x"}, Outputs: []string{"e_out"}}},
		Outputs: []*ir.ValueInfo{vi("e_out", ir.Float32, 3)}}
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{vi("x", ir.Float32, 3), vi("c", ir.Bool)},
		Outputs: []*ir.ValueInfo{vi("y", ir.Float32, 3)},
		Nodes: []*ir.Node{
			{Name: "if", OpType: "If", Inputs: []string{"c"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{
				{Name: "then_branch", Type: ir.AttrGraph, Graph: then}, {Name: "else_branch", Type: ir.AttrGraph, Graph: els}}},
			{Name: "mk_late", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"late"}},
		},
	}}
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*Tensor{
		"x": f32([]int{3}, -1, 2, 3), "c": {DType: ir.Bool, Shape: []int{}, Data: []bool{true}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{-2, 6, 9}
	for i, v := range out["y"].Data.([]float32) {
		if v != want[i] {
			t.Fatalf("y = %v, want %v", out["y"].Data, want)
		}
	}
}

func TestCycleAndMissingInputAreClearErrors(t *testing.T) {
	m := chain()
	m.Graph.Nodes[0].Inputs = []string{"t2"} // a → b → a
	_, err := New(m, Options{})
	if ir.KindOf(err) != ir.KindCorrupt || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), `node "a" (Relu): input "t2"`) {
		t.Errorf("cycle: %v", err)
	}
	m = chain()
	m.Graph.Nodes[1].Inputs = []string{"nowhere"}
	_, err = New(m, Options{})
	if ir.KindOf(err) != ir.KindCorrupt || !strings.Contains(err.Error(), `node "b" (Neg)`) || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("missing: %v", err)
	}
}

func TestNegativeDimIsFreeZeroIsFixed(t *testing.T) {
	for _, c := range []struct {
		dim  int64
		n    int
		fail bool
	}{{-1, 4, false}, {-1, 1, false}, {-1, 0, false}, {-7, 2, false}, {0, 0, false}, {0, 1, true}, {3, 3, false}, {3, 2, true}} {
		m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
			Inputs:  []*ir.ValueInfo{vi("x", ir.Float32, c.dim, 2)},
			Outputs: []*ir.ValueInfo{vi("y", ir.Float32)},
			Nodes:   []*ir.Node{{Name: "r", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		}}
		s, err := New(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), map[string]*Tensor{"x": f32([]int{c.n, 2}, make([]float32, 2*c.n)...)})
		if c.fail {
			if ir.KindOf(err) != ir.KindInvalidArgument {
				t.Errorf("dim %d, %d rows: error %v", c.dim, c.n, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("dim %d, %d rows: %v", c.dim, c.n, err)
		} else if out["y"].Shape[0] != c.n {
			t.Errorf("dim %d: shape %v", c.dim, out["y"].Shape)
		}
	}
}
