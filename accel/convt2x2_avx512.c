//go:build amd64 && cgo && !purego

// ConvTranspose with a 2×2 kernel and stride 2, no padding or dilation: the upsampling of
// UNet decoders and detection heads. Every output pixel gets exactly one tap of every
// input channel: y[co][2·iy+ky][2·ix+kx] = act(Σ_ci w[ci][co][ky][kx]·x[ci][iy][ix] +
// bias[co]). The GEMM-then-col2im path writes a column buffer four times the input, reads
// it back to interleave the taps, and runs the epilogue as passes of its own; here the
// four taps of 16 input pixels are four accumulators, and the two of each output row are
// interleaved in registers, the bias and activation applied, and stored once.
//
// The input plane is cut into row segments of up to 16 pixels (a row of w pixels has
// ceil(w/16) of them, the last one masked); CT_NV segments, possibly of different rows,
// make one group, so that every broadcast weight feeds CT_NV FMAs even when rows are short
// (a UNet's 16-pixel rows). Groups are the unit of work; within a group the output
// channels run innermost, so the group's input columns stay in L1. Every output sums its
// input channels in ascending order with FMA, then adds the bias, whatever the split.
// act is ep_act's: 0 none, 1 Relu, 2 Clip(p, q), 3 HardSigmoid, 4 HardSwish, 5 SiLU,
// 6 Sigmoid (epilogue_avx512.h).
#include <immintrin.h>
#include <stdint.h>

#include "epilogue_avx512.h"

#define CT_NV 4
#define CT_PACK 128 // most input channels whose segments are packed (32 KB on the C stack)

// ct_group computes output channel co (wt and y already offset to it, ldw the distance
// between input channels in wt) for V ≤ CT_NV segments: segment v's input channel ci is
// 16 values at xs[v] + ci·ld (masked by m[v]), its first pixel (iy[v], ix[v]).
static inline __attribute__((always_inline)) EP_TGT void ct_group(const int V, int64_t cin, int64_t w, const float *const *xs,
                                                                  int64_t ld, const __mmask16 *m, const int64_t *iy,
                                                                  const int64_t *ix, const float *wt, int64_t ldw, float *y,
                                                                  float bias, int act, __m512 p, __m512 q) {
	const int64_t ow = 2 * w;
	__m512 acc[4][CT_NV];
#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
#pragma GCC unroll 4
		for (int t = 0; t < 4; t++) acc[t][v] = _mm512_setzero_ps();
	for (int64_t ci = 0; ci < cin; ci++) {
		const float *wc = wt + ci * ldw;
		const __m512 w0 = _mm512_set1_ps(wc[0]), w1 = _mm512_set1_ps(wc[1]), w2 = _mm512_set1_ps(wc[2]), w3 = _mm512_set1_ps(wc[3]);
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			const __m512 xv = _mm512_maskz_loadu_ps(m[v], xs[v] + ci * ld);
			acc[0][v] = _mm512_fmadd_ps(w0, xv, acc[0][v]);
			acc[1][v] = _mm512_fmadd_ps(w1, xv, acc[1][v]);
			acc[2][v] = _mm512_fmadd_ps(w2, xv, acc[2][v]);
			acc[3][v] = _mm512_fmadd_ps(w3, xv, acc[3][v]);
		}
	}
	// Output row 2·iy+ky holds taps (ky, 0) and (ky, 1) alternately.
	const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
	const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
	const __m512 b = _mm512_set1_ps(bias);
#pragma GCC unroll 4
	for (int v = 0; v < V; v++) {
		const int64_t n = 2 * (w - ix[v] < 16 ? w - ix[v] : 16); // outputs per row
#pragma GCC unroll 2
		for (int ky = 0; ky < 2; ky++) {
			const __m512 a0 = _mm512_add_ps(acc[2 * ky][v], b), a1 = _mm512_add_ps(acc[2 * ky + 1][v], b);
			float *o = y + (2 * iy[v] + ky) * ow + 2 * ix[v];
			const __m512 r0 = ep_act(_mm512_permutex2var_ps(a0, lo, a1), act, p, q);
			if (n == 32) { // a whole segment: plain stores (masked ones are slow on some cores)
				_mm512_storeu_ps(o, r0);
				_mm512_storeu_ps(o + 16, ep_act(_mm512_permutex2var_ps(a0, hi, a1), act, p, q));
				continue;
			}
			_mm512_mask_storeu_ps(o, ep_tailmask(n), r0);
			if (n > 16) {
				_mm512_mask_storeu_ps(o + 16, ep_tailmask(n - 16), ep_act(_mm512_permutex2var_ps(a0, hi, a1), act, p, q));
			}
		}
	}
}

// mc_convt2x2_avx512 computes segment groups [g0, g1) of all cout output channels. x is
// cin planes of h×w, wt cin × cout × 2 × 2, y cout planes of 2h×2w; bias may be null.
// With several output channels and at most CT_PACK input channels, a group's segments
// are first copied into one contiguous block: read from the planes, a power-of-two plane
// size (a 32×32 map: 4 KB) puts every input channel's segment in the same L1 set, and
// the group would be fetched again from L2 for every output channel.
void EP_TGT mc_convt2x2_avx512(int64_t cin, int64_t cout, int64_t h, int64_t w, const float *x, const float *wt, const float *bias,
                               float *y, int64_t g0, int64_t g1, int act, float pf, float qf) {
	const int64_t nsr = (w + 15) / 16, nseg = h * nsr, S = h * w, O = 4 * S, ldw = 4 * cout;
	const __m512 p = _mm512_set1_ps(pf), q = _mm512_set1_ps(qf);
	const int pack = cout > 1 && cin > 0 && cin <= CT_PACK; // no zero-length array
	float buf[pack ? cin * CT_NV * 16 : 1];
	for (int64_t g = g0; g < g1; g++) {
		const int64_t seg0 = g * CT_NV, V = nseg - seg0 < CT_NV ? nseg - seg0 : CT_NV;
		const float *xs[CT_NV];
		int64_t iy[CT_NV], ix[CT_NV], ld = S;
		__mmask16 m[CT_NV];
		for (int v = 0; v < V; v++) {
			iy[v] = (seg0 + v) / nsr;
			ix[v] = (seg0 + v) % nsr * 16;
			m[v] = ep_tailmask(w - ix[v]);
			xs[v] = x + iy[v] * w + ix[v];
		}
		if (pack) {
			for (int64_t ci = 0; ci < cin; ci++)
				for (int v = 0; v < V; v++) _mm512_storeu_ps(buf + (ci * V + v) * 16, _mm512_maskz_loadu_ps(m[v], xs[v] + ci * S));
			for (int v = 0; v < V; v++) {
				xs[v] = buf + v * 16;
				m[v] = 0xffff;
			}
			ld = V * 16;
		}
		for (int64_t co = 0; co < cout; co++) {
			const float bv = bias ? bias[co] : 0.0f;
			const float *wc = wt + 4 * co;
			float *yc = y + co * O;
			switch (V) {
			case 4:
				ct_group(4, cin, w, xs, ld, m, iy, ix, wc, ldw, yc, bv, act, p, q);
				break;
			case 3:
				ct_group(3, cin, w, xs, ld, m, iy, ix, wc, ldw, yc, bv, act, p, q);
				break;
			case 2:
				ct_group(2, cin, w, xs, ld, m, iy, ix, wc, ldw, yc, bv, act, p, q);
				break;
			default:
				ct_group(1, cin, w, xs, ld, m, iy, ix, wc, ldw, yc, bv, act, p, q);
			}
		}
	}
}

// mc_sigmoid_avx512 writes 1/(1 + e^−x): −x by flipping the sign bit (Go's −v, exact),
// ep_exp (mc_exp_avx512's e^x) and one IEEE division, so a value has the bits of
// negating, Exp and 1/(1+e) done as three passes.
void EP_TGT mc_sigmoid_avx512(float *dst, const float *src, int64_t n) {
	for (int64_t i = 0; i < n; i += 16) {
		const __mmask16 m = ep_tailmask(n - i);
		_mm512_mask_storeu_ps(dst + i, m, ep_act(_mm512_maskz_loadu_ps(m, src + i), 6, _mm512_setzero_ps(), _mm512_setzero_ps()));
	}
}
