package accel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGEMVShapes times SGEMM with one row of A (Bᵀ stored n×k, as Gemm and the
// recurrent steps have it) on every backend, the Go reference included.
func BenchmarkGEMVShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{1, 384, 96}, {1, 512, 128}, {1, 1000, 1024}} {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randF32(r, m*k, 1), randF32(r, k*n, 1), make([]float32, m*n)
		for _, bt := range backendsUnderTest() {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", bt.name, m, n, k), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					bt.t.sgemm(false, true, m, n, k, 1, a, k, bb, k, 0, c, n, nil)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
