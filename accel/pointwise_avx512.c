//go:build amd64 && cgo && !purego

// 1×1 convolution (pointwise) as a GEMM with its epilogue fused: y[i][j] =
// act(Σ_p w[i][p]·x[p][j] + bias[i]) for output channels i < m and pixels j in [j0, j1),
// x being cin planes with a row stride ldx. It is sgemm_direct_avx512's 8×48 register
// tile (same k-blocks of 256, same per-element summation order, so the same sums), with
// these differences, which matter for MobileNet- and EfficientNet-shaped layers:
//   - bias and activation are applied to the tile in registers before its only store,
//     instead of a second pass over the whole output (the k = 16–32 layers at 112² are
//     bound by streaming the output, so that pass costs as much as the GEMM);
//   - slivers of 48 pixels are the outer loop and the k-blocks the inner one, so a
//     sliver's partial sums (m × 48) stay in L2 between k-blocks;
//   - 49 to 64 pixels (a 7×7 plane) are one sliver of four vectors with 6-row tiles,
//     so the weights are streamed once: as 48 + 1 they were streamed twice, the
//     second time for one pixel (the 7×7 layers' weights are 0.6–1.6 MB);
//   - software prefetch. Inside a model the weights and the output are not in cache,
//     and this VM's memory latency, not the FMAs, set the speed: each tile fetches the
//     next row tile's weights, and an output of 256 KB or more is fetched for
//     writing one sliver ahead. In MobileNetV2 at one thread (modelc run --profile):
//     the 112² expansion 0.60 → 0.35 ms, the last 320→1280 layer 0.48 → 0.29 ms.
// act: 0 none, 1 Relu, 2 Clip(p, q), 3 HardSigmoid (clamp(p·v + q, 0, 1)), 4 HardSwish
// (v·HardSigmoid(v)), 5 SiLU (x / (1 + e^−x), as mc_silu_avx512). The clamps are
// written so that NaN passes through, as in biasact_driver.h.
#include <immintrin.h>
#include <stdint.h>

#include "epilogue_avx512.h"

#define PTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,prfchw")))
#define PW_MR 8
#define PW_NV 3
#define PW_KC 256
#define PW_MR4 6 // rows of a four-vector tile: 24 accumulators, as 8 × 3
#define PW_NV4 4


static inline __attribute__((always_inline)) PTGT void pw_tile(const int R, const int V, int64_t kc, const float *a, int64_t lda,
                                                               const float *b, int64_t ldb, float *c, int64_t ldc, __mmask16 ml,
                                                               const float *bias, int first, int last, const int ACT, int act, float p,
                                                               float q, int pfw) {
	__m512 acc[PW_MR * PW_NV]; // R × V ≤ 24 (8 × 3 or 6 × 4), acc[i * V + v]
#pragma GCC unroll 8
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) acc[i * V + v] = _mm512_setzero_ps();
	for (int64_t k = 0; k < kc; k++) {
		if ((k & 15) == 0) // the next row tile's weights, a line per row every 16 k
#pragma GCC unroll 8
			for (int i = 0; i < R; i++) _mm_prefetch((const char *)(a + (R + i) * lda + k), _MM_HINT_T0);
		const float *bp = b + k * ldb;
		__m512 bv[PW_NV4];
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) bv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(ml, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int i = 0; i < R; i++) {
			const __m512 av = _mm512_set1_ps(a[i * lda + k]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++) acc[i * V + v] = _mm512_fmadd_ps(av, bv[v], acc[i * V + v]);
		}
	}
	const __m512 vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		const __m512 vb = _mm512_set1_ps(bias ? bias[i] : 0.0f);
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			const __mmask16 m = v == V - 1 ? ml : (__mmask16)0xffff;
			float *cp = c + i * ldc + 16 * v;
			__m512 r = acc[i * V + v];
			if (!first) r = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp), r);
			if (last) r = ep_act(_mm512_add_ps(r, vb), ACT, vp, vq);
			_mm512_mask_storeu_ps(cp, m, r);
		}
		if (last && pfw) // own the next sliver's output lines before it stores them
#pragma GCC unroll 3
			for (int v = 0; v < PW_NV; v++) _mm_prefetch((const char *)(c + i * ldc + 16 * V + 16 * v), _MM_HINT_ET0);
	}
}

// One dispatch function per activation, so that each tile's epilogue is compiled for
// its activation: a run-time switch per stored vector cost the k = 16–32 layers a fifth
// of their speed (HardSwish, sharing HardSigmoid's function, half: 32 vs 16 µs for
// 24×1920×24).
#define PW_CASE(R, V, ACT)                                                                               \
	case (R) * 8 + (V):                                                                              \
		pw_tile(R, V, kc, a, lda, b, ldb, c, ldc, ml, bias, first, last, ACT, act, p, q, pfw);           \
		break;
#define PW_ROW(R, ACT) PW_CASE(R, 1, ACT) PW_CASE(R, 2, ACT) PW_CASE(R, 3, ACT)
#define PW_ROW4(R, ACT) PW_ROW(R, ACT) PW_CASE(R, 4, ACT)
#define PW_DISPATCH(NAME, ACT)                                                                                              \
	static PTGT void NAME(int R, int V, int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,     \
	                      int64_t ldc, __mmask16 ml, const float *bias, int first, int last, int act, float p, float q,   \
	                      int pfw) {                                                                                    \
		switch (R * 8 + V) {                                                                                                \
			PW_ROW4(1, ACT) PW_ROW4(2, ACT) PW_ROW4(3, ACT) PW_ROW4(4, ACT) PW_ROW4(5, ACT) PW_ROW4(6, ACT) PW_ROW(7, ACT)  \
			PW_ROW(8, ACT)                                                                                              \
		}                                                                                                                   \
	}
PW_DISPATCH(pw_dispatch_none, 0)
PW_DISPATCH(pw_dispatch_relu, 1)
PW_DISPATCH(pw_dispatch_clip, 2)
PW_DISPATCH(pw_dispatch_hsig, 3)
PW_DISPATCH(pw_dispatch_hswish, 4)
PW_DISPATCH(pw_dispatch_silu, 5)

// pw_sliver returns the vectors of the sliver of pixels starting at jr (at most PW_NV,
// or PW_NV4 for a last sliver of 49–64 pixels; the last one masked by *ml) for a pixel
// range ending at j1.
static inline PTGT int pw_sliver(int64_t jr, int64_t j1, __mmask16 *ml) {
	const int64_t left = j1 - jr;
	const int64_t nr = left <= 16 * PW_NV4 ? left : 16 * PW_NV;
	const int V = (int)((nr + 15) / 16);
	*ml = ep_tailmask(nr - 16 * (V - 1));
	return V;
}

void PTGT mc_pointwise_avx512(int64_t m, int64_t k, const float *w, const float *x, int64_t ldx, const float *bias, float *y,
                              int64_t ldy, int64_t j0, int64_t j1, int act, float p, float q) {
	float bbuf[PW_KC * 16 * PW_NV4] __attribute__((aligned(64)));
	void (*dispatch)(int, int, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, __mmask16, const float *, int,
	                 int, int, float, float, int) = act == 1 ? pw_dispatch_relu : act == 2 ? pw_dispatch_clip
	                                                       : act == 3 ? pw_dispatch_hsig
	                                                       : act == 4 ? pw_dispatch_hswish
	                                                       : act == 5             ? pw_dispatch_silu
	                                                                              : pw_dispatch_none;
	// An output of 256 KB or more is not in cache: its lines are fetched for writing
	// one sliver ahead (the 112² expansions write 96 rows at once, more streams than
	// the hardware prefetcher follows). A smaller one may be, and the prefetches would
	// cost more than they save. At 1 MB, MobileNetV3-Small's 56² expansion (16→72,
	// 0.9 MB) went without: 176 µs with the caches emptied, 100–128 µs with; in the
	// model 1.37 → 1.24 ms at one thread.
	const int pfw = m * (j1 - j0) >= (1 << 16);
	int V;
	for (int64_t jr = j0; jr < j1; jr += 16 * V) {
		__mmask16 ml;
		V = pw_sliver(jr, j1, &ml);
		const int MR = V == PW_NV4 ? PW_MR4 : PW_MR, ldb = 16 * V;
		for (int64_t pc = 0; pc < k; pc += PW_KC) {
			const int64_t kc = k - pc < PW_KC ? k - pc : PW_KC;
			const float *bs = x + pc * ldx + jr;
			int64_t lds = ldx;
			if (m > MR) { // contiguous rows: a plane size like 112² maps x's rows onto few L1 sets
				for (int64_t r = 0; r < kc; r++)
					for (int v = 0; v < V; v++)
						_mm512_store_ps(bbuf + r * ldb + 16 * v,
						                v == V - 1 ? _mm512_maskz_loadu_ps(ml, bs + r * ldx + 16 * v) : _mm512_loadu_ps(bs + r * ldx + 16 * v));
				bs = bbuf;
				lds = ldb;
			}
			for (int64_t ir = 0; ir < m; ir += MR) {
				const int R = (int)(m - ir < MR ? m - ir : MR);
				dispatch(R, V, kc, w + ir * k + pc, k, bs, lds, y + ir * ldy + jr, ldy, ml, bias ? bias + ir : 0, pc == 0,
				            pc + kc == k, act, p, q, pfw);
			}
		}
	}
}

// ---- Few pixels: output channels in the vector lanes ----------------------------------
// A 7×7 plane has 49 = 3·16 + 1 pixels: with pixels in the lanes its tiles fill 49 of
// the 64 lanes of four vectors, and a quarter of the FMAs is padding (the 7×7 layers
// are a quarter of MobileNetV2 and EfficientNet-B0). Here the lanes hold 48 output
// channels of one pixel instead, from w packed per sliver of 48 channels (pointwise.go,
// PackPointwise: k rows of 48 floats, channels past m zero), and a tile is up to
// PT_R pixels × 3 vectors, x read as broadcast scalars. Each element's sum runs in the
// same order as in mc_pointwise_avx512 (an FMA chain per k-block of PW_KC, the blocks
// added in order), and the epilogue is the same, so the bits are the same. The tiles of
// a sliver are kept in a scratch block (pixels × 48) and written to y's rows at the end.
#define PT_R 7
#define PT_NC 48

static inline __attribute__((always_inline)) PTGT void pt_tile(const int R, const int V, int64_t k, const float *wp, const float *x,
                                                               int64_t ldx, float *t, const float *bias, __mmask16 ml, const int ACT,
                                                               float p, float q, const char *pf, int64_t npf) {
	for (int64_t pc = 0; pc < k; pc += PW_KC) {
		const int64_t kc = k - pc < PW_KC ? k - pc : PW_KC;
		__m512 acc[PT_R * PW_NV];
#pragma GCC unroll 7
		for (int i = 0; i < R; i++)
#pragma GCC unroll 3
			for (int v = 0; v < V; v++) acc[i * V + v] = _mm512_setzero_ps();
		const float *wk = wp + pc * PT_NC, *xk = x + pc * ldx;
		for (int64_t kk = 0; kk < kc; kk++, wk += PT_NC, xk += ldx) {
			if (pc + kk < npf) _mm_prefetch(pf + (pc + kk) * 64, _MM_HINT_T1);
			__m512 bv[PW_NV];
#pragma GCC unroll 3
			for (int v = 0; v < V; v++) bv[v] = _mm512_load_ps(wk + 16 * v);
#pragma GCC unroll 7
			for (int i = 0; i < R; i++) {
				const __m512 av = _mm512_set1_ps(xk[i]);
#pragma GCC unroll 3
				for (int v = 0; v < V; v++) acc[i * V + v] = _mm512_fmadd_ps(av, bv[v], acc[i * V + v]);
			}
		}
		const int last = pc + kc == k;
		const __m512 vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
#pragma GCC unroll 7
		for (int i = 0; i < R; i++)
#pragma GCC unroll 3
			for (int v = 0; v < V; v++) {
				float *tp = t + i * PT_NC + 16 * v;
				__m512 r = acc[i * V + v];
				if (pc) r = _mm512_add_ps(_mm512_load_ps(tp), r);
				if (last) {
					const __mmask16 m = v == V - 1 ? ml : (__mmask16)0xffff;
					r = ep_act(_mm512_add_ps(r, bias ? _mm512_maskz_loadu_ps(m, bias + 16 * v) : _mm512_setzero_ps()), ACT, vp, vq);
				}
				_mm512_store_ps(tp, r);
			}
	}
}

#define PT_CASE(R, V, ACT)                                                                   \
	case (R) * 4 + (V):                                                                  \
		pt_tile(R, V, k, wp, x, ldx, t, bias, ml, ACT, p, q, pf, npf);                  \
		break;
#define PT_ROW(R, ACT) PT_CASE(R, 1, ACT) PT_CASE(R, 2, ACT) PT_CASE(R, 3, ACT)
#define PT_DISPATCH(NAME, ACT)                                                                                             \
	static PTGT void NAME(int R, int V, int64_t k, const float *wp, const float *x, int64_t ldx, float *t, const float *bias, \
	                      __mmask16 ml, float p, float q, const char *pf, int64_t npf) {                                   \
		switch (R * 4 + V) {                                                                                               \
			PT_ROW(1, ACT) PT_ROW(2, ACT) PT_ROW(3, ACT) PT_ROW(4, ACT) PT_ROW(5, ACT) PT_ROW(6, ACT) PT_ROW(7, ACT)    \
		}                                                                                                                  \
	}
PT_DISPATCH(pt_dispatch_none, 0)
PT_DISPATCH(pt_dispatch_relu, 1)
PT_DISPATCH(pt_dispatch_clip, 2)
PT_DISPATCH(pt_dispatch_hsig, 3)
PT_DISPATCH(pt_dispatch_hswish, 4)
PT_DISPATCH(pt_dispatch_silu, 5)

// mc_pointwise_t_avx512 computes output channels [s0·48, min(m, s1·48)) of y (m rows of
// n pixels, n ≤ 64) from wp (packed, all slivers) and x (k rows of n pixels).
void PTGT mc_pointwise_t_avx512(int64_t m, int64_t k, int64_t n, const float *wp, const float *x, const float *bias, float *y,
                                int64_t s0, int64_t s1, int act, float p, float q) {
	float t[64 * PT_NC] __attribute__((aligned(64)));
	void (*dispatch)(int, int, int64_t, const float *, const float *, int64_t, float *, const float *, __mmask16, float, float,
	                 const char *, int64_t) =
	    act == 1 ? pt_dispatch_relu : act == 2 ? pt_dispatch_clip : act == 3 ? pt_dispatch_hsig : act == 4 ? pt_dispatch_hswish
	    : act == 5 ? pt_dispatch_silu : pt_dispatch_none;
	for (int64_t s = s0; s < s1; s++) {
		const int64_t c0 = s * PT_NC, nc = m - c0 < PT_NC ? m - c0 : PT_NC;
		const int V = (int)((nc + 15) / 16);
		const __mmask16 ml = ep_tailmask(nc - 16 * (V - 1));
		const float *ws = wp + s * k * PT_NC;
		// Pixels in tiles of at most PT_R, as even as they come (49 = 7 × 7). Inside a
		// model the weights are not in cache, and one stream of them ran at a tenth of
		// the FMAs' speed: the tiles fetch the next sliver's weights into L2, a line per
		// k-step, each tile its share.
		const int64_t tiles = (n + PT_R - 1) / PT_R, lines = s + 1 < s1 ? k * PT_NC / 16 : 0, share = (lines + tiles - 1) / tiles;
		const char *next = (const char *)(ws + k * PT_NC);
		for (int64_t j = 0, tl = tiles, ti = 0; j < n; tl--, ti++) {
			const int R = (int)((n - j + tl - 1) / tl);
			const int64_t from = ti * share, npf = lines - from < share ? lines - from : share;
			dispatch(R, V, k, ws, x + j, n, t + j * PT_NC, bias ? bias + c0 : 0, ml, p, q, next + from * 64, npf > 0 ? npf : 0);
			j += R;
		}
		for (int64_t c = 0; c < nc; c++) {
			float *yr = y + (c0 + c) * n;
			for (int64_t j = 0; j < n; j++) yr[j] = t[j * PT_NC + c];
		}
	}
}
