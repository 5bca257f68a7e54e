package runtime

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// dynQDQModel is x → DynamicQuantizeLinear → DequantizeLinear → y, with the extra graph
// outputs named in also (a read of the pair's values elsewhere, which stops the fusion).
func dynQDQModel(n int, also ...string) *ir.Model {
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, int64(n))}},
		Nodes: []*ir.Node{
			{OpType: "DynamicQuantizeLinear", Name: "dql", Inputs: []string{"x"}, Outputs: []string{"q", "s", "z"}},
			{OpType: "DequantizeLinear", Name: "dq", Inputs: []string{"q", "s", "z"}, Outputs: []string{"y"}},
		},
		Outputs: []*ir.ValueInfo{{Name: "y"}}}
	for _, o := range also {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
	}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
}

// The fused pair against the two ops, bit for bit: random values (large enough for the
// accel kernel), a tensor with a NaN (the original steps run), all zeros (scale 0), a
// small one; and the pair is not fused when its scale is read elsewhere.
func TestDynQuantDequantFusion(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	run := func(m *ir.Model, x *Tensor, fused bool) (*Tensor, int) {
		t.Helper()
		dynQDQFused = fused
		defer func() { dynQDQFused = true }()
		s, err := New(m, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		var res map[string]*Tensor
		for i := 0; i < 2; i++ { // the second run reuses the pool's buffers
			if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
				t.Fatal(err)
			}
		}
		return res["y"], len(s.main.steps)
	}
	for _, tc := range []struct {
		name string
		n    int
		set  func(v []float32)
	}{
		{"random", 40000, nil},
		{"small", 7, nil},
		{"nan", 3000, func(v []float32) { v[17] = float32(math.NaN()) }},
		{"zeros", 5000, func(v []float32) { clear(v) }},
		{"positive", 900, func(v []float32) {
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i])))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randT(rng, 3, 2, tc.n)
			if tc.set != nil {
				tc.set(x.Data.([]float32))
			}
			m := dynQDQModel(tc.n)
			got, steps := run(m, x, true)
			want, steps0 := run(m, x, false)
			if steps != 1 || steps0 != 2 {
				t.Errorf("%d steps fused and %d not, want 1 and 2", steps, steps0)
			}
			g, w := got.Data.([]float32), want.Data.([]float32)
			for i := range w {
				if math.Float32bits(g[i]) != math.Float32bits(w[i]) && !(g[i] != g[i] && w[i] != w[i]) {
					t.Fatalf("y[%d] = %g, want %g (x %g)", i, g[i], w[i], x.Data.([]float32)[i])
				}
			}
		})
	}
	if _, steps := run(dynQDQModel(100, "s"), randT(rng, 1, 2, 100), true); steps != 2 {
		t.Errorf("%d steps with the scale a graph output, want 2 (not fused)", steps)
	}
}

// scaleDynQuantModel is y = DynamicQuantizeLinear(x · s) with s one value per channel
// (first when sFirst), every output of the quantizer a graph output.
func scaleDynQuantModel(c, h, w int, sFirst bool) *ir.Model {
	in := []string{"x", "s"}
	if sFirst {
		in = []string{"s", "x"}
	}
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, int64(c), int64(h), int64(w))},
		{Name: "s", Type: ir.TensorType(ir.Float32, 2, int64(c), 1, 1)}},
		Nodes: []*ir.Node{
			{OpType: "Mul", Name: "se", Inputs: in, Outputs: []string{"p"}},
			{OpType: "DynamicQuantizeLinear", Name: "dql", Inputs: []string{"p"}, Outputs: []string{"q", "qs", "qz"}},
		},
		Outputs: []*ir.ValueInfo{{Name: "q"}, {Name: "qs"}, {Name: "qz"}}}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
}

// The fused per-channel Mul and quantizer against the two ops, bit for bit on all three
// outputs: positive and negative scales, the scale first or second, a scale of 0 and a
// NaN (the original steps), all-zero products (scale 0).
func TestScaleDynQuantFusion(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, tc := range []struct {
		name   string
		sFirst bool
		set    func(x, s []float32)
	}{
		{"random", false, nil},
		{"scale-first", true, nil},
		{"positive-scales", false, func(x, s []float32) {
			for i := range s {
				s[i] = float32(math.Abs(float64(s[i]))) + 0.1
			}
		}},
		{"zero-scale", false, func(x, s []float32) { s[3] = 0 }},
		{"nan", true, func(x, s []float32) { x[100] = float32(math.NaN()) }},
		{"zeros", false, func(x, s []float32) { clear(x) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const c, h, w = 12, 9, 10
			x, s := randT(rng, 2, 2, c, h, w), randT(rng, 1, 2, c, 1, 1)
			if tc.set != nil {
				tc.set(x.Data.([]float32), s.Data.([]float32))
			}
			m := scaleDynQuantModel(c, h, w, tc.sFirst)
			run := func(fused bool) (map[string]*Tensor, int) {
				dynQDQFused = fused
				defer func() { dynQDQFused = true }()
				sess, err := New(m, Options{Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				res, err := sess.Run(context.Background(), map[string]*Tensor{"x": x, "s": s})
				if err != nil {
					t.Fatal(err)
				}
				return res, len(sess.main.steps)
			}
			got, steps := run(true)
			want, steps0 := run(false)
			if steps != 1 || steps0 != 2 {
				t.Errorf("%d steps fused and %d not, want 1 and 2", steps, steps0)
			}
			if g, w := got["qs"].Data.([]float32)[0], want["qs"].Data.([]float32)[0]; math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("scale %g, want %g", g, w)
			}
			for _, name := range []string{"q", "qz"} {
				g, w := got[name].Data.([]uint8), want[name].Data.([]uint8)
				if !sameShape(got[name].Shape, want[name].Shape) || len(g) != len(w) {
					t.Fatalf("%s: shape %v, want %v", name, got[name].Shape, want[name].Shape)
				}
				for i := range w {
					if g[i] != w[i] {
						t.Fatalf("%s[%d] = %d, want %d", name, i, g[i], w[i])
					}
				}
			}
		})
	}
}
