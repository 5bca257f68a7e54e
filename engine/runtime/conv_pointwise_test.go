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

// TestConvPointwise runs 1×1 Convs followed by each activation the pointwise kernel
// fuses (and chains it does not: an affine stage after the activation, a stride) on odd
// channel counts and map sizes, batch 1 and 2, with the fast paths on and off.
func TestConvPointwise(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	for _, ops := range [][]string{{}, {"Relu"}, {"Clip"}, {"HardSigmoid"}, {"x*HardSigmoid"}, {"x*Sigmoid"},
		{"BatchNormalization", "Relu"}, {"Relu", "BatchNormalization"}, {"stride2", "Relu"}} {
		for _, s := range [][4]int{{1, 5, 7, 9}, {1, 24, 17, 33}, {2, 3, 33, 32}, {2, 13, 5, 5}, {1, 300, 3, 7}} {
			n, c, h, wd := s[0], s[1], s[2], s[3]
			m := 1 + rng.Intn(20)
			t.Run(fmt.Sprintf("%s/%v/m%d", strings.Join(ops, "-"), s, m), func(t *testing.T) {
				x := randT(rng, 2, n, c, h, wd)
				g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, int64(n), int64(c), int64(h), int64(wd))}}}
				g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{int64(m), int64(c), 1, 1}, randT(rng, 0.5, m, c, 1, 1).Data.([]float32)),
					f32Tensor(t, "bias", []int64{int64(m)}, randT(rng, 1, m).Data.([]float32)))
				conv := &ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"v0"}}
				g.Nodes = append(g.Nodes, conv)
				prev := "v0"
				for i, op := range ops {
					if op == "stride2" {
						conv.Attrs = []*ir.Attribute{ints("strides", 2, 2)}
						continue
					}
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
							v := randT(rng, 1, m).Data.([]float32)
							if k == 3 {
								for j := range v {
									v[j] = 0.2 + float32(math.Abs(float64(v[j])))
								}
							}
							name := fmt.Sprintf("bn%d_%s", i, what)
							nd.Inputs = append(nd.Inputs, name)
							g.Initializers = append(g.Initializers, f32Tensor(t, name, []int64{int64(m)}, v))
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
					for i := 0; i < 2; i++ { // pooled buffers reused by the second run
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

// TestConvPointwiseSameBits: where the backend has the pointwise kernel, convPointwise
// gives the bits of the path it replaces (SGEMM, then epilogueBlock) for every epilogue
// it takes, and declines the ones it does not.
func TestConvPointwiseSameBits(t *testing.T) {
	if !accel.HasPointwise() {
		t.Skip("no pointwise kernel on this backend")
	}
	rng := rand.New(rand.NewSource(19))
	for _, stages := range [][]epStage{nil, {{kind: 'r'}}, {{kind: 'c', lo: 0, hi: 6}}, {{kind: 's', lo: 0.2, hi: 0.5}},
		{{kind: 'h', lo: 1.0 / 6, hi: 0.5}}, {{kind: 'w'}}} {
		for _, s := range [][3]int{{16, 32, 12544}, {13, 37, 50}, {40, 300, 196}} {
			m, ch, O := s[0], s[1], s[2]
			x, w, bias := randT(rng, 1, ch*O).Data.([]float32), randT(rng, 1, m*ch).Data.([]float32), randT(rng, 1, m).Data.([]float32)
			got, want := make([]float32, m*O), make([]float32, m*O)
			if !convPointwise(nil, x, w, bias, got, 1, ch, m, O, stages, false) {
				t.Fatalf("%v: declined %v", s, stages)
			}
			accel.SGEMM(false, false, m, O, ch, 1, w, ch, x, O, 0, want, O)
			epilogueBlock(want, m, O, 0, bias, stages)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %v: y[%d] = %g, SGEMM then the epilogue gives %g", s, stages, i, got[i], want[i])
				}
			}
		}
	}
	if convPointwise(nil, nil, nil, nil, nil, 1, 1, 1, 1, []epStage{{kind: 'r'}, {kind: 'g'}}, false) {
		t.Fatal("took a two-stage epilogue")
	}
}

// TestConvPointwisePacked: a 1×1 Conv (with Clip) on a plane of few pixels (7×7, 5×5)
// whose weight is an initializer runs on the session's packed weight (kept once per
// node) with the bits of the same Conv with the weight fed as an input (unpacked), at
// one and two threads, over two runs; a Conv with a BatchNormalization folded into its
// weight is packed too.
func TestConvPointwisePacked(t *testing.T) {
	if accel.PackPointwise(make([]float32, 100*160), 100, 160, 49) == nil {
		t.Skip("no packed pointwise kernel on this backend")
	}
	rng := rand.New(rand.NewSource(23))
	for _, s := range [][4]int{{100, 160, 7, 7}, {1280, 320, 7, 7}, {50, 96, 5, 5}} {
		m, c, h, wd := s[0], s[1], s[2], s[3]
		x := randT(rng, 2, 1, c, h, wd)
		w, bias := randT(rng, 0.2, m, c, 1, 1), randT(rng, 1, m)
		var bnParams [4][]float32
		for i := range bnParams {
			bnParams[i] = randT(rng, 0.5, m).Data.([]float32)
			for j := range bnParams[i] {
				bnParams[i][j] += 1
			}
		}
		for _, bn := range []bool{false, true} {
			build := func(fixedW bool) (*ir.Model, map[string]*Tensor) {
				g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, int64(c), int64(h), int64(wd))}}}
				feed := map[string]*Tensor{"x": x}
				if fixedW {
					g.Initializers = append(g.Initializers, f32Tensor(t, "w", []int64{int64(m), int64(c), 1, 1}, w.Data.([]float32)))
				} else {
					g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: "w", Type: ir.TensorType(ir.Float32, int64(m), int64(c), 1, 1)})
					feed["w"] = w
				}
				g.Initializers = append(g.Initializers, f32Tensor(t, "bias", []int64{int64(m)}, bias.Data.([]float32)),
					f32Tensor(t, "lo", nil, []float32{0}), f32Tensor(t, "hi", nil, []float32{6}))
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Conv", Name: "conv", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"v"}})
				prev := "v"
				if bn {
					g.Nodes = append(g.Nodes, &ir.Node{OpType: "BatchNormalization", Name: "bn", Inputs: []string{"v", "s", "b", "mu", "var"}, Outputs: []string{"vb"}})
					for i, name := range []string{"s", "b", "mu", "var"} {
						g.Initializers = append(g.Initializers, f32Tensor(t, name, []int64{int64(m)}, bnParams[i]))
					}
					prev = "vb"
				}
				g.Nodes = append(g.Nodes, &ir.Node{OpType: "Clip", Name: "clip", Inputs: []string{prev, "lo", "hi"}, Outputs: []string{"y"}})
				g.Outputs = []*ir.ValueInfo{{Name: "y"}}
				return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}, feed
			}
			for _, threads := range []int{1, 2} {
				run := func(fixedW bool) (*Tensor, *Session) {
					model, feed := build(fixedW)
					sess, err := New(model, Options{Threads: threads})
					if err != nil {
						t.Fatal(err)
					}
					var first *Tensor
					for i := 0; i < 2; i++ {
						res, err := sess.Run(context.Background(), feed)
						if err != nil {
							t.Fatal(err)
						}
						if first == nil {
							first = res["y"]
							continue
						}
						closeTo(t, "second run", res["y"], first, 0, 0)
					}
					return first, sess
				}
				got, sess := run(true)
				packed := false
				sess.tables.Range(func(key, v any) bool {
					if kk, ok := key.(nodeCacheKey); ok && kk.tag == "pointwise-w" {
						packed = packed || v.(*nodeCacheEntry[matrixID, *accel.PointwiseWeights]).v != nil
					}
					return true
				})
				name := fmt.Sprintf("%v bn %v %d threads", s, bn, threads)
				if !packed {
					t.Errorf("%s: weight not packed", name)
				}
				want, _ := run(false)
				if bn { // folded into the fixed weight only: the sums differ by rounding
					closeTo(t, name, got, want, 1e-5, 1e-4)
				} else {
					closeTo(t, name, got, want, 0, 0)
				}
			}
		}
	}
}
