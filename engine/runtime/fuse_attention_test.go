package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestFuseAttention runs scaled dot-product attention as torch (Div of Q, Kᵀ by
// Transpose), modelc's Keras import (Mul of Q by a constant on either side) and others
// (scores scaled by Div or Mul, no scale) write it, on odd sizes and batch shapes, fused,
// unfused and through the fallback; a probabilities tensor that is also a graph output
// is not fused.
func TestFuseAttention(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	for _, tc := range []struct {
		name   string
		batch  []int
		S, T   int
		d, dv  int
		scale  string // "q/", "q*", "*q", "s/", "s*" or ""
		shared bool
		steps  int
	}{
		{"torch", []int{4}, 64, 64, 32, 32, "q/", false, 1},
		{"keras", []int{1, 2}, 7, 7, 5, 5, "q*", false, 1},
		{"const-first", []int{3}, 9, 11, 6, 4, "*q", false, 1},
		{"scores-div", []int{2, 3}, 5, 13, 7, 9, "s/", false, 1},
		{"scores-mul-big", []int{8}, 96, 80, 48, 40, "s*", false, 1},
		{"unscaled", []int{1}, 3, 17, 2, 3, "", false, 1},
		{"shared", []int{2}, 5, 6, 7, 8, "q/", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dims := func(tail ...int) []int {
				return append(append([]int{}, tc.batch...), tail...)
			}
			i64 := func(s []int) []int64 {
				out := make([]int64, len(s))
				for i, v := range s {
					out[i] = int64(v)
				}
				return out
			}
			q, k, v := randT(rng, 1, dims(tc.S, tc.d)...), randT(rng, 1, dims(tc.d, tc.T)...), randT(rng, 1, dims(tc.T, tc.dv)...)
			g := &ir.Graph{
				Inputs: []*ir.ValueInfo{{Name: "q", Type: ir.TensorType(ir.Float32, i64(q.Shape)...)},
					{Name: "k", Type: ir.TensorType(ir.Float32, i64(k.Shape)...)},
					{Name: "v", Type: ir.TensorType(ir.Float32, i64(v.Shape)...)}},
				Initializers: []*ir.Tensor{f32Tensor(t, "c", nil, []float32{2.3})},
			}
			qs, scores := "q", "s"
			switch tc.scale {
			case "q/", "q*", "*q":
				op, in := "Div", []string{"q", "c"}
				if tc.scale == "q*" {
					op = "Mul"
				} else if tc.scale == "*q" {
					op, in = "Mul", []string{"c", "q"}
				}
				g.Nodes = append(g.Nodes, &ir.Node{OpType: op, Inputs: in, Outputs: []string{"qs"}})
				qs = "qs"
			}
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "MatMul", Inputs: []string{qs, "k"}, Outputs: []string{"s"}})
			if tc.scale == "s/" || tc.scale == "s*" {
				op := map[string]string{"s/": "Div", "s*": "Mul"}[tc.scale]
				g.Nodes = append(g.Nodes, &ir.Node{OpType: op, Inputs: []string{"s", "c"}, Outputs: []string{"ss"}})
				scores = "ss"
			}
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "Softmax", Inputs: []string{scores}, Outputs: []string{"p"},
				Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: -1}}},
				&ir.Node{OpType: "MatMul", Inputs: []string{"p", "v"}, Outputs: []string{"y"}})
			g.Outputs = []*ir.ValueInfo{{Name: "y"}}
			if tc.shared {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "p"})
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
			run := func(on, fallback bool, threads int) (*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				s, err := New(model, Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				if fallback {
					fastPaths = false
				}
				res, err := s.Run(context.Background(), map[string]*Tensor{"q": q, "k": k, "v": v})
				if err != nil {
					t.Fatal(err)
				}
				return res["y"], len(s.main.steps)
			}
			fast, steps := run(true, false, 1)
			fast2, _ := run(true, false, 2)
			slow, _ := run(false, false, 1)
			fb, _ := run(true, true, 1)
			if steps != tc.steps {
				t.Errorf("%d steps after fusion, want %d", steps, tc.steps)
			}
			if fmt.Sprint(fast.Shape) != fmt.Sprint(slow.Shape) {
				t.Fatalf("shape %v, want %v", fast.Shape, slow.Shape)
			}
			closeTo(t, "attention", fast, slow, 1e-5, 1e-5)
			closeTo(t, "attention at 2 threads", fast2, fast, 0, 0)
			closeTo(t, "attention fallback", fb, slow, 0, 0)
		})
	}
}
