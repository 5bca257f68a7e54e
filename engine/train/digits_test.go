package train

import (
	"context"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/compress/quant"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

func digits(t *testing.T, name string) *ir.Model {
	t.Helper()
	m, err := onnx.Read(filepath.Join("..", "..", "testdata", "digits", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// randomInputs: a batch of 16 digit-like inputs in [0, 1).
func randomInputs() *T {
	rng := rand.New(rand.NewSource(5))
	x := New(16, 64)
	for i := range x.D {
		x.D[i] = float64(float32(rng.Float64()))
	}
	return x
}

// forwardMatchesRuntime: the training forward computes what modelc's runtime computes.
func forwardMatchesRuntime(t *testing.T, m *ir.Model) {
	t.Helper()
	x := randomInputs()
	n, err := NewNet(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := n.Forward(map[string]*T{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	got := tp.Values[m.Graph.Outputs[0].Name]
	s, err := runtime.New(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := runtime.FromFloat64s(ir.Float32, []int64{16, 64}, x.D)
	outs, err := s.Run(context.Background(), map[string]*runtime.Tensor{"input": in})
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.Float64s(outs[m.Graph.Outputs[0].Name])
	for i, w := range want {
		if math.Abs(got.D[i]-w) > 1e-4*math.Max(1, math.Abs(w)) {
			t.Fatalf("output %d: training forward %g, runtime %g", i, got.D[i], w)
		}
	}
}

func TestForwardMatchesRuntime(t *testing.T) {
	for _, name := range []string{"cnn", "mlp"} {
		t.Run(name, func(t *testing.T) { forwardMatchesRuntime(t, digits(t, name)) })
		for _, q := range []ir.DType{ir.Int8, ir.Int4} {
			t.Run(name+"/"+q.String(), func(t *testing.T) {
				m := digits(t, name)
				if _, err := quant.WeightOnly(m, quant.Options{Type: q, PerChannel: true, MaxLayerError: 0.2}); err != nil {
					t.Fatal(err)
				}
				forwardMatchesRuntime(t, m)
			})
		}
	}
}

// Training keeps masked weights at zero and quantized weights on their grid, and a
// quantized model stores integers its DequantizeLinear reads back as the trained values.
func TestMasksAndGridsKept(t *testing.T) {
	m := digits(t, "cnn")
	if _, err := quant.WeightOnly(m, quant.Options{Type: ir.Int4, MaxLayerError: -1}); err != nil {
		t.Fatal(err)
	}
	w := m.Graph.Initializers[0]
	for _, init := range m.Graph.Initializers {
		if init.DType == ir.Int4 {
			w = init
			break
		}
	}
	// Prune: zero the first half of the quantized values (their zero point is 0).
	raw := w.Bytes()
	clear(raw[:len(raw)/2])
	n, err := NewNet(m, Options{KeepZeros: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := n.Param(w.Name)
	if p == nil || p.Grid == nil || p.Mask == nil {
		t.Fatalf("%s: want a parameter with a grid and a mask", w.Name)
	}
	x := randomInputs()
	d := &Data{Inputs: map[string]*T{"input": x}, Labels: make([]int64, 16)}
	if _, err := Fit(context.Background(), n, d, Config{Epochs: 2, BatchSize: 8, Optim: Optim{LR: 0.01}}, nil); err != nil {
		t.Fatal(err)
	}
	for i, masked := range p.Mask {
		if masked && p.Value.D[i] != 0 {
			t.Fatalf("masked value %d is %g", i, p.Value.D[i])
		}
	}
	before := append([]byte(nil), w.Bytes()...)
	if err := n.Store(); err != nil {
		t.Fatal(err)
	}
	if string(before) == string(w.Bytes()) {
		t.Fatal("training changed no quantized weight")
	}
	for i := 0; i < len(raw)/2; i++ {
		if w.Bytes()[i] != 0 {
			t.Fatalf("pruned byte %d became %#x", i, w.Bytes()[i])
		}
	}
	// What the runtime computes from the stored integers is what training saw.
	n2, err := NewNet(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fq, _ := p.Grid.fake(p.Value)
	for i, v := range n2.Param(w.Name).Value.D {
		if math.Abs(v-fq.D[i]) > 1e-6 {
			t.Fatalf("value %d: stored %g, trained %g", i, v, fq.D[i])
		}
	}
	forwardMatchesRuntime(t, m)
}

// The same data, options and seed give the same weights.
func TestDeterministic(t *testing.T) {
	run := func() [][]float64 {
		m := digits(t, "mlp")
		n, err := NewNet(m, Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		d := &Data{Inputs: map[string]*T{"input": randomInputs()}, Labels: []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5}}
		if _, err := Fit(context.Background(), n, d, Config{Epochs: 2, BatchSize: 5, HoldOut: 0.25, Seed: 3, Optim: Optim{LR: 0.01, Schedule: "cosine"}}, nil); err != nil {
			t.Fatal(err)
		}
		return n.Snapshot()
	}
	a, b := run(), run()
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("parameter %d value %d: %g then %g", i, j, a[i][j], b[i][j])
			}
		}
	}
}

// BenchmarkStepCNN and BenchmarkStepMLP are one distillation step (batch 32) of the
// digits models, buffers recycled as in Fit.
func BenchmarkStepCNN(b *testing.B) { benchStep(b, "cnn") }
func BenchmarkStepMLP(b *testing.B) { benchStep(b, "mlp") }

func benchStep(b *testing.B, model string) {
	m, err := onnx.Read(filepath.Join("..", "..", "testdata", "digits", model+".onnx"))
	if err != nil {
		b.Fatal(err)
	}
	n, err := NewNet(m, Options{})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(5))
	x := New(32, 64)
	for i := range x.D {
		x.D[i] = rng.Float64()
	}
	d := &Data{Inputs: map[string]*T{"input": x}, Teacher: New(32, 10)}
	cfg := Config{Temperature: 2}
	opt, _ := newOptimizer(Optim{LR: 0.001}, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n.ZeroGrad()
		_, tp, err := n.step(d, cfg, true)
		if err != nil {
			b.Fatal(err)
		}
		tp.Release()
		opt.step(n)
	}
}

// --freeze: a frozen layer's weights do not move, the others do.
func TestFreeze(t *testing.T) {
	m := digits(t, "mlp")
	n, err := NewNet(m, Options{Freeze: []string{"fc1*"}})
	if err != nil {
		t.Fatal(err)
	}
	before := n.Snapshot()
	d := &Data{Inputs: map[string]*T{"input": randomInputs()}, Labels: make([]int64, 16)}
	if _, err := Fit(context.Background(), n, d, Config{Epochs: 1, BatchSize: 16, Optim: Optim{LR: 0.01}}, nil); err != nil {
		t.Fatal(err)
	}
	frozen := 0
	for i, p := range n.Params {
		moved := false
		for j, v := range p.Value.D {
			moved = moved || v != before[i][j]
		}
		if p.Frozen {
			frozen++
		}
		if moved == p.Frozen {
			t.Errorf("%s: frozen %v, moved %v", p.Name, p.Frozen, moved)
		}
	}
	if frozen == 0 {
		t.Fatal("the pattern froze nothing")
	}
}
