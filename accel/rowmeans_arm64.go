//go:build arm64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_row_means_neon(const float *, int64_t, int64_t, float *);
*/
import "C"

// fillRowMeans sets the table's row_means kernel for NEON.
func fillRowMeans(t *table) {
	t.rowMeans = func(src []float32, rows, cols int, out []float32) {
		C.mc_row_means_neon(pf32(src), C.int64_t(rows), C.int64_t(cols), pf32(out))
	}
	t.set("row_means", "neon", "sixteen float64 partial sums in eight 2-lane accumulators")
}
