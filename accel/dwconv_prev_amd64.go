//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_dwconv2d_axpy_avx512(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
*/
import "C"

// The AVX-512 depthwise kernel before its taps were summed in registers (one axpy per
// tap over the whole channel), kept so the benchmarks can compare the two.
func init() {
	prevDWConv2DAVX512 = func(p *Window2D, x, w, bias, y []float32, channels int) {
		C.mc_dwconv2d_axpy_avx512(pf32(x), pf32(w), pf32(bias), pf32(y), C.int64_t(channels), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
}
