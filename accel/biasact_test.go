package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every backend against the Go reference, bit for bit (special values included), with
// guards around y.
func TestBiasAct(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	acts := []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: -0.5, Q: 6}, {Kind: ActHardSigmoid, P: 0.2, Q: 0.5},
		{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}}
	for _, bt := range backendsUnderTest() {
		for trial := 0; trial < 40; trial++ {
			rows, cols := 1+r.IntN(9), r.IntN(90)
			src := randSpecial(r, rows*cols)
			for i := range src {
				src[i] *= 8
			}
			var bias []float32
			if trial%3 != 0 {
				bias = randF32(r, rows, 2)
			}
			for _, a := range acts {
				want := append([]float32(nil), src...)
				refBiasAct(want, rows, cols, bias, a)
				full, got := guardedF32(rows*cols, 0)
				copy(got, src)
				bt.t.biasAct(got, rows, cols, bias, a)
				checkGuardsF32(t, bt.name+"/bias_act", full, rows*cols)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
						t.Fatalf("%s act %+v: y[%d] (x %g) = %g, want %g", bt.name, a, i, src[i], got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkBiasAct(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	rows, cols := 96, 56*56
	y, bias := randF32(r, rows*cols, 4), randF32(r, rows, 1)
	for _, bt := range backendsUnderTest() {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.biasAct(y, rows, cols, bias, Act{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5})
			}
		})
	}
}
