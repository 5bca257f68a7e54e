//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_maxpool2d_rows_avx512(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
*/
import "C"

// The AVX-512 max-pooling kernel before whole windows were taken in registers (one
// load-max-store pass over the output row per tap), kept so that the tests and
// benchmarks can compare the two.
func init() {
	prevMaxPool2DAVX512 = func(p *Window2D, x, y []float32, planes int) {
		C.mc_maxpool2d_rows_avx512(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
}
