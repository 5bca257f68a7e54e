package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// The float32 fast paths against the generic (float64) kernels on random inputs: every
// option the fast path takes, odd sizes included. Tolerances are float32 rounding
// (the generic kernels round once at the end, the fast ones at every step).

func randT(rng *rand.Rand, scale float32, shape ...int) *Tensor {
	v := make([]float32, prod(shape))
	for i := range v {
		v[i] = scale * float32(rng.NormFloat64())
	}
	return &Tensor{DType: ir.Float32, Shape: shape, Data: v}
}

// runBoth runs one node on inputs with the fast paths on and off.
func runBoth(t *testing.T, n *ir.Node, inputs []*Tensor) (fast, slow []*Tensor) {
	t.Helper()
	g := &ir.Graph{Nodes: []*ir.Node{n}}
	feed := map[string]*Tensor{}
	for i, x := range inputs {
		if x == nil {
			n.Inputs[i] = ""
			continue
		}
		name := fmt.Sprintf("in%d", i)
		n.Inputs[i] = name
		g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: name})
		feed[name] = x
	}
	for _, o := range n.Outputs {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
	}
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 21}}, Graph: g}
	run := func(on bool) []*Tensor {
		res, _ := runSwitched(t, &fastPaths, on, m, Options{}, feed)
		var out []*Tensor
		for _, o := range n.Outputs {
			out = append(out, res[o])
		}
		return out
	}
	return run(true), run(false)
}

func closeTo(t *testing.T, what string, got, want *Tensor, rtol, atol float64) {
	t.Helper()
	if !sameShape(got.Shape, want.Shape) || got.DType != want.DType {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	g, w := float64s(got), float64s(want)
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) || g[i] == w[i] {
			continue
		}
		if !(math.Abs(g[i]-w[i]) <= atol+rtol*math.Abs(w[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

func TestFastRecurrent(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, kind := range []string{"LSTM", "GRU", "RNN"} {
		gates := map[string]int{"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for _, layout := range []int64{0, 1} {
				for variant := 0; variant < 4; variant++ {
					seq, batch, in, H := 5, 3, 7, 9
					dirs := 1
					if dir == "bidirectional" {
						dirs = 2
					}
					x := randT(rng, 1, seq, batch, in)
					if layout == 1 {
						x = randT(rng, 1, batch, seq, in)
					}
					inputs := []*Tensor{x, randT(rng, 0.5, dirs, gates*H, in), randT(rng, 0.5, dirs, gates*H, H)}
					attrs := []*ir.Attribute{{Name: "direction", Type: ir.AttrString, String: []byte(dir)},
						{Name: "hidden_size", Type: ir.AttrInt, Int: int64(H)}, {Name: "layout", Type: ir.AttrInt, Int: layout}}
					if variant >= 1 { // biases, sequence lengths, initial states
						state := func() *Tensor {
							if layout == 1 {
								return randT(rng, 1, batch, dirs, H)
							}
							return randT(rng, 1, dirs, batch, H)
						}
						inputs = append(inputs, randT(rng, 0.5, dirs, 2*gates*H),
							&Tensor{DType: ir.Int32, Shape: []int{batch}, Data: []int32{5, 2, 0}}, state())
						if kind == "LSTM" {
							inputs = append(inputs, state(), randT(rng, 0.5, dirs, 3*H))
						}
					}
					if variant == 2 {
						attrs = append(attrs, &ir.Attribute{Name: "clip", Type: ir.AttrFloat, Float: 0.7})
					}
					if variant == 3 && kind == "GRU" {
						attrs = append(attrs, &ir.Attribute{Name: "linear_before_reset", Type: ir.AttrInt, Int: 1})
					}
					outs := []string{"y", "yh"}
					if kind == "LSTM" {
						outs = append(outs, "yc")
					}
					n := &ir.Node{OpType: kind, Name: "r", Inputs: make([]string, len(inputs)), Outputs: outs, Attrs: attrs}
					fast, slow := runBoth(t, n, inputs)
					for i := range fast {
						closeTo(t, fmt.Sprintf("%s %s layout %d variant %d output %d", kind, dir, layout, variant, i), fast[i], slow[i], 1e-5, 1e-6)
					}
				}
			}
		}
	}
}

func TestFastElementwise(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	special := &Tensor{DType: ir.Float32, Shape: []int{9}, Data: []float32{0, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		1e-30, -1e-7, 0.49999, -0.5, 100}}
	for _, op := range []string{"Relu", "Exp", "Sigmoid", "Tanh", "Neg", "Sqrt", "Erf"} {
		for _, x := range []*Tensor{randT(rng, 3, 5, 67), randT(rng, 0.3, 3), special} {
			n := &ir.Node{OpType: op, Inputs: make([]string, 1), Outputs: []string{"y"}}
			fast, slow := runBoth(t, n, []*Tensor{x})
			closeTo(t, op, fast[0], slow[0], 2e-6, 1e-7)
		}
	}
	// Gelu through accel's polynomial erf: absolute error ≤ 1e-6·|x|; the tail (x < −3)
	// in float64, so tiny results keep their relative precision.
	tail := &Tensor{DType: ir.Float32, Shape: []int{8}, Data: []float32{-2.5, -3, -3.5, -4, -5.5, -7, -9, -30}}
	for _, x := range []*Tensor{randT(rng, 3, 5, 67), randT(rng, 0.3, 3), special, tail} {
		n := &ir.Node{OpType: "Gelu", Inputs: make([]string, 1), Outputs: []string{"y"}}
		fast, slow := runBoth(t, n, []*Tensor{x})
		closeTo(t, "Gelu", fast[0], slow[0], 1e-5, 1e-6)
		if x == tail { // the generic float64 form itself cancels out here (~1e-5 relative, 0 below −8.5)
			closeTo(t, "Gelu tail", fast[0], slow[0], 1e-4, 1e-15)
		}
	}
	// The per-row broadcasts (a squeeze-and-excitation scale, a bias per channel) on
	// either side, with rows short of and above the split's grain, and forms that are
	// not one (a non-contiguous run of dimensions, a row too short).
	shapes := [][2][]int{{{4, 5}, {4, 5}}, {{4, 5}, {}}, {{}, {4, 5}}, {{4, 5}, {5}}, {{3, 1, 5}, {4, 1}}, {{2, 3, 4}, {1, 3, 1}}, {{0, 3}, {3}},
		{{1, 7, 1, 1}, {2, 7, 9, 11}}, {{2, 7, 9, 11}, {7, 1, 1}}, {{2, 5, 30, 1}, {2, 5, 1, 1}}, {{3, 1, 1}, {3, 200, 200}},
		{{2, 7, 9, 11}, {7, 1, 11}}, {{2, 3, 4, 5}, {3, 1, 1}}}
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, sh := range shapes {
			a, b := randT(rng, 2, sh[0]...), randT(rng, 2, sh[1]...)
			n := &ir.Node{OpType: op, Inputs: make([]string, 2), Outputs: []string{"y"}}
			fast, slow := runBoth(t, n, []*Tensor{a, b})
			closeTo(t, fmt.Sprintf("%s %v", op, sh), fast[0], slow[0], 0, 0) // same float32 arithmetic: exact
		}
	}
}

func TestFastLayerNormGemmSoftmax(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, axis := range []int64{-1, 1} {
		x := randT(rng, 2, 3, 4, 6)
		norm := x.Shape[axis+int64(len(x.Shape))*int64(boolToInt(axis < 0)):]
		n := &ir.Node{OpType: "LayerNormalization", Inputs: make([]string, 3), Outputs: []string{"y", "mean", "inv"},
			Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: axis}}}
		fast, slow := runBoth(t, n, []*Tensor{x, randT(rng, 1, norm...), randT(rng, 1, norm...)})
		for i := range fast {
			closeTo(t, "LayerNormalization", fast[i], slow[i], 1e-5, 1e-6)
		}
	}
	for _, c := range []*Tensor{nil, randT(rng, 1, 7), randT(rng, 1, 1, 7), randT(rng, 1, 5, 7), randT(rng, 1, 5, 1)} {
		for _, beta := range []float32{1, 0.5} {
			n := &ir.Node{OpType: "Gemm", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: []*ir.Attribute{
				{Name: "transB", Type: ir.AttrInt, Int: 1}, {Name: "beta", Type: ir.AttrFloat, Float: beta}, {Name: "alpha", Type: ir.AttrFloat, Float: 1.5}}}
			fast, slow := runBoth(t, n, []*Tensor{randT(rng, 1, 5, 33), randT(rng, 1, 7, 33), c})
			closeTo(t, "Gemm", fast[0], slow[0], 1e-5, 1e-5)
		}
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFastConvPool(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for i, attrs := range [][]*ir.Attribute{
		{ints("pads", 1, 1, 1, 1)},
		{ints("pads", 0, 2, 1, 0), ints("strides", 2, 3)},
		{ints("dilations", 2, 1), ints("strides", 1, 2), ints("pads", 2, 0, 0, 3)},
		{{Name: "auto_pad", Type: ir.AttrString, String: []byte("SAME_UPPER")}, ints("strides", 2, 2)},
		{{Name: "group", Type: ir.AttrInt, Int: 2}, ints("pads", 1, 0, 1, 0)},
		{ints("strides", 2, 2)},
	} {
		group := 1
		for _, a := range attrs {
			if a.Name == "group" {
				group = int(a.Int)
			}
		}
		x, w := randT(rng, 1, 2, 4, 7, 9), randT(rng, 1, 6, 4/group, 3, 2)
		n := &ir.Node{OpType: "Conv", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, w, randT(rng, 1, 6)})
		// A batch goes through one wide GEMM (convBatched): float32 rounding differs.
		closeTo(t, fmt.Sprintf("Conv %d", i), fast[0], slow[0], 1e-5, 1e-5)
		pool := []*ir.Attribute{ints("kernel_shape", 3, 2)}
		if i == 5 {
			pool = []*ir.Attribute{ints("kernel_shape", 2, 2)}
			x.Data.([]float32)[3] = float32(math.NaN())
		}
		for _, a := range attrs {
			if a.Name != "group" {
				pool = append(pool, a)
			}
		}
		if i%2 == 1 && i != 5 { // 5: the 2×2/2 special case, no ceil overhang
			pool = append(pool, &ir.Attribute{Name: "ceil_mode", Type: ir.AttrInt, Int: 1})
		}
		n = &ir.Node{OpType: "MaxPool", Inputs: make([]string, 1), Outputs: []string{"y"}, Attrs: pool}
		fast, slow = runBoth(t, n, []*Tensor{x})
		closeTo(t, fmt.Sprintf("MaxPool %d", i), fast[0], slow[0], 0, 0)
	}
}

func TestFastQuantized(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	u8 := func(shape ...int) *Tensor {
		v := make([]uint8, prod(shape))
		for i := range v {
			v[i] = uint8(rng.Intn(256))
		}
		return &Tensor{DType: ir.Uint8, Shape: shape, Data: v}
	}
	s8 := func(shape ...int) *Tensor {
		v := make([]int8, prod(shape))
		for i := range v {
			v[i] = int8(rng.Intn(256) - 128)
		}
		return &Tensor{DType: ir.Int8, Shape: shape, Data: v}
	}
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	// ConvInteger and QLinearConv through the integer GEMM against the reference loop:
	// uint8/int8 X and W, padding (which holds the zero point), strides, groups,
	// per-channel weight zero points.
	for i, attrs := range [][]*ir.Attribute{
		{ints("pads", 1, 1, 1, 1)},
		{ints("pads", 0, 2, 1, 0), ints("strides", 2, 3)},
		{{Name: "group", Type: ir.AttrInt, Int: 2}, ints("pads", 1, 0, 1, 0), ints("dilations", 2, 1)},
	} {
		group := 1
		for _, a := range attrs {
			if a.Name == "group" {
				group = int(a.Int)
			}
		}
		x, w := u8(2, 4, 7, 9), s8(6, 4/group, 3, 2)
		if i == 1 {
			x, w = s8(2, 4, 7, 9), u8(6, 4/group, 3, 2)
		}
		xzp := &Tensor{DType: x.DType, Shape: []int{}, Data: x.Data}
		switch d := x.Data.(type) {
		case []uint8:
			xzp.Data = []uint8{d[0]}
		case []int8:
			xzp.Data = []int8{d[0]}
		}
		wzp := u8(6)
		if w.DType == ir.Int8 {
			wzp = s8(6)
		}
		n := &ir.Node{OpType: "ConvInteger", Inputs: make([]string, 4), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, w, xzp, wzp})
		closeTo(t, fmt.Sprintf("ConvInteger %d", i), fast[0], slow[0], 0, 0)
		f32 := func(v float32) *Tensor { return &Tensor{DType: ir.Float32, Shape: []int{}, Data: []float32{v}} }
		yzp := &Tensor{DType: ir.Uint8, Shape: []int{}, Data: []uint8{128}}
		bias := &Tensor{DType: ir.Int32, Shape: []int{6}, Data: []int32{5, -7, 100, 0, 3, -1000}}
		n = &ir.Node{OpType: "QLinearConv", Inputs: make([]string, 9), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow = runBoth(t, n, []*Tensor{x, f32(0.02), xzp, w, f32(0.01), wzp, f32(0.5), yzp, bias})
		closeTo(t, fmt.Sprintf("QLinearConv %d", i), fast[0], slow[0], 0, 0)
	}
	withNaN := randT(rng, 2, 70)
	withNaN.Data.([]float32)[33] = float32(math.NaN())
	for _, x := range []*Tensor{randT(rng, 3, 7, 45), randT(rng, 0.1, 3), {DType: ir.Float32, Shape: []int{2}, Data: []float32{0, 0}}, withNaN} {
		n := &ir.Node{OpType: "DynamicQuantizeLinear", Inputs: make([]string, 1), Outputs: []string{"y", "s", "z"}}
		fast, slow := runBoth(t, n, []*Tensor{x})
		for i := range fast {
			closeTo(t, "DynamicQuantizeLinear", fast[i], slow[i], 0, 0)
		}
	}
	for _, sh := range [][3]int{{3, 5, 4}, {17, 33, 40}, {1, 64, 64}} {
		m, k, nn := sh[0], sh[1], sh[2]
		a := &Tensor{DType: ir.Uint8, Shape: []int{2, m, k}, Data: make([]uint8, 2*m*k)}
		b := &Tensor{DType: ir.Int8, Shape: []int{k, nn}, Data: make([]int8, k*nn)}
		for i := range a.Data.([]uint8) {
			a.Data.([]uint8)[i] = uint8(rng.Intn(256))
		}
		for i := range b.Data.([]int8) {
			b.Data.([]int8)[i] = int8(rng.Intn(256) - 128)
		}
		azp := &Tensor{DType: ir.Uint8, Shape: []int{}, Data: []uint8{uint8(rng.Intn(256))}}
		n := &ir.Node{OpType: "MatMulInteger", Inputs: make([]string, 4), Outputs: []string{"y"}}
		fast, slow := runBoth(t, n, []*Tensor{a, b, azp, nil})
		closeTo(t, "MatMulInteger", fast[0], slow[0], 0, 0)
		// int8 A, uint8 B, zero points on both sides (per column for B).
		as8 := &Tensor{DType: ir.Int8, Shape: []int{m, k}, Data: make([]int8, m*k)}
		bu8 := &Tensor{DType: ir.Uint8, Shape: []int{2, k, nn}, Data: make([]uint8, 2*k*nn)}
		for i := range as8.Data.([]int8) {
			as8.Data.([]int8)[i] = int8(rng.Intn(256) - 128)
		}
		for i := range bu8.Data.([]uint8) {
			bu8.Data.([]uint8)[i] = uint8(rng.Intn(256))
		}
		bzp := &Tensor{DType: ir.Uint8, Shape: []int{nn}, Data: make([]uint8, nn)}
		for i := range bzp.Data.([]uint8) {
			bzp.Data.([]uint8)[i] = uint8(rng.Intn(256))
		}
		azp8 := &Tensor{DType: ir.Int8, Shape: []int{}, Data: []int8{int8(rng.Intn(256) - 128)}}
		for _, args := range [][]*Tensor{{a, bu8, azp, bzp}, {as8, b, azp8, nil}, {as8, bu8, nil, bzp}, {a, b, nil, &Tensor{DType: ir.Int8, Shape: []int{}, Data: []int8{-3}}}} {
			n := &ir.Node{OpType: "MatMulInteger", Inputs: make([]string, 4), Outputs: []string{"y"}}
			fast, slow := runBoth(t, n, args)
			closeTo(t, fmt.Sprintf("MatMulInteger %v×%v", args[0].DType, args[1].DType), fast[0], slow[0], 0, 0)
		}
		n = &ir.Node{OpType: "Cast", Inputs: make([]string, 1), Outputs: []string{"y"}, Attrs: []*ir.Attribute{{Name: "to", Type: ir.AttrInt, Int: int64(ir.Float32)}}}
		fast, slow = runBoth(t, n, []*Tensor{slow[0]})
		closeTo(t, "Cast", fast[0], slow[0], 0, 0)
	}
}

// Depthwise Conv (group = channels = outputs) takes accel's direct kernel: random
// geometries, odd sizes, padding, strides and dilations, against the generic path.
func TestFastDepthwiseConv(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for i := 0; i < 40; i++ {
		ch, h, w := 1+rng.Intn(7), 1+rng.Intn(13), 1+rng.Intn(17)
		kh, kw := 1+rng.Intn(min(h, 5)), 1+rng.Intn(min(w, 5))
		attrs := []*ir.Attribute{{Name: "group", Type: ir.AttrInt, Int: int64(ch)},
			ints("pads", int64(rng.Intn(kh)), int64(rng.Intn(kw)), int64(rng.Intn(kh)), int64(rng.Intn(kw))),
			ints("strides", int64(1+rng.Intn(3)), int64(1+rng.Intn(3)))}
		if kh*2 <= h && kw*2 <= w && rng.Intn(3) == 0 {
			attrs = append(attrs, ints("dilations", 2, 2))
		}
		x, wt := randT(rng, 1, 1+rng.Intn(2), ch, h, w), randT(rng, 1, ch, 1, kh, kw)
		var b *Tensor
		if rng.Intn(2) == 0 {
			b = randT(rng, 1, ch)
		}
		n := &ir.Node{OpType: "Conv", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, wt, b})
		closeTo(t, fmt.Sprintf("depthwise Conv %d", i), fast[0], slow[0], 1e-5, 1e-5)
	}
}

// Resize of the last two axes on float32 (nearest, linear, cubic; several coordinate
// modes; up and down; odd sizes) against the generic float64 path.
func TestFastResize(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	str := func(name, v string) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
	}
	for i, attrs := range [][]*ir.Attribute{
		{str("mode", "nearest")},
		{str("mode", "nearest"), str("coordinate_transformation_mode", "asymmetric"), str("nearest_mode", "floor")},
		{str("mode", "linear")},
		{str("mode", "linear"), str("coordinate_transformation_mode", "align_corners")},
		{str("mode", "linear"), str("coordinate_transformation_mode", "pytorch_half_pixel")},
		{str("mode", "cubic")},
	} {
		for _, sc := range [][2]float32{{2, 2}, {1.5, 0.75}, {0.5, 3}} {
			x := randT(rng, 1, 2, 3, 5+i, 7)
			scales := &Tensor{DType: ir.Float32, Shape: []int{4}, Data: []float32{1, 1, sc[0], sc[1]}}
			n := &ir.Node{OpType: "Resize", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
			fast, slow := runBoth(t, n, []*Tensor{x, nil, scales})
			closeTo(t, fmt.Sprintf("Resize %d %v", i, sc), fast[0], slow[0], 1e-5, 1e-5)
		}
	}
}

// 1-D Conv (plain, grouped, depthwise) and MaxPool run as 2-D ones of height 1:
// against the generic path on odd lengths, strides, padding and dilation.
func TestFastConvPool1D(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for i, attrs := range [][]*ir.Attribute{
		{ints("pads", 3, 2), ints("strides", 4)},
		{ints("dilations", 2), ints("pads", 1, 1)},
		{{Name: "group", Type: ir.AttrInt, Int: 2}, ints("strides", 3)},
		{{Name: "group", Type: ir.AttrInt, Int: 4}, ints("pads", 2, 2)},
	} {
		group, m := 1, 6
		for _, a := range attrs {
			if a.Name == "group" {
				group = int(a.Int)
			}
		}
		if group == 4 {
			m = 4
		}
		x, w := randT(rng, 1, 2, 4, 53), randT(rng, 1, m, 4/group, 7)
		n := &ir.Node{OpType: "Conv", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, []*Tensor{x, w, randT(rng, 1, m)})
		closeTo(t, fmt.Sprintf("Conv1D %d", i), fast[0], slow[0], 1e-5, 1e-5)
		pool := []*ir.Attribute{ints("kernel_shape", 4)}
		for _, a := range attrs {
			if a.Name != "group" {
				pool = append(pool, a)
			}
		}
		n = &ir.Node{OpType: "MaxPool", Inputs: make([]string, 1), Outputs: []string{"y"}, Attrs: pool}
		fast, slow = runBoth(t, n, []*Tensor{x})
		closeTo(t, fmt.Sprintf("MaxPool1D %d", i), fast[0], slow[0], 0, 0)
	}
}

// GlobalAveragePool on float32 sums in float64 as the generic kernel does, in another
// order (accel.RowMeans): within a float32 rounding of it, and the same bits at every
// thread count.
func TestFastGlobalAveragePool(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	// Planes in groups of four and a remainder; enough planes for several tasks.
	for _, shape := range [][]int{{2, 3, 7, 5}, {1, 5, 1, 1}, {3, 2, 11}, {1, 4, 3, 3}, {1, 4099, 3, 3}, {2, 37, 29, 31},
		{1, 96, 14, 14}, {1, 40, 112, 112}} {
		x := randT(rng, 1, shape...)
		var first *Tensor
		for _, th := range []int{1, 2, 3} {
			prev := accel.SetMaxThreads(th)
			n := &ir.Node{OpType: "GlobalAveragePool", Inputs: make([]string, 1), Outputs: []string{"y"}}
			fast, slow := runBoth(t, n, []*Tensor{x})
			accel.SetMaxThreads(prev)
			what := fmt.Sprint("GlobalAveragePool ", shape, " threads ", th)
			closeTo(t, what, fast[0], slow[0], 1.2e-7, 1e-9)
			if first == nil {
				first = fast[0]
			}
			closeTo(t, what+" against 1 thread", fast[0], first, 0, 0)
		}
	}
}
