// Depthwise convolution, AVX-512: all taps of a run of outputs summed in registers.
// Included by kernels_avx512.c before dwconv_driver.h, which calls DW_TAPS on each channel
// once its zero-padded stride phases are built (see _phased there). The axpy path it
// replaces read and wrote the whole output once per tap (nine passes for a 3×3 filter);
// here each output is loaded from the phases once per tap and stored once, with no
// branch for the padding (the phases already hold its zeros). The sum is the same as the
// axpy path's, bit for bit: bias first, then w·x per tap in (kh, kw) order, multiply then
// add unfused, as the Go reference does.

enum { DW_TAPS_MAX = 49 }; // up to 7×7; larger filters keep the axpy path

// dst[o] = bias + Σ_t w[t]·src[off[t] + o] for o in [0, n). Four, then one, independent
// sums in flight: each is a chain of adds, one per tap.
static inline KTGT void dw_taps_span_avx512(const float *src, const int64_t *off, const float *w, int64_t taps,
                                            float bias, float *dst, int64_t n) {
	const __m512 vb = _mm512_set1_ps(bias);
	int64_t o = 0;
	for (; o + 64 <= n; o += 64) {
		__m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
		for (int64_t t = 0; t < taps; t++) {
			const __m512 wv = _mm512_set1_ps(w[t]);
			const float *s = src + off[t] + o;
			a0 = _mm512_add_ps(a0, _mm512_mul_ps(wv, _mm512_loadu_ps(s)));
			a1 = _mm512_add_ps(a1, _mm512_mul_ps(wv, _mm512_loadu_ps(s + 16)));
			a2 = _mm512_add_ps(a2, _mm512_mul_ps(wv, _mm512_loadu_ps(s + 32)));
			a3 = _mm512_add_ps(a3, _mm512_mul_ps(wv, _mm512_loadu_ps(s + 48)));
		}
		_mm512_storeu_ps(dst + o, a0);
		_mm512_storeu_ps(dst + o + 16, a1);
		_mm512_storeu_ps(dst + o + 32, a2);
		_mm512_storeu_ps(dst + o + 48, a3);
	}
	for (; o < n; o += 16) {
		const __mmask16 m = tailmask(n - o);
		__m512 a = vb;
		for (int64_t t = 0; t < taps; t++)
			a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(m, src + off[t] + o)));
		_mm512_mask_storeu_ps(dst + o, m, a);
	}
}

// One channel from its phases P (sh·sw planes of hq×wq, laid out as _phased builds them):
// y[r][o] = bias + Σ w[i][j]·P[i%sh][j%sw][r + i/sh][o + j/sw]. Either summed over the flat
// index r·wq + o, which runs across rows and fills whole vectors, into flat, the rows then
// copied out (narrow maps: the 7×7 and 14×14 of late layers); or, when that takes more
// vectors than the rows themselves, written row by row straight into y. Returns 0 (nothing written) when the filter is too large.
static inline KTGT int dw_taps_avx512(const float *phases, int64_t plane, int64_t wq, const float *wc, float bias,
                                      float *yc, float *flat, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                                      int64_t sh, int64_t sw) {
	const int64_t taps = kh * kw;
	if (taps > DW_TAPS_MAX) return 0;
	int64_t off[DW_TAPS_MAX];
	for (int64_t i = 0; i < kh; i++)
		for (int64_t j = 0; j < kw; j++)
			off[i * kw + j] = ((i % sh) * sw + j % sw) * plane + (i / sh) * wq + j / sw;
	const int64_t len = (oh - 1) * wq + ow;
	if (oh * ((ow + 15) / 16) < (len + 15) / 16) {
		for (int64_t r = 0; r < oh; r++) dw_taps_span_avx512(phases + r * wq, off, wc, taps, bias, yc + r * ow, ow);
		return 1;
	}
	dw_taps_span_avx512(phases, off, wc, taps, bias, flat, len);
	for (int64_t r = 0; r < oh; r++) memcpy(yc + r * ow, flat + r * wq, (size_t)ow * sizeof(float));
	return 1;
}
#define DW_TAPS dw_taps_avx512
