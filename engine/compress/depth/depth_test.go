package depth

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// mlp is x [N, 4] → Gemm 4→8 → Relu → (Gemm 8→8 → Relu) × layers → Gemm 8→2, with
// the hidden layers listed in keep (all when keep is nil).
func mlp(layers int, keep []int) *ir.Model {
	rng := rand.New(rand.NewSource(1))
	w := func(name string, shape ...int64) *ir.Tensor {
		v := make([]float32, shape[0]*shape[1])
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		return compress.Float32Tensor(name, shape, v)
	}
	g := &ir.Graph{Name: "mlp"}
	dims := func(d ...ir.Dim) *ir.Type {
		return &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: &ir.Shape{Dims: d}}
	}
	g.Inputs = []*ir.ValueInfo{{Name: "x", Type: dims(ir.Dim{Param: "N"}, ir.Dim{Value: 4, HasValue: true})}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", Type: dims(ir.Dim{Param: "N"}, ir.Dim{Value: 2, HasValue: true})}}
	g.Initializers = append(g.Initializers, w("w_in", 4, 8))
	g.Nodes = append(g.Nodes, &ir.Node{Name: "in", OpType: "MatMul", Inputs: []string{"x", "w_in"}, Outputs: []string{"h_in"}},
		&ir.Node{Name: "in_relu", OpType: "Relu", Inputs: []string{"h_in"}, Outputs: []string{"a_in"}})
	prev := "a_in"
	for l := 0; l < layers; l++ {
		wl := w("w"+string(rune('0'+l)), 8, 8) // drawn for every layer, so that the kept ones match
		if keep != nil && !contains(keep, l) {
			continue
		}
		g.Initializers = append(g.Initializers, wl)
		h, a := "h"+wl.Name, "a"+wl.Name
		g.Nodes = append(g.Nodes, &ir.Node{Name: "layer" + wl.Name[1:], OpType: "MatMul", Inputs: []string{prev, wl.Name}, Outputs: []string{h}},
			&ir.Node{Name: "relu" + wl.Name[1:], OpType: "Relu", Inputs: []string{h}, Outputs: []string{a}})
		prev = a
	}
	g.Initializers = append(g.Initializers, w("w_out", 8, 2))
	g.Nodes = append(g.Nodes, &ir.Node{Name: "out", OpType: "MatMul", Inputs: []string{prev, "w_out"}, Outputs: []string{"y"}})
	return &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func run(t *testing.T, m *ir.Model) []float64 {
	t.Helper()
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 3*4)
	for i := range x {
		x[i] = float64(i%5) - 2
	}
	in, _ := runtime.FromFloat64s(ir.Float32, []int64{3, 4}, x)
	out, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	return runtime.Float64s(out["y"])
}

// TestDropEqualsShallowerModel: removing blocks gives the model built without them.
func TestDropEqualsShallowerModel(t *testing.T) {
	for _, c := range []struct {
		layers int
		keep   float64
		kept   []int
	}{{3, 0.5, []int{0, 2}}, {4, 0.5, []int{0, 3}}, {5, 0.6, []int{0, 2, 4}}, {4, 0.1, []int{0}}} {
		m := mlp(c.layers, nil)
		r, err := Drop(m, c.keep)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		want := run(t, mlp(c.layers, c.kept))
		got := run(t, m)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: output %d is %g, want %g (notes %v)", c, i, got[i], want[i], r.Notes)
			}
		}
		if n := len(m.Graph.Initializers); n != len(c.kept)+2 {
			t.Errorf("%+v: %d initializers left", c, n)
		}
	}
}

func TestDropRefusesWithoutRepeats(t *testing.T) {
	for _, keep := range []float64{0, 1, -1} {
		if _, err := Drop(mlp(3, nil), keep); err == nil {
			t.Errorf("keep %g: no error", keep)
		}
	}
	if _, err := Drop(mlp(1, nil), 0.5); err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("one layer: %v", err)
	}
}
