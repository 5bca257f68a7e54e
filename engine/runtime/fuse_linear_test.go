package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestFuseLinear runs MatMul by a constant weight + Add(bias) chains, with the bias on
// either side, with Relu or torch's GELU chain after, on small and large products of odd
// sizes, fused, unfused and through the fallback; and checks how many steps are left.
func TestFuseLinear(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, tc := range []struct {
		name      string
		x         []int // input shape; the last axis is k
		n         int
		biasFirst bool
		act       string // "", "Relu" or "Gelu"
		shared    bool   // the MatMul output is also a graph output: no fusion
		steps     int
	}{
		{"small-bias-first", []int{3, 5}, 7, true, "", false, 1},
		{"rank3-bias-last", []int{2, 37, 33}, 65, false, "", false, 1},
		{"rank3-relu", []int{1, 64, 128}, 96, true, "Relu", false, 1},
		{"gelu", []int{1, 19, 24}, 131, true, "Gelu", false, 1},
		{"small-gelu", []int{4, 9}, 5, false, "Gelu", false, 1},
		{"shared", []int{2, 37, 33}, 65, true, "Relu", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.x[len(tc.x)-1]
			dims := make([]int64, len(tc.x))
			for i, d := range tc.x {
				dims[i] = int64(d)
			}
			x := randT(rng, 1, tc.x...)
			x.Data.([]float32)[0] = -9 // GELU's erfc branch
			g := &ir.Graph{
				Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, dims...)}},
				Initializers: []*ir.Tensor{
					f32Tensor(t, "w", []int64{int64(k), int64(tc.n)}, randT(rng, 0.3, k, tc.n).Data.([]float32)),
					f32Tensor(t, "b", []int64{int64(tc.n)}, randT(rng, 1, tc.n).Data.([]float32)),
					f32Tensor(t, "sqrt2", nil, []float32{1.4142135381698608}), f32Tensor(t, "one", nil, []float32{1}),
					f32Tensor(t, "half", nil, []float32{0.5})},
				Nodes: []*ir.Node{{OpType: "MatMul", Name: "mm", Inputs: []string{"x", "w"}, Outputs: []string{"m"}}},
			}
			add := &ir.Node{OpType: "Add", Name: "add", Inputs: []string{"m", "b"}, Outputs: []string{"a"}}
			if tc.biasFirst {
				add.Inputs = []string{"b", "m"}
			}
			g.Nodes = append(g.Nodes, add)
			switch tc.act {
			case "":
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Identity", Inputs: []string{"a"}, Outputs: []string{"y"}})
				tc.steps++
			case "Relu":
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"y"}})
			case "Gelu":
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Div", Inputs: []string{"a", "sqrt2"}, Outputs: []string{"d"}},
					&ir.Node{OpType: "Erf", Inputs: []string{"d"}, Outputs: []string{"e"}},
					&ir.Node{OpType: "Add", Inputs: []string{"e", "one"}, Outputs: []string{"e1"}},
					&ir.Node{OpType: "Mul", Inputs: []string{"a", "e1"}, Outputs: []string{"g"}},
					&ir.Node{OpType: "Mul", Inputs: []string{"g", "half"}, Outputs: []string{"y"}})
			}
			g.Outputs = []*ir.ValueInfo{{Name: "y"}}
			if tc.shared {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "m"})
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
			run := func(on, fallback bool) (*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				s, err := New(model, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if fallback {
					fastPaths = false
				}
				for r := 0; r < 2; r++ { // the second run takes its buffers from the pool
					res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
					if err != nil {
						t.Fatal(err)
					}
					if r == 1 {
						return res["y"], len(s.main.steps)
					}
				}
				return nil, 0
			}
			fast, steps := run(true, false)
			slow, _ := run(false, false)
			fb, _ := run(true, true)
			if steps != tc.steps {
				t.Errorf("%d steps after fusion, want %d", steps, tc.steps)
			}
			if fmt.Sprint(fast.Shape) != fmt.Sprint(slow.Shape) {
				t.Fatalf("shape %v, want %v", fast.Shape, slow.Shape)
			}
			closeTo(t, "linear", fast, slow, 1e-5, 1e-5)
			closeTo(t, "linear fallback", fb, slow, 0, 0)
		})
	}
}

// BenchmarkLinear compares the fused MatMul + Add(bias) + GELU of a BERT feed-forward
// layer (64×128 by 128×512) with the previous plan: the GELU chain fused, MatMul and Add
// apart.
func BenchmarkLinear(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	k, n := 128, 512
	x := randT(rng, 1, 1, 64, k)
	g := &ir.Graph{
		Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 64, int64(k))}},
		Initializers: []*ir.Tensor{
			f32Tensor(b, "w", []int64{int64(k), int64(n)}, randT(rng, 0.1, k, n).Data.([]float32)),
			f32Tensor(b, "b", []int64{int64(n)}, randT(rng, 1, n).Data.([]float32)),
			f32Tensor(b, "sqrt2", nil, []float32{1.4142135381698608}), f32Tensor(b, "one", nil, []float32{1}),
			f32Tensor(b, "half", nil, []float32{0.5})},
		Nodes: []*ir.Node{{OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"m"}},
			{OpType: "Add", Inputs: []string{"b", "m"}, Outputs: []string{"a"}},
			{OpType: "Div", Inputs: []string{"a", "sqrt2"}, Outputs: []string{"d"}},
			{OpType: "Erf", Inputs: []string{"d"}, Outputs: []string{"e"}},
			{OpType: "Add", Inputs: []string{"e", "one"}, Outputs: []string{"e1"}},
			{OpType: "Mul", Inputs: []string{"a", "e1"}, Outputs: []string{"g"}},
			{OpType: "Mul", Inputs: []string{"g", "half"}, Outputs: []string{"y"}}},
		Outputs: []*ir.ValueInfo{{Name: "y"}},
	}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
	for _, fused := range []bool{false, true} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			linearFusionOn = fused
			s, err := New(model, Options{Threads: 1})
			linearFusionOn = true
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*Tensor{"x": x}
			if _, err := s.Run(context.Background(), in); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := s.Run(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
