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

// TestFuseConv runs Conv chains (BN right after the Conv, activations, BN after an
// activation, a value read twice, a fused value that is a graph output) with fusion on
// and off: the same results within float32 rounding, and the expected number of steps
// left after fusion.
func TestFuseConv(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	bnParams := func(prefix string, m int) (names []string, ts []*ir.Tensor) {
		for k, what := range []string{"scale", "b", "mean", "var"} {
			v := make([]float32, m)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
				if k == 3 {
					v[i] = 0.2 + float32(rng.Float64())
				}
			}
			name := prefix + what
			names = append(names, name)
			ts = append(ts, f32Tensor(t, name, []int64{int64(m)}, v))
		}
		return names, ts
	}
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	type chain struct {
		name  string
		ops   []string // after the Conv
		extra bool     // the Conv output is also a graph output (no fusion)
		steps int      // steps left after fusion
	}
	for _, ch := range []chain{
		{"conv-bn", []string{"BatchNormalization"}, false, 1},
		{"conv-bn-relu", []string{"BatchNormalization", "Relu"}, false, 1},
		{"conv-relu-bn-pool", []string{"Relu", "BatchNormalization", "MaxPool"}, false, 2},
		{"conv-clip", []string{"Clip"}, false, 1},
		{"conv-bn-clip-bn", []string{"BatchNormalization", "Clip", "BatchNormalization"}, false, 1},
		{"conv-relu-shared", []string{"Relu"}, true, 2},
		{"conv-bn-hardswish", []string{"BatchNormalization", "x*HardSigmoid"}, false, 1},
		{"conv-bn-silu-hardsigmoid", []string{"BatchNormalization", "x*Sigmoid", "HardSigmoid"}, false, 1},
		{"conv-sigmoid-bn", []string{"Sigmoid", "BatchNormalization"}, false, 1},
		{"conv-bn-silu", []string{"BatchNormalization", "x*Sigmoid"}, false, 1},
		{"conv-sigmoid", []string{"Sigmoid"}, false, 1},
		{"conv-hardsigmoid", []string{"HardSigmoid"}, false, 1},
	} {
		for _, group := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/group%d", ch.name, group), func(t *testing.T) {
				m, c := 6, 4
				if group == 4 { // depthwise
					m = 4
				}
				x := randT(rng, 1, 2, c, 7, 9)
				w := randT(rng, 0.5, m, c/group, 3, 3)
				g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, int64(c), 7, 9)}}}
				g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{int64(m), int64(c / group), 3, 3}, w.Data.([]float32)),
					f32Tensor(t, "bias", []int64{int64(m)}, randT(rng, 1, m).Data.([]float32)))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"v0"},
					Attrs: []*ir.Attribute{ints("pads", 1, 1, 1, 1), {Name: "group", Type: ir.AttrInt, Int: int64(group)}}})
				prev := "v0"
				for i, op := range ch.ops {
					out := fmt.Sprintf("v%d", i+1)
					n := &ir.Node{OpType: op, Name: fmt.Sprintf("n%d", i), Inputs: []string{prev}, Outputs: []string{out}}
					if act, ok := strings.CutPrefix(op, "x*"); ok { // act, then Mul by its input
						a := &ir.Node{OpType: act, Name: fmt.Sprintf("a%d", i), Inputs: []string{prev}, Outputs: []string{out + "a"}}
						if act == "HardSigmoid" {
							a.Attrs = []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, Float: 1.0 / 6}}
						}
						g.Nodes = append(g.Nodes, a)
						n = &ir.Node{OpType: "Mul", Name: fmt.Sprintf("n%d", i), Inputs: []string{out + "a", prev}, Outputs: []string{out}}
					}
					switch op {
					case "BatchNormalization":
						names, ts := bnParams(fmt.Sprintf("bn%d_", i), m)
						n.Inputs = append(n.Inputs, names...)
						g.Initializers = append(g.Initializers, ts...)
					case "Clip":
						g.Initializers = append(g.Initializers, f32Tensor(t, "lo", nil, []float32{-0.5}), f32Tensor(t, "hi", nil, []float32{0.75}))
						n.Inputs = append(n.Inputs, "lo", "hi")
					case "MaxPool":
						n.Attrs = []*ir.Attribute{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
					}
					g.Nodes = append(g.Nodes, n)
					prev = out
				}
				g.Outputs = []*ir.ValueInfo{{Name: prev}}
				if ch.extra {
					g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "v0"})
				}
				model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
				run := func(on bool) (map[string]*Tensor, int) {
					fastPaths = on
					defer func() { fastPaths = true }()
					s, err := New(model, Options{})
					if err != nil {
						t.Fatal(err)
					}
					var res map[string]*Tensor
					for i := 0; i < 3; i++ { // pooled buffers reused by later runs
						if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
							t.Fatal(err)
						}
					}
					return res, len(s.main.steps)
				}
				fast, steps := run(true)
				slow, _ := run(false)
				if steps != ch.steps {
					t.Errorf("%d steps after fusion, want %d", steps, ch.steps)
				}
				for _, o := range g.Outputs {
					closeTo(t, o.Name, fast[o.Name], slow[o.Name], 1e-5, 1e-5)
				}
			})
		}
	}
}

// TestFuseConvFallback runs a fused chain with the fast paths switched off after load,
// which takes the fallback (the original nodes in turn): the same result.
func TestFuseConvFallback(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	x := randT(rng, 1, 1, 2, 5, 5)
	g := &ir.Graph{
		Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 2, 5, 5)}},
		Initializers: []*ir.Tensor{f32Tensor(t, "w", []int64{3, 2, 3, 3}, randT(rng, 1, 3, 2, 3, 3).Data.([]float32)),
			f32Tensor(t, "lo", nil, []float32{0}), f32Tensor(t, "hi", nil, []float32{6})},
		Nodes: []*ir.Node{{OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
			{OpType: "Clip", Inputs: []string{"c", "lo", "hi"}, Outputs: []string{"y"}},
			{OpType: "HardSigmoid", Inputs: []string{"y"}, Outputs: []string{"hs"}},
			{OpType: "Mul", Inputs: []string{"y", "hs"}, Outputs: []string{"z"}}},
		Outputs: []*ir.ValueInfo{{Name: "z"}},
	}
	s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.main.steps) != 1 {
		t.Fatalf("%d steps, want the fused one", len(s.main.steps))
	}
	want, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	// The same chain run node by node on float32 data: the fallback path.
	fastPaths = false
	got, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
	fastPaths = true
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "z", got["z"], want["z"], 1e-5, 1e-5)
	for _, v := range got["z"].Data.([]float32) {
		if v < 0 || v > 6 || math.IsNaN(float64(v)) {
			t.Fatalf("value %v outside the Clip bounds", v)
		}
	}
}

func f32Tensor(t testing.TB, name string, shape []int64, v []float32) *ir.Tensor {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	if shape == nil {
		shape = []int64{}
	}
	tt, err := ir.NewTensor(name, ir.Float32, shape, b)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestFuseIntMatMul runs onnxruntime's dequantization tail (MatMulInteger → Cast → Mul)
// with fusion on and off: bit-identical results, one step instead of three, for a
// scalar scale computed after the product, a per-column scale on the left of the Mul,
// and a scale whose shape would broadcast (the fallback).
func TestFuseIntMatMul(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	k, n := 40, 24
	wq := make([]byte, k*n)
	for i := range wq {
		wq[i] = byte(rng.Intn(256))
	}
	w, err := ir.NewTensor("w", ir.Int8, []int64{int64(k), int64(n)}, wq)
	if err != nil {
		t.Fatal(err)
	}
	wzp, err := ir.NewTensor("wzp", ir.Int8, []int64{}, []byte{3})
	if err != nil {
		t.Fatal(err)
	}
	perCol := make([]float32, n)
	for i := range perCol {
		perCol[i] = 0.01 * float32(i+1)
	}
	for _, tc := range []struct {
		name      string
		scaleInit *ir.Tensor
		swap      bool
		steps     int
	}{
		{"scalar", f32Tensor(t, "ws", nil, []float32{0.05}), false, 4},
		{"per-column", f32Tensor(t, "ws", []int64{int64(n)}, perCol), true, 4},
		{"broadcast", f32Tensor(t, "ws", []int64{2, 1, 1}, []float32{0.5, 2}), false, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mul := &ir.Node{OpType: "Mul", Inputs: []string{"f", "sc"}, Outputs: []string{"y"}}
			if tc.swap {
				mul.Inputs = []string{"sc", "f"}
			}
			g := &ir.Graph{
				Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 5, int64(k))}},
				Initializers: []*ir.Tensor{w, wzp, tc.scaleInit},
				Nodes: []*ir.Node{
					{OpType: "DynamicQuantizeLinear", Inputs: []string{"x"}, Outputs: []string{"xq", "xs", "xz"}},
					{OpType: "MatMulInteger", Name: "mmi", Inputs: []string{"xq", "w", "xz", "wzp"}, Outputs: []string{"acc"}},
					{OpType: "Mul", Inputs: []string{"xs", "ws"}, Outputs: []string{"sc"}}, // after the product
					{OpType: "Cast", Inputs: []string{"acc"}, Outputs: []string{"f"}, Attrs: []*ir.Attribute{{Name: "to", Type: ir.AttrInt, Int: int64(ir.Float32)}}},
					mul,
				},
				Outputs: []*ir.ValueInfo{{Name: "y"}},
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
			x := randT(rng, 2, 2, 5, k)
			run := func(on bool) (*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				s, err := New(model, Options{})
				if err != nil {
					t.Fatal(err)
				}
				var res map[string]*Tensor
				for i := 0; i < 3; i++ {
					if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
						t.Fatal(err)
					}
				}
				return res["y"], len(s.main.steps)
			}
			fast, steps := run(true)
			slow, before := run(false)
			if before != 5 || steps != tc.steps-1 {
				t.Errorf("%d steps after fusion (%d before), want %d", steps, before, tc.steps-1)
			}
			closeTo(t, "y", fast, slow, 0, 0)
		})
	}
}

// TestFuseGelu runs torch's GELU chain (Div by √2, Erf, Add 1, Mul by x, Mul by 0.5)
// fused and unfused, and through the fallback; plus Pow by 2 (exact either way).
func TestFuseGelu(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	x := randT(rng, 3, 3, 37)
	x.Data.([]float32)[5] = -7 // the erfc branch
	g := &ir.Graph{
		Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 3, 37)}},
		Initializers: []*ir.Tensor{f32Tensor(t, "sqrt2", nil, []float32{1.4142135381698608}), f32Tensor(t, "one", nil, []float32{1}),
			f32Tensor(t, "half", nil, []float32{0.5}), f32Tensor(t, "two", nil, []float32{2})},
		Nodes: []*ir.Node{{OpType: "Div", Inputs: []string{"x", "sqrt2"}, Outputs: []string{"d"}},
			{OpType: "Erf", Inputs: []string{"d"}, Outputs: []string{"e"}},
			{OpType: "Add", Inputs: []string{"e", "one"}, Outputs: []string{"a"}},
			{OpType: "Mul", Inputs: []string{"x", "a"}, Outputs: []string{"m"}},
			{OpType: "Mul", Inputs: []string{"m", "half"}, Outputs: []string{"y"}},
			{OpType: "Pow", Inputs: []string{"y", "two"}, Outputs: []string{"z"}}},
		Outputs: []*ir.ValueInfo{{Name: "z"}},
	}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	run := func(on, fallback bool) (*Tensor, int) {
		fastPaths = on
		defer func() { fastPaths = true }()
		s, err := New(model, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fallback {
			fastPaths = false
		}
		res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		return res["z"], len(s.main.steps)
	}
	fast, steps := run(true, false)
	slow, _ := run(false, false)
	fb, _ := run(true, true)
	if steps != 2 {
		t.Errorf("%d steps after fusion, want 2", steps)
	}
	closeTo(t, "gelu", fast, slow, 1e-5, 1e-6)
	closeTo(t, "gelu fallback", fb, slow, 0, 0)
}

// TestFuseLayerNorm runs torch's nine-node LayerNorm (opset < 17) fused, unfused and
// through the fallback; x is also read after the chain.
func TestFuseLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	x := randT(rng, 2, 2, 5, 33)
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	g := &ir.Graph{
		Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 5, 33)}},
		Initializers: []*ir.Tensor{f32Tensor(t, "eps", nil, []float32{1e-5}), f32Tensor(t, "two", nil, []float32{2}),
			f32Tensor(t, "gamma", []int64{33}, randT(rng, 1, 33).Data.([]float32)), f32Tensor(t, "beta", []int64{33}, randT(rng, 1, 33).Data.([]float32))},
		Nodes: []*ir.Node{{OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"m"}, Attrs: []*ir.Attribute{ints("axes", -1)}},
			{OpType: "Sub", Inputs: []string{"x", "m"}, Outputs: []string{"d"}},
			{OpType: "Pow", Inputs: []string{"d", "two"}, Outputs: []string{"p"}},
			{OpType: "ReduceMean", Inputs: []string{"p"}, Outputs: []string{"v"}, Attrs: []*ir.Attribute{ints("axes", -1)}},
			{OpType: "Add", Inputs: []string{"v", "eps"}, Outputs: []string{"e"}},
			{OpType: "Sqrt", Inputs: []string{"e"}, Outputs: []string{"s"}},
			{OpType: "Div", Inputs: []string{"d", "s"}, Outputs: []string{"n"}},
			{OpType: "Mul", Inputs: []string{"n", "gamma"}, Outputs: []string{"y"}},
			{OpType: "Add", Inputs: []string{"beta", "y"}, Outputs: []string{"z"}},
			{OpType: "Add", Inputs: []string{"z", "x"}, Outputs: []string{"out"}}},
		Outputs: []*ir.ValueInfo{{Name: "out"}},
	}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
	run := func(on, fallback bool) (*Tensor, int) {
		fastPaths = on
		defer func() { fastPaths = true }()
		s, err := New(model, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fallback {
			fastPaths = false
		}
		res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		return res["out"], len(s.main.steps)
	}
	fast, steps := run(true, false)
	slow, _ := run(false, false)
	fb, _ := run(true, true)
	if steps != 2 {
		t.Errorf("%d steps after fusion, want 2", steps)
	}
	closeTo(t, "layernorm", fast, slow, 1e-5, 1e-5)
	closeTo(t, "layernorm fallback", fb, slow, 0, 0)
}
