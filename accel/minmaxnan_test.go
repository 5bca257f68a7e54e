package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every backend's minmax_nan kernel against the Go reference, bit for bit, on odd row
// lengths with NaN, ±Inf and ±0 placed anywhere (tails included); and MinMaxNaN against
// a plain loop on sizes around the block size.
func TestMinMaxNaN(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	nan := float32(math.NaN())
	for _, bt := range backendsUnderTest() {
		for trial := 0; trial < 200; trial++ {
			rows, cols := 1+r.IntN(4), r.IntN(140)
			ld := cols + r.IntN(3)
			src := randF32(r, rows*ld, 100)
			for k := r.IntN(3); k > 0 && cols > 0; k-- {
				src[r.IntN(rows)*ld+r.IntN(cols)] = []float32{nan, float32(math.Inf(1)), float32(math.Inf(-1)), 0}[r.IntN(4)]
			}
			want, wantHi := make([]float32, rows), make([]float32, rows)
			refMinMaxNaNRows(src, rows, cols, ld, want, wantHi)
			full, lo := guardedF32(rows, 0)
			hi := make([]float32, rows)
			bt.t.minMaxNaN(src, rows, cols, ld, lo, hi)
			checkGuardsF32(t, bt.name+"/minmax_nan", full, rows)
			for i := range lo {
				same := func(a, b float32) bool { return a == b || a != a && b != b }
				if !same(lo[i], want[i]) || !same(hi[i], wantHi[i]) {
					t.Fatalf("%s trial %d row %d (cols %d): (%g, %g), want (%g, %g)", bt.name, trial, i, cols, lo[i], hi[i], want[i], wantHi[i])
				}
			}
		}
	}
	for _, n := range []int{0, 1, 63, 64, 1000, tensorBlock - 1, tensorBlock, tensorBlock + 17, 3*tensorBlock + 5} {
		for _, nanAt := range []int{-1, 0, n / 2, n - 1} {
			src := randF32(r, n, 10)
			if nanAt >= 0 && n > 0 {
				src[nanAt] = nan
			}
			lo, hi, gotNaN := MinMaxNaN(src)
			wlo, whi, wNaN := float32(math.Inf(1)), float32(math.Inf(-1)), false
			for _, v := range src {
				wNaN = wNaN || v != v
				if v == v {
					wlo, whi = min(wlo, v), max(whi, v)
				}
			}
			if gotNaN != wNaN || !wNaN && (lo != wlo || hi != whi) || wNaN && (lo == lo || hi == hi) {
				t.Fatalf("n %d, NaN at %d: (%g, %g, %v), want (%g, %g, %v)", n, nanAt, lo, hi, gotNaN, wlo, whi, wNaN)
			}
		}
	}
}

// BenchmarkMinMaxNaN: one pass against the two it replaces in DynamicQuantizeLinear
// (MinMax, then SumSquares for the NaN check), on one activation of 96×56×56.
func BenchmarkMinMaxNaN(b *testing.B) {
	src := randF32(rand.New(rand.NewPCG(1, 2)), 96*56*56, 4)
	b.Run("minmax_nan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			MinMaxNaN(src)
		}
	})
	b.Run("minmax+sumsq", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			MinMax(src)
			SumSquares(src)
		}
	})
}
