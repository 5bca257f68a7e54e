package runtime

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// concatModel is a fire-module-like graph on x [n, c, h, w] (declared static):
// a = Relu(Conv1×1(x)), b = Conv3×3(x) (pad 1), s = Sigmoid(x), cat = Concat(a, b, s)
// on axis 1, then y = Relu(cat) and, when catOut, cat itself as a second output. A
// second Concat joins a graph input with a value read twice, so it cannot be placed.
func concatModel(t testing.TB, rng *rand.Rand, n, c, h, w int, catOut bool) *ir.Model {
	dims := func(d ...int) *ir.Type {
		sh := &ir.Shape{}
		for _, v := range d {
			sh.Dims = append(sh.Dims, ir.Dim{Value: int64(v), HasValue: true})
		}
		return &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: sh}
	}
	weights := func(name string, shape ...int64) *ir.Tensor {
		k := int64(1)
		for _, d := range shape {
			k *= d
		}
		v := make([]float32, k)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return f32Tensor(t, name, shape, v)
	}
	axis := []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 1}}
	pad := []*ir.Attribute{{Name: "pads", Type: ir.AttrInts, Ints: []int64{1, 1, 1, 1}}}
	g := &ir.Graph{
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: dims(n, c, h, w)}},
		Outputs: []*ir.ValueInfo{{Name: "y"}, {Name: "z"}},
		Initializers: []*ir.Tensor{weights("wa", 8, int64(c), 1, 1), weights("ba", 8), weights("wb", 6, int64(c), 3, 3),
			weights("wc", 5, int64(c), 1, 1)},
		Nodes: []*ir.Node{
			{OpType: "Conv", Name: "ca", Inputs: []string{"x", "wa", "ba"}, Outputs: []string{"ca"}},
			{OpType: "Relu", Name: "ra", Inputs: []string{"ca"}, Outputs: []string{"a"}},
			{OpType: "Conv", Name: "cb", Inputs: []string{"x", "wb"}, Outputs: []string{"b"}, Attrs: pad},
			{OpType: "Sigmoid", Name: "sg", Inputs: []string{"x"}, Outputs: []string{"s"}},
			{OpType: "Concat", Name: "cat", Inputs: []string{"a", "b", "s"}, Outputs: []string{"cat"}, Attrs: axis},
			{OpType: "Relu", Name: "ry", Inputs: []string{"cat"}, Outputs: []string{"y"}},
			// Not placed: x is a graph input, d is read twice.
			{OpType: "Conv", Name: "cc", Inputs: []string{"x", "wc"}, Outputs: []string{"d"}},
			{OpType: "Concat", Name: "cat2", Inputs: []string{"d", "x", "d"}, Outputs: []string{"z"}, Attrs: axis},
		},
	}
	if catOut {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "cat"})
	}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

// Concat parts placed in the Concat's output: the same values as the copying Concat,
// bit for bit, over several runs of one session (the arena reusing buffers), with the
// Concat output also a graph output (handed to the caller, never overwritten by a later
// run), and for a batch of 2, which is not placed (its parts are not contiguous).
func TestConcatPlaced(t *testing.T) {
	rng := rand.New(rand.NewSource(61))
	for _, tc := range []struct {
		n, c, h, w int
		catOut     bool
		placed     int
	}{
		{1, 4, 9, 11, false, 3},
		{1, 3, 16, 16, true, 3},
		{2, 4, 7, 5, false, 0},
	} {
		model := concatModel(t, rng, tc.n, tc.c, tc.h, tc.w, tc.catOut)
		want := map[string]*Tensor{}
		concatPlacement = false
		plain, err := New(model, Options{})
		concatPlacement = true
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(model, Options{})
		if err != nil {
			t.Fatal(err)
		}
		placed := 0
		for _, st := range s.main.steps {
			if st.into != nil {
				placed++
			}
		}
		if placed != tc.placed {
			t.Fatalf("%+v: %d steps placed, want %d", tc, placed, tc.placed)
		}
		var kept map[string]*Tensor
		var keptCopy map[string][]float32
		for run := 0; run < 3; run++ {
			feed := map[string]*Tensor{"x": randT(rng, 1, tc.n, tc.c, tc.h, tc.w)}
			want, err = plain.Run(context.Background(), feed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(context.Background(), feed)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range want {
				g := got[name]
				if g == nil || !sameShape(g.Shape, w.Shape) {
					t.Fatalf("%+v run %d: %s = %v, want shape %v", tc, run, name, g, w.Shape)
				}
				for k, v := range w.Data.([]float32) {
					if gv := g.Data.([]float32)[k]; math.Float32bits(gv) != math.Float32bits(v) {
						t.Fatalf("%+v run %d: %s[%d] = %g, want %g", tc, run, name, k, gv, v)
					}
				}
			}
			if kept != nil { // an earlier run's outputs belong to the caller
				for name, v := range keptCopy {
					for k := range v {
						if math.Float32bits(kept[name].Data.([]float32)[k]) != math.Float32bits(v[k]) {
							t.Fatalf("%+v run %d: an earlier run's %s changed at %d", tc, run, name, k)
						}
					}
				}
			}
			kept, keptCopy = got, map[string][]float32{}
			for name, v := range got {
				keptCopy[name] = append([]float32(nil), v.Data.([]float32)...)
			}
		}
	}
}

// concatView returns the placed buffer itself only when the parts fill it side by side,
// in order.
func TestConcatView(t *testing.T) {
	buf := make([]float32, 10)
	c := &opContext{step: &step{gathers: 1}, scope: &scope{placed: [][]float32{buf}}}
	part := func(lo, hi int) *Tensor {
		return &Tensor{DType: ir.Float32, Shape: []int{1, hi - lo}, Data: buf[lo:hi:hi]}
	}
	v := c.concatView([]*Tensor{part(0, 4), part(4, 7), part(7, 10)}, []int{1, 10})
	if v == nil || &v.Data.([]float32)[0] != &buf[0] || len(v.Data.([]float32)) != 10 {
		t.Fatalf("adjacent parts: got %v, want a view of the buffer", v)
	}
	for name, parts := range map[string][]*Tensor{
		"out of order": {part(4, 7), part(0, 4), part(7, 10)},
		"short":        {part(0, 4), part(4, 7)},
		"gap":          {part(0, 4), part(5, 10)},
		"elsewhere":    {part(0, 4), part(4, 7), {DType: ir.Float32, Shape: []int{1, 3}, Data: make([]float32, 3)}},
	} {
		if v := c.concatView(parts, []int{1, 10}); v != nil {
			t.Fatalf("%s: got a view, want nil", name)
		}
	}
	if v := (&opContext{step: &step{}}).concatView([]*Tensor{part(0, 10)}, []int{1, 10}); v != nil {
		t.Fatal("a Concat the plan did not place: got a view")
	}
}
