//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_minmax_nan_rows_avx512(const float *, int64_t, int64_t, int64_t, float *, float *);
void mc_minmax_nan_rows_avx2(const float *, int64_t, int64_t, int64_t, float *, float *);
*/
import "C"

// fillMinMaxNaN sets the table's minmax_nan kernel for AVX-512 (avx512) or AVX2.
func fillMinMaxNaN(t *table, avx512 bool) {
	if avx512 {
		t.minMaxNaN = func(src []float32, rows, cols, ld int, mn, mx []float32) {
			C.mc_minmax_nan_rows_avx512(pf32(src), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(mn), pf32(mx))
		}
		t.set("minmax_nan", "avx512", "min/max and an unordered compare per pair of vectors")
		return
	}
	t.minMaxNaN = func(src []float32, rows, cols, ld int, mn, mx []float32) {
		C.mc_minmax_nan_rows_avx2(pf32(src), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(mn), pf32(mx))
	}
	t.set("minmax_nan", "avx2", "min/max and an unordered compare per pair of vectors")
}
