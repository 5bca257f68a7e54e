package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// 2-D ConvTranspose with col2im by rows against the landing-table path on random
// shapes: kernel = stride (the tiled case, kernels 2 and 3, odd sizes), kernel 4 stride
// 2 pads 1, dilations, padding, output_padding, output_shape, groups, bias.
func TestConvTransposeFast(t *testing.T) {
	rng := rand.New(rand.NewSource(41))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for i := 0; i < 60; i++ {
		group := []int{1, 1, 2}[rng.Intn(3)]
		cg, mg := 1+rng.Intn(4), 1+rng.Intn(4)
		h, w := 1+rng.Intn(9), 1+rng.Intn(9)
		var attrs []*ir.Attribute
		kh, kw := 1+rng.Intn(4), 1+rng.Intn(4)
		switch i % 4 {
		case 0: // kernel = stride: every output written once
			kh = 2 + rng.Intn(2)
			kw = kh
			if i%8 == 0 {
				kw = 2
			}
			attrs = append(attrs, ints("strides", int64(kh), int64(kw)))
		case 1: // the 4×4 / stride 2 / pad 1 upsampler
			kh, kw = 4, 4
			attrs = append(attrs, ints("strides", 2, 2), ints("pads", 1, 1, 1, 1))
		case 2:
			sh, sw := 1+rng.Intn(3), 1+rng.Intn(3)
			attrs = append(attrs, ints("strides", int64(sh), int64(sw)), ints("dilations", int64(1+rng.Intn(2)), int64(1+rng.Intn(2))),
				ints("pads", int64(rng.Intn(kh)), int64(rng.Intn(kw)), int64(rng.Intn(kh)), int64(rng.Intn(kw))),
				ints("output_padding", int64(rng.Intn(sh)), int64(rng.Intn(sw))))
		case 3:
			attrs = append(attrs, ints("strides", 2, 2), ints("output_shape", int64(2*h+rng.Intn(2)), int64(2*w)))
		}
		attrs = append(attrs, &ir.Attribute{Name: "group", Type: ir.AttrInt, Int: int64(group)})
		x, wt := randT(rng, 1, 1+rng.Intn(2), group*cg, h, w), randT(rng, 1, group*cg, mg, kh, kw)
		var b *Tensor
		if rng.Intn(2) == 0 {
			b = randT(rng, 1, group*mg)
		}
		n := &ir.Node{OpType: "ConvTranspose", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, wt, b})
		closeTo(t, fmt.Sprintf("ConvTranspose %d k %dx%d x %v", i, kh, kw, x.Shape), fast[0], slow[0], 1e-6, 1e-6)
	}
}

// BenchmarkConvTranspose2x times the UNet's first upsampler (64 → 32 channels, 16² →
// 32², kernel = stride = 2) and a 4×4 / stride 2 / pad 1 one, each followed by a
// GlobalAveragePool (so that its output lives in the run's arena): col2im by rows
// against the landing table (the same GEMM, the table after it).
func BenchmarkConvTranspose2x(b *testing.B) {
	rng := rand.New(rand.NewSource(42))
	x := randT(rng, 1, 1, 64, 16, 16)
	for _, k := range []int64{2, 4} {
		attrs := []*ir.Attribute{{Name: "strides", Type: ir.AttrInts, Ints: []int64{2, 2}}}
		if k == 4 {
			attrs = append(attrs, &ir.Attribute{Name: "pads", Type: ir.AttrInts, Ints: []int64{1, 1, 1, 1}})
		}
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}, Outputs: []*ir.ValueInfo{{Name: "y"}}}
		g.Initializers = append(g.Initializers, f32Tensor(b, "w", []int64{64, 32, k, k}, randT(rng, 1, 64, 32, int(k), int(k)).Data.([]float32)))
		g.Nodes = []*ir.Node{{OpType: "ConvTranspose", Name: "up", Inputs: []string{"x", "w"}, Outputs: []string{"u"}, Attrs: attrs},
			{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{"u"}, Outputs: []string{"y"}}}
		model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
		for _, fast := range []bool{true, false} {
			b.Run(fmt.Sprintf("k%d/rows=%v", k, fast), func(b *testing.B) {
				convTRows = fast
				defer func() { convTRows = true }()
				benchModel(b, model, map[string]*Tensor{"x": x}, true)
			})
		}
	}
}

// benchModel times Session.Run at one thread, fastPaths set to fast while it runs,
// with the process CPU time per run as a metric (the machine is shared).
func benchModel(b *testing.B, model *ir.Model, feed map[string]*Tensor, fast bool) {
	fastPaths = fast
	defer func() { fastPaths = true }()
	s, err := New(model, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
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
}

// convT2x2Model is x → ConvTranspose (c → m channels, 2×2, stride 2, group) → acts.
func convT2x2Model(t testing.TB, rng *rand.Rand, c, m, group int, bias bool, acts []string) *ir.Model {
	mg := m / group
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{int64(c), int64(mg), 2, 2}, randT(rng, 0.5, c, mg, 2, 2).Data.([]float32)))
	ins := []string{"x", "w"}
	if bias {
		g.Initializers = append(g.Initializers, f32Tensor(t, "b", []int64{int64(m)}, randT(rng, 1, m).Data.([]float32)))
		ins = append(ins, "b")
	}
	g.Nodes = []*ir.Node{{OpType: "ConvTranspose", Name: "up", Inputs: ins, Outputs: []string{"v0"}, Attrs: []*ir.Attribute{
		{Name: "kernel_shape", Type: ir.AttrInts, Ints: []int64{2, 2}},
		{Name: "strides", Type: ir.AttrInts, Ints: []int64{2, 2}},
		{Name: "group", Type: ir.AttrInt, Int: int64(group)},
	}}}
	for i, op := range acts {
		n := &ir.Node{OpType: op, Name: op, Inputs: []string{fmt.Sprintf("v%d", i)}, Outputs: []string{fmt.Sprintf("v%d", i+1)}}
		if op == "HardSigmoid" {
			n.Attrs = []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, Float: 0.3}}
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.Outputs = []*ir.ValueInfo{{Name: fmt.Sprintf("v%d", len(acts))}}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

// TestConvTranspose2x2Direct: the direct 2×2 / stride-2 kernel (accel.ConvTranspose2x2,
// with the fused activation in its epilogue) against the GEMM, col2im and epilogue path
// on random shapes (rows shorter and longer than 16, odd sizes, batch up to 3, groups,
// bias or not, each activation fuseConvTranspose takes and a chain of two, which the
// kernel declines); the same bits at 1 and 2 threads.
func TestConvTranspose2x2Direct(t *testing.T) {
	rng := rand.New(rand.NewSource(43))
	chains := [][]string{nil, {"Relu"}, {"Sigmoid"}, {"HardSigmoid"}, {"Relu", "Sigmoid"}}
	for i := 0; i < 30; i++ {
		group := []int{1, 1, 2}[rng.Intn(3)]
		c, m := group*(1+rng.Intn(12)), group*(1+rng.Intn(6))
		h, w := 1+rng.Intn(13), 1+rng.Intn(40)
		n := 1 + rng.Intn(3)
		acts := chains[i%len(chains)]
		model := convT2x2Model(t, rng, c, m, group, rng.Intn(3) > 0, acts)
		feed := map[string]*Tensor{"x": randT(rng, 1, n, c, h, w)}
		out := model.Graph.Outputs[0].Name
		run := func(threads int, direct bool) *Tensor {
			res, _ := runSwitched(t, &convT2x2Direct, direct, model, Options{Threads: threads}, feed)
			return res[out]
		}
		name := fmt.Sprintf("%d: %d→%d group %d, x %v, %v", i, c, m, group, feed["x"].Shape, acts)
		one := run(1, true)
		closeTo(t, name, one, run(1, false), 1e-5, 1e-5)
		for j, v := range run(2, true).Data.([]float32) {
			if want := one.Data.([]float32)[j]; math.Float32bits(v) != math.Float32bits(want) {
				t.Fatalf("%s: 2 threads y[%d] = %g, 1 thread gave %g", name, j, v, want)
			}
		}
	}
}

// BenchmarkConvTranspose2x2 times the bench set's 2×2 / stride-2 upsamplers with their
// fused activations (the OCR detector's head: 16 → 8 channels at 24×80 with Relu, 8 → 1
// at 48×160 with Sigmoid; the UNet's 64 → 32 at 16²), each followed by a
// GlobalAveragePool so that its output lives in the run's arena: the direct kernel
// against the GEMM, col2im and epilogue path.
func BenchmarkConvTranspose2x2(b *testing.B) {
	rng := rand.New(rand.NewSource(44))
	for _, l := range []struct {
		name       string
		c, m, h, w int
		act        string
	}{{"ocr-head3-relu", 16, 8, 24, 80, "Relu"}, {"ocr-head5-sigmoid", 8, 1, 48, 160, "Sigmoid"}, {"unet-up2", 64, 32, 16, 16, ""}} {
		var acts []string
		if l.act != "" {
			acts = []string{l.act}
		}
		model := convT2x2Model(b, rng, l.c, l.m, 1, true, acts)
		last := model.Graph.Outputs[0].Name
		model.Graph.Nodes = append(model.Graph.Nodes, &ir.Node{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{last}, Outputs: []string{"y"}})
		model.Graph.Outputs = []*ir.ValueInfo{{Name: "y"}}
		feed := map[string]*Tensor{"x": randT(rng, 1, 1, l.c, l.h, l.w)}
		for _, direct := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/direct=%v", l.name, direct), func(b *testing.B) {
				convT2x2Direct = direct
				defer func() { convT2x2Direct = true }()
				benchModel(b, model, feed, true)
			})
		}
	}
}
