package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rnnGates is random gate pre-activations wide enough to saturate σ and tanh, with a
// few infinities and large values mixed in.
func rnnGates(r *rand.Rand, n int) []float32 {
	g := randF32(r, n, 8)
	for i := range g {
		if r.IntN(16) == 0 {
			g[i] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 100, -100, 0, 1e-7}[r.IntN(6)]
		}
	}
	return g
}

// closeRNN reports whether got is within 2⁻²⁰·(1+|want|) of want (NaN matching NaN).
func closeRNN(got, want float32) bool {
	if sameF32(got, want) {
		return true
	}
	return math.Abs(float64(got)-float64(want)) <= (1+math.Abs(float64(want)))/(1<<20)
}

func TestLSTMCell(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for _, bt := range backendsUnderTest() {
		for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 96, 128, 129} {
			name := fmt.Sprintf("%s/n=%d", bt.name, n)
			hr, xw, c0 := rnnGates(r, 4*n), rnnGates(r, 4*n), randF32(r, n, 3)
			cFull, c := guardedF32(n, 0)
			hFull, h := guardedF32(n, 0)
			copy(c, c0)
			wantC, wantH := append([]float32{}, c0...), make([]float32, n)
			refLSTMCell(hr, xw, wantC, wantH)
			bt.t.lstmCell(hr, xw, c, h)
			checkGuardsF32(t, name+" c", cFull, n)
			checkGuardsF32(t, name+" h", hFull, n)
			for j := 0; j < n; j++ {
				if !closeRNN(c[j], wantC[j]) || !closeRNN(h[j], wantH[j]) {
					t.Fatalf("%s: [%d] c=%g h=%g, want c=%g h=%g (gates %g %g %g %g, c0 %g)", name, j, c[j], h[j], wantC[j], wantH[j],
						hr[j]+xw[j], hr[n+j]+xw[n+j], hr[2*n+j]+xw[2*n+j], hr[3*n+j]+xw[3*n+j], c0[j])
				}
			}
		}
	}
}

func TestGRUCellLBR(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 13))
	for _, bt := range backendsUnderTest() {
		for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 96, 128, 129} {
			name := fmt.Sprintf("%s/n=%d", bt.name, n)
			hr, xw, h0 := rnnGates(r, 3*n), rnnGates(r, 3*n), randF32(r, n, 1)
			hFull, h := guardedF32(n, 0)
			copy(h, h0)
			want := append([]float32{}, h0...)
			refGRUCellLBR(hr, xw, want)
			bt.t.gruCellLBR(hr, xw, h)
			checkGuardsF32(t, name, hFull, n)
			for j := 0; j < n; j++ {
				if !closeRNN(h[j], want[j]) {
					t.Fatalf("%s: [%d] h=%g, want %g", name, j, h[j], want[j])
				}
			}
		}
	}
}

// TestRNNActivationError holds the stated bound on the SIMD tanh: the GRU cell with
// z = 0 (xw_z = −∞) and hr_h = 0 gives h = tanh(xw_h) with nothing else rounded.
func TestRNNActivationError(t *testing.T) {
	const n = 4096
	xw := make([]float32, 3*n)
	hr := make([]float32, 3*n)
	for j := 0; j < n; j++ {
		xw[j] = float32(math.Inf(-1))
		xw[2*n+j] = float32(j-n/2) / 256 // −8 … 8
	}
	for _, bt := range backendsUnderTest() {
		h := make([]float32, n)
		bt.t.gruCellLBR(hr, xw, h)
		worst := 0.0
		for j := 0; j < n; j++ {
			worst = max(worst, math.Abs(float64(h[j])-math.Tanh(float64(xw[2*n+j]))))
		}
		if worst > 3.0/(1<<23) {
			t.Errorf("%s: tanh error %g > 3·2⁻²³", bt.name, worst)
		}
		t.Logf("%s: max |tanh − math.Tanh| = %.3g", bt.name, worst)
	}
}

func BenchmarkLSTMCell(b *testing.B) {
	const n = 128
	r := rand.New(rand.NewPCG(1, 2))
	hr, xw, c, h := randF32(r, 4*n, 4), randF32(r, 4*n, 4), randF32(r, n, 1), make([]float32, n)
	for _, bt := range []namedTable{{"ref", goTable()}, {"simd", tab()}} {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.lstmCell(hr, xw, c, h)
			}
		})
	}
}
