//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
int mc_maxpool2d_s2_avx512(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void mc_maxpool2d_avx512(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
*/
import "C"

// maxPool2DAVX512 is the AVX-512 max-pooling kernel: the stride-2 one of
// maxpool_avx512.c (2- or 3-wide windows, each input row loaded once per column block)
// where it takes the geometry, the general one of maxpool_driver.h otherwise.
func maxPool2DAVX512(p *Window2D, x, y []float32, planes int) {
	if maxPool2DS2AVX512(p, x, y, planes) {
		return
	}
	C.mc_maxpool2d_avx512(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
		C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
}

// maxPool2DS2AVX512 runs the stride-2 kernel and says whether it took the geometry
// (when not, y is untouched).
func maxPool2DS2AVX512(p *Window2D, x, y []float32, planes int) bool {
	return C.mc_maxpool2d_s2_avx512(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
		C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW)) != 0
}

// The general kernel alone (whole windows of 16 outputs in registers, strides 1 and 2),
// which the stride-2 geometries went to before, for the tests and benchmarks.
func init() {
	prevSpanMaxPool2DAVX512 = func(p *Window2D, x, y []float32, planes int) {
		C.mc_maxpool2d_avx512(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
	maxPool2DS2 = maxPool2DS2AVX512
}
