//go:build amd64 && cgo && !purego

// 1×1 convolution (pointwise) as a GEMM with its epilogue fused: y[i][j] =
// act(Σ_p w[i][p]·x[p][j] + bias[i]) for output channels i < m and pixels j in [j0, j1),
// x being cin planes with a row stride ldx. It is sgemm_direct_avx512's 8×48 register
// tile (same k-blocks of 256, same per-element summation order, so the same sums), with
// two differences that matter for MobileNet- and EfficientNet-shaped layers:
//   - bias and activation are applied to the tile in registers before its only store,
//     instead of a second pass over the whole output (the k = 16–32 layers at 112² are
//     bound by streaming the output, so that pass costs as much as the GEMM);
//   - slivers of 48 pixels are the outer loop and the k-blocks the inner one, so a
//     sliver's partial sums (m × 48) stay in L2 between k-blocks.
// act: 0 none, 1 Relu, 2 Clip(p, q), 3 HardSigmoid (clamp(p·v + q, 0, 1)), 4 HardSwish
// (v·HardSigmoid(v)), 5 SiLU (x / (1 + e^−x), as mc_silu_avx512). The clamps are
// written so that NaN passes through, as in biasact_driver.h.
#include <immintrin.h>
#include <stdint.h>

#include "epilogue_avx512.h"

#define PTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define PW_MR 8
#define PW_NV 3
#define PW_KC 256


static inline __attribute__((always_inline)) PTGT void pw_tile(const int R, const int V, int64_t kc, const float *a, int64_t lda,
                                                               const float *b, int64_t ldb, float *c, int64_t ldc, __mmask16 ml,
                                                               const float *bias, int first, int last, const int ACT, int act, float p,
                                                               float q) {
	__m512 acc[PW_MR][PW_NV];
#pragma GCC unroll 8
	for (int i = 0; i < R; i++)
#pragma GCC unroll 3
		for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
	for (int64_t k = 0; k < kc; k++) {
		const float *bp = b + k * ldb;
		__m512 bv[PW_NV];
#pragma GCC unroll 3
		for (int v = 0; v < V; v++) bv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(ml, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int i = 0; i < R; i++) {
			const __m512 av = _mm512_set1_ps(a[i * lda + k]);
#pragma GCC unroll 3
			for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
		}
	}
	const __m512 vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
		const __m512 vb = _mm512_set1_ps(bias ? bias[i] : 0.0f);
#pragma GCC unroll 3
		for (int v = 0; v < V; v++) {
			const __mmask16 m = v == V - 1 ? ml : (__mmask16)0xffff;
			float *cp = c + i * ldc + 16 * v;
			__m512 r = acc[i][v];
			if (!first) r = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp), r);
			if (last) r = ep_act(_mm512_add_ps(r, vb), ACT == 3 ? act : ACT, vp, vq);
			_mm512_mask_storeu_ps(cp, m, r);
		}
	}
}

// One dispatch function per activation, so that each tile's epilogue is compiled for
// its activation: a run-time switch per stored vector cost the k = 16–32 layers a fifth
// of their speed. HardSigmoid and HardSwish share one (they differ by one multiply).
#define PW_CASE(R, V, ACT)                                                                               \
	case (R) * 4 + (V):                                                                              \
		pw_tile(R, V, kc, a, lda, b, ldb, c, ldc, ml, bias, first, last, ACT, act, p, q);           \
		break;
#define PW_ROW(R, ACT) PW_CASE(R, 1, ACT) PW_CASE(R, 2, ACT) PW_CASE(R, 3, ACT)
#define PW_DISPATCH(NAME, ACT)                                                                                              \
	static PTGT void NAME(int R, int V, int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,     \
	                      int64_t ldc, __mmask16 ml, const float *bias, int first, int last, int act, float p, float q) {  \
		switch (R * 4 + V) {                                                                                                \
			PW_ROW(1, ACT) PW_ROW(2, ACT) PW_ROW(3, ACT) PW_ROW(4, ACT) PW_ROW(5, ACT) PW_ROW(6, ACT) PW_ROW(7, ACT)     \
			PW_ROW(8, ACT)                                                                                              \
		}                                                                                                                   \
	}
PW_DISPATCH(pw_dispatch_none, 0)
PW_DISPATCH(pw_dispatch_relu, 1)
PW_DISPATCH(pw_dispatch_clip, 2)
PW_DISPATCH(pw_dispatch_hard, 3)
PW_DISPATCH(pw_dispatch_silu, 5)

// pw_sliver returns the vectors of the sliver of pixels starting at jr (at most PW_NV,
// the last one masked by *ml) for a pixel range ending at j1.
static inline PTGT int pw_sliver(int64_t jr, int64_t j1, __mmask16 *ml) {
	const int64_t nr = j1 - jr < 16 * PW_NV ? j1 - jr : 16 * PW_NV;
	const int V = (int)((nr + 15) / 16);
	*ml = ep_tailmask(nr - 16 * (V - 1));
	return V;
}

void PTGT mc_pointwise_avx512(int64_t m, int64_t k, const float *w, const float *x, int64_t ldx, const float *bias, float *y,
                              int64_t ldy, int64_t j0, int64_t j1, int act, float p, float q) {
	float bbuf[PW_KC * 16 * PW_NV] __attribute__((aligned(64)));
	void (*dispatch)(int, int, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, __mmask16, const float *, int,
	                 int, int, float, float) = act == 1 ? pw_dispatch_relu : act == 2 ? pw_dispatch_clip
	                                                       : act == 3 || act == 4 ? pw_dispatch_hard
	                                                       : act == 5             ? pw_dispatch_silu
	                                                                              : pw_dispatch_none;
	for (int64_t jr = j0; jr < j1; jr += 16 * PW_NV) {
		__mmask16 ml;
		const int V = pw_sliver(jr, j1, &ml);
		for (int64_t pc = 0; pc < k; pc += PW_KC) {
			const int64_t kc = k - pc < PW_KC ? k - pc : PW_KC;
			const float *bs = x + pc * ldx + jr;
			int64_t lds = ldx;
			if (m > PW_MR) { // contiguous rows: a plane size like 112² maps x's rows onto few L1 sets
				for (int64_t r = 0; r < kc; r++)
					for (int v = 0; v < V; v++)
						_mm512_store_ps(bbuf + r * 16 * PW_NV + 16 * v,
						                v == V - 1 ? _mm512_maskz_loadu_ps(ml, bs + r * ldx + 16 * v) : _mm512_loadu_ps(bs + r * ldx + 16 * v));
				bs = bbuf;
				lds = 16 * PW_NV;
			}
			for (int64_t ir = 0; ir < m; ir += PW_MR) {
				const int R = (int)(m - ir < PW_MR ? m - ir : PW_MR);
				dispatch(R, V, kc, w + ir * k + pc, k, bs, lds, y + ir * ldy + jr, ldy, ml, bias ? bias + ir : 0, pc == 0,
				            pc + kc == k, act, p, q);
			}
		}
	}
}
