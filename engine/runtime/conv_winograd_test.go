package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// TestConvWinograd runs 3×3 Convs that take the Winograd path (fixed weights, enough
// tiles: odd sizes, same/valid/asymmetric pads, batches, a fused BatchNormalization, Relu,
// Clip and residual Add) against the plain op, and checks that it was taken, that every
// thread count gives the same bits, and that a Conv whose weights are a graph input,
// a strided or a grouped one does not take it.
func TestConvWinograd(t *testing.T) {
	if !accel.HasWinograd3x3() {
		t.Skip("no Winograd kernels on this backend")
	}
	rng := rand.New(rand.NewSource(7))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	bnParams := func(prefix string, m int) (names []string, ts []*ir.Tensor) {
		for k, what := range []string{"scale", "b", "mean", "var"} {
			v := make([]float32, m)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
				if k == 3 {
					v[i] = 0.2 + float32(rng.Float64())
				}
			}
			names = append(names, prefix+what)
			ts = append(ts, f32Tensor(t, prefix+what, []int64{int64(m)}, v))
		}
		return names, ts
	}
	type tc struct {
		n, c, m, h, w int
		pads          []int64
		strides       int64
		group         int64
		bnRelu, add   bool
		weightInput   bool
		want          bool // Winograd taken
		clip          bool // a Clip after the Conv (and BN, Relu when bnRelu)
	}
	cases := []tc{
		{1, 16, 16, 16, 16, []int64{1, 1, 1, 1}, 1, 1, false, false, false, true, false},
		{1, 9, 21, 17, 23, []int64{1, 1, 1, 1}, 1, 1, true, false, false, true, false},
		{2, 8, 12, 13, 37, []int64{0, 0, 0, 0}, 1, 1, false, true, false, true, false},
		{4, 12, 10, 8, 8, []int64{1, 0, 0, 1}, 1, 1, true, true, false, true, false},
		{1, 33, 40, 35, 70, []int64{1, 1, 1, 1}, 1, 1, true, false, false, true, false},
		{1, 16, 16, 16, 16, []int64{1, 1, 1, 1}, 1, 1, false, false, true, false, false},
		{1, 16, 16, 33, 33, []int64{1, 1, 1, 1}, 2, 1, false, false, false, false, false},
		{1, 16, 16, 16, 16, []int64{1, 1, 1, 1}, 1, 2, false, false, false, false, false},
	}
	cases = append(cases, tc{n: 1, c: 16, m: 24, h: 20, w: 20, pads: []int64{1, 1, 1, 1}, strides: 1, group: 1, clip: true, want: true},
		tc{n: 2, c: 10, m: 12, h: 9, w: 30, pads: []int64{1, 1, 1, 1}, strides: 1, group: 1, bnRelu: true, clip: true, want: true})
	for _, k := range cases {
		name := fmt.Sprintf("%+v", k)
		x := randT(rng, 1, k.n, k.c, k.h, k.w)
		w := randT(rng, 0.3, k.m, k.c/int(k.group), 3, 3)
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, int64(k.n), int64(k.c), int64(k.h), int64(k.w))}}}
		feeds := map[string]*Tensor{"x": x}
		if k.weightInput {
			g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: "w", Type: ir.TensorType(ir.Float32, int64(k.m), int64(k.c), 3, 3)})
			feeds["w"] = w
		} else {
			g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{int64(k.m), int64(k.c) / k.group, 3, 3}, w.Data.([]float32)))
		}
		g.Initializers = append(g.Initializers, f32Tensor(t, "bias", []int64{int64(k.m)}, randT(rng, 1, k.m).Data.([]float32)))
		g.Nodes = []*ir.Node{{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"v0"},
			Attrs: []*ir.Attribute{ints("pads", k.pads...), ints("strides", k.strides, k.strides), {Name: "group", Type: ir.AttrInt, Int: k.group}}}}
		prev := "v0"
		if k.bnRelu {
			names, ts := bnParams("bn_", k.m)
			g.Initializers = append(g.Initializers, ts...)
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "BatchNormalization", Name: "bn", Inputs: append([]string{prev}, names...), Outputs: []string{"v1"}},
				&ir.Node{OpType: "Relu", Name: "relu", Inputs: []string{"v1"}, Outputs: []string{"v2"}})
			prev = "v2"
		}
		if k.clip {
			g.Initializers = append(g.Initializers, f32Tensor(t, "lo", nil, []float32{-0.5}), f32Tensor(t, "hi", nil, []float32{0.75}))
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "Clip", Name: "clip", Inputs: []string{prev, "lo", "hi"}, Outputs: []string{"vc"}})
			prev = "vc"
		}
		if k.add { // a residual of the output's shape, from a second Conv-free branch
			oh, ow := k.h+int(k.pads[0]+k.pads[2])-2, k.w+int(k.pads[1]+k.pads[3])-2
			g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: "r", Type: ir.TensorType(ir.Float32, int64(k.n), int64(k.m), int64(oh), int64(ow))})
			feeds["r"] = randT(rng, 1, k.n, k.m, oh, ow)
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "Add", Name: "add", Inputs: []string{prev, "r"}, Outputs: []string{"v3"}})
			prev = "v3"
		}
		g.Outputs = []*ir.ValueInfo{{Name: prev}}
		model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
		run := func(fast bool, threads int) (*Tensor, bool) {
			fastPaths = fast
			defer func() { fastPaths = true }()
			s, err := New(model, Options{Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			var res map[string]*Tensor
			for i := 0; i < 2; i++ { // the second run reuses the transformed filters
				if res, err = s.Run(context.Background(), feeds); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			taken := false
			s.tables.Range(func(key, _ any) bool {
				_, ok := key.(winogradKey)
				taken = taken || ok
				return true
			})
			return res[prev], taken
		}
		got, taken := run(true, 1)
		if taken != k.want {
			t.Fatalf("%s: Winograd taken = %v, want %v", name, taken, k.want)
		}
		want, _ := run(false, 1)
		// Winograd's error bound is 2⁻¹⁵·Σ|w·x| (accel); Σ|w·x| is about 0.3·27·c here.
		closeTo(t, name, got, want, 1e-4, 3e-4*float64(k.c))
		for _, th := range []int{2, 3} {
			other, _ := run(true, th)
			for i, v := range other.Data.([]float32) {
				if u := got.Data.([]float32)[i]; math.Float32bits(u) != math.Float32bits(v) {
					t.Fatalf("%s: threads %d: y[%d] = %g, 1 thread gave %g", name, th, i, v, u)
				}
			}
		}
	}
}
