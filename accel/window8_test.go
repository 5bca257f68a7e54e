package accel

import (
	"math/rand/v2"
	"testing"
)

// naiveWindowRows8 is WindowRows8 by its definition, one output value at a time.
func naiveWindowRows8(dst []int8, ld int, x []byte, planes int, p Window2D, flip byte, pad int8) {
	K := p.KH * p.KW
	for c := 0; c < planes; c++ {
		for kp := 0; kp < K; kp++ {
			ki, kj := kp/p.KW, kp%p.KW
			for o := 0; o < p.OH*p.OW; o++ {
				ih, iw := o/p.OW*p.SH+ki*p.DH-p.PH, o%p.OW*p.SW+kj*p.DW-p.PW
				v := pad
				if ih >= 0 && ih < p.H && iw >= 0 && iw < p.W {
					v = int8(x[c*p.H*p.W+ih*p.W+iw] ^ flip)
				}
				dst[(c*K+kp)*ld+o] = v
			}
		}
	}
}

// Every backend (and the Go reference) against the definition on random geometries:
// odd sizes, rows of several 64-byte steps, strides, dilations, pads wider than the kernel, 1-row (1-D) planes, rows
// with gaps between them (ld > OH·OW, left as they were), guards around dst.
func TestWindowRows8(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, bt := range backendsUnderTest() {
		for trial := 0; trial < 150; trial++ {
			p := Window2D{H: 1 + r.IntN(12), W: 1 + r.IntN(40), KH: 1 + r.IntN(3), KW: 1 + r.IntN(5),
				SH: 1 + r.IntN(3), SW: 1 + r.IntN(4), DH: 1 + r.IntN(2), DW: 1 + r.IntN(3), PH: r.IntN(3), PW: r.IntN(6)}
			if trial%3 == 1 {
				p.W = 1 + r.IntN(200) // rows longer than one 64-byte step, with tails
			}
			if trial%5 == 0 {
				p.H, p.KH, p.SH, p.DH, p.PH = 1, 1, 1, 1, 0 // 1-D
			}
			padEndH, padEndW := r.IntN(3), r.IntN(6)
			if trial%4 == 2 { // stride 1, the width kept and dividing 64: AVX-512's whole-plane path
				p.W, p.SH, p.SW = 1<<r.IntN(7), 1, 1
				p.PW = min(p.PW, (p.KW-1)*p.DW)
				padEndW = (p.KW-1)*p.DW - p.PW
			}
			p.OH = (p.H+p.PH+padEndH-(p.KH-1)*p.DH-1)/p.SH + 1
			p.OW = (p.W+p.PW+padEndW-(p.KW-1)*p.DW-1)/p.SW + 1
			if p.OH <= 0 || p.OW <= 0 {
				continue
			}
			planes := 1 + r.IntN(3)
			K, O := p.KH*p.KW, p.OH*p.OW
			ld := O + r.IntN(7)
			x := make([]byte, planes*p.H*p.W)
			for i := range x {
				x[i] = byte(r.Uint32())
			}
			flip, pad := []byte{0, 0x80}[trial%2], int8(r.IntN(256)-128)
			n := (planes*K-1)*ld + O
			want := make([]int8, n)
			naiveWindowRows8(want, ld, x, planes, p, flip, pad)
			for _, k := range []struct {
				name string
				fn   func([]int8, int, []byte, int, *Window2D, byte, int8)
			}{{"ref", refWindowRows8}, {bt.name, bt.t.windowRows8}} {
				full, got := guarded[int8](n, 0x55)
				copy(got, want) // the gaps between rows keep these values
				for i := 0; i < planes*K; i++ {
					for j := i * ld; j < i*ld+O; j++ {
						got[j] = 0x55
					}
				}
				k.fn(got, ld, x, planes, &p, flip, pad)
				checkGuards(t, k.name+"/window_rows8", full, n, 0x55)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s trial %d %+v planes %d ld %d: dst[%d] = %d, want %d", k.name, trial, p, planes, ld, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkWindowRows8: the audio model's first layer (1 channel, 8000 samples, kernel
// 80, stride 4), a 3×3 layer of 16 channels of 64×64 and one of 32 channels of 8×8 (the
// batch-16 classifier), each backend against the Go
// reference.
func BenchmarkWindowRows8(b *testing.B) {
	for _, c := range []struct {
		name   string
		planes int
		p      Window2D
	}{
		{"1d-k80s4-8000", 1, Window2D{H: 1, W: 8000, OH: 1, OW: 2001, KH: 1, KW: 80, SH: 1, SW: 4, DH: 1, DW: 1, PW: 40}},
		{"3x3-16x64x64", 16, Window2D{H: 64, W: 64, OH: 64, OW: 64, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PH: 1, PW: 1}},
		{"3x3-32x8x8", 32, Window2D{H: 8, W: 8, OH: 8, OW: 8, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, PH: 1, PW: 1}},
	} {
		x := make([]byte, c.planes*c.p.H*c.p.W)
		O := c.p.OH * c.p.OW
		dst := make([]int8, c.planes*c.p.KH*c.p.KW*O)
		for _, bt := range append([]namedTable{{"ref", &table{windowRows8: refWindowRows8}}}, backendsUnderTest()...) {
			b.Run(c.name+"/"+bt.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					bt.t.windowRows8(dst, O, x, c.planes, &c.p, 0x80, 3)
				}
			})
		}
	}
}
