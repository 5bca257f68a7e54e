package quant

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/internal/ctest"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

func ops(m *ir.Model) string {
	var s []string
	for _, n := range m.Graph.Nodes {
		s = append(s, n.OpType)
	}
	return strings.Join(s, " ")
}

func TestScaleZP(t *testing.T) {
	cases := []struct {
		mn, mx float32
		t      ir.DType
		sym    bool
		scale  float32
		zp     int
	}{
		{-1, 2, ir.Int8, true, 2.0 / 127, 0},
		{-1, 2, ir.Uint8, true, 2.0 / 127, 128},
		{0, 2.55, ir.Uint8, false, 0.01, 0},
		{-1.28, 1.27, ir.Int8, false, 0.01, 0},
		{1, 3, ir.Uint8, false, 3.0 / 255, 0}, // the range is widened to hold 0
		{0, 0, ir.Int8, true, 1, 0},
		{-7, 7, ir.Int4, true, 1, 0},
	}
	for _, c := range cases {
		s, z := scaleZP(c.mn, c.mx, c.t, c.sym)
		if math.Abs(float64(s-c.scale)) > 1e-6 || z != c.zp {
			t.Errorf("scaleZP(%v, %v, %v, %v) = %v, %d; want %v, %d", c.mn, c.mx, c.t, c.sym, s, z, c.scale, c.zp)
		}
	}
}

// The reconstruction of every weight is within half a step of the original.
func TestQuantize8Error(t *testing.T) {
	w := ctest.Random(1, 64*10)
	for _, pc := range []bool{false, true} {
		for _, dt := range []ir.DType{ir.Int8, ir.Uint8} {
			q := quantize8(w, []int64{64, 10}, 1, dt, pc, dt == ir.Int8)
			var num, den float64
			for i := range w {
				s, z := q.scale[0], q.zp[0]
				if pc {
					s, z = q.scale[i%10], q.zp[i%10]
				}
				v := int(q.data[i])
				if dt == ir.Int8 {
					v = int(int8(q.data[i]))
				}
				deq := float32(v-z) * s
				if d := math.Abs(float64(w[i] - deq)); d > float64(s)/2+1e-6 {
					t.Fatalf("%v per-channel=%v: element %d off by %g, scale %g", dt, pc, i, d, s)
				}
				num += math.Pow(float64(w[i]-deq), 2)
				den += math.Pow(float64(w[i]), 2)
			}
			if e := math.Sqrt(num / den); math.Abs(e-q.relErr) > 1e-9 {
				t.Fatalf("reported error %g, measured %g", q.relErr, e)
			}
		}
	}
}

func TestWeightOnly(t *testing.T) {
	m := ctest.MLP(1)
	x := ctest.Random(9, 4*16)
	want := ctest.Run(t, m, x)
	r, err := WeightOnly(m, Options{Type: ir.Int8, PerChannel: true, Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(m); got != "DequantizeLinear MatMul Add Relu DequantizeLinear Gemm" {
		t.Fatalf("ops %s", got)
	}
	if len(r.Layers) != 2 || r.Layers[0].RelError <= 0 || r.Layers[0].RelError > 0.02 {
		t.Fatalf("report %+v", r.Layers)
	}
	if m.Graph.Initializer("w1") != nil || m.Graph.Initializer("w1_quantized").DType != ir.Int8 {
		t.Fatal("w1 not replaced by its int8 form")
	}
	// The Gemm's weight [8, 32] (transB) has its channels on axis 0.
	if a := m.Graph.Nodes[4].Attr("axis"); a == nil || a.Int != 0 {
		t.Fatalf("Gemm weight DequantizeLinear axis %v", a)
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 0.02*absMax(want) {
		t.Fatalf("outputs differ by %g of %g", d, absMax(want))
	}
}

func absMax(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

func TestExcludeByNameAndOp(t *testing.T) {
	for _, ex := range []string{"fc2", "Gemm", "f?2"} {
		m := ctest.MLP(1)
		r, err := WeightOnly(m, Options{Type: ir.Uint8, Exclude: compress.Exclude{ex}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Layers) != 1 || r.Layers[0].Node != "fc1" || len(r.Skipped) != 1 {
			t.Fatalf("exclude %q: %+v", ex, r)
		}
	}
}

func TestDynamic(t *testing.T) {
	for _, mk := range []func(int64) *ir.Model{ctest.MLP, ctest.CNN} {
		m := mk(2)
		n := 4 * 16
		if m.Graph.Nodes[0].OpType == "Conv" {
			n = 2 * 3 * 6 * 6
		}
		x := ctest.Random(3, n)
		want := ctest.Run(t, m, x)
		if _, err := Dynamic(m, Options{Type: ir.Int8, PerChannel: true, Symmetric: true}); err != nil {
			t.Fatal(err)
		}
		got := ctest.Run(t, m, x)
		var scale float64
		for _, v := range want {
			scale = max(scale, math.Abs(float64(v)))
		}
		if d := ctest.MaxDiff(want, got); d > 0.05*scale {
			t.Fatalf("%s: outputs differ by %g (scale %g)", ops(m), d, scale)
		}
		if !strings.Contains(ops(m), "DynamicQuantizeLinear") {
			t.Fatalf("ops %s", ops(m))
		}
	}
}

// Error-minimising block scales never lose to absmax, and win overall.
func TestBlockScalesBeatAbsmax(t *testing.T) {
	for _, dt := range []ir.DType{ir.Int4, ir.Uint4} {
		m := ctest.MLP(4)
		x := ctest.Random(5, 4*16)
		want := ctest.Run(t, m, x)
		r, err := Block(m, Options{Type: dt, BlockSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Layers) != 2 {
			t.Fatalf("%v: %+v", dt, r)
		}
		for _, l := range r.Layers {
			if !(l.RelError < l.RelErrorAbsmax) {
				t.Errorf("%v %s: error %g not below absmax %g", dt, l.Node, l.RelError, l.RelErrorAbsmax)
			}
		}
		if m.OpsetVersion("") != 21 || m.IRVersion < 10 {
			t.Errorf("opset %d, IR %d", m.OpsetVersion(""), m.IRVersion)
		}
		got := ctest.Run(t, m, x)
		if d := ctest.MaxDiff(want, got); d > 0.15*absMax(want) {
			t.Errorf("%v: outputs differ by %g of %g", dt, d, absMax(want))
		}
	}
	// Per block, against a brute-force check of the absmax choice.
	w := ctest.Random(6, 32*3)
	b := quantizeBlocks(w, []int64{32, 3}, 0, 32, ir.Int4, true)
	for c := 0; c < 3; c++ {
		var e, e0 float64
		for k := 0; k < 32; k++ {
			i := k*3 + c
			e += math.Pow(float64(w[i]-b.deq[i]), 2)
			e0 += math.Pow(float64(w[i]-b.deqAbsmax[i]), 2)
		}
		if e > e0 {
			t.Errorf("column %d: %g > absmax %g", c, e, e0)
		}
	}
}

func TestBlockRejectsBadSize(t *testing.T) {
	for _, bs := range []int{8, 24, 100} {
		if _, err := Block(ctest.MLP(1), Options{Type: ir.Int4, BlockSize: bs}); err == nil {
			t.Errorf("block size %d accepted", bs)
		}
	}
}

func TestPackNibbles(t *testing.T) {
	got := packNibbles([]int{1, -2, 7, -8, 3})
	want := []byte{0xE1, 0x87, 0x03}
	if string(got) != string(want) {
		t.Fatalf("% x, want % x", got, want)
	}
}

func TestFloat16KeepsFragileOpsAndIO(t *testing.T) {
	m := ctest.MLP(7)
	// Add a Softmax at the end: it must stay float32.
	m.Graph.Nodes[3].Outputs[0] = "logits"
	m.Graph.Nodes = append(m.Graph.Nodes, ctest.Node("sm", "Softmax", []string{"logits"}, []string{"y"}))
	x := ctest.Random(8, 4*16)
	want := ctest.Run(t, m, x)
	r, err := Float16(m, FloatOptions{Type: ir.Float16, KeepIO: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "sm (Softmax)") {
		t.Fatalf("notes %v", r.Notes)
	}
	if got := ops(m); got != "Cast MatMul Add Relu Gemm Cast Softmax" {
		t.Fatalf("ops %s", got)
	}
	for _, name := range []string{"w1", "b1", "w2", "b2"} {
		if m.Graph.Initializer(name).DType != ir.Float16 {
			t.Errorf("%s not converted", name)
		}
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 1e-2 {
		t.Fatalf("outputs differ by %g", d)
	}
}

func TestFloat16WithoutKeepIO(t *testing.T) {
	m := ctest.MLP(7)
	if _, err := Float16(m, FloatOptions{Type: ir.BFloat16}); err != nil {
		t.Fatal(err)
	}
	if m.Graph.Inputs[0].Type.ElemType != ir.BFloat16 || ops(m) != "MatMul Add Relu Gemm" {
		t.Fatalf("input %v, ops %s", m.Graph.Inputs[0].Type.ElemType, ops(m))
	}
}

func TestStatic(t *testing.T) {
	x := ctest.Random(4, 4*16)
	var asked []string
	collect := func(names []string) (map[string][]float32, error) {
		asked = names
		// The "model" outputs: x itself and the relu values computed with a probe.
		out := map[string][]float32{"x": x}
		out["r"] = make([]float32, 4*32)
		for i := range out["r"] {
			out["r"][i] = float32(i%7) / 2
		}
		return out, nil
	}
	for _, method := range []string{MinMax, Percentile, Entropy} {
		m := ctest.MLP(3)
		r, err := Static(m, StaticOptions{Options: Options{Type: ir.Int8, PerChannel: true, Symmetric: true}, Method: method}, collect)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(asked, ",") != "x,r" {
			t.Fatalf("asked for %v", asked)
		}
		if got := ops(m); got != "QuantizeLinear DequantizeLinear DequantizeLinear MatMul Add Relu QuantizeLinear DequantizeLinear DequantizeLinear Gemm" {
			t.Fatalf("%s: ops %s", method, got)
		}
		if len(r.Layers) != 2 {
			t.Fatalf("%+v", r)
		}
	}
}

// Entropy calibration cuts off a rare outlier; min-max keeps it.
func TestKLThresholdClipsOutliers(t *testing.T) {
	v := ctest.Random(11, 20000)
	v = append(v, 100)
	th := klThreshold(v)
	if th >= 50 || th < 2 {
		t.Fatalf("threshold %g", th)
	}
	lo, hi := calibRange(v, MinMax, 0)
	if hi != 100 || lo >= 0 {
		t.Fatalf("minmax %g %g", lo, hi)
	}
	lo, hi = calibRange(v, Percentile, 99.9)
	if hi >= 100 || hi < 2 || lo > -2 {
		t.Fatalf("percentile %g %g", lo, hi)
	}
}

// transformerish is x[4,16] → MatMul W1 → LayerNormalization → Softmax → MatMul W2 →
// Gelu → y: the ops static quantization leaves in float by default.
func transformerish(seed int64) *ir.Model {
	m := ctest.Model([]int64{4, 16}, []*ir.Node{
		ctest.Node("fc1", "MatMul", []string{"x", "w1"}, []string{"h"}),
		ctest.Node("ln", "LayerNormalization", []string{"h", "gamma", "beta"}, []string{"n"}, ctest.Int("axis", -1)),
		ctest.Node("sm", "Softmax", []string{"n"}, []string{"p"}),
		ctest.Node("fc2", "MatMul", []string{"p", "w2"}, []string{"g"}),
		ctest.Node("gelu", "Gelu", []string{"g"}, []string{"y"}),
	},
		compress.Float32Tensor("w1", []int64{16, 32}, ctest.Random(seed, 512)),
		compress.Float32Tensor("gamma", []int64{32}, ctest.Random(seed+1, 32)),
		compress.Float32Tensor("beta", []int64{32}, ctest.Random(seed+2, 32)),
		compress.Float32Tensor("w2", []int64{32, 8}, ctest.Random(seed+3, 256)))
	m.Opsets[0].Version = 20
	return m
}

// probe is a Collector running m (as it is when called) on x.
func probe(t *testing.T, m *ir.Model, x []float32) Collector {
	return func(names []string) (map[string][]float32, error) {
		g := *m.Graph
		g.Outputs = nil
		for _, n := range names {
			g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: n})
		}
		p := *m
		p.Graph = &g
		s, err := runtime.New(&p, runtime.Options{Threads: 1})
		if err != nil {
			return nil, err
		}
		in, err := runtime.FromIR(compress.Float32Tensor("x", []int64{4, 16}, x))
		if err != nil {
			return nil, err
		}
		res, err := s.Run(context.Background(), map[string]*runtime.Tensor{"x": in})
		if err != nil {
			return nil, err
		}
		out := map[string][]float32{}
		for _, n := range names {
			out[n] = res[n].Data.([]float32)
		}
		return out, nil
	}
}

func TestStaticQuantizeOps(t *testing.T) {
	x := ctest.Random(5, 4*16)
	want := ctest.Run(t, transformerish(9), x)
	o := StaticOptions{Options: Options{Type: ir.Int8, Symmetric: true}}

	// Default: LayerNormalization, Softmax and Gelu compute in float32.
	m := transformerish(9)
	if _, err := Static(m, o, probe(t, m, x)); err != nil {
		t.Fatal(err)
	}
	if got := ops(m); got != "QuantizeLinear DequantizeLinear DequantizeLinear MatMul LayerNormalization Softmax QuantizeLinear DequantizeLinear DequantizeLinear MatMul Gelu" {
		t.Fatalf("default ops %s", got)
	}
	// max |y| is 0.67; int8 activations move y by about 0.01.
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 0.03 {
		t.Fatalf("default: outputs differ by %g", d)
	}

	// Override: a pair on each activation of the named ops, shared with the MatMul that
	// reads Softmax's output; the graph output keeps its name.
	m = transformerish(9)
	o.Ops = []string{"LayerNormalization", "Softmax", "Gelu", "Softmax"}
	r, err := Static(m, o, probe(t, m, x))
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(m); got != "QuantizeLinear DequantizeLinear DequantizeLinear MatMul QuantizeLinear DequantizeLinear LayerNormalization QuantizeLinear DequantizeLinear Softmax QuantizeLinear DequantizeLinear DequantizeLinear MatMul QuantizeLinear DequantizeLinear Gelu QuantizeLinear DequantizeLinear" {
		t.Fatalf("override ops %s", got)
	}
	for _, n := range m.Graph.Nodes {
		switch n.OpType {
		case "LayerNormalization", "Softmax", "Gelu":
			if p := producer(m, n.Inputs[0]); p == nil || p.OpType != "DequantizeLinear" {
				t.Errorf("%s reads %q from %v", n.Name, n.Inputs[0], p)
			}
			if c := consumerOf(m, n.Outputs[0]); c == nil || c.OpType != "QuantizeLinear" {
				t.Errorf("%s output %q goes to %v", n.Name, n.Outputs[0], c)
			}
		}
	}
	if p := producer(m, "y"); p == nil || p.OpType != "DequantizeLinear" {
		t.Fatalf("y made by %v", p)
	}
	if p := producer(m, m.Graph.Nodes[13].Inputs[0]); m.Graph.Nodes[13].OpType != "MatMul" || p.OpType != "DequantizeLinear" || p.Inputs[0] != "p_quantized" {
		t.Fatalf("fc2 reads %v", m.Graph.Nodes[13].Inputs)
	}
	if m.Graph.Initializer("gamma") == nil || m.Graph.Initializer("beta") == nil {
		t.Fatal("LayerNormalization's scale and bias must stay float")
	}
	if !strings.Contains(r.Notes[len(r.Notes)-1], "1 Gelu, 1 LayerNormalization, 1 Softmax") {
		t.Fatalf("notes %v", r.Notes)
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 0.03 {
		t.Fatalf("override: outputs differ by %g", d)
	}

	// Bad input: an op type it cannot quantize, one the model lacks, one all excluded.
	for _, c := range []struct {
		ops     []string
		exclude compress.Exclude
		words   string
	}{
		{[]string{"Softmx"}, nil, `"Softmx" is not an op type`},
		{[]string{"Conv"}, nil, "always quantized"},
		{[]string{"Tanh"}, nil, "no Tanh node"},
		{[]string{"Softmax"}, compress.Exclude{"sm"}, "every Softmax node is excluded"},
	} {
		m := transformerish(9)
		before := ops(m)
		o := StaticOptions{Options: Options{Type: ir.Int8, Exclude: c.exclude}, Ops: c.ops}
		_, err := Static(m, o, probe(t, m, x))
		if err == nil || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%v: error %v, want %q", c.ops, err, c.words)
		}
		if ops(m) != before {
			t.Errorf("%v: the model changed on error", c.ops)
		}
	}
}

func producer(m *ir.Model, v string) *ir.Node {
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			if o == v {
				return n
			}
		}
	}
	return nil
}

func consumerOf(m *ir.Model, v string) *ir.Node {
	for _, n := range m.Graph.Nodes {
		for _, i := range n.Inputs {
			if i == v {
				return n
			}
		}
	}
	return nil
}

// A Transpose in front of a MatMul moves float32 values and the Cast to 16 bits follows
// it: the 16-bit Transpose → MatMul pattern crashes onnxruntime's loader on x86-64
// (microsoft/onnxruntime#28392).
func TestFloat16TransposeBeforeMatMulStaysFloat32(t *testing.T) {
	m := ctest.Model([]int64{4, 16}, []*ir.Node{
		ctest.Node("tr", "Transpose", []string{"x"}, []string{"xt"}, ctest.Ints("perm", 1, 0)),
		ctest.Node("mm", "MatMul", []string{"xt", "w"}, []string{"y"}),
	}, compress.Float32Tensor("w", []int64{4, 8}, ctest.Random(3, 32)))
	if _, err := Float16(m, FloatOptions{Type: ir.Float16, KeepIO: true}); err != nil {
		t.Fatal(err)
	}
	if got := ops(m); got != "Transpose Cast MatMul Cast" {
		t.Fatalf("ops %s", got)
	}
	if w := m.Graph.Initializer("w"); w == nil || w.DType != ir.Float16 {
		t.Fatalf("the MatMul's weight should be float16: %+v", w)
	}
}

// An int32 accumulator cast to float (MatMulInteger's, before its scale) can pass 65504:
// the Mul applying the scale computes in float32, and only its result becomes float16.
func TestFloat16KeepsIntegerAccumulatorsFloat32(t *testing.T) {
	m := ctest.Model([]int64{4, 16}, []*ir.Node{
		ctest.Node("q", "DynamicQuantizeLinear", []string{"x"}, []string{"xq", "xs", "xz"}),
		ctest.Node("mm", "MatMulInteger", []string{"xq", "wq", "xz"}, []string{"acc"}),
		ctest.Node("cast", "Cast", []string{"acc"}, []string{"accf"}, ctest.Int("to", int64(ir.Float32))),
		ctest.Node("scale", "Mul", []string{"accf", "xs"}, []string{"y"}),
	})
	wq, err := ir.NewTensor("wq", ir.Uint8, []int64{16, 8}, make([]byte, 128))
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Initializers = append(m.Graph.Initializers, wq)
	r, err := Float16(m, FloatOptions{Type: ir.Float16})
	if err != nil {
		t.Fatal(err)
	}
	if mul := producer(m, "y"); mul == nil || !strings.Contains(strings.Join(r.Notes, " "), "scale (Mul, reads accf, an integer") {
		t.Fatalf("notes %v", r.Notes)
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Cast" && n.Inputs[0] == "accf" {
			t.Fatalf("the accumulator is cast to float16 before its scale: %s", ops(m))
		}
	}
}

// TestStaticDropsRedundantClamps: with uint8 activations, the Relu (or Clip(0, 6)) whose
// output only the next layer reads is dropped, its input quantized instead, and the
// int8 weights have zero points of 0 (onnxruntime's integer convolution needs both). The
// outputs are bit for bit those of the same model where the clamp stays (kept because
// its output is also a graph output), on the calibration input and on one far outside
// its range (saturation at both ends).
func TestStaticDropsRedundantClamps(t *testing.T) {
	x := ctest.Random(21, 4*16)
	wide := ctest.Random(22, 4*16)
	for i := range wide {
		wide[i] *= 50
	}
	for _, clip := range []bool{false, true} {
		build := func(keep bool, lo, hi float32) *ir.Model {
			m := ctest.MLP(5)
			if clip {
				m.Graph.Nodes[2] = ctest.Node("relu", "Clip", []string{"hb", "lo", "hi"}, []string{"r"})
				m.Graph.Initializers = append(m.Graph.Initializers, compress.Float32Tensor("lo", nil, []float32{lo}),
					compress.Float32Tensor("hi", nil, []float32{hi}))
			}
			if keep {
				m.Graph.Outputs = append(m.Graph.Outputs, &ir.ValueInfo{Name: "r"})
			}
			return m
		}
		want := ops(build(true, 0, 6))
		dropped, kept, below := build(false, 0, 6), build(true, 0, 6), build(false, -1, 100)
		for _, m := range []*ir.Model{dropped, kept, below} {
			if _, err := Static(m, StaticOptions{Options: Options{Type: ir.Int8, PerChannel: true}}, probe(t, m, x)); err != nil {
				t.Fatal(err)
			}
		}
		clamp := map[bool]string{false: "Relu", true: "Clip"}[clip]
		if got := ops(dropped); strings.Contains(got, clamp) || !strings.Contains(ops(kept), clamp) {
			t.Fatalf("%s: ops %s (kept: %s; float %s)", clamp, got, ops(kept), want)
		}
		// Clip(−1, 100): the range reaches below 0, so the zero point is not 0 and values
		// under −1 would quantize lower without the Clip: it stays.
		if got := ops(below); clip && !strings.Contains(got, clamp) {
			t.Fatalf("Clip(-1, 100) dropped: ops %s", got)
		}
		for _, it := range dropped.Graph.Initializers {
			if it.Name == "lo" || it.Name == "hi" {
				t.Fatalf("the dropped Clip's bound %s is still an initializer", it.Name)
			}
		}
		for _, n := range dropped.Graph.Nodes {
			if n.OpType == "DequantizeLinear" && len(n.Inputs) == 3 {
				for _, it := range dropped.Graph.Initializers {
					if it.Name == n.Inputs[2] && it.DType == ir.Int8 {
						for _, z := range it.Bytes() {
							if z != 0 {
								t.Fatalf("%s: weight zero point %s holds %d", clamp, it.Name, int8(z))
							}
						}
					}
				}
			}
		}
		for _, in := range [][]float32{x, wide} {
			a, b := ctest.Run(t, dropped, in), ctest.Run(t, kept, in)
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("%s: y[%d] = %g with the clamp dropped, %g with it", clamp, i, a[i], b[i])
				}
			}
		}
	}
}
