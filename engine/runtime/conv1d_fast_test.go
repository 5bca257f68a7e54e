package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// The direct 1-D convolution against the generic path on random shapes: strides 1–5
// (the phase split), dilation, padding wider than the kernel reach, groups, kernels
// longer than the input's padded tail, odd lengths.
func TestConv1DFast(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for i := 0; i < 60; i++ {
		group := []int{1, 1, 1, 2, 3}[rng.Intn(5)]
		cg, mg := 1+rng.Intn(4), 1+rng.Intn(5)
		k, d, s := 1+rng.Intn(9), 1+rng.Intn(3), 1+rng.Intn(5)
		ext := (k-1)*d + 1
		length := ext + rng.Intn(40)
		pb, pe := rng.Intn(ext+2), rng.Intn(ext+2)
		if i%7 == 0 { // the pointwise case: no im2col
			k, d, s, pb, pe = 1, 1, 1, 0, 0
		}
		attrs := []*ir.Attribute{{Name: "group", Type: ir.AttrInt, Int: int64(group)},
			ints("pads", int64(pb), int64(pe)), ints("strides", int64(s)), ints("dilations", int64(d))}
		x, w := randT(rng, 1, 1+rng.Intn(3), group*cg, length), randT(rng, 1, group*mg, cg, k)
		var b *Tensor
		if rng.Intn(2) == 0 {
			b = randT(rng, 1, group*mg)
		}
		n := &ir.Node{OpType: "Conv", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, w, b})
		closeTo(t, fmt.Sprintf("Conv1D %d (group %d, k %d, d %d, s %d, pads %d %d, len %d)", i, group, k, d, s, pb, pe, length),
			fast[0], slow[0], 1e-5, 1e-5)
	}
}

// conv1dModel is the audio front end's first layer: Conv (1 → 32 channels, kernel 80,
// stride 4) and Relu, fused into one step.
func conv1dModel(t testing.TB) *ir.Model {
	rng := rand.New(rand.NewSource(22))
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 1, 8000)}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{32, 1, 80}, randT(rng, 0.2, 32, 1, 80).Data.([]float32)),
		f32Tensor(t, "b", []int64{32}, randT(rng, 1, 32).Data.([]float32)))
	g.Nodes = []*ir.Node{
		{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}, Attrs: []*ir.Attribute{
			{Name: "pads", Type: ir.AttrInts, Ints: []int64{40, 40}}, {Name: "strides", Type: ir.AttrInts, Ints: []int64{4}}}},
		{OpType: "Relu", Name: "relu", Inputs: []string{"c"}, Outputs: []string{"y"}},
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y"}}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

// The fused Conv+Relu on the audio layer: one step, the unfused generic result, the
// same bits at 1 and 2 threads.
func TestConv1DFastFused(t *testing.T) {
	model := conv1dModel(t)
	x := randT(rand.New(rand.NewSource(23)), 1, 1, 1, 8000)
	run := func(threads int, fast bool) *Tensor {
		res, s := runSwitched(t, &fastPaths, fast, model, Options{Threads: threads}, map[string]*Tensor{"x": x})
		if fast && len(s.main.steps) != 1 {
			t.Fatalf("%d steps after fusion, want 1", len(s.main.steps))
		}
		return res["y"]
	}
	one, slow := run(1, true), run(1, false)
	closeTo(t, "fused Conv1D+Relu", one, slow, 1e-5, 1e-5)
	for i, v := range run(2, true).Data.([]float32) {
		if want := one.Data.([]float32)[i]; math.Float32bits(v) != math.Float32bits(want) {
			t.Fatalf("2 threads: y[%d] = %g, 1 thread gave %g", i, v, want)
		}
	}
}

// BenchmarkConv1D times the audio layer: direct (phase split + GEMM) against the
// previous lowering as a height-1 2-D convolution (the implicit-GEMM kernel).
func BenchmarkConv1D(b *testing.B) {
	model := conv1dModel(b)
	x := randT(rand.New(rand.NewSource(23)), 1, 1, 1, 8000)
	for _, name := range []string{"direct", "as2D"} {
		b.Run(name, func(b *testing.B) {
			conv1dAs2D = name == "as2D"
			defer func() { conv1dAs2D = false }()
			s, err := New(model, Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			feed := map[string]*Tensor{"x": x}
			if _, err := s.Run(context.Background(), feed); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := s.Run(context.Background(), feed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
