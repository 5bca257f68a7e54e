package accel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkConvRows2D: the row-direct stem convolution against the path it replaces (the
// implicit GEMM's gather path, then BiasAct) on the bench set's stems (squeezenet's 3→64,
// MobileNetV2's 3→32, MobileNetV3's 3→16), one thread, best run by thread CPU time.
func BenchmarkConvRows2D(b *testing.B) {
	if !HasConvRows2D() || !HasConvImplicit2D() {
		b.Skip("no row-direct or implicit-GEMM convolution on this backend")
	}
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	r := rand.New(rand.NewPCG(1, 2))
	act := Act{Kind: ActClip, P: 0, Q: 6}
	for _, s := range []struct{ m, cin, h int }{{64, 3, 224}, {32, 3, 224}, {16, 3, 224}, {16, 3, 96}} {
		p := Window2D{H: s.h, W: s.h, OH: s.h / 2, OW: s.h / 2, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}
		k, n := s.cin*9, p.OH*p.OW
		w, x, bias, y := randF32(r, s.m*k, 1), randF32(r, s.cin*s.h*s.h, 1), randF32(r, s.m, 1), make([]float32, s.m*n)
		flops := float64(2 * s.m * n * k)
		b.Run(fmt.Sprintf("rows/%dx%dx%d", s.m, s.cin, s.h), func(b *testing.B) {
			bestGFLOPs(b, flops, func() { ConvRows2D(s.m, s.cin, p, w, x, bias, y, act) })
		})
		b.Run(fmt.Sprintf("implicit+biasact/%dx%dx%d", s.m, s.cin, s.h), func(b *testing.B) {
			bestGFLOPs(b, flops, func() {
				ConvImplicit2D(s.m, s.cin, p, w, x, y)
				BiasAct(y, s.m, n, bias, act)
			})
		})
	}
}
