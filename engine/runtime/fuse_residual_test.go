package runtime

import (
	"context"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestFuseResidualLayerNorm runs a residual Add followed by torch's nine-node LayerNorm,
// with operands of one shape, a position table repeated over the batch (on either side),
// and an Add whose output is read elsewhere too (not taken): fused, unfused and through
// the fallback.
func TestFuseResidualLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for _, tc := range []struct {
		name   string
		a, b   []int
		shared bool
		steps  int
	}{
		{"same-shape", []int{2, 5, 33}, []int{2, 5, 33}, false, 1},
		{"position-table", []int{3, 7, 19}, []int{7, 19}, false, 1},
		{"position-table-first", []int{7, 19}, []int{3, 7, 19}, false, 1},
		{"row", []int{1, 64, 128}, []int{128}, false, 1},
		{"shared", []int{2, 5, 33}, []int{2, 5, 33}, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := tc.a[len(tc.a)-1]
			dims := func(s []int) []int64 {
				d := make([]int64, len(s))
				for i, v := range s {
					d[i] = int64(v)
				}
				return d
			}
			a, b := randT(rng, 2, tc.a...), randT(rng, 2, tc.b...)
			g := &ir.Graph{
				Inputs: []*ir.ValueInfo{{Name: "a", Type: ir.TensorType(ir.Float32, dims(tc.a)...)},
					{Name: "b", Type: ir.TensorType(ir.Float32, dims(tc.b)...)}},
				Initializers: []*ir.Tensor{f32Tensor(t, "eps", nil, []float32{1e-5}), f32Tensor(t, "two", nil, []float32{2}),
					f32Tensor(t, "gamma", []int64{int64(cols)}, randT(rng, 1, cols).Data.([]float32)),
					f32Tensor(t, "beta", []int64{int64(cols)}, randT(rng, 1, cols).Data.([]float32))},
				Nodes: []*ir.Node{{OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"x"}},
					{OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"m"}, Attrs: []*ir.Attribute{ints("axes", -1)}},
					{OpType: "Sub", Inputs: []string{"x", "m"}, Outputs: []string{"d"}},
					{OpType: "Pow", Inputs: []string{"d", "two"}, Outputs: []string{"p"}},
					{OpType: "ReduceMean", Inputs: []string{"p"}, Outputs: []string{"v"}, Attrs: []*ir.Attribute{ints("axes", -1)}},
					{OpType: "Add", Inputs: []string{"v", "eps"}, Outputs: []string{"e"}},
					{OpType: "Sqrt", Inputs: []string{"e"}, Outputs: []string{"s"}},
					{OpType: "Div", Inputs: []string{"d", "s"}, Outputs: []string{"n"}},
					{OpType: "Mul", Inputs: []string{"n", "gamma"}, Outputs: []string{"y"}},
					{OpType: "Add", Inputs: []string{"y", "beta"}, Outputs: []string{"z"}}},
				Outputs: []*ir.ValueInfo{{Name: "z"}},
			}
			if tc.shared {
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Mul", Inputs: []string{"z", "x"}, Outputs: []string{"out"}})
				g.Outputs = []*ir.ValueInfo{{Name: "out"}}
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
				res, err := s.Run(context.Background(), map[string]*Tensor{"a": a, "b": b})
				if err != nil {
					t.Fatal(err)
				}
				return res[g.Outputs[0].Name], len(s.main.steps)
			}
			fast, steps := run(true, false)
			slow, _ := run(false, false)
			fb, _ := run(true, true)
			if steps != tc.steps {
				t.Errorf("%d steps after fusion, want %d", steps, tc.steps)
			}
			closeTo(t, "add+layernorm", fast, slow, 1e-5, 1e-5)
			closeTo(t, "add+layernorm fallback", fb, slow, 0, 0)
		})
	}
}
