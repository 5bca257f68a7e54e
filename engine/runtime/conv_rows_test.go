package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// TestConvRows runs few-channel Convs (stems: 3×3/2 on RGB, odd sizes, other kernels,
// strides and pads, a dilated one that the kernel declines, batch 2 and 7) followed by each
// activation the row-direct kernel fuses and one chain it does not, with the fast paths
// on and off.
func TestConvRows(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	type win struct{ n, c, h, w, k, s, p, d int }
	for _, ops := range [][]string{{}, {"Relu"}, {"Clip"}, {"x*HardSigmoid"}, {"x*Sigmoid"}, {"Relu", "BatchNormalization"}} {
		for _, v := range []win{{1, 3, 32, 32, 3, 2, 1, 1}, {1, 3, 33, 17, 3, 2, 1, 1}, {2, 1, 9, 40, 5, 1, 2, 1}, {1, 4, 20, 20, 7, 3, 3, 1},
			{1, 2, 11, 13, 1, 1, 0, 1}, {1, 3, 16, 16, 3, 1, 2, 2}, {7, 3, 12, 12, 3, 2, 1, 1}} {
			m := 1 + rng.Intn(20)
			t.Run(fmt.Sprintf("%s/%v/m%d", strings.Join(ops, "-"), v, m), func(t *testing.T) {
				x := randT(rng, 2, v.n, v.c, v.h, v.w)
				g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, int64(v.n), int64(v.c), int64(v.h), int64(v.w))}}}
				g.Initializers = append(g.Initializers,
					f32Tensor(t, "w", []int64{int64(m), int64(v.c), int64(v.k), int64(v.k)}, randT(rng, 0.5, m, v.c, v.k, v.k).Data.([]float32)),
					f32Tensor(t, "bias", []int64{int64(m)}, randT(rng, 1, m).Data.([]float32)))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"v0"},
					Attrs: []*ir.Attribute{ints("strides", int64(v.s), int64(v.s)), ints("pads", int64(v.p), int64(v.p), int64(v.p), int64(v.p)),
						ints("dilations", int64(v.d), int64(v.d))}})
				prev := "v0"
				for i, op := range ops {
					out := fmt.Sprintf("v%d", i+1)
					nd := &ir.Node{OpType: op, Name: fmt.Sprintf("n%d", i), Inputs: []string{prev}, Outputs: []string{out}}
					if act, ok := strings.CutPrefix(op, "x*"); ok {
						a := &ir.Node{OpType: act, Name: fmt.Sprintf("a%d", i), Inputs: []string{prev}, Outputs: []string{out + "a"}}
						if act == "HardSigmoid" {
							a.Attrs = []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, Float: 1.0 / 6}}
						}
						g.Nodes = append(g.Nodes, a)
						nd = &ir.Node{OpType: "Mul", Name: fmt.Sprintf("n%d", i), Inputs: []string{out + "a", prev}, Outputs: []string{out}}
					}
					switch op {
					case "BatchNormalization":
						for k, what := range []string{"scale", "b", "mean", "var"} {
							vals := randT(rng, 1, m).Data.([]float32)
							if k == 3 {
								for j := range vals {
									vals[j] = 0.5 + vals[j]*vals[j]
								}
							}
							name := fmt.Sprintf("bn%d_%s", i, what)
							nd.Inputs = append(nd.Inputs, name)
							g.Initializers = append(g.Initializers, f32Tensor(t, name, []int64{int64(m)}, vals))
						}
					case "Clip":
						g.Initializers = append(g.Initializers, f32Tensor(t, "lo", nil, []float32{0}), f32Tensor(t, "hi", nil, []float32{6}))
						nd.Inputs = append(nd.Inputs, "lo", "hi")
					}
					g.Nodes = append(g.Nodes, nd)
					prev = out
				}
				g.Outputs = []*ir.ValueInfo{{Name: prev}}
				model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
				run := func(on bool) *Tensor {
					fastPaths = on
					defer func() { fastPaths = true }()
					s, err := New(model, Options{})
					if err != nil {
						t.Fatal(err)
					}
					var res map[string]*Tensor
					for i := 0; i < 2; i++ {
						if res, err = s.Run(context.Background(), map[string]*Tensor{"x": x}); err != nil {
							t.Fatal(err)
						}
					}
					return res[prev]
				}
				closeTo(t, prev, run(true), run(false), 1e-5, 1e-5)
			})
		}
	}
}

// TestConvRowsTaken: a 3×3/2 RGB stem with a fused Relu6 takes the row-direct kernel
// where the backend has it, and a dilated window does not.
func TestConvRowsTaken(t *testing.T) {
	if !accel.HasConvRows2D() {
		t.Skip("no row-direct convolution on this backend")
	}
	g := &convGeom{in: []int{16, 16}, kernel: []int{3, 3}, out: []int{8, 8}, strides: []int{2, 2}, dil: []int{1, 1},
		padBegin: []int{1, 1}, padEnd: []int{1, 1}}
	x, w, y := make([]float32, 3*256), make([]float32, 8*27), make([]float32, 8*64)
	if !convRows(x, w, nil, y, 1, 3, 8, g, []epStage{{kind: 'c', lo: 0, hi: 6}}) {
		t.Fatal("declined a 3×3/2 stem")
	}
	g.dil = []int{2, 2}
	g.out = []int{7, 7}
	if convRows(x, w, nil, y, 1, 3, 8, g, nil) {
		t.Fatal("took a dilated window")
	}
}

// TestConvRowsBatchThreads: a batch of small images, split over the threads by image,
// gives the same bits at 1, 2 and 3 threads.
func TestConvRowsBatchThreads(t *testing.T) {
	if !accel.HasConvRows2D() {
		t.Skip("no row-direct convolution on this backend")
	}
	rng := rand.New(rand.NewSource(29))
	g := &convGeom{in: []int{17, 15}, kernel: []int{3, 3}, out: []int{9, 8}, strides: []int{2, 2}, dil: []int{1, 1},
		padBegin: []int{1, 1}, padEnd: []int{1, 1}}
	const n, ch, m = 11, 3, 24
	x, w, bias := randT(rng, 1, n, ch, 17, 15).Data.([]float32), randT(rng, 0.5, m, ch, 3, 3).Data.([]float32), randT(rng, 1, m).Data.([]float32)
	prev := accel.SetMaxThreads(1)
	defer accel.SetMaxThreads(prev)
	var want []float32
	for _, threads := range []int{1, 2, 3} {
		accel.SetMaxThreads(threads)
		y := make([]float32, n*m*9*8)
		if !convRows(x, w, bias, y, n, ch, m, g, []epStage{{kind: 'r'}}) {
			t.Fatal("convRows declined a 3×3/2 RGB window")
		}
		if want == nil {
			want = y
			continue
		}
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
				t.Fatalf("threads %d: y[%d] = %v, want %v (1 thread)", threads, i, y[i], want[i])
			}
		}
	}
}
