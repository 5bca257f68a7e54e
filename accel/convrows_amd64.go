//go:build amd64 && cgo && !purego

package accel

/*
#include <stdint.h>
void mc_convrows_avx512(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                        const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int, float, float);
*/
import "C"

// convRowsAVX512 runs convrows_avx512.c on output rows [r0, r1); its phase rows live on
// the C stack (ConvRows2D bounds their size).
func convRowsAVX512(m, cin int, p *Window2D, w, x, bias, y []float32, r0, r1, lrow int, act Act) {
	C.mc_convrows_avx512(C.int64_t(m), C.int64_t(cin), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW), C.int64_t(p.KH),
		C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), pf32(w), pf32(x), pf32(bias), pf32(y),
		C.int64_t(r0), C.int64_t(r1), C.int64_t(lrow), C.int(act.Kind), C.float(act.P), C.float(act.Q))
}
