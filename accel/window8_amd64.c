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

// window8_strided_avx512 writes d[i] = s[i·sw] ^ flip for i < n, sw 2 or 4 (a 1-D audio
// front end's stride): one 64-byte load holds 64/sw outputs' bytes, and vpmovwb or
// vpmovdb keeps each 16- or 32-bit lane's low byte, which is that output's. Loads are
// masked to the bytes read, so nothing past s[(n−1)·sw] is touched. Byte by byte, gcc's
// loop for a strided copy ran slower than the Go reference.
static inline KTGT void window8_strided_avx512(int8_t *d, const uint8_t *s, int64_t n, int64_t sw, uint8_t flip) {
	const __m512i flipv = _mm512_set1_epi8((char)flip);
	const int64_t per = 64 / sw;
	for (int64_t i = 0; i < n; i += per) {
		const int64_t c = n - i < per ? n - i : per, bytes = (c - 1) * sw + 1;
		const __mmask64 in = bytes >= 64 ? ~0ULL : (1ULL << bytes) - 1;
		const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(in, (const void *)(s + i * sw)), flipv);
		if (sw == 2) {
			_mm256_mask_storeu_epi8((void *)(d + i), (__mmask32)(c >= 32 ? ~0U : (1U << c) - 1), _mm512_cvtepi16_epi8(v));
		} else {
			_mm_mask_storeu_epi8((void *)(d + i), (__mmask16)((1U << c) - 1), _mm512_cvtepi32_epi8(v));
		}
	}
}

#define WINDOW8_FN window_rows8_avx512_rows
#define WINDOW8_ROW1 window8_row1_avx512
#define WINDOW8_STRIDED window8_strided_avx512
#include "window8_driver.h"
#undef WINDOW8_FN
#undef WINDOW8_ROW1
#undef WINDOW8_STRIDED

// bits [a, b) of a 64-bit mask, a and b clamped to [0, 64].
static inline uint64_t bitrange(int64_t a, int64_t b) {
	a = a < 0 ? 0 : a;
	b = b > 64 ? 64 : b;
	if (b <= a) return 0;
	return (b == 64 ? ~0ULL : (1ULL << b) - 1) & ~((1ULL << a) - 1);
}

// mc_window_rows8_avx512 takes whole planes at once when the convolution has stride 1,
// keeps the width (OW = W, "same" padding) and the width divides 64 (8×8 … 64×64
// feature maps): then a kernel position's row is the plane shifted by one offset,
// d[o] = plane[o + shift], with the padding where the shifted row or column leaves the
// image, so 64 outputs take one masked load whatever the width, where narrow images
// would otherwise pay a loop per 8- or 16-byte row. Other geometries go row by row.
void KTGT mc_window_rows8_avx512(int8_t *dst, int64_t ld, const uint8_t *x, int64_t planes, int64_t H, int64_t W,
                                 int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH,
                                 int64_t PW, int64_t DH, int64_t DW, uint8_t flip, int8_t pad) {
	if (!(SH == 1 && SW == 1 && OW == W && W > 0 && 64 % W == 0)) {
		window_rows8_avx512_rows(dst, ld, x, planes, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, flip, pad);
		return;
	}
	const __m512i flipv = _mm512_set1_epi8((char)flip), padv = _mm512_set1_epi8(pad);
	const int64_t K = KH * KW, O = OH * OW;
	for (int64_t c = 0; c < planes; c++) {
		const uintptr_t plane = (uintptr_t)(x + c * H * W);
		for (int64_t kp = 0; kp < K; kp++) {
			const int64_t ki = kp / KW, kj = kp % KW;
			int8_t *row = dst + (c * K + kp) * ld;
			const int64_t off = kj * DW - PW, roff = ki * DH - PH;
			// Output column xo reads input column xo + off: inside for xo in [lo, hi),
			// the same pattern in every W-wide group of a 64-bit mask.
			const uint64_t cols = bitrange(-off, W - off) & bitrange(0, W);
			uint64_t pat = 0;
			for (int64_t i = 0; i < 64; i += W) pat |= cols << i;
			// Output row yo reads input row yo + roff: inside for positions [ylo, yhi).
			const int64_t ylo = (roff < 0 ? -roff : 0) * OW, yhi = (H - roff < OH ? H - roff : OH) * OW;
			const uintptr_t src = plane + (uintptr_t)(roff * W + off); // may point outside: masked
			for (int64_t o = 0; o < O; o += 64) {
				const __mmask64 st = bitrange(0, O - o), in = pat & bitrange(ylo - o, yhi - o) & st;
				__m512i v = _mm512_maskz_loadu_epi8(in, (const void *)(src + (uintptr_t)o));
				v = _mm512_mask_blend_epi8(in, padv, _mm512_xor_si512(v, flipv));
				_mm512_mask_storeu_epi8((void *)(row + o), st, v);
			}
		}
	}
}
#undef KTGT

#define KTGT __attribute__((target("avx2,fma")))
#define WINDOW8_FN mc_window_rows8_avx2
#include "window8_driver.h"
