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

// AddAct on every backend against the Go reference, bit for bit (special values, signed
// zeros included), with dst a separate buffer (guarded) and dst the first operand; and
// the reference against the sum followed by BiasAct.
func TestAddAct(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	acts := []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: 0, Q: 6}, {Kind: ActClip, P: -0.5, Q: 6},
		{Kind: ActHardSigmoid, P: 0.2, Q: 0.5}, {Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}}
	same := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y }
	for _, bt := range backendsUnderTest() {
		for trial := 0; trial < 40; trial++ {
			n := r.IntN(300)
			if trial%10 == 0 {
				n = chunkElems + 1 + r.IntN(1000) // split over the pool
			}
			a, b := randSpecial(r, n), randSpecial(r, n)
			for i := range a {
				a[i] *= 8
				if i%7 == 0 {
					a[i], b[i] = float32(math.Copysign(0, float64(a[i]))), float32(math.Copysign(0, float64(b[i])))
				}
			}
			for _, act := range acts {
				want := make([]float32, n)
				refAddAct(want, a, b, act)
				sum := make([]float32, n)
				for i := range sum {
					sum[i] = a[i] + b[i]
				}
				if act.Kind != ActNone {
					refBiasAct(sum, 1, n, nil, act)
				}
				for i := range want {
					if act.Kind != ActNone && sum[i] == 0 && want[i] == 0 {
						continue // BiasAct adds +0 first: the sign of a zero sum may differ
					}
					if !same(want[i], sum[i]) {
						t.Fatalf("ref act %+v: %g + %g = %g, Add then BiasAct %g", act, a[i], b[i], want[i], sum[i])
					}
				}
				full, got := guardedF32(n, 0)
				bt.t.addAct(got, a, b, act)
				checkGuardsF32(t, bt.name+"/add_act", full, n)
				inplace := append([]float32(nil), a...)
				bt.t.addAct(inplace, inplace, b, act)
				var public []float32
				withThreads(t, 2, func() { // the selected backend, split over the pool
					public = append([]float32(nil), a...)
					AddAct(public, public, b, act)
				})
				for i := range got {
					if !same(got[i], want[i]) || !same(inplace[i], want[i]) || !same(public[i], want[i]) {
						t.Fatalf("%s act %+v n %d: %g + %g = %g (in place %g, AddAct %g), want %g", bt.name, act, n, a[i], b[i],
							got[i], inplace[i], public[i], want[i])
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
