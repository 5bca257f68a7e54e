package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2DSmallMaps: short output rows with every window inside the image (the
// window-by-window path: 2×2 and other windows, strides, dilations, maps with rows and
// columns left over, many planes), NaN, ±Inf and signed zeros among the values, guards
// around the output: every backend gives the Go reference's bits.
func TestMaxPool2DSmallMaps(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for trial := 0; trial < 300; trial++ {
		p := Window2D{KH: 1 + r.IntN(3), KW: 1 + r.IntN(3), SH: 1 + r.IntN(3), SW: 1 + r.IntN(3), DH: 1 + r.IntN(2), DW: 1 + r.IntN(2)}
		if trial%3 == 0 { // the common 2×2, stride 2 pool
			p = Window2D{KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}
		}
		p.OH, p.OW = 1+r.IntN(6), 1+r.IntN(15)
		p.H = (p.OH-1)*p.SH + (p.KH-1)*p.DH + 1 + r.IntN(2) // a row or column left over, or not
		p.W = (p.OW-1)*p.SW + (p.KW-1)*p.DW + 1 + r.IntN(2)
		ch := 1 + r.IntN(40)
		x := randSpecial(r, ch*p.H*p.W)
		for i := range x {
			if r.IntN(50) == 0 {
				x[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
			}
		}
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refMaxPool2D(&p, x, want, ch)
		for _, bt := range backendsUnderTest() {
			full, got := guardedF32(n, 0)
			bt.t.maxPool2D(&p, x, got, ch)
			checkGuardsF32(t, bt.name+"/maxpool2d", full, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s %+v ch %d: y[%d] = %g, want %g", bt.name, p, ch, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkMaxPool2DSmallMaps: a batch-16 classifier's pool, 1024 planes of 8×8 → 4×4,
// 2×2 stride 2, on each backend and the Go reference.
func BenchmarkMaxPool2DSmallMaps(b *testing.B) {
	p := Window2D{H: 8, W: 8, OH: 4, OW: 4, KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}
	r := rand.New(rand.NewPCG(1, 2))
	x, y := randF32(r, 1024*p.H*p.W, 1), make([]float32, 1024*p.OH*p.OW)
	for _, bt := range backendsUnderTest() {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.maxPool2D(&p, x, y, 1024)
			}
		})
	}
	b.Run("ref", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			refMaxPool2D(&p, x, y, 1024)
		}
	})
}
