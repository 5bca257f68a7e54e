package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// shuffleModel is Concat of g branches [n, c, h, w] → Reshape split → Transpose(0, 2, 1,
// 3, 4) → Reshape merge, the branch shapes given per branch.
func shuffleModel(t testing.TB, split, merge []int64, branches int) *ir.Model {
	g := &ir.Graph{Outputs: []*ir.ValueInfo{{Name: "y"}}}
	var names []string
	for b := 0; b < branches; b++ {
		names = append(names, fmt.Sprint("x", b))
		g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: names[b]})
	}
	g.Initializers = append(g.Initializers, i64Tensor(t, "split", split...), i64Tensor(t, "merge", merge...))
	g.Nodes = []*ir.Node{
		{OpType: "Concat", Name: "cat", Inputs: names, Outputs: []string{"c"}, Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 1}}},
		{OpType: "Reshape", Name: "r1", Inputs: []string{"c", "split"}, Outputs: []string{"r"}},
		{OpType: "Transpose", Name: "tr", Inputs: []string{"r"}, Outputs: []string{"t"},
			Attrs: []*ir.Attribute{{Name: "perm", Type: ir.AttrInts, Ints: []int64{0, 2, 1, 3, 4}}}},
		{OpType: "Reshape", Name: "r2", Inputs: []string{"t", "merge"}, Outputs: []string{"y"}},
	}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

// The fused channel shuffle against the four nodes unfused: 2 and 3 branches, batches,
// targets written with 0 and -1, odd sizes; branches of unequal width take the fallback.
func TestFuseChannelShuffle(t *testing.T) {
	rng := rand.New(rand.NewSource(51))
	for i, tc := range []struct {
		shapes       [][]int
		split, merge []int64
	}{
		{[][]int{{1, 24, 28, 28}, {1, 24, 28, 28}}, []int64{1, 2, 24, 28, 28}, []int64{1, 48, 28, 28}},
		{[][]int{{2, 5, 3, 7}, {2, 5, 3, 7}, {2, 5, 3, 7}}, []int64{0, 3, -1, 3, 7}, []int64{2, -1, 3, 7}},
		{[][]int{{1, 3, 1, 1}, {1, 3, 1, 1}}, []int64{1, 2, 3, 1, 1}, []int64{0, 6, 1, -1}},
		{[][]int{{1, 2, 4, 5}, {1, 4, 4, 5}}, []int64{1, 2, 3, 4, 5}, []int64{1, 6, 4, 5}}, // unequal: fallback
	} {
		model := shuffleModel(t, tc.split, tc.merge, len(tc.shapes))
		feed := map[string]*Tensor{}
		for b, sh := range tc.shapes {
			feed[fmt.Sprint("x", b)] = randT(rng, 1, sh...)
		}
		run := func(fast bool) *Tensor {
			res, s := runSwitched(t, &fastPaths, fast, model, Options{}, feed)
			if fast && len(s.main.steps) != 1 {
				t.Fatalf("case %d: %d steps after fusion, want 1", i, len(s.main.steps))
			}
			return res["y"]
		}
		got, want := run(true), run(false)
		if !sameShape(got.Shape, want.Shape) {
			t.Fatalf("case %d: shape %v, want %v", i, got.Shape, want.Shape)
		}
		for k, v := range want.Data.([]float32) {
			if g := got.Data.([]float32)[k]; math.Float32bits(g) != math.Float32bits(v) {
				t.Fatalf("case %d: y[%d] = %g, want %g", i, k, g, v)
			}
		}
	}
}

// A Concat whose output is also read elsewhere is left alone.
func TestFuseChannelShuffleShared(t *testing.T) {
	model := shuffleModel(t, []int64{1, 2, 2, 3, 3}, []int64{1, 4, 3, 3}, 2)
	model.Graph.Outputs = append(model.Graph.Outputs, &ir.ValueInfo{Name: "c"})
	s, err := New(model, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.main.steps) != 4 {
		t.Fatalf("%d steps, want the 4 unfused", len(s.main.steps))
	}
}

// BenchmarkChannelShuffle times one ShuffleNet stage-2 shuffle (two branches of 24 × 28²):
// fused against Concat + Reshape + Transpose + Reshape, followed by a GlobalAveragePool
// so that the result lives in the run's arena.
func BenchmarkChannelShuffle(b *testing.B) {
	rng := rand.New(rand.NewSource(52))
	model := shuffleModel(b, []int64{1, 2, 24, 28, 28}, []int64{1, 48, 28, 28}, 2)
	g := model.Graph
	g.Nodes[3].Outputs[0] = "s"
	g.Nodes = append(g.Nodes, &ir.Node{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{"s"}, Outputs: []string{"y"}})
	feed := map[string]*Tensor{"x0": randT(rng, 1, 1, 24, 28, 28), "x1": randT(rng, 1, 1, 24, 28, 28)}
	for _, fused := range []bool{true, false} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			shuffleFused = fused
			defer func() { shuffleFused = true }()
			benchModel(b, model, feed, true)
		})
	}
}
