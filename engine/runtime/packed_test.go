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

// TestPackedWeights: a MatMulInteger / QLinearMatMul whose B is an initializer multiplies
// by accel's packed-B kernel (the weight packed once per session), bit-identical to the
// generic loops, over several runs; the packing happens when the session is made; a B
// fed as an input is not packed.
func TestPackedWeights(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	m, k, n := 5, 37, 70
	bytesOf := func(cnt int) []byte {
		v := make([]byte, cnt)
		for i := range v {
			v[i] = byte(rng.Intn(256))
		}
		return v
	}
	tensor := func(name string, dt ir.DType, shape []int64, raw []byte) *ir.Tensor {
		tt, err := ir.NewTensor(name, dt, shape, raw)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	scalar := func(name string, dt ir.DType, v byte) *ir.Tensor { return tensor(name, dt, []int64{}, []byte{v}) }
	perCol := bytesOf(n)
	for _, tc := range []struct {
		name    string
		aType   ir.DType
		node    *ir.Node
		inits   []*ir.Tensor
		bInput  bool // B is a graph input: not packed
		outType ir.DType
	}{
		{"u8×s8 weight", ir.Uint8,
			&ir.Node{OpType: "MatMulInteger", Inputs: []string{"a", "w", "az", "wz"}, Outputs: []string{"y"}},
			[]*ir.Tensor{tensor("w", ir.Int8, []int64{int64(k), int64(n)}, bytesOf(k*n)), scalar("az", ir.Uint8, 131), scalar("wz", ir.Int8, 0xfd)},
			false, ir.Int32},
		{"s8×u8 weight, per-column zero point", ir.Int8,
			&ir.Node{OpType: "MatMulInteger", Inputs: []string{"a", "w", "az", "wz"}, Outputs: []string{"y"}},
			[]*ir.Tensor{tensor("w", ir.Uint8, []int64{int64(k), int64(n)}, bytesOf(k*n)), scalar("az", ir.Int8, 7), tensor("wz", ir.Uint8, []int64{int64(n)}, perCol)},
			false, ir.Int32},
		{"u8×s8 weight, per-row zero point", ir.Uint8,
			&ir.Node{OpType: "MatMulInteger", Inputs: []string{"a", "w", "az", ""}, Outputs: []string{"y"}},
			[]*ir.Tensor{tensor("w", ir.Int8, []int64{int64(k), int64(n)}, bytesOf(k*n)), tensor("az", ir.Uint8, []int64{int64(m)}, bytesOf(m))},
			false, ir.Int32},
		{"QLinearMatMul", ir.Uint8,
			&ir.Node{OpType: "QLinearMatMul", Inputs: []string{"a", "as", "az", "w", "ws", "wz", "ys", "yz"}, Outputs: []string{"y"}},
			[]*ir.Tensor{f32Tensor(t, "as", nil, []float32{0.02}), scalar("az", ir.Uint8, 120),
				tensor("w", ir.Int8, []int64{int64(k), int64(n)}, bytesOf(k*n)), f32Tensor(t, "ws", nil, []float32{0.01}),
				scalar("wz", ir.Int8, 0), f32Tensor(t, "ys", nil, []float32{0.5}), scalar("yz", ir.Uint8, 128)},
			false, ir.Uint8},
		{"QLinearMatMul, B as an input", ir.Uint8,
			&ir.Node{OpType: "QLinearMatMul", Inputs: []string{"a", "as", "az", "w", "ws", "wz", "ys", "yz"}, Outputs: []string{"y"}},
			[]*ir.Tensor{f32Tensor(t, "as", nil, []float32{0.02}), scalar("az", ir.Uint8, 120), f32Tensor(t, "ws", nil, []float32{0.01}),
				scalar("wz", ir.Int8, 0), f32Tensor(t, "ys", nil, []float32{0.5}), scalar("yz", ir.Uint8, 128)},
			true, ir.Uint8},
		{"B as an input", ir.Uint8,
			&ir.Node{OpType: "MatMulInteger", Inputs: []string{"a", "w", "az", ""}, Outputs: []string{"y"}},
			[]*ir.Tensor{scalar("az", ir.Uint8, 3)},
			true, ir.Int32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &ir.Graph{
				Inputs:       []*ir.ValueInfo{{Name: "a", Type: ir.TensorType(tc.aType, 2, int64(m), int64(k))}},
				Initializers: tc.inits,
				Nodes:        []*ir.Node{tc.node},
				Outputs:      []*ir.ValueInfo{{Name: "y"}},
			}
			feed := map[string]*Tensor{}
			av := bytesOf(2 * m * k)
			if tc.aType == ir.Uint8 {
				feed["a"] = &Tensor{DType: ir.Uint8, Shape: []int{2, m, k}, Data: av}
			} else {
				s8 := make([]int8, len(av))
				for i, v := range av {
					s8[i] = int8(v)
				}
				feed["a"] = &Tensor{DType: ir.Int8, Shape: []int{2, m, k}, Data: s8}
			}
			if tc.bInput {
				g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: "w", Type: ir.TensorType(ir.Int8, int64(k), int64(n))})
				w := make([]int8, k*n)
				for i := range w {
					w[i] = int8(rng.Intn(256))
				}
				feed["w"] = &Tensor{DType: ir.Int8, Shape: []int{k, n}, Data: w}
			}
			model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
			run := func(on bool) (*Tensor, int) {
				fastPaths = on
				defer func() { fastPaths = true }()
				s, err := New(model, Options{})
				if err != nil {
					t.Fatal(err)
				}
				packedEntries := func() []any {
					var out []any
					s.tables.Range(func(key, v any) bool {
						if strings.Contains(fmt.Sprint(key), "packB8") {
							out = append(out, v)
						}
						return true
					})
					return out
				}
				loaded := packedEntries()
				atLoad := len(loaded)
				var res map[string]*Tensor
				for i := 0; i < 3; i++ {
					if res, err = s.Run(context.Background(), feed); err != nil {
						t.Fatal(err)
					}
				}
				after := packedEntries()
				if len(after) != atLoad {
					t.Errorf("%d packed weights after the runs, %d at load: packing must happen at load", len(after), atLoad)
				}
				for i := range after { // the same entries: no run repacked
					if i < len(loaded) && after[i] != loaded[i] {
						t.Errorf("packed weight %d was replaced while running", i)
					}
				}
				return res["y"], atLoad
			}
			fast, packed := run(true)
			slow, _ := run(false)
			if want := map[bool]int{false: 1, true: 0}[tc.bInput]; packed != want {
				t.Errorf("%d packed weights, want %d", packed, want)
			}
			if fast.DType != tc.outType {
				t.Fatalf("output %v, want %v", fast.DType, tc.outType)
			}
			closeTo(t, "y", fast, slow, 0, 0)
		})
	}
}

// TestDynQuantSizes: DynamicQuantizeLinear's fast path against the generic one on both
// sides of dynQuantSmall (its own min/max scan below, accel's above), with a NaN, with
// ±Inf, and all-negative / all-positive inputs.
func TestDynQuantSizes(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, size := range []int{dynQuantSmall - 1, dynQuantSmall + 1} {
		for _, mod := range []string{"plain", "nan", "inf", "negative", "positive"} {
			x := randT(rng, 2, size)
			v := x.Data.([]float32)
			switch mod {
			case "nan":
				v[size/2] = float32(math.NaN())
			case "inf":
				v[7], v[size-3] = float32(math.Inf(1)), float32(math.Inf(-1))
			case "negative", "positive":
				for i := range v {
					v[i] = float32(math.Abs(float64(v[i])) + 0.5)
					if mod == "negative" {
						v[i] = -v[i]
					}
				}
			}
			n := &ir.Node{OpType: "DynamicQuantizeLinear", Inputs: make([]string, 1), Outputs: []string{"y", "s", "z"}}
			fast, slow := runBoth(t, n, []*Tensor{x})
			for i := range fast {
				closeTo(t, fmt.Sprintf("DynamicQuantizeLinear %d %s output %d", size, mod, i), fast[i], slow[i], 0, 0)
			}
		}
	}
}
