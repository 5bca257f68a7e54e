package runtime

import (
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// A 1×1 Conv (BN folded in) whose output is large enough for its epilogue (BN, SiLU) to be split into
// slabs over the pool: the same bits at 1, 2 and 3 threads, and the unfused result.
func TestFuseEpilogueSlabs(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const c, m, h, w = 8, 24, 37, 41 // m·h·w ≥ 2 slabs, rows not a multiple of a slab
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, c, h, w)}}}
	bn := make([][]float32, 4)
	for k := range bn {
		bn[k] = randT(rng, 1, m).Data.([]float32)
	}
	for i := range bn[3] {
		bn[3][i] = 0.2 + float32(math.Abs(float64(bn[3][i])))
	}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{m, c, 1, 1}, randT(rng, 0.5, m, c, 1, 1).Data.([]float32)),
		f32Tensor(t, "bias", []int64{m}, randT(rng, 1, m).Data.([]float32)),
		f32Tensor(t, "s", []int64{m}, bn[0]), f32Tensor(t, "b", []int64{m}, bn[1]), f32Tensor(t, "mean", []int64{m}, bn[2]), f32Tensor(t, "var", []int64{m}, bn[3]))
	g.Nodes = []*ir.Node{
		{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"c"}},
		{OpType: "BatchNormalization", Name: "bn", Inputs: []string{"c", "s", "b", "mean", "var"}, Outputs: []string{"n"}},
		{OpType: "Sigmoid", Name: "sig", Inputs: []string{"n"}, Outputs: []string{"g"}},
		{OpType: "Mul", Name: "silu", Inputs: []string{"n", "g"}, Outputs: []string{"y"}},
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	x := randT(rng, 1, 1, c, h, w)
	run := func(threads int, fast bool) *Tensor {
		res, s := runSwitched(t, &fastPaths, fast, model, Options{Threads: threads}, map[string]*Tensor{"x": x})
		if fast && len(s.main.steps) != 1 {
			t.Fatalf("%d steps after fusion, want 1", len(s.main.steps))
		}
		return res["y"]
	}
	one := run(1, true)
	for _, th := range []int{2, 3} {
		got := run(th, true)
		for i, v := range got.Data.([]float32) {
			if want := one.Data.([]float32)[i]; math.Float32bits(v) != math.Float32bits(want) {
				t.Fatalf("threads %d: y[%d] = %g, 1 thread gave %g", th, i, v, want)
			}
		}
	}
	closeTo(t, "y", one, run(1, false), 1e-5, 1e-5)
}
