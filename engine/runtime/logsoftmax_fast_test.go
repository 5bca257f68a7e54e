package runtime

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// LogSoftmax on float32 rows against the generic float64 kernel: odd row lengths (the
// vector exp's tail), one-value rows, large magnitudes, rows holding NaN, +Inf or only
// −Inf, opset 11's 2-D view, and a non-last axis (the generic kernel).
func TestLogSoftmaxFast(t *testing.T) {
	rng := rand.New(rand.NewSource(61))
	for i, tc := range []struct {
		shape []int
		axis  int64
		scale float32
	}{
		{[]int{40, 1, 97}, -1, 3}, {[]int{3, 1}, -1, 1}, {[]int{2, 5, 33}, 2, 30}, {[]int{7, 17}, 1, 1},
		{[]int{4, 6, 5}, 1, 2}, {[]int{1, 1000}, -1, 10},
	} {
		x := randT(rng, tc.scale, tc.shape...)
		if i == 0 {
			v := x.Data.([]float32)
			v[5] = float32(math.NaN())
			v[97+3] = float32(math.Inf(1))
			for j := 2 * 97; j < 3*97; j++ {
				v[j] = float32(math.Inf(-1))
			}
			v[3*97+1] = float32(math.Inf(-1))
		}
		n := &ir.Node{OpType: "LogSoftmax", Inputs: make([]string, 1), Outputs: []string{"y"},
			Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: tc.axis}}}
		fast, slow := runBoth(t, n, []*Tensor{x})
		closeTo(t, fmt.Sprint("LogSoftmax ", tc.shape, " axis ", tc.axis), fast[0], slow[0], 1e-6, 1e-6)
	}
}

// BenchmarkLogSoftmax times the OCR recognizer's output (40 × 97): float32 rows against
// the generic float64 kernel.
func BenchmarkLogSoftmax(b *testing.B) {
	x := randT(rand.New(rand.NewSource(62)), 3, 40, 1, 97)
	for _, fast := range []bool{true, false} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			fastPaths = fast
			defer func() { fastPaths = true }()
			c := &opContext{opset: 17, node: &ir.Node{OpType: "LogSoftmax"}}
			k := softmaxKernel('l')
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := k(c, []*Tensor{x}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
