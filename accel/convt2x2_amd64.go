//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_convt2x2_avx512(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, float *, int64_t, int64_t, int, float, float);
void mc_sigmoid_avx512(float *, const float *, int64_t);
*/
import "C"

// convT2x2AVX512 runs convt2x2_avx512.c on segment groups [g0, g1).
func convT2x2AVX512(cin, cout, h, w int, x, wt, bias, y []float32, g0, g1 int, act Act) {
	C.mc_convt2x2_avx512(C.int64_t(cin), C.int64_t(cout), C.int64_t(h), C.int64_t(w), pf32(x), pf32(wt), pf32(bias), pf32(y),
		C.int64_t(g0), C.int64_t(g1), C.int(act.Kind), C.float(act.P), C.float(act.Q))
}

// sigmoidAVX512 is mc_sigmoid_avx512: ep_sigmoid over a slice.
func sigmoidAVX512(dst, src []float32) {
	C.mc_sigmoid_avx512(pf32(dst), pf32(src), C.int64_t(len(src)))
}
