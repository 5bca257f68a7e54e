//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_window_rows8_avx512(int8_t *, int64_t, const uint8_t *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, uint8_t, int8_t);
void mc_window_rows8_avx2(int8_t *, int64_t, const uint8_t *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, uint8_t, int8_t);
*/
import "C"

// fillWindowRows8 sets the table's window_rows8 kernel for AVX-512 (avx512) or AVX2.
func fillWindowRows8(t *table, avx512 bool) {
	if avx512 {
		t.windowRows8 = func(dst []int8, ld int, x []byte, planes int, p *Window2D, flip byte, pad int8) {
			C.mc_window_rows8_avx512(pi8(dst), C.int64_t(ld), pu8(x), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
				C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW),
				C.uint8_t(flip), C.int8_t(pad))
		}
		t.set("window_rows8", "avx512", "row copies with the top-bit flip, compiler-vectorised")
		return
	}
	t.windowRows8 = func(dst []int8, ld int, x []byte, planes int, p *Window2D, flip byte, pad int8) {
		C.mc_window_rows8_avx2(pi8(dst), C.int64_t(ld), pu8(x), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW),
			C.uint8_t(flip), C.int8_t(pad))
	}
	t.set("window_rows8", "avx2", "row copies with the top-bit flip, compiler-vectorised")
}
