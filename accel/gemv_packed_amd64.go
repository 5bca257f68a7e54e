//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_gemv_packed_avx512(int64_t, int64_t, int64_t, float, const float *, const float *, float, float *, const float *);
*/
import "C"

// gemvPackedAVX512 runs kernels_avx512.c's packed one-row product on outputs [j0, j1).
func gemvPackedAVX512(j0, j1, k int, alpha float32, a, q []float32, beta float32, c, bias []float32) {
	C.mc_gemv_packed_avx512(C.int64_t(j0), C.int64_t(j1), C.int64_t(k), C.float(alpha), pf32(a), pf32(q), C.float(beta), pf32(c), pf32(bias))
}
