package runtime

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func i64Tensor(t testing.TB, name string, v ...int64) *ir.Tensor {
	t.Helper()
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	tt, err := ir.NewTensor(name, ir.Int64, []int64{int64(len(v))}, b)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestSliceTypeMatchesKernel: on random shapes and bounds (negative, beyond the axis,
// INT64_MAX, negative steps, omitted axes and steps), the inferred type of Slice's
// output is the shape the kernel produces.
func TestSliceTypeMatchesKernel(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	bound := func(d int) int64 {
		switch rng.Intn(6) {
		case 0:
			return math.MaxInt64
		case 1:
			return math.MinInt64
		default:
			return int64(rng.Intn(2*d+5) - d - 2)
		}
	}
	for trial := 0; trial < 300; trial++ {
		rank := 1 + rng.Intn(4)
		shape := make([]int, rank)
		dims := make([]int64, rank)
		for i := range shape {
			shape[i] = 1 + rng.Intn(6)
			dims[i] = int64(shape[i])
		}
		perm := rng.Perm(rank)[:1+rng.Intn(rank)]
		var starts, ends, axes, steps []int64
		for _, a := range perm {
			starts, ends = append(starts, bound(shape[a])), append(ends, bound(shape[a]))
			ax := int64(a)
			if rng.Intn(2) == 0 {
				ax -= int64(rank)
			}
			axes = append(axes, ax)
			st := int64(1 + rng.Intn(3))
			if rng.Intn(3) == 0 {
				st = -st
			}
			steps = append(steps, st)
		}
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, dims...)}},
			Initializers: []*ir.Tensor{i64Tensor(t, "s", starts...), i64Tensor(t, "e", ends...), i64Tensor(t, "a", axes...),
				i64Tensor(t, "k", steps...)},
			Outputs: []*ir.ValueInfo{{Name: "y"}}}
		in := []string{"x", "s", "e", "a", "k"}
		switch rng.Intn(3) { // axes and steps omitted when they are the defaults
		case 0:
			if len(perm) == rank && isIdentity(perm) && allOnes(steps) {
				in = in[:3]
			}
		case 1:
			if allOnes(steps) {
				in = in[:4]
			}
		}
		g.Nodes = []*ir.Node{{OpType: "Slice", Name: "slice", Inputs: in, Outputs: []string{"y"}}}
		s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := s.main.types[s.main.slots["y"]]
		res, err := s.Run(context.Background(), map[string]*Tensor{"x": randT(rng, 1, shape...)})
		if err != nil {
			t.Fatal(err)
		}
		if want := typeOf(res["y"]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("x %v, starts %v ends %v axes %v steps %v (inputs %v): inferred %v, kernel gave %v",
				shape, starts, ends, axes, steps, in, got, want)
		}
	}
}

func isIdentity(p []int) bool {
	for i, v := range p {
		if i != v {
			return false
		}
	}
	return true
}

func allOnes(v []int64) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}

// TestFuseConvAfterMovement: a Conv whose input comes from a Reshape with a Constant
// node's shape (torch's exporter), a Slice, a Split or a ConvTranspose still takes its
// Relu into the epilogue, and the result is the unfused one.
func TestFuseConvAfterMovement(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	const c = 4
	for _, producer := range []string{"Reshape", "Slice", "Split", "ConvTranspose", "Resize"} {
		t.Run(producer, func(t *testing.T) {
			g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 2*c, 5, 6)}},
				Outputs: []*ir.ValueInfo{{Name: "y"}}}
			w := f32Tensor(t, "w", []int64{3, c, 3, 3}, randT(rng, 0.5, 3, c, 3, 3).Data.([]float32))
			g.Initializers = append(g.Initializers, w)
			switch producer {
			case "Reshape":
				shapeT := i64Tensor(t, "", 2, c, 5, 6)
				g.Nodes = append(g.Nodes,
					&ir.Node{OpType: "Constant", Name: "shape", Outputs: []string{"shape"},
						Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: shapeT}}},
					&ir.Node{OpType: "Reshape", Name: "p", Inputs: []string{"x", "shape"}, Outputs: []string{"v"}})
			case "Slice":
				g.Initializers = append(g.Initializers, i64Tensor(t, "s", c), i64Tensor(t, "e", 2*c), i64Tensor(t, "a", 1))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Slice", Name: "p", Inputs: []string{"x", "s", "e", "a"}, Outputs: []string{"v"}})
			case "Split":
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Split", Name: "p", Inputs: []string{"x"}, Outputs: []string{"u", "v"},
					Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 1}}})
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "u"})
			case "ConvTranspose":
				g.Initializers = append(g.Initializers, f32Tensor(t, "wt", []int64{2 * c, c, 2, 2}, randT(rng, 0.5, 2*c, c, 2, 2).Data.([]float32)))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "ConvTranspose", Name: "p", Inputs: []string{"x", "wt"}, Outputs: []string{"v"},
					Attrs: []*ir.Attribute{{Name: "strides", Type: ir.AttrInts, Ints: []int64{2, 2}}}})
			case "Resize":
				g.Initializers = append(g.Initializers, f32Tensor(t, "scales", []int64{4}, []float32{1, 0.5, 2, 2}))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Resize", Name: "p", Inputs: []string{"x", "", "scales"}, Outputs: []string{"v"}})
			}
			g.Nodes = append(g.Nodes,
				&ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"v", "w"}, Outputs: []string{"c"},
					Attrs: []*ir.Attribute{{Name: "pads", Type: ir.AttrInts, Ints: []int64{1, 1, 1, 1}}}},
				&ir.Node{OpType: "Relu", Name: "relu", Inputs: []string{"c"}, Outputs: []string{"y"}})
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
			x := randT(rng, 1, 1, 2*c, 5, 6)
			run := func(on bool) (map[string]*Tensor, *Session) {
				return runSwitched(t, &fastPaths, on, model, Options{}, map[string]*Tensor{"x": x})
			}
			fast, s := run(true)
			slow, _ := run(false)
			if vt := s.main.types[s.main.slots["v"]]; vt.dtype != ir.Float32 {
				t.Errorf("the Conv's input has inferred type %v, want float32", vt)
			}
			for _, st := range s.main.steps {
				if st.node.OpType == "Relu" {
					t.Errorf("the Relu was not fused into the Conv")
				}
			}
			for _, o := range g.Outputs {
				closeTo(t, o.Name, fast[o.Name], slow[o.Name], 1e-5, 1e-5)
			}
		})
	}
}
