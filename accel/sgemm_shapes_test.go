package accel

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// sgemmConvShapes are the m×n×k of convolutions in the runtime benchmark set
// (A = weights Cout×Cin·kh·kw, B = im2col rows, n = output pixels) plus a square.
var sgemmConvShapes = [][3]int{
	{64, 3136, 576}, {128, 784, 1152}, {256, 196, 2304}, {512, 49, 4608}, // resnet18
	{16, 3136, 64}, {32, 3136, 288}, {24, 3136, 144}, {64, 784, 16}, // squeezenet, mobilenets
	{16, 1024, 27}, {48, 784, 8}, {512, 512, 512},
}

// BenchmarkSGEMMShapes times SGEMM on conv shapes, one thread, every backend: "direct"
// is op(B) = B (on AVX-512 the unpacked 8×48 kernel), "packed" the same product with B
// stored transposed, which still takes the packed 12×32 path (the previous kernel).
func BenchmarkSGEMMShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range sgemmConvShapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randF32(r, m*k, 1), randF32(r, k*n, 1), make([]float32, m*n)
		bt := make([]float32, k*n)
		for p := 0; p < k; p++ {
			for j := 0; j < n; j++ {
				bt[j*k+p] = bb[p*n+j]
			}
		}
		for _, be := range backendsUnderTest() {
			if be.name == "go" && m*n*k > 1<<24 {
				continue
			}
			b.Run(fmt.Sprintf("%s/direct/%dx%dx%d", be.name, m, n, k), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					be.t.sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, nil)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("%s/packed/%dx%dx%d", be.name, m, n, k), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					be.t.sgemm(false, true, m, n, k, 1, a, k, bt, k, 0, c, n, nil)
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
