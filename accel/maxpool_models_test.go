package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2DStride2Kernel: the stride-2 AVX-512 kernel (2- and 3-wide windows) on
// random geometries: left pads of 0 and 1, ceil_mode's partial last windows (columns and
// rows), row pads, strides and dilations, rows wholly in the padding, widths from 1 to
// several vectors (odd ones included), planes of one row; NaN, ±Inf and signed zeros
// among the values, guards around the output. Where it takes the geometry it must give
// the Go reference's bits; the geometries it must take are checked to be taken.
func TestMaxPool2DStride2Kernel(t *testing.T) {
	if maxPool2DS2 == nil || requirement(BackendAVX512, detect()) != "" {
		t.Skip("no AVX-512 stride-2 kernel here")
	}
	r := rand.New(rand.NewPCG(51, 52))
	taken := 0
	for trial := 0; trial < 3000; trial++ {
		p := Window2D{KH: 1 + r.IntN(4), KW: 2 + r.IntN(2), SH: 1 + r.IntN(3), SW: 2, DH: 1 + r.IntN(2), DW: 1}
		if trial%2 == 0 { // the common pools: 3×3 and 2×2, stride 2
			k := 2 + r.IntN(2)
			p = Window2D{KH: k, KW: k, SH: 2, SW: 2, DH: 1, DW: 1}
		}
		p.PH, p.PW = r.IntN(p.KH+1), r.IntN(2)
		p.H, p.W = 1+r.IntN(30), 1+r.IntN(90)
		eh, ew := (p.KH-1)*p.DH+1, (p.KW-1)*p.DW+1
		endH, endW := r.IntN(p.KH), r.IntN(p.KW) // trailing padding, as ceil_mode adds
		if p.H+p.PH+endH < eh || p.W+p.PW+endW < ew {
			continue
		}
		p.OH = (p.H+p.PH+endH-eh)/p.SH + 1
		p.OW = (p.W+p.PW+endW-ew)/p.SW + 1
		ch := 1 + r.IntN(4)
		x := randSpecial(r, ch*p.H*p.W)
		for i := range x {
			if r.IntN(40) == 0 {
				x[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
			}
		}
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refMaxPool2D(&p, x, want, ch)
		full, got := guardedF32(n, 0)
		ok := maxPool2DS2(&p, x, got, ch)
		checkGuardsF32(t, "maxpool2d-s2", full, n)
		// Taken: a left pad of at most 1 and every window's tap KW−2 inside the image.
		must := 2*(p.OW-1)-p.PW+p.KW-2 <= p.W-1
		if ok != must {
			t.Fatalf("%+v: taken %v, want %v", p, ok, must)
		}
		if !ok {
			continue
		}
		taken++
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%+v ch %d: y[%d] = %g, want %g", p, ch, i, got[i], want[i])
			}
		}
	}
	if taken < 1000 {
		t.Fatalf("only %d geometries taken", taken)
	}
	for _, p := range []Window2D{ // not taken: the general kernel's
		{H: 9, W: 9, OH: 4, OW: 4, KH: 3, KW: 3, SH: 2, SW: 1, DH: 1, DW: 1},
		{H: 9, W: 9, OH: 3, OW: 3, KH: 3, KW: 3, SH: 3, SW: 3, DH: 1, DW: 1},
		{H: 9, W: 9, OH: 4, OW: 4, KH: 3, KW: 4, SH: 2, SW: 2, DH: 1, DW: 1},
		{H: 9, W: 9, OH: 4, OW: 3, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 2},
		{H: 9, W: 9, OH: 5, OW: 6, KH: 3, KW: 3, SH: 2, SW: 2, PH: 2, PW: 2, DH: 1, DW: 1},
	} {
		if maxPool2DS2(&p, make([]float32, p.H*p.W), make([]float32, p.OH*p.OW), 1) {
			t.Errorf("%+v taken", p)
		}
	}
}

// The benchmark models' max pools: SqueezeNet 1.1's three (3×3, stride 2, ceil_mode,
// no pads), ResNet-18's (3×3, stride 2, pads 1), UNet's first (2×2, stride 2) and the
// 1-D audio model's first (4 wide, stride 4).
var modelMaxPools = []struct {
	name   string
	planes int
	p      Window2D
}{
	{"squeezenet-64x111", 64, Window2D{H: 111, W: 111, OH: 55, OW: 55, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1}},
	{"squeezenet-128x55", 128, Window2D{H: 55, W: 55, OH: 27, OW: 27, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1}},
	{"squeezenet-256x27", 256, Window2D{H: 27, W: 27, OH: 13, OW: 13, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1}},
	{"resnet18-64x112", 64, Window2D{H: 112, W: 112, OH: 56, OW: 56, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}},
	{"unet-16x64", 16, Window2D{H: 64, W: 64, OH: 32, OW: 32, KH: 2, KW: 2, SH: 2, SW: 2, DH: 1, DW: 1}},
	{"audio-32x2001", 32, Window2D{H: 1, W: 2001, OH: 1, OW: 500, KH: 1, KW: 4, SH: 1, SW: 4, DH: 1, DW: 1}},
}

// BenchmarkMaxPool2DModels: the models' pools on the dispatched kernel (one call, all
// planes), the previous AVX-512 kernel (whole windows, each tap loaded on its own) and
// the Go reference.
func BenchmarkMaxPool2DModels(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range modelMaxPools {
		p := m.p
		x, y := randF32(r, m.planes*p.H*p.W, 1), make([]float32, m.planes*p.OH*p.OW)
		b.Run(m.name+"/kernel", func(b *testing.B) {
			kern := tab().maxPool2D
			for i := 0; i < b.N; i++ {
				kern(&p, x, y, m.planes)
			}
		})
		if prevSpanMaxPool2DAVX512 != nil && requirement(BackendAVX512, detect()) == "" {
			b.Run(m.name+"/avx512-span", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					prevSpanMaxPool2DAVX512(&p, x, y, m.planes)
				}
			})
		}
		b.Run(m.name+"/ref", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				refMaxPool2D(&p, x, y, m.planes)
			}
		})
	}
}
