//go:build amd64 && cgo && !purego

// Depthwise 2-D convolution, AVX-512, sixteen channels at a time (mc_dwconv16_avx512).
//
// A per-channel kernel puts sixteen output pixels of one channel in a vector, so a 7×7
// or 14×14 plane fills its vectors badly, and a stride-2 layer has to split every input
// row into its stride phases first. Here a vector holds one pixel of sixteen channels:
// a block of sixteen NCHW input planes is transposed (16×16 in registers) into a
// zero-padded, channel-interleaved buffer buf[row][col][16], and then every output pixel
// of the block is y = bias + Σ_taps w_tap·buf[r·sh + i·dh][o·sw + j·dw] with w_tap the
// sixteen channels' weights for that tap: one fused multiply-add per tap, for any stride,
// dilation or plane size, without a branch for the padding (the buffer holds its zeros).
// Up to sixteen pixels of an output row are summed at once (sixteen independent chains
// in registers), the activation is applied in registers, and the sixteen accumulators
// are transposed back and stored straight into the sixteen output planes.
//
// The buffer is a band of input rows on the C stack (DW16_BUF floats): the output rows
// are done in bands whose input rows fit it. Each channel's sum runs in tap order
// (kh, then kw), fused, whatever the band, the block or the thread count.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "epilogue_avx512.h"

#define DTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define DINL __attribute__((always_inline)) inline

enum {
	DW16_BUF = 32768, // floats of input band on the stack (128 KiB: stays in L2)
	DW16_TAPS = 64,   // largest filter (kh·kw) handled; larger ones: the caller's fallback
#ifndef DW16_AHEAD_
	DW16_AHEAD = 128, // floats ahead in each input plane to prefetch
#else
	DW16_AHEAD = DW16_AHEAD_,
#endif
};


static DINL DTGT __mmask16 dw16_mask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

// dw16_transpose transposes the 16×16 matrix v (v[i] its row i) in place.
static DINL DTGT void dw16_transpose(__m512 v[16]) {
	__m512 t[16], u[16];
#pragma GCC unroll 8
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]); // lane L: v_i[4L], v_i+1[4L], v_i[4L+1], v_i+1[4L+1]
		t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
	}
#pragma GCC unroll 4
	for (int i = 0; i < 16; i += 4) { // u[i + m], lane L: column 4L + m of rows i .. i+3
		u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
		u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
		u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
	}
#pragma GCC unroll 4
	for (int m = 0; m < 4; m++) { // gather the four 128-bit lanes of column 4L + m
		const __m512 a = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), b = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xDD);
		const __m512 c = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88), d = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xDD);
		v[m] = _mm512_shuffle_f32x4(a, c, 0x88);
		v[4 + m] = _mm512_shuffle_f32x4(b, d, 0x88);
		v[8 + m] = _mm512_shuffle_f32x4(a, c, 0xDD);
		v[12 + m] = _mm512_shuffle_f32x4(b, d, 0xDD);
	}
}

// The transpose on its own, for the test of it: m is sixteen rows of sixteen.
void DTGT mc_dw16_transpose_avx512(float *m) {
	__m512 v[16];
	for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(m + 16 * i);
	dw16_transpose(v);
	for (int i = 0; i < 16; i++) _mm512_storeu_ps(m + 16 * i, v[i]);
}

// The geometry and the block's constants, shared by the helpers below.
typedef struct {
	int64_t h, wd, oh, ow, sh, sw, ph, pw, wp; // wp: columns of the band buffer
	int64_t taps, ohw, nc;                     // nc: channels in this block (1–16)
	const int64_t *off;                        // per tap, its offset in buf (floats)
	const float *wt;                           // wt[tap][16]: the block's weights, zero past nc
	__m512 vb, vp, vq;                         // bias, activation parameters
	int act;
} dw16_geom;

// dw16_group sums G (a constant, 1–16) output pixels of one row, whose first tap reads
// src and whose next pixels are SW·16 floats apart (SW a constant 1 or 2, or 0: g->sw),
// applies the activation and stores them into the block's planes at yc (+ c·ohw).
static DINL DTGT void dw16_group(const int G, const int SW, const dw16_geom *g, const float *src, float *yc) {
	__m512 acc[16];
	const int64_t step = (SW ? SW : g->sw) * 16;
#pragma GCC unroll 16
	for (int p = 0; p < G; p++) acc[p] = g->vb;
	for (int64_t t = 0; t < g->taps; t++) {
		const __m512 wv = _mm512_load_ps(g->wt + 16 * t);
		const float *s = src + g->off[t];
		// Opaque to the optimiser: otherwise GCC folds the offsets p·step into sixteen index
		// registers (spilled) instead of the loads' displacements.
		__asm__("" : "+r"(s));
#pragma GCC unroll 16
		for (int p = 0; p < G; p++) acc[p] = _mm512_fmadd_ps(wv, _mm512_load_ps(s + p * step), acc[p]);
	}
#pragma GCC unroll 16
	for (int p = 0; p < 16; p++) acc[p] = p < G ? ep_act(acc[p], g->act, g->vp, g->vq) : _mm512_setzero_ps();
	dw16_transpose(acc);
	const __mmask16 m = dw16_mask(G);
	if (g->nc == 16) {
#pragma GCC unroll 16
		for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(yc + c * g->ohw, m, acc[c]);
	} else {
		for (int c = 0; c < g->nc; c++) _mm512_mask_storeu_ps(yc + c * g->ohw, m, acc[c]);
	}
}

// dw16_row computes output row r of the block from the band buffer buf, whose row 0 is
// output row r0's first input row: groups of 16 pixels, then one group of the rest.
static DINL DTGT void dw16_row(const int SW, const dw16_geom *g, const float *buf, int64_t r, int64_t r0, float *y) {
	const float *src = buf + (r - r0) * g->sh * g->wp * 16;
	float *yr = y + r * g->ow;
	const int64_t step = (SW ? SW : g->sw) * 16;
	int64_t o = 0;
	for (; o + 16 <= g->ow; o += 16) dw16_group(16, SW, g, src + o * step, yr + o);
	const float *s = src + o * step;
	switch (g->ow - o) {
#define DW16_TAIL(n)                                                                                                   \
	case n:                                                                                                            \
		dw16_group(n, SW, g, s, yr + o);                                                                               \
		break;
		DW16_TAIL(1)
		DW16_TAIL(2)
		DW16_TAIL(3)
		DW16_TAIL(4)
		DW16_TAIL(5)
		DW16_TAIL(6)
		DW16_TAIL(7)
		DW16_TAIL(8)
		DW16_TAIL(9)
		DW16_TAIL(10)
		DW16_TAIL(11)
		DW16_TAIL(12)
		DW16_TAIL(13)
		DW16_TAIL(14)
		DW16_TAIL(15)
#undef DW16_TAIL
	}
}

static DTGT void dw16_rows_s1(const dw16_geom *g, const float *buf, int64_t r0, int64_t r1, float *y) {
	for (int64_t r = r0; r < r1; r++) dw16_row(1, g, buf, r, r0, y);
}
static DTGT void dw16_rows_s2(const dw16_geom *g, const float *buf, int64_t r0, int64_t r1, float *y) {
	for (int64_t r = r0; r < r1; r++) dw16_row(2, g, buf, r, r0, y);
}
static DTGT void dw16_rows_sn(const dw16_geom *g, const float *buf, int64_t r0, int64_t r1, float *y) {
	for (int64_t r = r0; r < r1; r++) dw16_row(0, g, buf, r, r0, y);
}

// dw16_fill builds the band buffer: nrows rows from input row ihs (negative or past h:
// padding), each wp pixels of 16 channels, column pw + iw holding input column iw. The
// input rows of the band are contiguous in each plane, so they are transposed as one
// flat run of pixels, sixteen at a time, each pixel then stored at its (row, column).
static DTGT void dw16_fill(const dw16_geom *g, const float *x, int64_t ihs, int64_t nrows, float *buf) {
	const int64_t h = g->h, wd = g->wd, pw = g->pw, wp = g->wp, hw = h * wd;
	const int64_t keep = wd < wp - pw ? wd : wp - pw; // input columns that land in the buffer
	for (int64_t rr = 0; rr < nrows; rr++) {
		float *row = buf + rr * wp * 16;
		const int64_t ih = ihs + rr;
		if (ih < 0 || ih >= h) {
			memset(row, 0, (size_t)(wp * 16) * sizeof(float));
			continue;
		}
		memset(row, 0, (size_t)(pw * 16) * sizeof(float));
		if (pw + wd < wp) memset(row + (pw + wd) * 16, 0, (size_t)((wp - pw - wd) * 16) * sizeof(float));
	}
	const int64_t a = ihs > 0 ? ihs : 0, b = ihs + nrows < h ? ihs + nrows : h;
	if (a >= b || keep <= 0) return;
	const int64_t q1 = b * wd;
	int64_t row = a, col = 0; // of the chunk's first pixel
	for (int64_t q = a * wd; q < q1; q += 16) {
		const int64_t n = q1 - q < 16 ? q1 - q : 16;
		const __mmask16 m = dw16_mask(n);
		__m512 v[16];
		if (g->nc == 16) {
			// Sixteen streams, a cache line of each per step: too many for the hardware
			// prefetcher to follow by itself.
#pragma GCC unroll 16
			for (int c = 0; c < 16; c++) {
				_mm_prefetch((const char *)(x + c * hw + q + DW16_AHEAD), _MM_HINT_T0);
				v[c] = _mm512_maskz_loadu_ps(m, x + c * hw + q);
			}
		} else {
#pragma GCC unroll 16
			for (int c = 0; c < 16; c++) v[c] = c < g->nc ? _mm512_maskz_loadu_ps(m, x + c * hw + q) : _mm512_setzero_ps();
		}
		dw16_transpose(v);
		float *d = buf + ((row - ihs) * wp + pw + col) * 16;
		if (n == 16 && col + 16 <= keep) { // the common case: sixteen pixels of one row
#pragma GCC unroll 16
			for (int p = 0; p < 16; p++) _mm512_store_ps(d + 16 * p, v[p]);
			col += 16;
			if (col == wd) row++, col = 0;
			continue;
		}
		if (n == 16 && keep == wd) { // sixteen pixels across rows (narrow planes): no index spills
#pragma GCC unroll 16
			for (int p = 0; p < 16; p++) {
				_mm512_store_ps(d, v[p]);
				d += 16;
				if (++col == wd) row++, col = 0, d += (wp - wd) * 16; // on to column pw of the next row
			}
			continue;
		}
		for (int p = 0; p < n; p++) {
			if (col < keep) _mm512_store_ps(buf + ((row - ihs) * wp + pw + col) * 16, v[p]);
			if (++col == wd) row++, col = 0;
		}
	}
}

// mc_dwconv16_fits reports whether mc_dwconv16_avx512 takes a geometry: a filter of at
// most DW16_TAPS taps whose input rows for one output row fit DW16_BUF.
int mc_dwconv16_fits(int64_t ow, int64_t kh, int64_t kw, int64_t sw, int64_t dh, int64_t dw) {
	const int64_t eh = (kh - 1) * dh + 1, wp = (ow - 1) * sw + (kw - 1) * dw + 1;
	return kh * kw <= DW16_TAPS && eh * wp * 16 <= DW16_BUF;
}

// mc_dwconv16_avx512 computes output rows [rb, re) of channels planes of the depthwise
// convolution (see accel.DepthwiseConv2D for the arguments; act, p, q as in
// epilogue_avx512.h's ep_act, 5 = SiLU) and returns 1, or returns 0 having written nothing
// when the geometry is beyond it (mc_dwconv16_fits). Every output is the same sum
// whatever the rows asked for, so splitting a plane by rows keeps the bits.
int DTGT mc_dwconv16_avx512(const float *x, const float *w, const float *bias, float *y, int64_t channels, int64_t h, int64_t wd,
                            int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                            int64_t dh, int64_t dw, int64_t rb, int64_t re, int act, float p, float q) {
	const int64_t taps = kh * kw, eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1, wp = (ow - 1) * sw + ew;
	if (!mc_dwconv16_fits(ow, kh, kw, sw, dh, dw)) return 0;
	if (channels <= 0 || oh <= 0 || ow <= 0 || rb >= re) return 1;
	// Output rows per band: as many as the buffer holds the input rows of.
	int64_t band = (DW16_BUF / (wp * 16) - eh) / sh + 1;
	if (band > oh) band = oh;
	float buf[DW16_BUF] __attribute__((aligned(64)));
	float wt[DW16_TAPS * 16] __attribute__((aligned(64)));
	int64_t off[DW16_TAPS];
	for (int64_t i = 0; i < kh; i++)
		for (int64_t j = 0; j < kw; j++) off[i * kw + j] = (i * dh * wp + j * dw) * 16;
	dw16_geom g = {.h = h, .wd = wd, .oh = oh, .ow = ow, .sh = sh, .sw = sw, .ph = ph, .pw = pw, .wp = wp, .taps = taps,
	               .ohw = oh * ow, .off = off, .wt = wt, .vp = _mm512_set1_ps(p), .vq = _mm512_set1_ps(q), .act = act};
	void (*rows)(const dw16_geom *, const float *, int64_t, int64_t, float *) = sw == 1 ? dw16_rows_s1 : sw == 2 ? dw16_rows_s2 : dw16_rows_sn;
	for (int64_t c0 = 0; c0 < channels; c0 += 16) {
		const int64_t nc = channels - c0 < 16 ? channels - c0 : 16;
		g.nc = nc;
		float bv[16] = {0};
		for (int64_t c = 0; c < nc; c++) {
			for (int64_t t = 0; t < taps; t++) wt[t * 16 + c] = w[(c0 + c) * taps + t];
			if (bias) bv[c] = bias[c0 + c];
		}
		for (int64_t c = nc; c < 16; c++)
			for (int64_t t = 0; t < taps; t++) wt[t * 16 + c] = 0.0f;
		g.vb = _mm512_loadu_ps(bv);
		const float *xb = x + c0 * h * wd;
		float *yb = y + c0 * oh * ow;
		for (int64_t r0 = rb; r0 < re; r0 += band) {
			const int64_t r1 = r0 + band < re ? r0 + band : re;
			dw16_fill(&g, xb, r0 * sh - ph, (r1 - r0 - 1) * sh + eh, buf);
			rows(&g, buf, r0, r1, yb);
		}
	}
	return 1;
}
