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

// qdqConvCase is one DequantizeLinear → Conv (→ epilogue) model for the integer
// convolution's tests.
type qdqConvCase struct {
	name                  string
	batch, ch, m          int
	in, kernel            []int // spatial sizes (1-D or 2-D)
	strides, pads, dil    []int
	static                bool // x quantized by QuantizeLinear to int8 with constant scale and zero point; else DynamicQuantizeLinear (uint8)
	uint8X                bool // static: quantized to uint8
	unitScales            bool // static: scales of 1 and no bias, so the float results are the exact integer sums on both paths
	perChannel, bias      bool
	epilogue              []string // "Relu", "Clip", "x*HardSigmoid"
	group                 int      // 0: 1
	weightZeroPoint       int8     // the first channel's weight zero point, the others near it (0: all 0)
	wantSteps, wantSteps0 int      // steps with fusion: all of it, and the plain model
	shared                bool     // a second Conv (same weights) reads the dequantized x too; y is the sum
	quantOut              ir.DType // Uint8 or Int8: y is quantized (QuantizeLinear) and dequantized again
}

// model builds the case's graph with seeded random weights.
func (tc qdqConvCase) model(t *testing.T, rng *rand.Rand) *ir.Model {
	t.Helper()
	group := max(tc.group, 1)
	wshape := append([]int64{int64(tc.m), int64(tc.ch / group)}, toInt64s(tc.kernel)...)
	wq := make([]byte, tc.m*tc.ch/group*prod(tc.kernel))
	for i := range wq {
		wq[i] = byte(int8(rng.Intn(255) - 127))
	}
	wt, err := ir.NewTensor("wq", ir.Int8, wshape, wq)
	if err != nil {
		t.Fatal(err)
	}
	scales := make([]float32, tc.m)
	for i := range scales {
		scales[i] = 0.001 + 0.02*float32(rng.Float64())
		if tc.unitScales {
			scales[i] = 1
		}
	}
	zps := make([]byte, tc.m)
	for i := range zps {
		zps[i] = byte(tc.weightZeroPoint)
		if tc.weightZeroPoint != 0 {
			zps[i] += byte(i % 7) // a different one per channel
		}
	}
	wdq := &ir.Node{OpType: "DequantizeLinear", Name: "wdq", Inputs: []string{"wq", "ws", "wzp"}, Outputs: []string{"w"}}
	var ws, wzp *ir.Tensor
	if tc.perChannel {
		ws = f32Tensor(t, "ws", []int64{int64(tc.m)}, scales)
		wzp, err = ir.NewTensor("wzp", ir.Int8, []int64{int64(tc.m)}, zps)
		wdq.Attrs = []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 0}}
	} else {
		ws = f32Tensor(t, "ws", nil, scales[:1])
		wzp, err = ir.NewTensor("wzp", ir.Int8, []int64{}, zps[:1])
	}
	if err != nil {
		t.Fatal(err)
	}
	xshape := append([]int64{int64(tc.batch), int64(tc.ch)}, toInt64s(tc.in)...)
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, xshape...)}},
		Initializers: []*ir.Tensor{wt, ws, wzp}}
	if tc.static {
		xzp, err := ir.NewTensor("xzp", ir.Int8, []int64{}, []byte{0xf9}) // −7
		if tc.uint8X {
			xzp, err = ir.NewTensor("xzp", ir.Uint8, []int64{}, []byte{131})
		}
		if err != nil {
			t.Fatal(err)
		}
		xs := float32(0.02)
		if tc.unitScales {
			xs = 1
		}
		g.Initializers = append(g.Initializers, f32Tensor(t, "xs", nil, []float32{xs}), xzp)
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "QuantizeLinear", Name: "xq", Inputs: []string{"x", "xs", "xzp"}, Outputs: []string{"q"}})
	} else {
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "DynamicQuantizeLinear", Name: "xq", Inputs: []string{"x"}, Outputs: []string{"q", "xs", "xzp"}})
	}
	conv := &ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"xdq", "w"}, Outputs: []string{"c"}}
	if tc.bias {
		g.Initializers = append(g.Initializers, f32Tensor(t, "b", []int64{int64(tc.m)}, randT(rng, 0.5, tc.m).Data.([]float32)))
		conv.Inputs = append(conv.Inputs, "b")
	}
	ints := func(name string, v []int) {
		if v != nil {
			conv.Attrs = append(conv.Attrs, &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: toInt64s(v)})
		}
	}
	ints("strides", tc.strides)
	ints("pads", tc.pads)
	ints("dilations", tc.dil)
	if group > 1 {
		conv.Attrs = append(conv.Attrs, &ir.Attribute{Name: "group", Type: ir.AttrInt, Int: int64(group)})
	}
	g.Nodes = append(g.Nodes, wdq, &ir.Node{OpType: "DequantizeLinear", Name: "xdq", Inputs: []string{"q", "xs", "xzp"}, Outputs: []string{"xdq"}}, conv)
	prev := "c"
	for i, op := range tc.epilogue {
		out := fmt.Sprintf("e%d", i)
		switch op {
		case "Relu":
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "Relu", Inputs: []string{prev}, Outputs: []string{out}})
		case "Clip":
			g.Initializers = append(g.Initializers, f32Tensor(t, "lo", nil, []float32{0}), f32Tensor(t, "hi", nil, []float32{0.4}))
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "Clip", Inputs: []string{prev, "lo", "hi"}, Outputs: []string{out}})
		case "x*HardSigmoid":
			g.Nodes = append(g.Nodes, &ir.Node{OpType: "HardSigmoid", Inputs: []string{prev}, Outputs: []string{out + "h"},
				Attrs: []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, Float: 1.0 / 6}}},
				&ir.Node{OpType: "Mul", Inputs: []string{prev, out + "h"}, Outputs: []string{out}})
		}
		prev = out
	}
	if tc.quantOut != 0 {
		zp, err := ir.NewTensor("yzp", tc.quantOut, []int64{}, []byte{0xfb}) // 251, or −5
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers = append(g.Initializers, f32Tensor(t, "ys", nil, []float32{0.03}), zp)
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "QuantizeLinear", Name: "yq", Inputs: []string{prev, "ys", "yzp"}, Outputs: []string{"yq"}},
			&ir.Node{OpType: "DequantizeLinear", Name: "ydq", Inputs: []string{"yq", "ys", "yzp"}, Outputs: []string{"ydq"}})
		prev = "ydq"
	}
	if tc.shared {
		conv2 := *conv
		conv2.Name, conv2.Outputs = "conv2", []string{"c2"}
		g.Nodes = append(g.Nodes, &conv2, &ir.Node{OpType: "Add", Inputs: []string{prev, "c2"}, Outputs: []string{"sum"}})
		prev = "sum"
	}
	g.Outputs = []*ir.ValueInfo{{Name: prev}}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}
}

func toInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

var qdqConvCases = []qdqConvCase{
	{name: "3x3-pad-relu", batch: 1, ch: 3, m: 5, in: []int{7, 9}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1},
		perChannel: true, bias: true, epilogue: []string{"Relu"}, wantSteps: 2, wantSteps0: 4},
	{name: "1x1-pointwise-batch", batch: 2, ch: 37, m: 19, in: []int{5, 11}, kernel: []int{1, 1}, perChannel: true,
		epilogue: []string{"Clip"}, wantSteps: 2, wantSteps0: 4},
	{name: "static-int8-pointwise", batch: 1, ch: 21, m: 9, in: []int{7, 5}, kernel: []int{1, 1}, static: true,
		perChannel: true, weightZeroPoint: 7, bias: true, wantSteps: 2, wantSteps0: 3},
	// Scales of 1: the outputs are the integer sums themselves, compared bit for bit.
	{name: "exact-3x3-int8", batch: 2, ch: 5, m: 11, in: []int{9, 7}, kernel: []int{3, 3}, pads: []int{1, 0, 2, 1},
		static: true, unitScales: true, perChannel: true, weightZeroPoint: -9, wantSteps: 2, wantSteps0: 3},
	{name: "exact-3x3s2-uint8", batch: 1, ch: 6, m: 17, in: []int{11, 10}, kernel: []int{3, 3}, strides: []int{2, 2},
		pads: []int{1, 1, 1, 1}, static: true, uint8X: true, unitScales: true, perChannel: true, weightZeroPoint: 12,
		wantSteps: 2, wantSteps0: 3},
	{name: "exact-pointwise-int8", batch: 1, ch: 33, m: 7, in: []int{5, 9}, kernel: []int{1, 1}, static: true,
		unitScales: true, perChannel: true, weightZeroPoint: 4, wantSteps: 2, wantSteps0: 3},
	{name: "exact-pointwise-uint8-batch", batch: 3, ch: 19, m: 10, in: []int{3, 7}, kernel: []int{1, 1}, static: true,
		uint8X: true, unitScales: true, weightZeroPoint: -2, wantSteps: 2, wantSteps0: 3},
	{name: "stride2-asympad-dil", batch: 1, ch: 6, m: 33, in: []int{13, 10}, kernel: []int{3, 2}, strides: []int{2, 2},
		pads: []int{0, 1, 2, 0}, dil: []int{2, 1}, bias: true, wantSteps: 2, wantSteps0: 3},
	{name: "static-int8-hardswish", batch: 1, ch: 16, m: 40, in: []int{12, 12}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1},
		static: true, perChannel: true, bias: true, weightZeroPoint: -5, epilogue: []string{"x*HardSigmoid"}, wantSteps: 2, wantSteps0: 5},
	{name: "1d", batch: 2, ch: 4, m: 7, in: []int{31}, kernel: []int{5}, strides: []int{3}, pads: []int{2, 2},
		perChannel: true, weightZeroPoint: -120, bias: true, epilogue: []string{"Relu"}, wantSteps: 2, wantSteps0: 4},
	{name: "exact-1d-ch1-uint8-batch", batch: 2, ch: 1, m: 13, in: []int{203}, kernel: []int{9}, strides: []int{4},
		pads: []int{4, 5}, static: true, uint8X: true, unitScales: true, perChannel: true, weightZeroPoint: 6,
		wantSteps: 2, wantSteps0: 3},
	{name: "exact-1d-ch1-audio-stem", batch: 1, ch: 1, m: 32, in: []int{4001}, kernel: []int{80}, strides: []int{4},
		pads: []int{40, 40}, static: true, uint8X: true, unitScales: true, perChannel: true, wantSteps: 2, wantSteps0: 3},
	{name: "exact-3x3-dil-int8", batch: 1, ch: 3, m: 5, in: []int{10, 13}, kernel: []int{3, 3}, dil: []int{2, 3},
		pads: []int{2, 3, 1, 4}, static: true, unitScales: true, weightZeroPoint: 2, wantSteps: 2, wantSteps0: 3},
	{name: "large-7x7", batch: 1, ch: 3, m: 64, in: []int{57, 45}, kernel: []int{7, 7}, strides: []int{2, 2},
		pads: []int{3, 3, 3, 3}, perChannel: true, bias: true, weightZeroPoint: 100, epilogue: []string{"Relu"}, wantSteps: 2, wantSteps0: 4},
	{name: "weight-zero-point", batch: 1, ch: 4, m: 6, in: []int{6, 6}, kernel: []int{3, 3}, weightZeroPoint: 3,
		pads: []int{1, 2, 0, 1}, wantSteps: 2, wantSteps0: 3},
	// Split between tasks: 1600 positions in two runs; and, at two threads, 130 output
	// channels in blocks of 72 and 58.
	{name: "pointwise-16to96-40x40-two-stages", batch: 1, ch: 16, m: 96, in: []int{40, 40}, kernel: []int{1, 1},
		perChannel: true, bias: true, epilogue: []string{"Clip", "Relu"}, wantSteps: 2, wantSteps0: 5},
	{name: "3x3-64to130-9x9-uint8-hardswish", batch: 1, ch: 64, m: 130, in: []int{9, 9}, kernel: []int{3, 3},
		pads: []int{1, 1, 1, 1}, uint8X: true, perChannel: true, bias: true, weightZeroPoint: 4,
		epilogue: []string{"x*HardSigmoid"}, wantSteps: 2, wantSteps0: 5},
	// A batch of small maps: one product over all the images' windows, then copied to
	// each image's block (exact sums; and a two-stage epilogue run after the copy).
	{name: "exact-3x3-batch16-4x4-merged", batch: 16, ch: 9, m: 13, in: []int{4, 4}, kernel: []int{3, 3},
		pads: []int{1, 1, 1, 1}, static: true, uint8X: true, unitScales: true, perChannel: true, weightZeroPoint: 3,
		wantSteps: 2, wantSteps0: 3},
	{name: "3x3-batch5-7x5-merged-two-stages", batch: 5, ch: 6, m: 70, in: []int{7, 5}, kernel: []int{3, 3},
		pads: []int{1, 0, 1, 2}, perChannel: true, bias: true, epilogue: []string{"Clip", "Relu"}, wantSteps: 2, wantSteps0: 5},
	// One dequantized input read by two Convs (a residual block's input and its
	// downsampling Conv): both fused, the DequantizeLinear dropped.
	{name: "exact-3x3-shared-input", batch: 1, ch: 5, m: 8, in: []int{9, 9}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1},
		static: true, uint8X: true, unitScales: true, perChannel: true, weightZeroPoint: 2, epilogue: []string{"Relu"},
		shared: true, wantSteps: 3, wantSteps0: 6},
	// Not fused: grouped (only the DynamicQuantizeLinear → DequantizeLinear pair is).
	{name: "grouped", batch: 1, ch: 4, m: 6, in: []int{6, 6}, kernel: []int{3, 3}, group: 2, perChannel: true,
		wantSteps: 2, wantSteps0: 3},
}

// TestQDQConv runs each case with the fast paths on (the integer convolution) and off
// (DequantizeLinear, then the float Conv: im2col and an SGEMM summing in float32): the same
// values within float32 rounding, and the expected steps. Several runs reuse the pool's
// buffers, and one and two threads give the same bits.
func TestQDQConv(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, tc := range qdqConvCases {
		t.Run(tc.name, func(t *testing.T) {
			model := tc.model(t, rng)
			xs := append([]int{tc.batch, tc.ch}, tc.in...)
			amp := float32(1)
			if tc.unitScales {
				amp = 70 // the whole 8-bit range, saturating at both ends
			}
			x := randT(rng, amp, xs...)
			run := func(on bool, threads int) (*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				return runQDQModel(t, model, x, threads, 3)
			}
			fast, steps := run(true, 1)
			fast2, _ := run(true, 2)
			slow, steps0 := run(false, 1)
			if steps != tc.wantSteps || steps0 != tc.wantSteps0 {
				t.Errorf("%d steps with fusion and %d without, want %d and %d", steps, steps0, tc.wantSteps, tc.wantSteps0)
			}
			// The float path rounds every partial sum, to about 1e-6 of the largest terms
			// (more where the SGEMM fuses multiply-adds, as on arm64), while one unit of
			// the integer sum is x_scale·w_scale ≥ 2e-5 here, far above 1e-5 of the
			// largest output: a wrong integer sum still fails.
			var peak float64
			for _, v := range float64s(slow) {
				peak = math.Max(peak, math.Abs(v))
			}
			if tc.unitScales {
				closeTo(t, "y", fast, slow, 0, 0) // integer sums: bit-exact
			} else {
				closeTo(t, "y", fast, slow, 1e-5, 1e-5*peak)
			}
			if !sameShape(fast.Shape, fast2.Shape) {
				t.Fatalf("shape %v with 2 threads, %v with 1", fast2.Shape, fast.Shape)
			}
			for i, v := range fast.Data.([]float32) {
				if w := fast2.Data.([]float32)[i]; math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("element %d: %v with 1 thread, %v with 2", i, v, w)
				}
			}
		})
	}
}

// runQDQModel makes a session of model at threads and runs it runs times on x (later runs
// reuse the first one's buffers), returning its output and the plan's step count.
func runQDQModel(t *testing.T, model *ir.Model, x *Tensor, threads, runs int) (*Tensor, int) {
	t.Helper()
	s, err := New(model, Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]*Tensor
	for i := 0; i < runs; i++ {
		if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
			t.Fatal(err)
		}
	}
	return res[model.Graph.Outputs[0].Name], len(s.main.steps)
}

// TestQDQConvQuantizedResult: a QuantizeLinear of the fused convolution's result is taken
// into the step (the kernel writes the bytes; with an epilogue it does not run, a pass
// after it), with the same bits as the step and the QuantizeLinear node run apart, at one
// and two threads: uint8 and int8, saturating at both ends, pointwise and 3×3, a batch
// of small maps, an epilogue of two stages, and weight zero points.
func TestQDQConvQuantizedResult(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	cases := []qdqConvCase{
		{name: "pointwise-uint8", batch: 1, ch: 24, m: 40, in: []int{9, 11}, kernel: []int{1, 1}, static: true, uint8X: true,
			perChannel: true, bias: true, quantOut: ir.Uint8},
		{name: "3x3-int8-relu", batch: 2, ch: 7, m: 30, in: []int{13, 6}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1},
			static: true, perChannel: true, weightZeroPoint: 3, bias: true, epilogue: []string{"Relu"}, quantOut: ir.Int8},
		{name: "batch16-merged-uint8", batch: 16, ch: 9, m: 13, in: []int{4, 4}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1},
			static: true, uint8X: true, perChannel: true, quantOut: ir.Uint8},
		{name: "two-stages-after", batch: 1, ch: 16, m: 50, in: []int{40, 40}, kernel: []int{1, 1}, static: true,
			perChannel: true, bias: true, epilogue: []string{"Clip", "Relu"}, quantOut: ir.Uint8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := tc.model(t, rng)
			x := randT(rng, 3, append([]int{tc.batch, tc.ch}, tc.in...)...)
			run := func(fused bool, threads int) (*Tensor, int) {
				qconvOutQuant = fused
				defer func() { qconvOutQuant = true }()
				return runQDQModel(t, model, x, threads, 1)
			}
			want, apart := run(false, 1)
			for _, threads := range []int{1, 2} {
				got, steps := run(true, threads)
				if steps != apart-1 {
					t.Fatalf("%d steps with the QuantizeLinear fused, %d without", steps, apart)
				}
				w, g := want.Data.([]float32), got.Data.([]float32)
				for i := range w {
					if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
						t.Fatalf("%d threads: y[%d] = %v, want %v", threads, i, g[i], w[i])
					}
				}
			}
		})
	}
}

// TestQDQConvFallback switches the fast paths off after load: the fused step runs its
// original nodes in turn and gives the float model's values.
func TestQDQConvFallback(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	tc := qdqConvCases[3]
	model := tc.model(t, rng)
	x := randT(rng, 1, append([]int{tc.batch, tc.ch}, tc.in...)...)
	s, err := New(model, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.main.steps) != tc.wantSteps {
		t.Fatalf("%d steps, want %d", len(s.main.steps), tc.wantSteps)
	}
	want, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	fastPaths = false
	got, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
	fastPaths = true
	if err != nil {
		t.Fatal(err)
	}
	out := model.Graph.Outputs[0].Name
	closeTo(t, out, got[out], want[out], 1e-5, 1e-5)
}

// TestQDQConvBadInput gives the fused model an input whose channels do not fit the
// weight: a clear error naming the node, not a panic.
func TestQDQConvBadInput(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	tc := qdqConvCases[0]
	tc.in = []int{7, 9}
	m := tc.model(t, rng)
	m.Graph.Inputs[0].Type = nil
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), map[string]*Tensor{"x": randT(rng, 1, 1, tc.ch+1, 7, 9)})
	if err == nil {
		t.Fatal("no error for an input with the wrong number of channels")
	}
	t.Log(err)
}

// BenchmarkQDQConv times one quantized convolution as compress writes it
// (DynamicQuantizeLinear → DequantizeLinear → Conv → Relu, per-channel int8 weights with
// zero points) three ways: fused into the integer convolution, the path it replaces
// (the DequantizeLinear, then the float Conv with its fused Relu), and the generic
// reference kernels. One thread; cpu-ns/op is the process's CPU time per op, steadier
// than ns/op on a shared machine.
func BenchmarkQDQConv(b *testing.B) {
	t := &testing.T{}
	for _, tc := range []qdqConvCase{
		{name: "pointwise-96to24-56x56", batch: 1, ch: 96, m: 24, in: []int{56, 56}, kernel: []int{1, 1}},
		{name: "3x3-64to64-56x56", batch: 1, ch: 64, m: 64, in: []int{56, 56}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		{name: "3x3-16to16-64x64", batch: 1, ch: 16, m: 16, in: []int{64, 64}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
		{name: "1d-k80s4-1to32-8000", batch: 1, ch: 1, m: 32, in: []int{8000}, kernel: []int{80}, strides: []int{4},
			pads: []int{40, 40}},
		{name: "3x3s2-128to256-28x28", batch: 1, ch: 128, m: 256, in: []int{28, 28}, kernel: []int{3, 3}, strides: []int{2, 2},
			pads: []int{1, 1, 1, 1}},
	} {
		tc.perChannel, tc.bias, tc.weightZeroPoint, tc.epilogue = true, true, -3, []string{"Relu"}
		rng := rand.New(rand.NewSource(1))
		model := tc.model(t, rng)
		x := randT(rng, 1, append([]int{tc.batch, tc.ch}, tc.in...)...)
		for _, path := range []struct {
			name         string
			fast, fusion bool
		}{{"int8", true, true}, {"dequantize+float", true, false}, {"reference", false, false}} {
			b.Run(tc.name+"/"+path.name, func(b *testing.B) {
				fastPaths, qdqConvFusion = path.fast, path.fusion
				defer func() { fastPaths, qdqConvFusion = true, true }()
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
}

// TestWindowParts: a plane's window matrix gathered in parts (windowPart) is the one
// gathered whole, for 2-D planes split by output rows and one-row planes by output
// columns, with strides, dilations and padding on both sides, parts starting inside
// the leading padding and past the plane's end.
func TestWindowParts(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for trial := 0; trial < 300; trial++ {
		win := accel.Window2D{H: 1 + rng.Intn(12), W: 1 + rng.Intn(40), KH: 1 + rng.Intn(4), KW: 1 + rng.Intn(9),
			SH: 1 + rng.Intn(3), SW: 1 + rng.Intn(4), PH: rng.Intn(4), PW: rng.Intn(6), DH: 1 + rng.Intn(2), DW: 1 + rng.Intn(3)}
		if trial%2 == 0 { // one row: split by columns
			win.H, win.KH, win.PH = 1, 1, 0
		}
		padEndH, padEndW := rng.Intn(4), rng.Intn(6)
		win.OH = (win.H+win.PH+padEndH-(win.KH-1)*win.DH-1)/win.SH + 1
		win.OW = (win.W+win.PW+padEndW-(win.KW-1)*win.DW-1)/win.SW + 1
		if trial%2 == 0 {
			win.OH = 1
		}
		if win.OH < 1 || win.OW < 1 || win.OH == 1 && win.H != 1 { // windowParts keeps the last whole
			continue
		}
		plane := make([]byte, win.H*win.W)
		rng.Read(plane)
		K, O := win.KH*win.KW, win.OH*win.OW
		want, got := make([]int8, K*O), make([]int8, K*O)
		accel.WindowRows8(want, O, plane, 1, win, 0x80, -3)
		along := win.OH
		if win.OH == 1 {
			along = win.OW
		}
		for parts := 2; parts <= min(5, along); parts++ {
			for i := range got {
				got[i] = 99
			}
			for i := 0; i < parts; i++ {
				sub, x, at := windowPart(win, plane, i, parts)
				accel.WindowRows8(got[at:], O, x, 1, sub, 0x80, -3)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%+v in %d parts: value %d (row %d, position %d) = %d, want %d", win, parts, i, i/O, i%O, got[i], want[i])
				}
			}
		}
	}
}
