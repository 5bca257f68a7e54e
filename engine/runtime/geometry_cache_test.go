package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestGeometryCache runs a Conv and a ceil_mode MaxPool on inputs of free height and
// width, alternating between sizes in one session: each run must give what a fresh
// session gives for its size (the cached geometry is per input size), and a repeated
// size reuses the cached value.
func TestGeometryCache(t *testing.T) {
	rng := rand.New(rand.NewSource(37))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 3, -1, -1)}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{5, 3, 3, 3}, randT(rng, 0.5, 5, 3, 3, 3).Data.([]float32)))
	g.Nodes = []*ir.Node{
		{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"},
			Attrs: []*ir.Attribute{ints("strides", 2, 1), ints("pads", 1, 0, 1, 2)}},
		{OpType: "MaxPool", Name: "pool", Inputs: []string{"c"}, Outputs: []string{"y"},
			Attrs: []*ir.Attribute{ints("kernel_shape", 2, 2), ints("strides", 2, 2), {Name: "ceil_mode", Type: ir.AttrInt, Int: 1}}},
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	s, err := New(model, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, hw := range [][2]int{{9, 11}, {16, 7}, {9, 11}, {5, 5}, {16, 7}} {
		t.Run(fmt.Sprint(hw), func(t *testing.T) {
			x := randT(rng, 1, 2, 3, hw[0], hw[1])
			got, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := New(model, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Run(context.Background(), map[string]*Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			gy, wy := got["y"], want["y"]
			if !sameShape(gy.Shape, wy.Shape) {
				t.Fatalf("shape %v, a fresh session gives %v", gy.Shape, wy.Shape)
			}
			for i, v := range wy.Data.([]float32) {
				if math.Float32bits(v) != math.Float32bits(gy.Data.([]float32)[i]) {
					t.Fatalf("y[%d] = %v, a fresh session gives %v", i, gy.Data.([]float32)[i], v)
				}
			}
		})
	}
	n := 0
	s.tables.Range(func(k, _ any) bool {
		if _, ok := k.(geomKey); ok {
			n++
		}
		return true
	})
	if n != 2*3 { // Conv and MaxPool at three sizes
		t.Errorf("%d cached geometries, want 6", n)
	}
}

// BenchmarkGeometry: the cached lookup against reading the attributes on every call.
func BenchmarkGeometry(b *testing.B) {
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	n := &ir.Node{OpType: "Conv", Name: "conv", Attrs: []*ir.Attribute{{Name: "group", Type: ir.AttrInt, Int: 1}, ints("kernel_shape", 3, 3),
		ints("strides", 2, 2), ints("pads", 1, 1, 1, 1), ints("dilations", 1, 1)}}
	c := &opContext{node: n, sess: &Session{}}
	in, k := []int{56, 56}, []int{3, 3}
	b.Run("read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			readGeometry(c, in, k, false)
		}
	})
	b.Run("cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			geometry(c, in, k, false)
		}
	})
}

// TestConvGroupCached: the group attribute, read with the cached geometry, still
// rejects channels that do not split into its groups, naming it.
func TestConvGroupCached(t *testing.T) {
	rng := rand.New(rand.NewSource(41))
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 3, 6, 6)}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{4, 1, 3, 3}, randT(rng, 0.5, 4, 1, 3, 3).Data.([]float32)))
	g.Nodes = []*ir.Node{{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"},
		Attrs: []*ir.Attribute{{Name: "group", Type: ir.AttrInt, Int: 2}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}, Options{})
	if err != nil {
		t.Skip("rejected at load:", err)
	}
	for run := 0; run < 2; run++ { // the second run finds the cached geometry
		_, err := s.Run(context.Background(), map[string]*Tensor{"x": randT(rng, 1, 1, 3, 6, 6)})
		if err == nil || !strings.Contains(err.Error(), "group 2") {
			t.Fatalf("run %d: got %v, want an error naming group 2", run, err)
		}
	}
}
