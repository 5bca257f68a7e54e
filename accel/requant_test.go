package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every backend against the Go reference, bit for bit, on odd shapes with leading
// dimensions wider than the rows, accumulators near the int32 limits (the corrections
// wrap) and guards around dst.
func TestRequantRows(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, bt := range backendsUnderTest() {
		for trial := 0; trial < 60; trial++ {
			rows, n := 1+r.IntN(9), r.IntN(150)
			lda, ldd := n+r.IntN(5), n+r.IntN(3)
			acc := make([]int32, rows*lda)
			for i := range acc {
				acc[i] = int32(r.Uint32())
				if trial%2 == 0 {
					acc[i] >>= 12 // sums of a realistic size: float32 rounds some, not all
				}
			}
			fix, zw, scale := make([]int32, rows), make([]int32, rows), randF32(r, rows, 0.01)
			cs := make([]int32, n)
			for i := range fix {
				fix[i] = int32(r.Uint32())
				if i%3 != 0 {
					zw[i] = int32(r.IntN(255) - 128)
				}
			}
			for i := range cs {
				cs[i] = int32(r.Uint32() >> 8)
			}
			if trial%4 == 1 {
				zw = nil
			}
			want := make([]float32, rows*ldd)
			refRequantRows(want, ldd, acc, lda, rows, n, fix, zw, cs, scale)
			full, got := guardedF32(rows*ldd, 0)
			bt.t.requantRows(got, ldd, acc, lda, rows, n, fix, zw, cs, scale)
			checkGuardsF32(t, bt.name+"/requant_rows", full, rows*ldd)
			for i := range got {
				if i%ldd >= n {
					continue
				}
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s trial %d: dst[%d] = %g, want %g", bt.name, trial, i, got[i], want[i])
				}
			}
		}
	}
}

// TestRequantRowsBadArgs: shapes that do not fit panic with the kernel's name (the
// runtime checks shapes before it calls).
func TestRequantRowsBadArgs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short dst")
		}
	}()
	RequantRows(make([]float32, 3), 4, make([]int32, 8), 4, 2, 4, make([]int32, 2), nil, nil, make([]float32, 2))
}

// BenchmarkRequantRows: one convolution's output (96 channels of 56×56) with a weight
// zero point, each backend against the Go reference.
func BenchmarkRequantRows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	rows, n := 96, 56*56
	acc := make([]int32, rows*n)
	for i := range acc {
		acc[i] = int32(r.Uint32() >> 12)
	}
	fix, zw, cs, scale := make([]int32, rows), make([]int32, rows), make([]int32, n), randF32(r, rows, 0.01)
	for i := range zw {
		zw[i] = int32(i%7) - 3
	}
	dst := make([]float32, rows*n)
	for _, bt := range backendsUnderTest() {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.requantRows(dst, n, acc, n, rows, n, fix, zw, cs, scale)
			}
		})
	}
}
