package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The register-summed AVX-512 kernel gives the previous axpy kernel's bits (the same sum
// in the same order) and stays within the reference's tolerance, on rows wide enough for
// the two-vector loop and its tails (16 to 140 outputs) and on the narrow flat path, with
// guards around y.
func TestDepthwiseTapsWide(t *testing.T) {
	var avx512 *table
	for _, bt := range backendsUnderTest() {
		if bt.name == string(BackendAVX512) {
			avx512 = bt.t
		}
	}
	if avx512 == nil || prevDWConv2DAVX512 == nil {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for trial := 0; trial < 120; trial++ {
		k := 1 + r.IntN(7)
		if trial%3 == 0 {
			k = 3
		}
		p := Window2D{H: 1 + r.IntN(40), W: 1 + r.IntN(140), KH: k, KW: 1 + r.IntN(7), SH: 1 + r.IntN(2), SW: 1 + r.IntN(2), DH: 1, DW: 1}
		p.PH, p.PW = r.IntN(p.KH+1), r.IntN(p.KW+1)
		p.OH = (p.H+2*p.PH-p.KH)/p.SH + 1
		p.OW = (p.W+2*p.PW-p.KW)/p.SW + 1
		if p.OH <= 0 || p.OW <= 0 || p.H+2*p.PH < p.KH || p.W+2*p.PW < p.KW {
			continue
		}
		ch := 1 + r.IntN(4)
		x := randF32(r, ch*p.H*p.W, 1)
		w := randF32(r, ch*p.KH*p.KW, 1)
		bias := randF32(r, ch, 1)
		if trial%4 == 0 {
			bias = nil
		}
		n := ch * p.OH * p.OW
		want, prev := make([]float32, n), make([]float32, n)
		refDWConv2D(&p, x, w, bias, want, ch)
		prevDWConv2DAVX512(&p, x, w, bias, prev, ch)
		full, got := guardedF32(n, 0)
		avx512.dwconv2d(&p, x, w, bias, got, ch)
		checkGuardsF32(t, "avx512/dwconv2d", full, n)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(prev[i]) {
				t.Fatalf("%+v ch %d: y[%d] = %g, the axpy kernel gave %g", p, ch, i, got[i], prev[i])
			}
			if d := math.Abs(float64(got[i]) - float64(want[i])); d > float64(p.KH*p.KW+2)*1.2e-7*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%+v ch %d: y[%d] = %g, reference %g", p, ch, i, got[i], want[i])
			}
		}
	}
}

func BenchmarkDepthwiseConv2DStride1(b *testing.B) {
	// MobileNetV2's first depthwise layer: 32 channels, 112², 3×3, stride 1.
	benchDW(b, Window2D{H: 112, W: 112, OH: 112, OW: 112, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}, 32)
}

func BenchmarkDepthwiseConv2D5x5(b *testing.B) {
	// EfficientNet-B0's 5×5 stride-2 layer: 144 channels, 56² → 28².
	benchDW(b, Window2D{H: 56, W: 56, OH: 28, OW: 28, KH: 5, KW: 5, SH: 2, SW: 2, PH: 2, PW: 2, DH: 1, DW: 1}, 144)
}
