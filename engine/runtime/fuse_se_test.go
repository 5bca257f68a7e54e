package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// The squeeze-and-excitation block as torchvision exports it, Mul(scale, x) or Mul(x,
// scale), then a Conv: folded into the Conv's weights when the Conv is pointwise and the
// image is single, otherwise run as before; the result matches the unfused run.
func TestFuseSEScale(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, tc := range []struct {
		name       string
		n, k       int  // batch, Conv kernel size
		scaleFirst bool // Mul(scale, x), as torchvision writes it
		sigmoidOut bool // the scale is also a graph output: still fused (only the Mul's output must be private)
		steps      int  // steps after fusion
	}{
		{"scale-first", 1, 1, true, false, 5},
		{"scale-second", 1, 1, false, false, 5},
		{"scale-output", 1, 1, true, true, 5},
		{"batch2-fallback", 2, 1, true, false, 5},
		{"conv3x3-not-fused", 1, 3, true, false, 6},
		{"more-outputs-than-pixels", 1, 1, true, false, 5}, // the image is scaled, not W
		{"wide-split", 1, 1, true, false, 5},               // the weight scaling split over threads
		{"wide-split-image", 1, 1, true, false, 5},         // the image scaling split over threads
		{"packed-7x7", 1, 1, true, false, 5},               // the image scaled, the Conv on its packed weight
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c, m, r, h, w int64 = 12, 7, 3, 9, 11
			switch tc.name {
			case "more-outputs-than-pixels":
				m, h, w = 40, 3, 2
			case "wide-split":
				c, m, h, w = 96, 200, 16, 16
			case "wide-split-image":
				c, m, h, w = 300, 400, 9, 9
			case "packed-7x7":
				c, m, h, w = 96, 64, 7, 7
			}
			ci, mi, ri := int(c), int(m), int(r)
			g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, int64(tc.n), c, h, w)}}}
			g.Initializers = []*ir.Tensor{
				f32Tensor(t, "w1", []int64{r, c, 1, 1}, randT(rng, 0.5, ri, ci, 1, 1).Data.([]float32)),
				f32Tensor(t, "b1", []int64{r}, randT(rng, 0.5, ri).Data.([]float32)),
				f32Tensor(t, "w2", []int64{c, r, 1, 1}, randT(rng, 0.5, ci, ri, 1, 1).Data.([]float32)),
				f32Tensor(t, "b2", []int64{c}, randT(rng, 0.5, ci).Data.([]float32)),
				f32Tensor(t, "wp", []int64{m, c, int64(tc.k), int64(tc.k)}, randT(rng, 0.5, mi, ci, tc.k, tc.k).Data.([]float32)),
				f32Tensor(t, "bp", []int64{m}, randT(rng, 0.5, mi).Data.([]float32)),
			}
			mulIn := []string{"s", "x"}
			if !tc.scaleFirst {
				mulIn = []string{"x", "s"}
			}
			proj := &ir.Node{OpType: "Conv", Name: "project", Inputs: []string{"xs", "wp", "bp"}, Outputs: []string{"y"}}
			if tc.k == 3 {
				proj.Attrs = []*ir.Attribute{{Name: "pads", Type: ir.AttrInts, Ints: []int64{1, 1, 1, 1}}}
			}
			g.Nodes = []*ir.Node{
				{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{"x"}, Outputs: []string{"p"}},
				{OpType: "Conv", Name: "fc1", Inputs: []string{"p", "w1", "b1"}, Outputs: []string{"f1"}},
				{OpType: "Relu", Name: "act", Inputs: []string{"f1"}, Outputs: []string{"a"}},
				{OpType: "Conv", Name: "fc2", Inputs: []string{"a", "w2", "b2"}, Outputs: []string{"f2"}},
				{OpType: "HardSigmoid", Name: "gate", Inputs: []string{"f2"}, Outputs: []string{"s"}},
				{OpType: "Mul", Name: "scale", Inputs: mulIn, Outputs: []string{"xs"}},
				proj,
				{OpType: "Relu", Name: "other", Inputs: []string{"x"}, Outputs: []string{"x2"}}, // x has another reader
			}
			g.Outputs = []*ir.ValueInfo{{Name: "y"}, {Name: "x2"}}
			if tc.sigmoidOut {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "s"})
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
			x := randT(rng, 1, tc.n, ci, int(h), int(w))
			var sess *Session
			run := func(on bool) (map[string]*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				s, err := New(model, Options{})
				if err != nil {
					t.Fatal(err)
				}
				sess = s
				var res map[string]*Tensor
				for i := 0; i < 3; i++ { // pooled buffers reused by later runs
					if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
						t.Fatal(err)
					}
				}
				return res, len(s.main.steps)
			}
			fast, steps := run(true)
			if tc.name == "packed-7x7" && accel.PackPointwise(make([]float32, mi*ci), mi, ci, int(h*w)) != nil {
				packed := false
				sess.tables.Range(func(key, v any) bool {
					if kk, ok := key.(nodeCacheKey); ok && kk.tag == "pointwise-w" {
						packed = packed || v.(*nodeCacheEntry[matrixID, *accel.PointwiseWeights]).v != nil
					}
					return true
				})
				if !packed {
					t.Error("the projection's weight was not packed")
				}
			}
			slow, _ := run(false)
			for _, th := range []int{1, 3} { // the same bits at any thread count
				prev := accel.SetMaxThreads(th)
				other, _ := run(true)
				accel.SetMaxThreads(prev)
				for _, o := range g.Outputs {
					closeTo(t, fmt.Sprint(tc.name, "/", o.Name, " at ", th, " threads"), other[o.Name], fast[o.Name], 0, 0)
				}
			}
			// fc1+Relu and fc2+HardSigmoid fuse into one step each; the Mul folds into the projection.
			if steps != tc.steps {
				t.Errorf("%d steps after fusion, want %d", steps, tc.steps)
			}
			for _, o := range g.Outputs {
				closeTo(t, fmt.Sprint(tc.name, "/", o.Name), fast[o.Name], slow[o.Name], 1e-5, 1e-5)
			}
		})
	}
}
