//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
int mc_dwconv16_avx512(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, float, float);
int mc_dwconv16_fits(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void mc_dwconv2d_avx512(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void mc_dw16_transpose_avx512(float *);
*/
import "C"

// dwConv2DActAVX512 is the AVX-512 depthwise kernel with its activation: dwconv16_avx512.c,
// sixteen channels per vector, the activation applied in registers (SiLU on each band
// while in cache); a geometry beyond it (a filter over 64 taps, rows too wide for its
// stack buffer) goes to the per-channel kernel (dwconv_taps_avx512.h) and a pass of
// BiasAct or SiLU.
func dwConv2DActAVX512(p *Window2D, x, w, bias, y []float32, channels int, act Act) {
	if !dwConv2DRowsAVX512(p, x, w, bias, y, channels, act, 0, p.OH) {
		prevDWConv2DAVX512(p, x, w, bias, y, channels)
		dwAct(y, channels, p.OH*p.OW, act)
	}
}

// dwConv2DRowsAVX512 computes output rows [r0, r1) of every plane with dwconv16_avx512.c,
// or reports false, writing nothing, where the geometry is beyond it (dwConv16Fits).
func dwConv2DRowsAVX512(p *Window2D, x, w, bias, y []float32, channels int, act Act, r0, r1 int) bool {
	return C.mc_dwconv16_avx512(pf32(x), pf32(w), pf32(bias), pf32(y), C.int64_t(channels), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
		C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW),
		C.int64_t(r0), C.int64_t(r1), C.int(act.Kind), C.float(act.P), C.float(act.Q)) != 0
}

// dwConv16Fits reports whether dwConv2DRowsAVX512 takes geometry p.
func dwConv16Fits(p *Window2D) bool {
	return C.mc_dwconv16_fits(C.int64_t(p.OW), C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SW), C.int64_t(p.DH), C.int64_t(p.DW)) != 0
}

func dwConv2DAVX512(p *Window2D, x, w, bias, y []float32, channels int) {
	dwConv2DActAVX512(p, x, w, bias, y, channels, Act{Kind: ActNone})
}

// The per-channel AVX-512 kernel (stride phases, all taps of a run of outputs summed in
// registers): the fallback of dwConv2DAVX512 and, in the benchmarks, what it replaced.
func init() {
	dw16Transpose = func(m []float32) { C.mc_dw16_transpose_avx512(pf32(m[:256])) }
	prevDWConv2DAVX512 = func(p *Window2D, x, w, bias, y []float32, channels int) {
		C.mc_dwconv2d_avx512(pf32(x), pf32(w), pf32(bias), pf32(y), C.int64_t(channels), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
}
