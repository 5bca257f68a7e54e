package runtime

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// residualBlock is a ResNet block with a downsampling branch in the order torch writes it:
// conv1 (3×3, BN) → Relu → conv2 (3×3) ; ds (1×1 Conv of x, made after conv2) ;
// Add(conv2, ds) or Add(ds, conv2) → tail (an activation node, or none) → y.
func residualBlock(t *testing.T, rng *rand.Rand, c, m, h, w int, swap bool, tail string, sumIsOutput bool) *ir.Model {
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, int64(c), int64(h), int64(w))}}}
	bn := make([][]float32, 4)
	for k := range bn {
		bn[k] = randT(rng, 1, m).Data.([]float32)
	}
	for i := range bn[3] {
		bn[3][i] = 0.2 + float32(math.Abs(float64(bn[3][i])))
	}
	g.Initializers = append(g.Initializers,
		f32Tensor(t, "w1", []int64{int64(m), int64(c), 3, 3}, randT(rng, 0.3, m, c, 3, 3).Data.([]float32)),
		f32Tensor(t, "s", []int64{int64(m)}, bn[0]), f32Tensor(t, "b", []int64{int64(m)}, bn[1]),
		f32Tensor(t, "mean", []int64{int64(m)}, bn[2]), f32Tensor(t, "var", []int64{int64(m)}, bn[3]),
		f32Tensor(t, "w2", []int64{int64(m), int64(m), 3, 3}, randT(rng, 0.3, m, m, 3, 3).Data.([]float32)),
		f32Tensor(t, "b2", []int64{int64(m)}, randT(rng, 1, m).Data.([]float32)),
		f32Tensor(t, "wd", []int64{int64(m), int64(c), 1, 1}, randT(rng, 0.5, m, c, 1, 1).Data.([]float32)),
		f32Tensor(t, "lo", nil, []float32{-0.5}), f32Tensor(t, "hi", nil, []float32{2}))
	pads := &ir.Attribute{Name: "pads", Type: ir.AttrInts, Ints: []int64{1, 1, 1, 1}}
	add := []string{"c2", "d"}
	if swap {
		add = []string{"d", "c2"}
	}
	g.Nodes = []*ir.Node{
		{OpType: "Conv", Name: "conv1", Inputs: []string{"x", "w1"}, Outputs: []string{"c1"}, Attrs: []*ir.Attribute{pads}},
		{OpType: "BatchNormalization", Name: "bn", Inputs: []string{"c1", "s", "b", "mean", "var"}, Outputs: []string{"n1"}},
		{OpType: "Relu", Name: "relu1", Inputs: []string{"n1"}, Outputs: []string{"r1"}},
		{OpType: "Conv", Name: "conv2", Inputs: []string{"r1", "w2", "b2"}, Outputs: []string{"c2"}, Attrs: []*ir.Attribute{pads}},
		{OpType: "Conv", Name: "ds", Inputs: []string{"x", "wd"}, Outputs: []string{"d"}},
		{OpType: "Add", Name: "add", Inputs: add, Outputs: []string{"sum"}},
	}
	switch tail {
	case "Relu":
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "Relu", Name: "tail", Inputs: []string{"sum"}, Outputs: []string{"y"}})
	case "Clip":
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "Clip", Name: "tail", Inputs: []string{"sum", "lo", "hi"}, Outputs: []string{"y"}})
	default:
		g.Nodes[len(g.Nodes)-1].Outputs = []string{"y"}
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	if sumIsOutput && tail != "" {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "sum"})
	}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

// TestFuseResidualAdd: the residual Add (and the activation after it) joins the Conv
// made last; the result is the same bits as the separate nodes on the same kernels (at
// 1 and 2 threads) and close to the plain ops'. A sum that is also a graph output keeps
// its activation as a node.
func TestFuseResidualAdd(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, tc := range []struct {
		name        string
		c, m, h, w  int
		swap        bool
		tail        string
		sumIsOutput bool
		op          string // the fused step's op in a profile
	}{
		{"relu", 8, 16, 9, 11, false, "Relu", false, "Conv+Add+Relu"},
		{"swapped-clip", 5, 12, 17, 6, true, "Clip", false, "Conv+Add+Clip"},
		{"no-activation", 8, 16, 30, 30, false, "", false, "Conv+Add"},
		{"sum-is-output", 8, 16, 9, 11, false, "Relu", true, "Conv+Add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := residualBlock(t, rng, tc.c, tc.m, tc.h, tc.w, tc.swap, tc.tail, tc.sumIsOutput)
			x := randT(rng, 1, 1, tc.c, tc.h, tc.w)
			run := func(threads int, fast, fuse bool) map[string]*Tensor {
				fastPaths, residualFusing = fast, fuse
				defer func() { fastPaths, residualFusing = true, true }()
				s, err := New(model, Options{Threads: threads, Profile: true})
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				if fast && fuse {
					p, _ := s.Profile()
					found := false
					for _, n := range p.Nodes {
						found = found || n.Op == tc.op && n.Name == "ds"
						if strings.Contains(n.Op, "Add") && n.Op != tc.op {
							t.Errorf("step %s computes %s, want %s", n.Name, n.Op, tc.op)
						}
					}
					if !found {
						t.Errorf("no fused %s step at the downsampling Conv: %+v", tc.op, p.Nodes)
					}
				}
				return res
			}
			plain := run(1, false, false)
			for _, th := range []int{1, 2} {
				fused, nodes := run(th, true, true), run(th, true, false)
				for name, want := range plain {
					closeTo(t, name, fused[name], want, 1e-4, 1e-4) // Winograd against the plain Conv
					for i, v := range fused[name].Data.([]float32) {
						if u := nodes[name].Data.([]float32)[i]; math.Float32bits(u) != math.Float32bits(v) {
							t.Fatalf("%d threads: %s[%d] = %g fused, %g as separate nodes", th, name, i, v, u)
						}
					}
				}
			}
		})
	}
}

// TestFuseResidualAddBroadcast: an operand whose shape the plan does not know fuses, and
// at run time a broadcast one runs the Add and the Relu as nodes.
func TestFuseResidualAddBroadcast(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	const c, m, h, w = 4, 8, 7, 5
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, c, h, w)},
		{Name: "r", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32,
			Shape: &ir.Shape{Dims: []ir.Dim{{Param: "a"}, {Param: "b"}, {Param: "c"}, {Param: "d"}}}}}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{m, c, 1, 1}, randT(rng, 0.5, m, c, 1, 1).Data.([]float32)))
	g.Nodes = []*ir.Node{
		{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
		{OpType: "Add", Name: "add", Inputs: []string{"r", "c"}, Outputs: []string{"sum"}},
		{OpType: "Relu", Name: "relu", Inputs: []string{"sum"}, Outputs: []string{"y"}},
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	x := randT(rng, 1, 1, c, h, w)
	for _, rshape := range [][]int{{1, m, h, w}, {1, m, 1, 1}, {1, 1, h, w}, {2, m, h, w}} {
		r := randT(rng, 1, rshape...)
		run := func(fast bool) *Tensor {
			res, s := runSwitched(t, &fastPaths, fast, model, Options{}, map[string]*Tensor{"x": x, "r": r})
			if fast && len(s.main.steps) != 1 {
				t.Fatalf("%d steps after fusion, want 1", len(s.main.steps))
			}
			return res["y"]
		}
		closeTo(t, "y", run(true), run(false), 1e-5, 1e-5)
	}
}
