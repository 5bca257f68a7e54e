//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_row_means_avx512(const float *, int64_t, int64_t, float *);
void mc_row_means_avx2(const float *, int64_t, int64_t, float *);
*/
import "C"

// fillRowMeans sets the table's row_means kernel for AVX-512 (avx512) or AVX2.
func fillRowMeans(t *table, avx512 bool) {
	if !avx512 {
		t.rowMeans = func(src []float32, rows, cols int, out []float32) {
			C.mc_row_means_avx2(pf32(src), C.int64_t(rows), C.int64_t(cols), pf32(out))
		}
		t.set("row_means", "avx2", "sixteen float64 partial sums in four 4-lane accumulators")
		return
	}
	t.rowMeans = func(src []float32, rows, cols int, out []float32) {
		C.mc_row_means_avx512(pf32(src), C.int64_t(rows), C.int64_t(cols), pf32(out))
	}
	t.set("row_means", "avx512", "sixteen float64 partial sums in two 8-lane accumulators")
}
