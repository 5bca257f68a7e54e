//go:build amd64 && cgo && !purego

// Direct 2-D convolution for a few input channels (the RGB stems of MobileNet,
// EfficientNet and the OCR detector: 3×3, stride 2, 3 channels in, 16–32 out), output row
// by output row: y[co][oy][ox] = act(Σ_{ci,ky,kx} w[co][ci][ky][kx]·x[ci][oy·sh+ky−ph][ox·sw+kx−pw]
// + bias[co]). The implicit GEMM gathers such a layer's 27-long columns with one masked
// gather per 16 pixels and tap, which costs more than the 8×48 tile's FMAs on them; here
// each needed input row is split once into its sw stride phases, zero-padded at both
// ends, so that every tap of 16 consecutive outputs is one contiguous load from a phase
// row, shared by up to 8 output channels. Taps whose input row lies in the padding are
// skipped, as in the reference; padded columns contribute w·0. Each output sums its taps
// in (ci, ky, kx) order with FMA, whatever the split of rows over threads. The epilogue
// is pointwise_avx512.c's: act 0 none, 1 Relu, 2 Clip(p, q), 3 HardSigmoid, 4 HardSwish,
// 5 SiLU, all in registers before the store (epilogue_avx512.h).
#include <immintrin.h>
#include <stdint.h>

#include "epilogue_avx512.h"

#define CTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define CR_MR 8
#define CR_NV 3


// cr_phase writes one stride phase of an input row: dst[j] = src[j·sw + off] where that
// column lies inside the row's w values, else 0, for j < n. Strides 1 and 2 (every stem
// of the bench set) move 16 outputs per step with masked loads that stay inside the row.
static CTGT void cr_phase(float *dst, const float *src, int64_t w, int64_t n, int64_t sw, int64_t off) {
	// Inside: j in [lo, hi) with 0 ≤ j·sw + off < w.
	int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw, hi = w - off <= 0 ? 0 : (w - off + sw - 1) / sw;
	if (hi > n) hi = n;
	if (lo > hi) lo = hi;
	for (int64_t j = 0; j < lo; j++) dst[j] = 0.0f;
	int64_t j = lo;
	if (sw == 1) {
		for (; j < hi; j += 16) {
			const __mmask16 m = ep_tailmask(hi - j);
			_mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j + off));
		}
	} else if (sw == 2) {
		const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
		for (; j < hi; j += 16) {
			const int64_t k = hi - j < 16 ? hi - j : 16, need = 2 * k - 1; // outputs, source values
			const float *s = src + 2 * j + off;
			const __m512 a = _mm512_maskz_loadu_ps(ep_tailmask(need), s);
			const __m512 b = need > 16 ? _mm512_maskz_loadu_ps(ep_tailmask(need - 16), s + 16) : _mm512_setzero_ps();
			_mm512_mask_storeu_ps(dst + j, ep_tailmask(k), _mm512_permutex2var_ps(a, even, b));
		}
	} else {
		for (; j < hi; j++) dst[j] = src[j * sw + off];
	}
	for (j = hi; j < n; j++) dst[j] = 0.0f;
}

// cr_tile: R output channels × V vectors of 16 outputs starting at ox0 of one output row.
// rows[t] is the phase-row base of tap row t = ci·kh + ky (null: in the padding), lrow the
// length of one phase row.
static inline __attribute__((always_inline)) CTGT void cr_tile(const int R, const int V, int64_t cin, int64_t kh, int64_t kw,
                                                               int64_t sw, const float *const *rows, int64_t lrow, const float *w,
                                                               int64_t ldw, int64_t ox0, float *y, int64_t ldy, __mmask16 ml,
                                                               const float *bias, int act, float p, float q) {
	__m512 acc[CR_MR][CR_NV];
#pragma GCC unroll 8
	for (int i = 0; i < R; i++)
#pragma GCC unroll 3
		for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
	for (int64_t t = 0; t < cin * kh; t++) {
		if (!rows[t]) continue;
		for (int64_t kx = 0; kx < kw; kx++) {
			const float *src = rows[t] + (kx % sw) * lrow + kx / sw + ox0;
			const float *wp = w + t * kw + kx;
			__m512 xv[CR_NV];
#pragma GCC unroll 3
			for (int v = 0; v < V; v++) xv[v] = _mm512_loadu_ps(src + 16 * v);
#pragma GCC unroll 8
			for (int i = 0; i < R; i++) {
				const __m512 wv = _mm512_set1_ps(wp[i * ldw]);
#pragma GCC unroll 3
				for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(wv, xv[v], acc[i][v]);
			}
		}
	}
	const __m512 vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		const __m512 vb = _mm512_set1_ps(bias ? bias[i] : 0.0f);
#pragma GCC unroll 3
		for (int v = 0; v < V; v++) {
			const __mmask16 m = v == V - 1 ? ml : (__mmask16)0xffff;
			_mm512_mask_storeu_ps(y + i * ldy + ox0 + 16 * v, m, ep_act(_mm512_add_ps(acc[i][v], vb), act, vp, vq));
		}
	}
}

#define CR_CASE(R, V)                                                                                   \
	case (R) * 4 + (V):                                                                             \
		cr_tile(R, V, cin, kh, kw, sw, rows, lrow, w, ldw, ox0, y, ldy, ml, bias, act, p, q);      \
		break;
#define CR_ROW(R) CR_CASE(R, 1) CR_CASE(R, 2) CR_CASE(R, 3)

static CTGT void cr_dispatch(int R, int V, int64_t cin, int64_t kh, int64_t kw, int64_t sw, const float *const *rows, int64_t lrow,
                             const float *w, int64_t ldw, int64_t ox0, float *y, int64_t ldy, __mmask16 ml, const float *bias, int act,
                             float p, float q) {
	switch (R * 4 + V) {
		CR_ROW(1) CR_ROW(2) CR_ROW(3) CR_ROW(4) CR_ROW(5) CR_ROW(6) CR_ROW(7) CR_ROW(8)
	}
}

// CR_BAND_BUF bounds the phase rows of one band (floats, on the stack).
#define CR_BAND_BUF 32768

// mc_convrows_avx512 computes output rows [oy0, oy1) of all m channels, in bands of
// output rows: the phase rows of every input row a band reads are built once (with stride
// 2 and three tap rows, one output row at a time built each input row 1.5 times), then
// the band is computed one block of CR_MR output channels at a time, so that a block's
// planes are written row after row, a few sequential store streams instead of all m
// planes' at once. BenchmarkConvRows2D, one thread: 3→64 at 224² 145–147 → 155–164
// GFLOP/s, 3→16 107–114 → 129–136. lrow: ow rounded up to 16, plus (kw−1)/sw, so that
// every vector load of a tile stays inside its phase row.
void CTGT mc_convrows_avx512(int64_t m, int64_t cin, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t ph, int64_t pw, const float *wt, const float *x, const float *bias, float *y,
                             int64_t oy0, int64_t oy1, int64_t lrow, int act, float p, float q) {
	// Output rows per band: as many as CR_BAND_BUF holds the input rows of (one at least:
	// ConvRows2D checks that cin·kh·sw·lrow fits convRowsMaxBuf, under CR_BAND_BUF).
	const int64_t per = cin * sw * lrow; // floats of one input row's phases, every channel
	int64_t band = (CR_BAND_BUF / per - kh) / sh + 1;
	if (band < 1) band = 1;
	if (band > 16) band = 16;
	float buf[CR_BAND_BUF];
	const float *rows[16][64];
	const int64_t ldw = cin * kh * kw, ldy = oh * ow;
	for (int64_t b0 = oy0; b0 < oy1; b0 += band) {
		const int64_t b1 = b0 + band < oy1 ? b0 + band : oy1;
		const int64_t iy0 = b0 * sh - ph, nin = (b1 - 1 - b0) * sh + kh; // input rows iy0 … iy0+nin−1
		for (int64_t r = 0; r < nin; r++) {
			const int64_t iy = iy0 + r;
			if (iy < 0 || iy >= h) continue;
			for (int64_t ci = 0; ci < cin; ci++) {
				float *dst = buf + (r * cin + ci) * sw * lrow;
				const float *src = x + (ci * h + iy) * w;
				for (int64_t e = 0; e < sw; e++) cr_phase(dst + e * lrow, src, w, lrow, sw, e - pw);
			}
		}
		for (int64_t oy = b0; oy < b1; oy++)
			for (int64_t ci = 0; ci < cin; ci++)
				for (int64_t ky = 0; ky < kh; ky++) {
					const int64_t iy = oy * sh + ky - ph;
					rows[oy - b0][ci * kh + ky] = iy < 0 || iy >= h ? 0 : buf + ((iy - iy0) * cin + ci) * sw * lrow;
				}
		for (int64_t co = 0; co < m; co += CR_MR) {
			const int R = (int)(m - co < CR_MR ? m - co : CR_MR);
			for (int64_t oy = b0; oy < b1; oy++)
				for (int64_t ox0 = 0; ox0 < ow; ox0 += 16 * CR_NV) {
					const int64_t nr = ow - ox0 < 16 * CR_NV ? ow - ox0 : 16 * CR_NV;
					const int V = (int)((nr + 15) / 16);
					const __mmask16 ml = ep_tailmask(nr - 16 * (V - 1));
					cr_dispatch(R, V, cin, kh, kw, sw, rows[oy - b0], lrow, wt + co * ldw, ldw, ox0, y + co * ldy + oy * ow, ldy, ml,
					            bias ? bias + co : 0, act, p, q);
				}
		}
	}
}
