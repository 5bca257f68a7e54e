//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_requant_rows_avx512(float *, int64_t, const int32_t *, int64_t, int64_t, int64_t, const int32_t *, const int32_t *, const int32_t *, const float *);
void mc_requant_rows_avx2(float *, int64_t, const int32_t *, int64_t, int64_t, int64_t, const int32_t *, const int32_t *, const int32_t *, const float *);
*/
import "C"

// fillRequant sets the table's RequantRows kernel for AVX-512 (avx512) or AVX2.
func fillRequant(t *table, avx512 bool) {
	if avx512 {
		t.requantRows = func(dst []float32, ldd int, acc []int32, lda int, rows, n int, fix, zw, cs []int32, scale []float32) {
			C.mc_requant_rows_avx512(pf32(dst), C.int64_t(ldd), pi32(acc), C.int64_t(lda), C.int64_t(rows), C.int64_t(n),
				pi32(fix), pi32(zw), pi32(cs), pf32(scale))
		}
		t.set("requant_rows", "avx512", "compiler-vectorised int32 → float32 with the zero-point corrections")
		return
	}
	t.requantRows = func(dst []float32, ldd int, acc []int32, lda int, rows, n int, fix, zw, cs []int32, scale []float32) {
		C.mc_requant_rows_avx2(pf32(dst), C.int64_t(ldd), pi32(acc), C.int64_t(lda), C.int64_t(rows), C.int64_t(n),
			pi32(fix), pi32(zw), pi32(cs), pf32(scale))
	}
	t.set("requant_rows", "avx2", "compiler-vectorised int32 → float32 with the zero-point corrections")
}
