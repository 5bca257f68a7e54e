package bench

// The int8 GEMM on a weight packed once (accel.PackB8) against the per-call-repacking
// GEMMU8S8, at the 5-token transformer fixture's product shapes and one block-sized
// product, on the active backend. Run:
//
//	go test ./bench -run '^$' -bench PackedIGEMM -benchtime=20000x -count=3

import (
	"fmt"
	"testing"

	"github.com/modelc/modelc/accel"
)

func BenchmarkPackedIGEMM(b *testing.B) {
	for _, s := range [][3]int{{5, 96, 32}, {5, 32, 32}, {128, 1024, 256}} {
		m, n, k := s[0], s[1], s[2]
		a := make([]uint8, m*k)
		w := make([]int8, k*n)
		for i := range a {
			a[i] = uint8(i * 7)
		}
		for i := range w {
			w[i] = int8(i * 13)
		}
		c := make([]int32, m*n)
		p := accel.PackB8(w, k, n, n)
		b.Run(fmt.Sprintf("unpacked/%dx%dx%d", m, n, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				accel.GEMMU8S8(false, m, n, k, a, k, w, n, c, n)
			}
		})
		b.Run(fmt.Sprintf("packed/%dx%dx%d", m, n, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				accel.GEMMU8S8Packed(m, a, k, p, c, n)
			}
		})
	}
}
