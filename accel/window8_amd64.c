//go:build amd64 && cgo && !purego

// WindowRows8 for AVX-512 and AVX2 (the file is compiled for baseline x86-64; each
// function carries its target).
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define KTGT __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))

// window8_row1_avx512 writes one stride-1 window row d[0:OW]: d[xo] = s[xo + off] ^ flip
// for xo in [lo, hi), pad elsewhere, 64 bytes per step. The load is masked to [lo, hi),
// so it reads only bytes of the input row (masked lanes never fault).
static inline KTGT void window8_row1_avx512(int8_t *d, const uint8_t *s, int64_t off, int64_t lo, int64_t hi,
                                           int64_t OW, uint8_t flip, int8_t pad) {
	const __m512i flipv = _mm512_set1_epi8((char)flip), padv = _mm512_set1_epi8(pad);
	const uintptr_t base = (uintptr_t)s + (uintptr_t)off; // s + off may point before s: no C pointer arithmetic
	for (int64_t x = 0; x < OW; x += 64) {
		const int64_t n = OW - x < 64 ? OW - x : 64;
		const __mmask64 st = n == 64 ? ~0ULL : (1ULL << n) - 1;
		const int64_t a = lo - x > 0 ? lo - x : 0, b = hi - x < n ? hi - x : n;
		__mmask64 in = 0;
		if (b > a) in = (b == 64 ? ~0ULL : (1ULL << b) - 1) & ~((1ULL << a) - 1);
		__m512i v = _mm512_maskz_loadu_epi8(in, (const void *)(base + (uintptr_t)x));
		v = _mm512_mask_blend_epi8(in, padv, _mm512_xor_si512(v, flipv));
		_mm512_mask_storeu_epi8((void *)(d + x), st, v);
	}
}

#define WINDOW8_FN mc_window_rows8_avx512
#define WINDOW8_ROW1 window8_row1_avx512
#include "window8_driver.h"
#undef KTGT
#undef WINDOW8_FN
#undef WINDOW8_ROW1

#define KTGT __attribute__((target("avx2,fma")))
#define WINDOW8_FN mc_window_rows8_avx2
#include "window8_driver.h"
