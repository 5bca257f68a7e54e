package train

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress/quant"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// quantForms are the compressed forms besides weight-only QDQ that training keeps:
// dynamic quantization (DynamicQuantizeLinear → MatMulInteger for MatMul, QDQ with a
// dynamic input for Conv) and float16 or bfloat16 weights with Cast nodes at the graph's
// edges (and around the ops kept in float32).
var quantForms = []struct {
	name  string
	apply func(*ir.Model) error
	wtype ir.DType // the dtype of the trained weights as stored
	tol   float64  // training forward (float64) vs the runtime's, relative to the output's range
}{
	{"int8-dynamic", func(m *ir.Model) error {
		_, err := quant.Dynamic(m, quant.Options{Type: ir.Int8, PerChannel: true, Symmetric: true})
		return err
	}, ir.Int8, dynamicTol},
	{"uint8-dynamic", func(m *ir.Model) error {
		_, err := quant.Dynamic(m, quant.Options{Type: ir.Uint8})
		return err
	}, ir.Uint8, dynamicTol},
	{"fp16", func(m *ir.Model) error {
		_, err := quant.Float16(m, quant.FloatOptions{Type: ir.Float16, KeepIO: true})
		return err
	}, ir.Float16, 1e-2}, // the runtime rounds activations to float16 too, training does not
	{"bf16", func(m *ir.Model) error {
		_, err := quant.Float16(m, quant.FloatOptions{Type: ir.BFloat16, KeepIO: true})
		return err
	}, ir.BFloat16, 5e-2}, // bfloat16 keeps 8 bits of mantissa
}

// dynamicTol is the dynamic forms' tolerance. Their activations are quantized at run
// time, which turns a float32 rounding difference upstream (the runtime's Winograd 3×3
// convolutions round a few bits differently from a direct sum) into a whole quantization
// step wherever a value sits on a rounding boundary: one step of the activation grid, a
// few 1e-3 of the output's range. A wrong weight grid, scale or zero point is off by
// far more.
const dynamicTol = 5e-3

// forwardNear: the training forward computes what modelc's runtime computes on the
// quantized graph, within tol of the outputs' largest magnitude.
func forwardNear(t *testing.T, m *ir.Model, tol float64) {
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
	var scale, worst float64
	for i, w := range want {
		scale = max(scale, math.Abs(w))
		worst = max(worst, math.Abs(got.D[i]-w))
	}
	if worst > tol*scale {
		t.Fatalf("training forward and runtime differ by %g (outputs up to %g)", worst, scale)
	}
}

func TestQuantFormsTrainOnTheirGrid(t *testing.T) {
	for _, f := range quantForms {
		for _, name := range []string{"mlp", "cnn"} {
			t.Run(name+"/"+f.name, func(t *testing.T) {
				m := digits(t, name)
				if err := f.apply(m); err != nil {
					t.Fatal(err)
				}
				forwardNear(t, m, f.tol)
				n, err := NewNet(m, Options{KeepZeros: true, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				before := map[string]string{}
				for _, p := range n.Params {
					if p.src.DType == f.wtype && len(p.Value.Shape) >= 2 {
						before[p.Name] = string(p.src.Bytes())
					}
				}
				if len(before) == 0 {
					t.Fatalf("no %v weight became a parameter", f.wtype)
				}
				d := &Data{Inputs: map[string]*T{"input": randomInputs()}, Labels: make([]int64, 16)}
				if _, err := Fit(context.Background(), n, d, Config{Epochs: 2, BatchSize: 8, Optim: Optim{LR: 0.01}}, nil); err != nil {
					t.Fatal(err)
				}
				if err := n.Store(); err != nil {
					t.Fatal(err)
				}
				for name, b := range before {
					p := n.Param(name)
					if p.src.DType != f.wtype {
						t.Fatalf("%s: stored as %v, want %v", name, p.src.DType, f.wtype)
					}
					if string(p.src.Bytes()) == b {
						t.Fatalf("%s: training changed no stored value", name)
					}
					// The stored values are what training saw.
					seen, _ := p.Grid.fake(p.Value)
					stored, err := tensorOf(p.src)
					if err != nil {
						t.Fatal(err)
					}
					if !p.Grid.isFloat() {
						stored = p.Grid.dequant(stored)
					}
					for i, v := range stored.D {
						if math.Abs(v-seen.D[i]) > 1e-6*max(1, math.Abs(v)) {
							t.Fatalf("%s[%d]: stored %g, trained %g", name, i, v, seen.D[i])
						}
					}
				}
				forwardNear(t, m, f.tol)
			})
		}
	}
}

// A MatMulInteger whose weight's scale cannot be found is refused with the node's name.
func TestMatMulIntegerWithoutScaleIsRefused(t *testing.T) {
	m := digits(t, "mlp")
	if _, err := quant.Dynamic(m, quant.Options{Type: ir.Int8, PerChannel: true, Symmetric: true}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range m.Graph.Nodes {
		if nd.OpType == "Cast" {
			nd.OpType = "Identity"
		}
	}
	_, err := NewNet(m, Options{})
	if err == nil || !strings.Contains(err.Error(), "MatMulInteger") || !strings.Contains(err.Error(), "cannot find the scale") {
		t.Fatalf("err = %v", err)
	}
}
