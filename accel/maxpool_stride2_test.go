package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2DWideStride2: stride-2 and stride-4 pooling (every fourth trial; 1-D
// non-overlapping windows, an audio model's, among them) on rows wide enough for the
// vector column paths (and their scalar tails), with padding, dilation, NaN, ±Inf and
// signed zeros among the values, several planes, guards around the output: every
// backend gives the Go reference's bits.
func TestMaxPool2DWideStride2(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for trial := 0; trial < 300; trial++ {
		p := Window2D{H: 1 + r.IntN(9), W: 20 + r.IntN(140), KH: 1 + r.IntN(3), KW: 1 + r.IntN(4), SH: 1 + r.IntN(2), SW: 2,
			DH: 1, DW: 1 + r.IntN(2)}
		if trial%4 == 3 {
			p.W, p.KW, p.SW = 20+r.IntN(400), 1+r.IntN(6), 4
			if trial%8 == 3 {
				p.H, p.KH, p.SH, p.KW, p.DW = 1, 1, 1, 4, 1
			}
		}
		p.PH, p.PW = r.IntN(p.KH), r.IntN(p.KW)
		eh, ew := (p.KH-1)*p.DH+1, (p.KW-1)*p.DW+1
		th, tw := r.IntN(p.KH), r.IntN(p.KW) // trailing padding (ceil_mode)
		p.OH = max(0, (p.H+p.PH+th-eh)/p.SH+1)
		p.OW = max(0, (p.W+p.PW+tw-ew)/p.SW+1)
		if p.H+p.PH+th < eh || p.W+p.PW+tw < ew {
			continue
		}
		ch := 1 + r.IntN(3)
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
