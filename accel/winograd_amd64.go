//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_wino_in_avx512(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
	int64_t, int64_t, int64_t, int64_t, float *, int64_t, int64_t);
void mc_wino_out_avx512(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
	int64_t, int64_t, int64_t, int64_t, const float *, float, float, float *);
void mc_wino_gemm_avx512(int64_t, int64_t, int64_t, const float *, const float *, int64_t, float *, int64_t);
*/
import "C"

// fillWinogradAVX512 installs the AVX-512 Winograd transforms (winograd_avx512.c).
func fillWinogradAVX512(t *table) {
	t.winoIn = func(x []float32, c int, g *WinogradGeom, c0, c1, t0, t1 int, v []float32, ldv, es int) {
		ty, tx, _ := g.tiles()
		C.mc_wino_in_avx512(pf32(x), C.int64_t(c), C.int64_t(g.H), C.int64_t(g.W), C.int64_t(g.PT), C.int64_t(g.PL), C.int64_t(ty), C.int64_t(tx),
			C.int64_t(c0), C.int64_t(c1), C.int64_t(t0), C.int64_t(t1), pf32(v), C.int64_t(ldv), C.int64_t(es))
	}
	t.winoGEMM = func(m, n, k int, up, v []float32, ldv int, mm []float32, ldm int) {
		C.mc_wino_gemm_avx512(C.int64_t(m), C.int64_t(n), C.int64_t(k), pf32(up), pf32(v), C.int64_t(ldv), pf32(mm), C.int64_t(ldm))
	}
	t.winoOut = func(mm []float32, ldm, es int, m int, g *WinogradGeom, o0, o1, t0, t1 int, bias []float32, lo, hi float32, y []float32) {
		ty, tx, _ := g.tiles()
		C.mc_wino_out_avx512(pf32(mm), C.int64_t(ldm), C.int64_t(es), C.int64_t(m), C.int64_t(g.OH), C.int64_t(g.OW), C.int64_t(ty), C.int64_t(tx),
			C.int64_t(o0), C.int64_t(o1), C.int64_t(t0), C.int64_t(t1), pf32(bias), C.float(lo), C.float(hi), pf32(y))
	}
}
