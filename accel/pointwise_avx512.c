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
