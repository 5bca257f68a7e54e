package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// ConvTranspose followed by activation chains: fused into one step when every link is
// the only reader of the value before it, the same result as the generic kernels (no
// fast paths, no fusion), and the same bits at 1, 2 and 3 threads.
func TestFuseConvTranspose(t *testing.T) {
	type chain struct {
		name       string
		acts       []string // the activations after the ConvTranspose, in order
		group      int
		k, stride  int
		pad        int
		bias       bool
		midOutput  bool // the ConvTranspose's output is also a graph output: no fusion
		wantSteps  int
		h, w, c, m int
	}
	cases := []chain{
		{name: "relu", acts: []string{"Relu"}, group: 1, k: 2, stride: 2, bias: true, wantSteps: 1, h: 7, w: 13, c: 5, m: 3},
		{name: "sigmoid", acts: []string{"Sigmoid"}, group: 1, k: 2, stride: 2, bias: true, wantSteps: 1, h: 9, w: 11, c: 4, m: 1},
		{name: "clip-hardsigmoid-nobias", acts: []string{"Clip", "HardSigmoid"}, group: 2, k: 3, stride: 2, pad: 1, wantSteps: 1, h: 5, w: 6, c: 6, m: 4},
		{name: "overlap-relu-sigmoid", acts: []string{"Relu", "Sigmoid"}, group: 1, k: 3, stride: 1, pad: 1, bias: true, wantSteps: 1, h: 6, w: 5, c: 3, m: 7},
		// Large enough for the epilogue to be split over the pool.
		{name: "large-relu", acts: []string{"Relu"}, group: 1, k: 2, stride: 2, bias: true, wantSteps: 1, h: 37, w: 45, c: 8, m: 9},
		{name: "shared-output", acts: []string{"Relu"}, group: 1, k: 2, stride: 2, bias: true, midOutput: true, wantSteps: 2, h: 4, w: 5, c: 3, m: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(len(tc.name))))
			g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, int64(tc.c), int64(tc.h), int64(tc.w))}}}
			mg := tc.m / tc.group
			g.Initializers = append(g.Initializers, f32Tensor(t, "wt", []int64{int64(tc.c), int64(mg), int64(tc.k), int64(tc.k)},
				randT(rng, 0.5, tc.c, mg, tc.k, tc.k).Data.([]float32)))
			ins := []string{"x", "wt"}
			if tc.bias {
				g.Initializers = append(g.Initializers, f32Tensor(t, "b", []int64{int64(mg * tc.group)}, randT(rng, 1, mg*tc.group).Data.([]float32)))
				ins = append(ins, "b")
			}
			p := int64(tc.pad)
			g.Nodes = []*ir.Node{{OpType: "ConvTranspose", Name: "up", Inputs: ins, Outputs: []string{"v0"}, Attrs: []*ir.Attribute{
				{Name: "kernel_shape", Type: ir.AttrInts, Ints: []int64{int64(tc.k), int64(tc.k)}},
				{Name: "strides", Type: ir.AttrInts, Ints: []int64{int64(tc.stride), int64(tc.stride)}},
				{Name: "pads", Type: ir.AttrInts, Ints: []int64{p, p, p, p}},
				{Name: "group", Type: ir.AttrInt, Int: int64(tc.group)},
			}}}
			for i, op := range tc.acts {
				n := &ir.Node{OpType: op, Name: op, Inputs: []string{fmt.Sprintf("v%d", i)}, Outputs: []string{fmt.Sprintf("v%d", i+1)}}
				switch op {
				case "Clip":
					n.Attrs = []*ir.Attribute{{Name: "min", Type: ir.AttrFloat, Float: -0.5}, {Name: "max", Type: ir.AttrFloat, Float: 0.75}}
				case "HardSigmoid":
					n.Attrs = []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, Float: 0.3}}
				}
				g.Nodes = append(g.Nodes, n)
			}
			out := fmt.Sprintf("v%d", len(tc.acts))
			g.Outputs = []*ir.ValueInfo{{Name: out}}
			if tc.midOutput {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "v0"})
			}
			opset := int64(17)
			if slices.Contains(tc.acts, "Clip") {
				opset = 6 // min and max as attributes
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: opset}}, Graph: g}
			x := randT(rng, 2, 2, tc.c, tc.h, tc.w)
			run := func(threads int, fast bool) *Tensor {
				res, s := runSwitched(t, &fastPaths, fast, model, Options{Threads: threads}, map[string]*Tensor{"x": x})
				if fast && len(s.main.steps) != tc.wantSteps {
					t.Fatalf("%d steps after fusion, want %d", len(s.main.steps), tc.wantSteps)
				}
				return res[out]
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
			closeTo(t, out, one, run(1, false), 1e-5, 1e-5)
		})
	}
}
