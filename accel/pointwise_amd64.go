//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_pointwise_avx512(int64_t, int64_t, const float *, const float *, int64_t, const float *, float *, int64_t, int64_t, int64_t, int, float, float);
void mc_pointwise_t_avx512(int64_t, int64_t, int64_t, const float *, const float *, const float *, float *, int64_t, int64_t, int, float, float);
*/
import "C"

// pointwiseAVX512 runs pointwise_avx512.c on rows of w/y (already offset by the caller)
// and pixels [j0, j1).
func pointwiseAVX512(m, k, n int, w, x, bias, y []float32, j0, j1 int, act Act) {
	C.mc_pointwise_avx512(C.int64_t(m), C.int64_t(k), pf32(w), pf32(x), C.int64_t(n), pf32(bias), pf32(y), C.int64_t(n),
		C.int64_t(j0), C.int64_t(j1), C.int(act.Kind), C.float(act.P), C.float(act.Q))
}

// pointwiseTAVX512 runs pointwise_avx512.c's channels-in-lanes kernel on slivers
// [s0, s1) of 48 output channels.
func pointwiseTAVX512(m, k, n int, wp, x, bias, y []float32, s0, s1 int, act Act) {
	C.mc_pointwise_t_avx512(C.int64_t(m), C.int64_t(k), C.int64_t(n), pf32(wp), pf32(x), pf32(bias), pf32(y),
		C.int64_t(s0), C.int64_t(s1), C.int(act.Kind), C.float(act.P), C.float(act.Q))
}
