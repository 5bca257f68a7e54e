package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestFlatSplit runs element-wise ops large enough to be split over the threads (and
// one below the split) — Add, Sub, Mul, Div of equal shapes and with a scalar on
// either side, and the unary ops with float32 kernels — against the reference paths,
// and checks the bits are the same at 1, 2 and 3 threads.
func TestFlatSplit(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	type tc struct {
		op     string
		scalar int // 0: equal shapes; 1: the first operand is a scalar; 2: the second
	}
	var cases []tc
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for sc := 0; sc < 3; sc++ {
			cases = append(cases, tc{op, sc})
		}
	}
	for _, op := range []string{"Relu", "Exp", "Sigmoid", "Tanh", "Neg", "Sqrt", "Erf", "HardSigmoid", "Gelu"} {
		cases = append(cases, tc{op, -1})
	}
	for _, shape := range [][]int{{3, 41, 37, 29}, {2, 16385}, {1, 7, 99}} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%d/%v", c.op, c.scalar, shape), func(t *testing.T) {
				dims := make([]int64, len(shape))
				for i, d := range shape {
					dims[i] = int64(d)
				}
				x := randT(rng, 2, shape...)
				if c.op == "Sqrt" {
					for i, v := range x.Data.([]float32) {
						x.Data.([]float32)[i] = v * v
					}
				}
				g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, dims...)}}}
				inputs := map[string]*Tensor{"x": x}
				n := &ir.Node{OpType: c.op, Name: "n", Inputs: []string{"x"}, Outputs: []string{"y"}}
				switch c.scalar {
				case 0:
					g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: "b", Type: ir.TensorType(ir.Float32, dims...)})
					inputs["b"] = randT(rng, 2, shape...)
					n.Inputs = []string{"x", "b"}
				case 1, 2:
					g.Initializers = append(g.Initializers, f32Tensor(t, "s", nil, []float32{1.5}))
					n.Inputs = []string{"x", "s"}
					if c.scalar == 1 {
						n.Inputs = []string{"s", "x"}
					}
				}
				g.Nodes = []*ir.Node{n}
				g.Outputs = []*ir.ValueInfo{{Name: "y"}}
				model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 20}}, Graph: g}
				run := func(fast bool, threads int) *Tensor {
					res, _ := runSwitched(t, &fastPaths, fast, model, Options{Threads: threads}, inputs)
					return res["y"]
				}
				want := run(true, 1)
				closeTo(t, "y", want, run(false, 1), 1e-5, 1e-5)
				for _, threads := range []int{2, 3} {
					got := run(true, threads).Data.([]float32)
					for i, v := range want.Data.([]float32) {
						if math.Float32bits(v) != math.Float32bits(got[i]) && !(v != v && got[i] != got[i]) {
							t.Fatalf("threads %d: y[%d] = %v, want %v (1 thread)", threads, i, got[i], v)
						}
					}
				}
			})
		}
	}
}
