package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestFastQuantizeDequantize runs QuantizeLinear and DequantizeLinear with the fast paths
// on and off: the same bits, per tensor and per axis, uint8 and int8, with and without a
// zero point, on odd sizes with saturating, NaN and infinite inputs.
func TestFastQuantizeDequantize(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	shape := []int{3, 37, 5}
	x := randT(rng, 4, shape...)
	xv := x.Data.([]float32)
	xv[0], xv[1], xv[2], xv[3] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e9
	xv[4], xv[5] = 0.5*0.03, 1.5*0.03 // halves: rounding to even
	type axisCase struct {
		axis int
		n    int // scales: 1 per tensor, else shape[axis]
	}
	for _, ac := range []axisCase{{1, 1}, {1, 37}, {0, 3}, {-1, 5}} {
		sc := make([]float32, ac.n)
		for i := range sc {
			sc[i] = 0.01 + 0.05*float32(rng.Float64())
		}
		sc[0] = 0.03
		scale := &Tensor{DType: ir.Float32, Shape: []int{ac.n}, Data: sc}
		if ac.n == 1 {
			scale.Shape = []int{}
		}
		for _, typ := range []ir.DType{ir.Uint8, ir.Int8} {
			for _, withZP := range []bool{true, false} {
				var zp *Tensor
				if withZP {
					if typ == ir.Uint8 {
						v := make([]uint8, ac.n)
						for i := range v {
							v[i] = uint8(rng.Intn(256))
						}
						zp = &Tensor{DType: typ, Shape: scale.Shape, Data: v}
					} else {
						v := make([]int8, ac.n)
						for i := range v {
							v[i] = int8(rng.Intn(256) - 128)
						}
						zp = &Tensor{DType: typ, Shape: scale.Shape, Data: v}
					}
				}
				attrs := []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: int64(ac.axis)}}
				if !withZP && typ == ir.Int8 {
					attrs = append(attrs, &ir.Attribute{Name: "output_dtype", Type: ir.AttrInt, Int: int64(ir.Int8)})
				}
				what := fmt.Sprintf("axis %d, %d scales, %v, zero point %v", ac.axis, ac.n, typ, withZP)
				q := &ir.Node{OpType: "QuantizeLinear", Inputs: make([]string, 3), Outputs: []string{"q"}, Attrs: attrs}
				fast, slow := runBoth(t, q, []*Tensor{x, scale, zp})
				if fast[0].DType != typ {
					t.Fatalf("%s: quantized to %v", what, fast[0].DType)
				}
				closeTo(t, "QuantizeLinear "+what, fast[0], slow[0], 0, 0)
				d := &ir.Node{OpType: "DequantizeLinear", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: attrs[:1]}
				fast, slow = runBoth(t, d, []*Tensor{slow[0], scale, zp})
				closeTo(t, "DequantizeLinear "+what, fast[0], slow[0], 0, 0)
			}
		}
	}
}
