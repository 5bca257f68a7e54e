//go:build amd64 && cgo && !purego

// AVX-512 kernels (F, BW, DQ, VL; VNNI for the integer GEMM). Every function carries its
// own target attribute, so this file is compiled for baseline x86-64 and the binary
// still starts on any CPU: Go calls these only after cpuid said yes.
#include "kernels.h"
#include <immintrin.h>

#include "epilogue_avx512.h"

#define KTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,prfchw")))

static inline KTGT __mmask16 tailmask(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

// ---- f32 GEMM: 12×32 micro-kernel (24 zmm accumulators) ---------------------------------

#define MR 12
#define NR 32
#define KC 256
#define MC 96
#define NC 512

static inline KTGT void ukr_avx512(int64_t kc, const float *pa, const float *pb, float *acc) {
	__m512 c0[MR], c1[MR];
#pragma GCC unroll 12
	for (int i = 0; i < MR; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); }
	for (int64_t p = 0; p < kc; p++) {
		const __m512 b0 = _mm512_load_ps(pb + p * NR), b1 = _mm512_load_ps(pb + p * NR + 16);
		_mm_prefetch((const char *)(pb + (p + 8) * NR), _MM_HINT_T0);
#pragma GCC unroll 12
		for (int i = 0; i < MR; i++) {
			const __m512 av = _mm512_set1_ps(pa[p * MR + i]);
			c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
			c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
		}
	}
#pragma GCC unroll 12
	for (int i = 0; i < MR; i++) { _mm512_store_ps(acc + i * NR, c0[i]); _mm512_store_ps(acc + i * NR + 16, c1[i]); }
}

// acc[j] = Σ_p a[p]·b[j·ldb + p] for j < n: four rows of B per pass sharing the loads of
// a, 16 lanes, a masked tail; each row's lanes are reduced in one fixed order.
static inline KTGT float gemv_hsum_avx512(__m512 v) {
	__m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
	__m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
	q = _mm_add_ps(q, _mm_movehl_ps(q, q));
	q = _mm_add_ss(q, _mm_movehdup_ps(q));
	return _mm_cvtss_f32(q);
}

static KTGT void gemv_t_avx512(int64_t n, int64_t k, const float *a, const float *b, int64_t ldb, float *acc) {
	const int64_t kv = k & ~(int64_t)15;
	const __mmask16 tm = tailmask(k - kv);
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) {
		const float *b0 = b + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		for (int64_t p = 0; p < kv; p += 16) {
			const __m512 x = _mm512_loadu_ps(a + p);
			s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + p), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + p), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + p), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + p), s3);
		}
		if (kv < k) {
			const __m512 x = _mm512_maskz_loadu_ps(tm, a + kv);
			s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tm, b0 + kv), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tm, b1 + kv), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tm, b2 + kv), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tm, b3 + kv), s3);
		}
		acc[j] = gemv_hsum_avx512(s0);
		acc[j + 1] = gemv_hsum_avx512(s1);
		acc[j + 2] = gemv_hsum_avx512(s2);
		acc[j + 3] = gemv_hsum_avx512(s3);
	}
	for (; j < n; j++) {
		const float *b0 = b + j * ldb;
		__m512 s0 = _mm512_setzero_ps();
		for (int64_t p = 0; p < kv; p += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + p), _mm512_loadu_ps(b0 + p), s0);
		if (kv < k) s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tm, a + kv), _mm512_maskz_loadu_ps(tm, b0 + kv), s0);
		acc[j] = gemv_hsum_avx512(s0);
	}
}

// acc[j] = Σ_p a[p]·b[p·ldb + j] for j < n (n ≤ GEMV_NB), p in order.
static KTGT void gemv_n_avx512(int64_t n, int64_t k, const float *a, const float *b, int64_t ldb, float *acc) {
	for (int64_t j = 0; j < n; j++) acc[j] = 0.0f;
	for (int64_t p = 0; p < k; p++) {
		const __m512 x = _mm512_set1_ps(a[p]);
		const float *bp = b + p * ldb;
		int64_t j = 0;
		for (; j + 16 <= n; j += 16) _mm512_storeu_ps(acc + j, _mm512_fmadd_ps(x, _mm512_loadu_ps(bp + j), _mm512_loadu_ps(acc + j)));
		if (j < n) {
			const __mmask16 m = tailmask(n - j);
			_mm512_mask_storeu_ps(acc + j, m, _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, bp + j), _mm512_maskz_loadu_ps(m, acc + j)));
		}
	}
}


// c[j] = alpha·Σ_p a[p]·B[j][p] (+ beta·c[j]) (+ bias[j]) for j in [j0, j1), j0 a
// multiple of 4, with B packed by accel/gemv_packed.go: group g (rows 4g … 4g+3) is
// ceil(k/16) runs of four 16-float blocks, one per row, k and n padded with zeros. The
// lanes, their reduction and the epilogue are gemv_t_avx512's and the driver's, so the
// bits are those of the unpacked one-row SGEMM; the packed B is read as one stream.
void KTGT mc_gemv_packed_avx512(int64_t j0, int64_t j1, int64_t k, float alpha, const float *a, const float *q, float beta,
                                float *c, const float *bias) {
	const int64_t blocks = (k + 15) / 16, kv = k & ~(int64_t)15;
	const __mmask16 tm = tailmask(k - kv);
	q += j0 * blocks * 16;
	for (int64_t j = j0; j < j1; j += 4) {
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		for (int64_t p = 0; p < kv; p += 16, q += 64) {
			const __m512 x = _mm512_loadu_ps(a + p);
			s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 16), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 32), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 48), s3);
		}
		if (kv < k) {
			const __m512 x = _mm512_maskz_loadu_ps(tm, a + kv);
			s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 16), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 32), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(q + 48), s3);
			q += 64;
		}
		const float acc[4] = {gemv_hsum_avx512(s0), gemv_hsum_avx512(s1), gemv_hsum_avx512(s2), gemv_hsum_avx512(s3)};
		for (int i = 0; i < 4 && j + i < j1; i++) {
			float v = alpha * acc[i];
			if (beta != 0.0f) v += beta * c[j + i];
			if (bias) v += bias[j + i];
			c[j + i] = v;
		}
	}
}

// ---- f32 GEMM without packing: 8×48 register tile read straight from A and B ----------
// For op(A) = A and op(B) = B (every convolution and MatMul in the runtime): A is never
// copied; when more than one row block will reuse it, each k-block × 48 sliver of B is
// copied to contiguous aligned rows (one vector load and store per 16 floats; a large
// ldb otherwise maps the sliver's rows onto few L1 sets). A(i,p) is broadcast from its row, B's row p is loaded as three vectors
// (the last one masked at n's edge, and only as many vectors as the edge needs); the
// 8×48 tile accumulates over a k-block of DKC in registers and is stored with alpha,
// beta and bias applied as the packed driver does. Loop order: k-block, 48-column
// sliver of B (kept in L1 across the row blocks), 8-row block of A (the k-block of A
// stays in L2). Each C element sums its products in p order within a k-block and the
// k-blocks start at fixed p, so a split of C over threads changes no bits.
#define DMR 8
#define DNV 3
#define DKC 256
// In the implicit-GEMM convolution a sliver of 49..64 pixels (the last one of a 7×7
// map, or all of it) takes one 6×64 tile rather than an 8×48 and an 8×16 one whose
// single useful column streams the weights a second time: resnet18's 512×7×7 layer
// goes from about 105 to 116 GFLOP/s, the 256×14×14 one (3·48 + 52) from 137 to 145.
// Same per-element summation order, so the same bits.
#define DMRW 6
#define DNVW 4

// dsliver is the width of the sliver starting with rest columns left.
static inline int64_t dsliver(int64_t rest) { return rest <= 16 * DNVW ? rest : 16 * DNV; }
// dstride is the row stride of a gathered sliver with V vectors.
static inline int64_t dstride(int V) { return 16 * (V > DNV ? DNVW : DNV); }

static inline __attribute__((always_inline)) KTGT void dkr_avx512(const int R, const int V, int64_t kc, const float *a, int64_t lda,
                                                                   const float *b, int64_t ldb, float *c, int64_t ldc, __mmask16 ml,
                                                                   float alpha, float beta, const float *bias, int first) {
	__m512 acc[DMR][DNVW];
#pragma GCC unroll 8
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
	for (int64_t p = 0; p < kc; p++) {
		const float *bp = b + p * ldb;
		__m512 bv[DNVW];
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) bv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(ml, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 8
		for (int i = 0; i < R; i++) {
			const __m512 av = _mm512_set1_ps(a[i * lda + p]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
		}
	}
	const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
	for (int i = 0; i < R; i++) {
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			const __mmask16 m = v == V - 1 ? ml : (__mmask16)0xffff;
			float *cp = c + i * ldc + 16 * v;
			__m512 r = _mm512_mul_ps(va, acc[i][v]);
			if (!first) {
				r = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cp), r);
			} else {
				if (beta != 0.0f) r = _mm512_add_ps(r, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, cp)));
				if (bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, bias + 16 * v));
			}
			_mm512_mask_storeu_ps(cp, m, r);
		}
	}
}

#define DKR_CASE(R, V)                                                                                 \
	case (R) * 8 + (V):                                                                            \
		dkr_avx512(R, V, kc, a, lda, b, ldb, c, ldc, ml, alpha, beta, bias, first);                 \
		break;
#define DKR_ROW(R) DKR_CASE(R, 1) DKR_CASE(R, 2) DKR_CASE(R, 3)

static KTGT void dkr_dispatch_avx512(int R, int V, int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                                     int64_t ldc, __mmask16 ml, float alpha, float beta, const float *bias, int first) {
	switch (R * 8 + V) {
		DKR_ROW(1) DKR_ROW(2) DKR_ROW(3) DKR_ROW(4) DKR_ROW(5) DKR_ROW(6) DKR_ROW(7) DKR_ROW(8)
		DKR_CASE(1, 4) DKR_CASE(2, 4) DKR_CASE(3, 4) DKR_CASE(4, 4) DKR_CASE(5, 4) DKR_CASE(6, 4)
	}
}

static KTGT void sgemm_direct_avx512(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                                     int64_t ldb, float beta, float *c, int64_t ldc, const float *bias) {
	float bbuf[DKC * 16 * DNV] __attribute__((aligned(64)));
	for (int64_t pc = 0; pc < k; pc += DKC) {
		const int64_t kc = k - pc < DKC ? k - pc : DKC;
		for (int64_t jr = 0; jr < n; jr += 16 * DNV) { // the 6×64 tile measured no faster here
			const int64_t nr = n - jr < 16 * DNV ? n - jr : 16 * DNV;
			const int V = (int)((nr + 15) / 16);
			const __mmask16 ml = tailmask(nr - 16 * (V - 1));
			const float *bs = b + pc * ldb + jr;
			int64_t lds = ldb;
			if (m > DMR) { // copy the sliver to contiguous rows: no cache-set conflicts from a power-of-two-ish ldb
				for (int64_t p = 0; p < kc; p++)
					for (int v = 0; v < V; v++)
						_mm512_store_ps(bbuf + p * 16 * DNV + 16 * v,
						                v == V - 1 ? _mm512_maskz_loadu_ps(ml, bs + p * ldb + 16 * v) : _mm512_loadu_ps(bs + p * ldb + 16 * v));
				bs = bbuf;
				lds = 16 * DNV;
			}
			for (int64_t ir = 0; ir < m; ir += DMR) {
				const int R = (int)(m - ir < DMR ? m - ir : DMR);
				dkr_dispatch_avx512(R, V, kc, a + ir * lda + pc, lda, bs, lds, c + ir * ldc + jr, ldc, ml, alpha, beta,
				                    bias ? bias + jr : 0, pc == 0);
			}
		}
	}
}
// ---- implicit-GEMM 2-D convolution (no groups) -----------------------------------------
// y[i][j] = Σ_p wt[i·ldw + p] · col[p][j] for rows i < m and output pixels j in [j0, j1) of
// an oh×ow output, where col is the im2col matrix (p = (ci, ki, kj); col[p][j] = x[ci] at
// (oy·sh + ki·dh − ph, ox·sw + kj·dw − pw) for j = (oy, ox), 0 outside the h×w plane) that
// is never built: each k-block × 48 sliver of it is gathered straight from x into the
// aligned buffer the 8×48 kernel reads. With stride 1 and an output the size of the input,
// row p of a sliver is x[ci] shifted by a fixed offset: one masked load per 16 pixels;
// otherwise one masked gather with per-pixel indices. The masks drop the pixels whose tap
// falls in the padding. Same blocking and summation order as sgemm_direct_avx512.
void KTGT mc_sconv_implicit_avx512(int64_t m, int64_t cg, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                                   int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ph, int64_t pw, const float *wt,
                                   int64_t ldw, const float *x, float *y, int64_t ldy, int64_t j0, int64_t j1) {
	const int64_t taps = kh * kw, k = cg * taps, hw = h * w;
	const int same = sh == 1 && sw == 1 && oh == h && ow == w;
	float bbuf[DKC * 16 * DNVW] __attribute__((aligned(64)));
	uint64_t tmask[taps > 0 ? taps : 1];
	int32_t tshift[taps > 0 ? taps : 1];
	int32_t base[16 * DNVW] __attribute__((aligned(64)));
	for (int64_t t = 0; t < taps; t++) tshift[t] = (int32_t)(((t / kw) * dh - ph) * w + (t % kw) * dw - pw);
	(void)oh;
	for (int64_t jr = j0, nr; jr < j1; jr += nr) { // slivers outermost: masks once per sliver
		nr = dsliver(j1 - jr);
		const int V = (int)((nr + 15) / 16);
		const __mmask16 ml = tailmask(nr - 16 * (V - 1));
		int64_t py[16 * DNVW], px[16 * DNVW];
		for (int64_t q = 0; q < 16 * DNVW; q++) {
			const int64_t j = q < nr ? jr + q : jr;
			py[q] = j / ow * sh, px[q] = j % ow * sw;
			base[q] = (int32_t)(py[q] * w + px[q]);
		}
		for (int64_t t = 0; t < taps; t++) {
			const int64_t oy = (t / kw) * dh - ph, ox = (t % kw) * dw - pw;
			uint64_t mk = 0;
			for (int64_t q = 0; q < nr; q++) {
				const int64_t yy = py[q] + oy, xx = px[q] + ox;
				if (yy >= 0 && yy < h && xx >= 0 && xx < w) mk |= (uint64_t)1 << q;
			}
			tmask[t] = mk;
		}
		for (int64_t pc = 0; pc < k; pc += DKC) {
			const int64_t kc = k - pc < DKC ? k - pc : DKC;
			int64_t ci = pc / taps, t = pc % taps;
			for (int64_t p = 0; p < kc; p++, t = t + 1 == taps ? (ci++, 0) : t + 1) {
				// Only lanes whose pixel lies inside plane ci are read.
				const float *plane = x + ci * hw;
				for (int v = 0; v < V; v++) {
					const __mmask16 mv = (__mmask16)(tmask[t] >> (16 * v));
					__m512 r;
					if (same) {
						r = _mm512_maskz_loadu_ps(mv, plane + jr + tshift[t] + 16 * v);
					} else {
						const __m512i idx = _mm512_add_epi32(_mm512_load_si512((const void *)(base + 16 * v)), _mm512_set1_epi32(tshift[t]));
						r = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mv, idx, plane, 4);
					}
					_mm512_store_ps(bbuf + p * dstride(V) + 16 * v, r);
				}
			}
			const int64_t mr = V > DNV ? DMRW : DMR;
			for (int64_t ir = 0; ir < m; ir += mr) {
				const int R = (int)(m - ir < mr ? m - ir : mr);
				dkr_dispatch_avx512(R, V, kc, wt + ir * ldw + pc, ldw, bbuf, dstride(V), y + ir * ldy + jr, ldy, ml, 1.0f, 0.0f, 0,
				                    pc == 0);
			}
		}
	}
}

// Which products take the unpacked path (the packed one still serves transposed operands).
#define SGEMM_DIRECT(ta, tb, m, n, k) (!(ta) && !(tb))
#define SGEMM_DIRECT_FN sgemm_direct_avx512

#define GEMV_T gemv_t_avx512
#define GEMV_N gemv_n_avx512
#define UKR ukr_avx512
#define SGEMM_FN mc_sgemm_avx512
#include "gemm_f32_driver.h"

// y += a·x with 16 lanes and one masked step for the tail (rows are short: 7 to 112).
// Multiply then add, unfused, as the Go reference does.
static inline KTGT void dw_axpy_avx512(float *y, const float *x, float a, int64_t n) {
	const __m512 va = _mm512_set1_ps(a);
	int64_t o = 0;
	for (; o + 16 <= n; o += 16)
		_mm512_storeu_ps(y + o, _mm512_add_ps(_mm512_loadu_ps(y + o), _mm512_mul_ps(va, _mm512_loadu_ps(x + o))));
	if (o < n) {
		const __mmask16 m = tailmask(n - o);
		_mm512_mask_storeu_ps(y + o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + o), _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + o))));
	}
}
#define DW_AXPY dw_axpy_avx512
// dst[o] = src[2·o] for o in [lo, hi); returns hi. Masked loads end at src[2·(hi−1)], so
// the short rows of late layers (7 to 28 outputs) need no scalar tail.
static inline KTGT int64_t dw_gather2_avx512(float *dst, const float *src, int64_t lo, int64_t hi) {
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	int64_t o = lo;
	for (; o + 17 <= hi; o += 16) // whole vectors: reads up to src[2·o + 31] ≤ src[2·(hi−1)]
		_mm512_storeu_ps(dst + o, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * o), even, _mm512_loadu_ps(src + 2 * o + 16)));
	if (o < hi) { // 1 to 16 outputs left
		const int64_t n = hi - o, need = 2 * n - 1; // outputs, source values
		const __m512 a = _mm512_maskz_loadu_ps(tailmask(need), src + 2 * o);
		const __m512 b = need > 16 ? _mm512_maskz_loadu_ps(tailmask(need - 16), src + 2 * o + 16) : _mm512_setzero_ps();
		_mm512_mask_storeu_ps(dst + o, tailmask(n), _mm512_permutex2var_ps(a, even, b));
	}
	return hi;
}
#define DW_GATHER2 dw_gather2_avx512
// The per-channel kernel: dwconv16_avx512.c's fallback and the benchmarks' previous one.
#define DWCONV_FN mc_dwconv2d_avx512
#include "dwconv_taps_avx512.h"
#include "dwconv_driver.h"

#define BIASACT_FN mc_bias_act_avx512
#define ADDACT_FN mc_add_act_avx512
#include "biasact_driver.h"

// Stride-2 columns of max pooling: y[o] = src[2·o] (the first tap, keep == 0) or
// y[o] = max(src[2·o], y[o]) for o in [lo, hi). Full vectors read src[2·o … 2·o + 31]
// while that stays at or below src[2·(hi−1)]; the rest is one masked step (masked-off
// lanes are neither read nor written), so no output is left to a scalar loop. vmaxps
// returns its second operand unless the first is greater: the Go reference's
// v > best ? v : best, NaN and signed-zero cases included.
static inline KTGT void maxpool_cols2_avx512(float *y, const float *src, int64_t lo, int64_t hi, int keep) {
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	int64_t o = lo;
	for (; o + 17 <= hi; o += 16) {
		const __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * o), even, _mm512_loadu_ps(src + 2 * o + 16));
		_mm512_storeu_ps(y + o, keep ? _mm512_max_ps(v, _mm512_loadu_ps(y + o)) : v);
	}
	for (; o < hi; o += 16) {
		const int64_t r = hi - o < 16 ? hi - o : 16, reads = 2 * r - 1; // src[2·o … 2·(o+r−1)]
		const __m512 a = _mm512_maskz_loadu_ps(tailmask(reads), src + 2 * o);
		const __m512 b = _mm512_maskz_loadu_ps(tailmask(reads > 16 ? reads - 16 : 0), src + 2 * o + 16);
		const __m512 v = _mm512_permutex2var_ps(a, even, b);
		const __mmask16 m = tailmask(r);
		_mm512_mask_storeu_ps(y + o, m, keep ? _mm512_max_ps(v, _mm512_maskz_loadu_ps(m, y + o)) : v);
	}
}
static inline KTGT int64_t maxpool_copy2_avx512(float *y, const float *src, int64_t lo, int64_t hi) {
	maxpool_cols2_avx512(y, src, lo, hi, 0);
	return hi;
}
static inline KTGT int64_t maxpool_max2_avx512(float *y, const float *src, int64_t lo, int64_t hi) {
	maxpool_cols2_avx512(y, src, lo, hi, 1);
	return hi;
}
// Whole windows of 16 outputs in registers (maxpool_driver.h's MAXPOOL_SPAN), strides 1,
// 2 and 4 (an audio model's non-overlapping 1-D pools): taps in the reference's order,
// the first one taken as it is, each later one by vmaxps(v, best), which is v > best ? v
// : best. Full vectors while their reads stay inside the span (a tap at stride s reads
// src[s·o … s·o + 16·s − 1], under the next output's first tap); then one masked vector,
// whose masked-off lanes are neither read nor written. A tap of 16 outputs is every s-th
// of 16·s values: one vpermt2ps of two vectors at stride 2; at stride 4, two (eight
// outputs each) and their halves joined.
static inline KTGT __m512 maxpool_tap_avx512(const float *src, int64_t sw, __mmask16 m, int64_t reads) {
	if (sw == 1) return _mm512_maskz_loadu_ps(m, src);
	const __mmask16 m0 = tailmask(reads), m1 = tailmask(reads > 16 ? reads - 16 : 0);
	if (sw == 2) {
		const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
		return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, src), even, _mm512_maskz_loadu_ps(m1, src + 16));
	}
	const __mmask16 m2 = tailmask(reads > 32 ? reads - 32 : 0), m3 = tailmask(reads > 48 ? reads - 48 : 0);
	const __m512i q4 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
	const __m512 lo = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, src), q4, _mm512_maskz_loadu_ps(m1, src + 16));
	const __m512 hi = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m2, src + 32), q4, _mm512_maskz_loadu_ps(m3, src + 48));
	return _mm512_shuffle_f32x4(lo, hi, 0x44); // lo's lanes 0–7, then hi's
}
static inline KTGT __m512 maxpool_window_avx512(const float *const *rows, int64_t nrows, int64_t kw, int64_t dw, int64_t sw,
                                                int64_t o, __mmask16 m, int64_t reads) {
	__m512 best = maxpool_tap_avx512(rows[0] + o * sw, sw, m, reads);
	for (int64_t i = 0; i < nrows; i++)
		for (int64_t j = i == 0; j < kw; j++)
			best = _mm512_max_ps(maxpool_tap_avx512(rows[i] + o * sw + j * dw, sw, m, reads), best);
	return best;
}
static inline KTGT int64_t maxpool_span_avx512(float *y, const float *const *rows, int64_t nrows, int64_t kw, int64_t dw,
                                               int64_t sw, int64_t lo, int64_t hi) {
	if (sw != 1 && sw != 2 && sw != 4) return lo;
	int64_t o = lo;
	for (; o + 16 + (sw > 1) <= hi; o += 16)
		_mm512_storeu_ps(y + o, maxpool_window_avx512(rows, nrows, kw, dw, sw, o, 0xffff, 16 * sw));
	if (o < hi) {
		const int64_t r = hi - o < 16 ? hi - o : 16;
		_mm512_mask_storeu_ps(y + o, tailmask(r), maxpool_window_avx512(rows, nrows, kw, dw, sw, o, tailmask(r), (r - 1) * sw + 1));
	}
	return hi;
}
#define MAXPOOL_COPY2 maxpool_copy2_avx512
#define MAXPOOL_MAX2 maxpool_max2_avx512
// The row-by-row kernel without spans, kept for the benchmarks (maxpool_prev_amd64.go).
#define MAXPOOL_FN mc_maxpool2d_rows_avx512
#include "maxpool_driver.h"
#undef MAXPOOL_FN
#define MAXPOOL_SPAN maxpool_span_avx512
#define MAXPOOL_FN mc_maxpool2d_avx512
#include "maxpool_driver.h"
#undef MR
#undef NR
#undef KC
#undef MC
#undef NC
#undef UKR
#undef SGEMM_DIRECT
#undef SGEMM_DIRECT_FN

// ---- int8 GEMM with VNNI: vpdpbusd on packed k-quads, 12×32 tile --------------------------
// A is packed as unsigned bytes (a^0x80 for int8 A, i.e. a+128), B as signed bytes, four
// consecutive k per 32-bit lane; for int8 A the 128·Σb of each column is subtracted.

#define IMR 12
#define INR 32
#define IKC 512
#define IMC 96
#define INC 512

static void VNNI ipack_a_q(uint8_t *pa, const uint8_t *a, int64_t lda, int64_t i0, int64_t p0,
                           int64_t mc, int64_t kc, uint8_t flip) {
	const int64_t kq = (kc + 3) / 4, kfull = kc / 4;
	const uint32_t f4 = flip * 0x01010101u;
	for (int64_t s = 0; s < mc; s += IMR) {
		int64_t mr = mc - s < IMR ? mc - s : IMR;
		uint32_t *d = (uint32_t *)(void *)(pa + s * kq * 4);
		for (int64_t i = 0; i < IMR; i++) {
			if (i >= mr) {
				for (int64_t q = 0; q < kq; q++) d[q * IMR + i] = 0;
				continue;
			}
			const uint8_t *src = a + (i0 + s + i) * lda + p0;
			for (int64_t q = 0; q < kfull; q++) {
				uint32_t w;
				memcpy(&w, src + 4 * q, 4);
				d[q * IMR + i] = w ^ f4;
			}
			if (kfull < kq) { // k tail: pad with zero bytes (B is zero there too)
				uint8_t t[4] = {0, 0, 0, 0};
				for (int64_t p = 4 * kfull; p < kc; p++) t[p - 4 * kfull] = src[p] ^ flip;
				memcpy(&d[kfull * IMR + i], t, 4);
			}
		}
	}
}

// c += Σ u8(a)·s8(b) per 32-bit lane. Inline asm rather than _mm512_dpbusd_epi32: GCC 12
// copies and spills the accumulators around the intrinsic; the "+v" constraint keeps
// all 24 of them in registers.
static inline VNNI __m512i dpbusd(__m512i c, __m512i a, __m512i b) {
	__asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b));
	return c;
}

// One full panel of INR = 32 columns of a row-major B (kc rows from src, ldb apart):
// each quad of rows interleaved into [column][4 k] with byte and word unpacks (16
// columns per 128-bit step, assembled into one 512-bit store so the column sums, by
// vpdpbusd against bytes of 1, come from registers: reading back four fresh 16-byte
// stores as one 64-byte load stalls store forwarding). A last partial quad is
// zero-padded, like the scalar loop of ipack_b_q.
static inline VNNI __m512i ipack_b_quad16(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int8_t *r3,
                                          __m128i fl) {
	const __m128i v0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)r0), fl);
	const __m128i v1 = r1 ? _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)r1), fl) : _mm_setzero_si128();
	const __m128i v2 = r2 ? _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)r2), fl) : _mm_setzero_si128();
	const __m128i v3 = r3 ? _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)r3), fl) : _mm_setzero_si128();
	const __m128i a = _mm_unpacklo_epi8(v0, v1), b = _mm_unpackhi_epi8(v0, v1);
	const __m128i c = _mm_unpacklo_epi8(v2, v3), e = _mm_unpackhi_epi8(v2, v3);
	__m512i o = _mm512_castsi128_si512(_mm_unpacklo_epi16(a, c));
	o = _mm512_inserti32x4(o, _mm_unpackhi_epi16(a, c), 1);
	o = _mm512_inserti32x4(o, _mm_unpacklo_epi16(b, e), 2);
	return _mm512_inserti32x4(o, _mm_unpackhi_epi16(b, e), 3);
}

// ipack_b_panels packs the first panels·INR columns: quad-row by quad-row, so B's rows
// (a convolution's window rows, ldb = thousands of bytes) are read front to back, not 32
// bytes of each of kc rows that all fall in one cache set.
static VNNI void ipack_b_panels(int8_t *pb, int32_t *colsum, const int8_t *src, int64_t ldb, int64_t kc,
                                int64_t panels, uint8_t flip) {
	const __m128i fl = _mm_set1_epi8((char)flip);
	const int64_t kq = (kc + 3) / 4;
	const __m512i ones = _mm512_set1_epi8(1);
	memset(colsum, 0, (size_t)(panels * INR) * 4);
	for (int64_t p = 0; p < kc; p += 4) {
		const int8_t *r0 = src + p * ldb, *r1 = p + 1 < kc ? r0 + ldb : NULL;
		const int8_t *r2 = p + 2 < kc ? r0 + 2 * ldb : NULL, *r3 = p + 3 < kc ? r0 + 3 * ldb : NULL;
		int8_t *d = pb + p * INR;
		for (int64_t j = 0; j < panels * INR; j += INR, d += kq * INR * 4) {
			const __m512i o0 = ipack_b_quad16(r0 + j, r1 ? r1 + j : NULL, r2 ? r2 + j : NULL, r3 ? r3 + j : NULL, fl);
			const __m512i o1 = ipack_b_quad16(r0 + j + 16, r1 ? r1 + j + 16 : NULL, r2 ? r2 + j + 16 : NULL,
			                                  r3 ? r3 + j + 16 : NULL, fl);
			_mm512_store_si512((void *)d, o0);
			_mm512_store_si512((void *)(d + 64), o1);
			int32_t *cs = colsum + j;
			_mm512_storeu_si512((void *)cs, dpbusd(_mm512_loadu_si512((const void *)cs), ones, o0));
			_mm512_storeu_si512((void *)(cs + 16), dpbusd(_mm512_loadu_si512((const void *)(cs + 16)), ones, o1));
		}
	}
}

// B panel: [quad][column][4 k] bytes, and the column sums over this k-block. Every byte
// of B is taken xor flip (0x80 makes a uint8 B the int8 b − 128).
static void VNNI ipack_b_q(int8_t *pb, int32_t *colsum, const int8_t *b, int trans, int64_t ldb,
                           int64_t p0, int64_t j0, int64_t kc, int64_t nc, uint8_t flip) {
	const int64_t kq = (kc + 3) / 4;
	int64_t s0 = 0;
	if (!trans) { // the full panels by SIMD, a last partial one below
		s0 = nc / INR * INR;
		ipack_b_panels(pb, colsum, b + p0 * ldb + j0, ldb, kc, nc / INR, flip);
	}
	for (int64_t s = s0; s < nc; s += INR) {
		int64_t nr = nc - s < INR ? nc - s : INR;
		int8_t *d = pb + s * kq * 4;
		int32_t *cs = colsum + s;
		for (int64_t j = 0; j < INR; j++) cs[j] = 0;
		if (!trans) { // rows of B are contiguous along j
			for (int64_t p = 0; p < kq * 4; p++) {
				int8_t *dq = d + (p >> 2) * INR * 4 + (p & 3);
				if (p >= kc) {
					for (int64_t j = 0; j < INR; j++) dq[4 * j] = 0;
					continue;
				}
				const int8_t *src = b + (p0 + p) * ldb + j0 + s;
				int64_t j = 0;
				for (; j < nr; j++) {
					const int8_t v = (int8_t)((uint8_t)src[j] ^ flip);
					dq[4 * j] = v;
					cs[j] += v;
				}
				for (; j < INR; j++) dq[4 * j] = 0;
			}
		} else { // columns of B are contiguous along k
			for (int64_t j = 0; j < INR; j++) {
				const int8_t *src = b + (j0 + s + j) * ldb + p0;
				int32_t sum = 0;
				for (int64_t p = 0; p < kq * 4; p++) {
					int8_t v = (j < nr && p < kc) ? (int8_t)((uint8_t)src[p] ^ flip) : 0;
					sum += v;
					d[((p >> 2) * INR + j) * 4 + (p & 3)] = v;
				}
				cs[j] = sum;
			}
		}
	}
}

static inline VNNI void iukr_vnni(int64_t kq, const uint8_t *pa, const int8_t *pb, int32_t *acc) {
	__m512i c0[IMR], c1[IMR];
#pragma GCC unroll 12
	for (int i = 0; i < IMR; i++) { c0[i] = _mm512_setzero_si512(); c1[i] = _mm512_setzero_si512(); }
	for (int64_t q = 0; q < kq; q++) {
		const __m512i b0 = _mm512_load_si512((const void *)(pb + q * INR * 4));
		const __m512i b1 = _mm512_load_si512((const void *)(pb + q * INR * 4 + 64));
#pragma GCC unroll 12
		for (int i = 0; i < IMR; i++) {
			int32_t w;
			memcpy(&w, pa + (q * IMR + i) * 4, 4);
			const __m512i av = _mm512_set1_epi32(w);
			c0[i] = dpbusd(c0[i], av, b0);
			c1[i] = dpbusd(c1[i], av, b1);
		}
	}
#pragma GCC unroll 12
	for (int i = 0; i < IMR; i++) {
		_mm512_store_si512((void *)(acc + i * INR), c0[i]);
		_mm512_store_si512((void *)(acc + i * INR + 16), c1[i]);
	}
}

// The packed GEMM's tiles of 1 to 7 rows (below), which igemm_vnni uses for a last
// short row tile when k fits one block: 2·rows vpdpbusd per k-quad instead of 24.
#define TILEDECL(R)                                                                                  \
	static VNNI void iukr_vnni_c##R(int64_t kq, const uint8_t *pa, const int8_t *pb, const int32_t *cs, \
	                                int32_t zsub, int32_t *c, int64_t ldc, int64_t nr);
TILEDECL(1) TILEDECL(2) TILEDECL(3) TILEDECL(4) TILEDECL(5) TILEDECL(6) TILEDECL(7)
#undef TILEDECL
// The 12-row micro-kernel out of line: inlined into igemm_vnni's loops, GCC spills its
// 24 accumulators to the stack inside the k loop.
static VNNI void iukr_vnni_acc(int64_t kq, const uint8_t *pa, const int8_t *pb, int32_t *acc);

static void VNNI igemm_vnni(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                            const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc, uint8_t flip) {
	if (m <= 0 || n <= 0) return;
	if (k <= 0) {
		for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * 4);
		return;
	}
	const int64_t kcmax = ((k < IKC ? k : IKC) + 3) / 4 * 4;
	const int64_t ncmax = ((n < INC ? n : INC) + INR - 1) / INR * INR;
	const int64_t mcmax = ((m < IMC ? m : IMC) + IMR - 1) / IMR * IMR;
	uint8_t *pa = (uint8_t *)mc_alloc((size_t)(mcmax * kcmax));
	int8_t *pb = (int8_t *)mc_alloc((size_t)(ncmax * kcmax));
	int32_t *colsum = (int32_t *)mc_alloc((size_t)ncmax * 4);
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	if (!pa || !pb || !colsum) abort();
	for (int64_t jc = 0; jc < n; jc += INC) {
		int64_t nc = n - jc < INC ? n - jc : INC;
		for (int64_t pc = 0; pc < k; pc += IKC) {
			int64_t kc = k - pc < IKC ? k - pc : IKC, kq = (kc + 3) / 4;
			ipack_b_q(pb, colsum, b, trans, ldb, pc, jc, kc, nc, 0);
			for (int64_t ic = 0; ic < m; ic += IMC) {
				int64_t mc = m - ic < IMC ? m - ic : IMC;
				ipack_a_q(pa, a, lda, ic, pc, mc, kc, flip);
				for (int64_t ir = 0; ir < mc; ir += IMR) {
					int64_t mr = mc - ir < IMR ? mc - ir : IMR;
					for (int64_t jr = 0; jr < nc; jr += INR) {
						int64_t nr = nc - jr < INR ? nc - jr : INR;
						if (mr < 8 && kc == k) { // straight to C, 128·Σb off for an int8 A
							const uint8_t *pt = pa + ir * kq * 4;
							const int8_t *pj = pb + jr * kq * 4;
							const int32_t *cs = colsum + jr, zsub = flip ? 128 : 0;
							int32_t *cj = c + (ic + ir) * ldc + jc + jr;
							switch (mr) {
#define TILE(R) case R: iukr_vnni_c##R(kq, pt, pj, cs, zsub, cj, ldc, nr); break;
								TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7)
#undef TILE
							}
							continue;
						}
						iukr_vnni_acc(kq, pa + ir * kq * 4, pb + jr * kq * 4, acc);
						// C (+)= acc − 128·Σb (int8 A), 16 columns per step; integer
						// vector adds and shifts wrap modulo 2³² like the reference.
						const __mmask16 m0 = tailmask(nr), m1 = nr > 16 ? tailmask(nr - 16) : 0;
						__m512i z0 = _mm512_setzero_si512(), z1 = _mm512_setzero_si512();
						if (flip) {
							z0 = _mm512_slli_epi32(_mm512_loadu_si512((const void *)(colsum + jr)), 7);
							z1 = _mm512_slli_epi32(_mm512_loadu_si512((const void *)(colsum + jr + 16)), 7);
						}
						for (int64_t i = 0; i < mr; i++) {
							int32_t *ci = c + (ic + ir + i) * ldc + jc + jr;
							__m512i v0 = _mm512_sub_epi32(_mm512_load_si512((const void *)(acc + i * INR)), z0);
							__m512i v1 = _mm512_sub_epi32(_mm512_load_si512((const void *)(acc + i * INR + 16)), z1);
							if (pc > 0) {
								v0 = _mm512_add_epi32(v0, _mm512_maskz_loadu_epi32(m0, ci));
								v1 = _mm512_add_epi32(v1, _mm512_maskz_loadu_epi32(m1, ci + 16));
							}
							_mm512_mask_storeu_epi32((void *)ci, m0, v0);
							_mm512_mask_storeu_epi32((void *)(ci + 16), m1, v1);
						}
					}
				}
			}
		}
	}
	free(pa);
	free(pb);
	free(colsum);
}

void mc_gemm_s8s8_vnni(int trans, int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_vnni(trans, m, n, k, (const uint8_t *)a, lda, b, ldb, c, ldc, 0x80);
}

void mc_gemm_u8s8_vnni(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_vnni(trans, m, n, k, a, lda, b, ldb, c, ldc, 0);
}

// ---- int8 GEMM on a B packed once (PackB8): the same panels as ipack_b_q over all of k ----
// Layout: panels of INR columns, panel j/INR at byte j·kq·4, each [quad][column][4 k];
// colsum holds Σb of every (padded) column over all of k. A is packed IMR rows at a time
// (on the stack while k ≤ IPK_STACK/IMR) and swept over a block of panels that stays in L2.

#define IPK_STACK 24576
#define IPK_L2 (64 * 1024)

void mc_pack_b8_vnni(int8_t *pb, int32_t *colsum, const int8_t *b, int64_t k, int64_t n, int64_t ldb) {
	ipack_b_q(pb, colsum, b, 0, ldb, 0, 0, k, n, 0);
}

// One IMR×INR tile of the packed product, written straight to C: rows (≤ IMR) is a
// constant in each inlined copy, so a short A (a few tokens) does only its own rows'
// vpdpbusd; columns past nr are masked off; zsub·Σb comes off per column (zsub = A's
// zero point, plus 128 for an int8 A, whose bytes the packing flipped to a+128).
static inline __attribute__((always_inline)) VNNI void iukr_vnni_c(const int rows, int64_t kq, const uint8_t *pa,
                                                                  const int8_t *pb, const int32_t *cs, int32_t zsub,
                                                                  int32_t *c, int64_t ldc, int64_t nr) {
	__m512i c0[IMR], c1[IMR];
#pragma GCC unroll 12
	for (int i = 0; i < rows; i++) { c0[i] = _mm512_setzero_si512(); c1[i] = _mm512_setzero_si512(); }
	for (int64_t q = 0; q < kq; q++) {
		const __m512i b0 = _mm512_load_si512((const void *)(pb + q * INR * 4));
		const __m512i b1 = _mm512_load_si512((const void *)(pb + q * INR * 4 + 64));
#pragma GCC unroll 12
		for (int i = 0; i < rows; i++) {
			int32_t w;
			memcpy(&w, pa + (q * IMR + i) * 4, 4);
			const __m512i av = _mm512_set1_epi32(w);
			c0[i] = dpbusd(c0[i], av, b0);
			c1[i] = dpbusd(c1[i], av, b1);
		}
	}
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	if (zsub) { // wrapping int32 products, like the reference
		const __m512i z = _mm512_set1_epi32(zsub);
		s0 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)cs), z);
		s1 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(cs + 16)), z);
	}
	const __mmask16 m0 = tailmask(nr), m1 = nr > 16 ? tailmask(nr - 16) : 0;
#pragma GCC unroll 12
	for (int i = 0; i < rows; i++) {
		_mm512_mask_storeu_epi32((void *)(c + i * ldc), m0, _mm512_sub_epi32(c0[i], s0));
		_mm512_mask_storeu_epi32((void *)(c + i * ldc + 16), m1, _mm512_sub_epi32(c1[i], s1));
	}
}

// One function per row count up to 7, each with its own register allocation; from 8
// rows on GCC spills accumulators in that form, so those tiles run the unpacked GEMM's
// 12-row micro-kernel into a buffer and store the rows needed from it.
#define TILEFN(R)                                                                                  \
	static __attribute__((noinline)) VNNI void iukr_vnni_c##R(int64_t kq, const uint8_t *pa,       \
	                                                          const int8_t *pb, const int32_t *cs,  \
	                                                          int32_t zsub, int32_t *c, int64_t ldc, \
	                                                          int64_t nr) {                          \
		iukr_vnni_c(R, kq, pa, pb, cs, zsub, c, ldc, nr);                                          \
	}
TILEFN(1) TILEFN(2) TILEFN(3) TILEFN(4) TILEFN(5) TILEFN(6) TILEFN(7)
#undef TILEFN

static __attribute__((noinline)) VNNI void iukr_vnni_acc(int64_t kq, const uint8_t *pa, const int8_t *pb, int32_t *acc) {
	iukr_vnni(kq, pa, pb, acc);
}

static __attribute__((noinline)) VNNI void iukr_vnni_big(int64_t rows, int64_t kq, const uint8_t *pa,
                                                         const int8_t *pb, const int32_t *cs, int32_t zsub,
                                                         int32_t *c, int64_t ldc, int64_t nr) {
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	iukr_vnni_acc(kq, pa, pb, acc);
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	if (zsub) {
		const __m512i z = _mm512_set1_epi32(zsub);
		s0 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)cs), z);
		s1 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(cs + 16)), z);
	}
	const __mmask16 m0 = tailmask(nr), m1 = nr > 16 ? tailmask(nr - 16) : 0;
	for (int64_t i = 0; i < rows; i++) {
		const __m512i v0 = _mm512_load_si512((const void *)(acc + i * INR));
		const __m512i v1 = _mm512_load_si512((const void *)(acc + i * INR + 16));
		_mm512_mask_storeu_epi32((void *)(c + i * ldc), m0, _mm512_sub_epi32(v0, s0));
		_mm512_mask_storeu_epi32((void *)(c + i * ldc + 16), m1, _mm512_sub_epi32(v1, s1));
	}
}

static void VNNI igemm_vnni_packed(int64_t m, int64_t j0, int64_t j1, int64_t k, const uint8_t *a, int64_t lda,
                                   const int8_t *pb, const int32_t *colsum, int32_t *c, int64_t ldc, uint8_t flip,
                                   int32_t azp) {
	if (m <= 0 || j1 <= j0) return;
	const int32_t zsub = (int32_t)((uint32_t)azp + (flip ? 128u : 0u));
	if (k <= 0) {
		for (int64_t i = 0; i < m; i++) memset(c + i * ldc + j0, 0, (size_t)(j1 - j0) * 4);
		return;
	}
	const int64_t kq = (k + 3) / 4;
	uint8_t sbuf[IPK_STACK] __attribute__((aligned(64)));
	uint8_t *pa = sbuf;
	if (IMR * kq * 4 > IPK_STACK) {
		pa = (uint8_t *)mc_alloc((size_t)(IMR * kq * 4));
		if (!pa) abort();
	}
	int64_t npb = IPK_L2 / (INR * kq * 4);
	if (npb < 1) npb = 1;
	for (int64_t jb = j0; jb < j1; jb += npb * INR) {
		const int64_t je = j1 - jb < npb * INR ? j1 : jb + npb * INR;
		for (int64_t ir = 0; ir < m; ir += IMR) {
			const int64_t mr = m - ir < IMR ? m - ir : IMR;
			ipack_a_q(pa, a, lda, ir, 0, mr, k, flip);
			for (int64_t jr = jb; jr < je; jr += INR) {
				const int64_t nr = je - jr < INR ? je - jr : INR;
				const int8_t *pj = pb + jr * kq * 4;
				const int32_t *cs = colsum + jr;
				int32_t *cj = c + ir * ldc + jr;
				switch (mr) {
#define TILE(R) case R: iukr_vnni_c##R(kq, pa, pj, cs, zsub, cj, ldc, nr); break;
					TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7)
#undef TILE
				default: iukr_vnni_big(mr, kq, pa, pj, cs, zsub, cj, ldc, nr);
				}
			}
		}
	}
	if (pa != sbuf) free(pa);
}

void mc_gemm_s8s8_packed_vnni(int64_t m, int64_t j0, int64_t j1, int64_t k, const int8_t *a, int64_t lda,
                              const int8_t *pb, const int32_t *colsum, int32_t *c, int64_t ldc, int32_t azp) {
	igemm_vnni_packed(m, j0, j1, k, (const uint8_t *)a, lda, pb, colsum, c, ldc, 0x80, azp);
}

void mc_gemm_u8s8_packed_vnni(int64_t m, int64_t j0, int64_t j1, int64_t k, const uint8_t *a, int64_t lda,
                              const int8_t *pb, const int32_t *colsum, int32_t *c, int64_t ldc, int32_t azp) {
	igemm_vnni_packed(m, j0, j1, k, a, lda, pb, colsum, c, ldc, 0, azp);
}

// ---- int8 GEMM with the float epilogue (GEMMS8S8Dequant) -----------------------------------
// An integer convolution's product and its dequantization in one pass: each 12×32 tile of
// exact sums goes from the micro-kernel's buffer (in L1) straight to float32 with the
// zero-point corrections, scale, bias and activation, so the int32 matrix is never stored
// and read back (for the k = 16–32 expansions of the mobile networks, that matrix and the
// float one were three times the traffic of the float convolution). A is packed once per
// call over all of k; B in blocks of columns that fit L2. The arithmetic is RequantRows'
// then BiasAct's, operation for operation, so the bits are theirs.

// QuantizeLinear of 16 values (x / s rounded half to even, NaN to 0, plus z, clamped to
// [lo, hi]): here and in the QUANT_FN kernels below.
static inline KTGT __m512i quant16(__m512 x, __m512 s, __m512 z, __m512 lo, __m512 hi) {
	__m512 v = _mm512_div_ps(x, s);
	v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v); // NaN -> 0 (then zp)
	v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
	v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
	return _mm512_cvtps_epi32(v);
}

#define QG_L2 (256 * 1024) // bytes of packed B (all of k) swept by each row block

// The tile's sums (acc, k-block by k-block into part when k is longer than one block)
// to y's rows ir.. and columns jr.. of the block at jb.
// With yq, each value is then quantized as QuantizeLinear does (quant16 with the output's
// scale, zero point and range in oq) and yq receives the bytes; y is not written.
typedef struct {
	__m512 s, z, lo, hi;
} qg_outq;

static inline __attribute__((always_inline)) VNNI void qgemm_tile_out(
	const int32_t *acc, int64_t mr, int64_t nr, const int32_t *cs, int32_t kbz, float *y, uint8_t *yq, int64_t ldy,
	const int32_t *fix, const int32_t *zw, const float *scale, const float *bias, int act, __m512 vp, __m512 vq,
	const qg_outq *oq, int pfw) {
	const __mmask16 m0 = tailmask(nr), m1 = nr > 16 ? tailmask(nr - 16) : 0;
	// Σ a·b = Σ (a+128)·b − 128·Σb; Σ(b − bz) = Σb − k·bz for the weight zero points.
	const __m512i cs0 = _mm512_loadu_si512((const void *)cs), cs1 = _mm512_loadu_si512((const void *)(cs + 16));
	const __m512i s0 = _mm512_slli_epi32(cs0, 7), s1 = _mm512_slli_epi32(cs1, 7);
	const __m512i kb = _mm512_set1_epi32(kbz);
	const __m512i d0 = _mm512_sub_epi32(cs0, kb), d1 = _mm512_sub_epi32(cs1, kb);
	for (int64_t i = 0; i < mr; i++) {
		__m512i v0 = _mm512_sub_epi32(_mm512_load_si512((const void *)(acc + i * INR)), s0);
		__m512i v1 = _mm512_sub_epi32(_mm512_load_si512((const void *)(acc + i * INR + 16)), s1);
		const __m512i f = _mm512_set1_epi32(fix[i]);
		v0 = _mm512_sub_epi32(v0, f);
		v1 = _mm512_sub_epi32(v1, f);
		if (zw && zw[i]) {
			const __m512i z = _mm512_set1_epi32(zw[i]);
			v0 = _mm512_sub_epi32(v0, _mm512_mullo_epi32(z, d0));
			v1 = _mm512_sub_epi32(v1, _mm512_mullo_epi32(z, d1));
		}
		const __m512 sc = _mm512_set1_ps(scale[i]);
		__m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(v0), sc), f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(v1), sc);
		if (bias) {
			const __m512 bv = _mm512_set1_ps(bias[i]);
			f0 = _mm512_add_ps(f0, bv);
			f1 = _mm512_add_ps(f1, bv);
		}
		if (yq) {
			uint8_t *qr = yq + i * ldy;
			_mm512_mask_cvtepi32_storeu_epi8(qr, m0, quant16(ep_act(f0, act, vp, vq), oq->s, oq->z, oq->lo, oq->hi));
			_mm512_mask_cvtepi32_storeu_epi8(qr + 16, m1, quant16(ep_act(f1, act, vp, vq), oq->s, oq->z, oq->lo, oq->hi));
			if (pfw) _mm_prefetch((const char *)(qr + INR), _MM_HINT_ET0);
			continue;
		}
		float *yr = y + i * ldy;
		_mm512_mask_storeu_ps(yr, m0, ep_act(f0, act, vp, vq));
		_mm512_mask_storeu_ps(yr + 16, m1, ep_act(f1, act, vp, vq));
		if (pfw) { // own the next tile's output lines in this row before it stores them
			_mm_prefetch((const char *)(yr + INR), _MM_HINT_ET0);
			_mm_prefetch((const char *)(yr + INR + 16), _MM_HINT_ET0);
		}
	}
}

// A packed once for mc_qgemm_f32_vnni: blocks of IMR rows, [quad][row][4 k] as a+128,
// zero past m and k; (m rounded up to IMR)·⌈k/4⌉·4 bytes (at least one quad).
void VNNI mc_pack_a8_vnni(uint8_t *pa, const int8_t *a, int64_t lda, int64_t m, int64_t k) {
	if (k > 0) {
		ipack_a_q(pa, (const uint8_t *)a, lda, 0, 0, m, k, 0x80);
	} else { // no products: sums of zero
		memset(pa, 0, (size_t)((m + IMR - 1) / IMR * IMR * 4));
	}
}

// yq (or NULL): the results quantized with scale qs and zero point qz to [qlo, qhi]
// (uint8 or int8), written there instead of y.
void VNNI mc_qgemm_f32_vnni(int64_t m, int64_t n, int64_t k, const uint8_t *pa, const int8_t *b, int64_t ldb,
                            uint8_t bflip, float *y, uint8_t *yq, int64_t ldy, const int32_t *fix, const int32_t *zw,
                            int32_t kbz, const float *scale, const float *bias, int act, float p, float q, float qs,
                            float qz, float qlo, float qhi) {
	if (m <= 0 || n <= 0) return;
	const int64_t kq = k > 0 ? (k + 3) / 4 : 1, kqb = IKC / 4, mp = (m + IMR - 1) / IMR * IMR;
	const int64_t blocks = (kq + kqb - 1) / kqb; // k-blocks: one tile's A and B stay in L1
	int64_t nb = QG_L2 / (kq * 4) / INR * INR;   // columns of B packed at a time
	if (nb < INR) nb = INR;
	if (nb > (n + INR - 1) / INR * INR) nb = (n + INR - 1) / INR * INR;
	int8_t *pb = (int8_t *)mc_alloc((size_t)(nb * kq * 4));
	int32_t *colsum = (int32_t *)mc_alloc((size_t)nb * 4);
	int32_t *part = blocks > 1 ? (int32_t *)mc_alloc((size_t)(mp * nb) * 4) : NULL; // [tile][IMR][INR]
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	if (!pb || !colsum || (blocks > 1 && !part)) abort();
	const __m512 vp = _mm512_set1_ps(p), vq = _mm512_set1_ps(q);
	const qg_outq oq = {_mm512_set1_ps(qs), _mm512_set1_ps(qz), _mm512_set1_ps(qlo), _mm512_set1_ps(qhi)};
	// An output of 256 KB or more is not in cache: as in mc_pointwise_avx512, its lines
	// are fetched for writing one panel ahead.
	const int pfw = m * n >= (1 << 16);
	for (int64_t jb = 0; jb < n; jb += nb) {
		const int64_t nc = n - jb < nb ? n - jb : nb;
		if (k > 0) {
			ipack_b_q(pb, colsum, b, 0, ldb, 0, jb, k, nc, bflip);
		} else {
			memset(pb, 0, (size_t)(nb * kq * 4));
			memset(colsum, 0, (size_t)nb * 4);
		}
		if (blocks == 1) { // all of A's rows for one panel of B at a time, which stays in L1
			for (int64_t jr = 0; jr < nc; jr += INR) {
				const int64_t nr = nc - jr < INR ? nc - jr : INR;
				for (int64_t ir = 0; ir < m; ir += IMR) {
					const int64_t mr = m - ir < IMR ? m - ir : IMR;
					const uint8_t *pt = pa + ir * kq * 4;
					const int8_t *pj = pb + jr * kq * 4;
					switch (mr) { // a short last block: only its own rows' vpdpbusd
#define TILE(R) case R: iukr_vnni_c##R(kq, pt, pj, colsum + jr, 0, acc, INR, INR); break;
						TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7)
#undef TILE
					default: iukr_vnni_acc(kq, pt, pj, acc);
					}
					const int64_t at = ir * ldy + jb + jr;
					qgemm_tile_out(acc, mr, nr, colsum + jr, kbz, yq ? NULL : y + at, yq ? yq + at : NULL, ldy, fix + ir,
					               zw ? zw + ir : NULL, scale + ir, bias ? bias + ir : NULL, act, vp, vq, &oq,
					               pfw && jb + jr + INR < n);
				}
			}
			continue;
		}
		for (int64_t kb = 0; kb < blocks; kb++) { // a k-block of A's rows over the block of B
			const int64_t q0 = kb * kqb, qn = kq - q0 < kqb ? kq - q0 : kqb;
			for (int64_t ir = 0; ir < m; ir += IMR) {
				const int64_t mr = m - ir < IMR ? m - ir : IMR;
				for (int64_t jr = 0; jr < nc; jr += INR) {
					const int64_t nr = nc - jr < INR ? nc - jr : INR;
					iukr_vnni_acc(qn, pa + ir * kq * 4 + q0 * IMR * 4, pb + jr * kq * 4 + q0 * INR * 4, acc);
					int32_t *t = part + (ir / IMR * (nb / INR) + jr / INR) * IMR * INR;
					for (int64_t e = 0; e < IMR * INR; e += 16) { // wrapping int32 adds, like the reference
						__m512i v = _mm512_load_si512((const void *)(acc + e));
						if (kb > 0) v = _mm512_add_epi32(v, _mm512_load_si512((const void *)(t + e)));
						_mm512_store_si512((void *)(kb + 1 < blocks ? t + e : acc + e), v);
					}
					if (kb + 1 < blocks) continue;
					const int64_t at = ir * ldy + jb + jr;
					qgemm_tile_out(acc, mr, nr, colsum + jr, kbz, yq ? NULL : y + at, yq ? yq + at : NULL, ldy, fix + ir,
					               zw ? zw + ir : NULL, scale + ir, bias ? bias + ir : NULL, act, vp, vq, &oq, 0);
				}
			}
		}
	}
	free(pb);
	free(colsum);
	free(part);
}

// ---- conversions ---------------------------------------------------------------------------

void KTGT mc_f32_to_f16_avx512(uint16_t *dst, const float *src, int64_t n) {
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tailmask(n - i);
		__m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
		_mm256_mask_storeu_epi16(dst + i, m, h);
	}
}

void KTGT mc_f16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n) {
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tailmask(n - i);
		_mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
	}
}

// bf16 with integer operations: exact round-to-nearest-even and kept subnormals
// (vcvtneps2bf16 would flush subnormal inputs to zero).
void KTGT mc_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n) {
	const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
	const __m512i absm = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000), qb = _mm512_set1_epi32(0x40);
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tailmask(n - i);
		__m512i x = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, src + i));
		__mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, absm), inf);
		__m512i r = _mm512_add_epi32(x, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(x, 16), one)));
		r = _mm512_srli_epi32(r, 16);
		r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(x, 16), qb));
		_mm512_mask_cvtepi32_storeu_epi16(dst + i, m, r);
	}
}

void KTGT mc_bf16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n) {
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tailmask(n - i);
		__m512i x = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + i));
		_mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(x, 16)));
	}
}

// ---- ONNX QuantizeLinear / DequantizeLinear, per tensor or per axis -------------------------

// QUANT_FN(name, T, LO, HI, LOADZ): dst/src start at flat element g0; element g uses
// channel (g/inner)%ch. LOADZ(ptr, mask) loads 16 zero points as an __m512i of int32.
#define QUANT_FN(NAME, T, LO, HI, LOADZ)                                                            \
	void KTGT NAME(T *dst, const float *src, int64_t g0, int64_t n, int64_t inner, int64_t ch,     \
	               const float *scale, const T *zp) {                                              \
		const __m512 lo = _mm512_set1_ps(LO), hi = _mm512_set1_ps(HI);                              \
		int64_t i = 0;                                                                              \
		if (ch == 1) inner = n + 1;                                                                 \
		if (inner == 1) {                                                                           \
			while (i < n) {                                                                         \
				int64_t c = (g0 + i) % ch, len = ch - c < n - i ? ch - c : n - i;                   \
				for (int64_t j = 0; j < len; j += 16) {                                             \
					__mmask16 m = tailmask(len - j);                                                \
					__m512 s = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), m, scale + c + j);        \
					__m512 z = _mm512_cvtepi32_ps(LOADZ(zp + c + j, m));                            \
					__m512i q = quant16(_mm512_maskz_loadu_ps(m, src + i + j), s, z, lo, hi);      \
					_mm512_mask_cvtepi32_storeu_epi8(dst + i + j, m, q);                            \
				}                                                                                   \
				i += len;                                                                           \
			}                                                                                       \
			return;                                                                                 \
		}                                                                                           \
		while (i < n) {                                                                             \
			int64_t row = (g0 + i) / inner, c = row % ch;                                           \
			int64_t end = (row + 1) * inner - g0;                                                   \
			if (end > n) end = n;                                                                   \
			const __m512 s = _mm512_set1_ps(scale[c]), z = _mm512_set1_ps((float)zp[c]);           \
			for (; i < end; i += 16) {                                                              \
				__mmask16 m = tailmask(end - i);                                                    \
				__m512i q = quant16(_mm512_maskz_loadu_ps(m, src + i), s, z, lo, hi);              \
				_mm512_mask_cvtepi32_storeu_epi8(dst + i, m, q);                                    \
			}                                                                                       \
			i = end;                                                                                \
		}                                                                                           \
	}

#define LOADZ_S8(p, m) _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const void *)(p)))
#define LOADZ_U8(p, m) _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, (const void *)(p)))
QUANT_FN(mc_quant_s8_avx512, int8_t, -128.0f, 127.0f, LOADZ_S8)
QUANT_FN(mc_quant_u8_avx512, uint8_t, 0.0f, 255.0f, LOADZ_U8)

#define DEQUANT_FN(NAME, T, LOADQ)                                                                   \
	void KTGT NAME(float *dst, const T *src, int64_t g0, int64_t n, int64_t inner, int64_t ch,      \
	               const float *scale, const T *zp) {                                               \
		int64_t i = 0;                                                                               \
		if (ch == 1) inner = n + 1;                                                                  \
		if (inner == 1) {                                                                            \
			while (i < n) {                                                                          \
				int64_t c = (g0 + i) % ch, len = ch - c < n - i ? ch - c : n - i;                    \
				for (int64_t j = 0; j < len; j += 16) {                                              \
					__mmask16 m = tailmask(len - j);                                                 \
					__m512i d = _mm512_sub_epi32(LOADQ(src + i + j, m), LOADQ(zp + c + j, m));       \
					__m512 s = _mm512_maskz_loadu_ps(m, scale + c + j);                              \
					_mm512_mask_storeu_ps(dst + i + j, m, _mm512_mul_ps(_mm512_cvtepi32_ps(d), s));  \
				}                                                                                    \
				i += len;                                                                            \
			}                                                                                        \
			return;                                                                                  \
		}                                                                                            \
		while (i < n) {                                                                              \
			int64_t row = (g0 + i) / inner, c = row % ch;                                            \
			int64_t end = (row + 1) * inner - g0;                                                    \
			if (end > n) end = n;                                                                    \
			const __m512 s = _mm512_set1_ps(scale[c]);                                               \
			const __m512i z = _mm512_set1_epi32((int32_t)zp[c]);                                     \
			for (; i < end; i += 16) {                                                               \
				__mmask16 m = tailmask(end - i);                                                     \
				__m512i d = _mm512_sub_epi32(LOADQ(src + i, m), z);                                  \
				_mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(d), s));          \
			}                                                                                        \
			i = end;                                                                                 \
		}                                                                                            \
	}

DEQUANT_FN(mc_dequant_s8_avx512, int8_t, LOADZ_S8)
DEQUANT_FN(mc_dequant_u8_avx512, uint8_t, LOADZ_U8)

// QuantizeLinear to uint8 of src·mul[r] for each row r of cols values: a per-channel
// Mul's products, rounded to float32 as the Mul rounds them, quantized in the register.
void KTGT mc_quant_scaled_u8_avx512(uint8_t *dst, const float *src, int64_t rows, int64_t cols, const float *mul,
                                    float scale, uint8_t zp) {
	const __m512 lo = _mm512_set1_ps(0.0f), hi = _mm512_set1_ps(255.0f);
	const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps((float)zp);
	for (int64_t r = 0; r < rows; r++) {
		const __m512 mr = _mm512_set1_ps(mul[r]);
		const float *x = src + r * cols;
		uint8_t *d = dst + r * cols;
		for (int64_t j = 0; j < cols; j += 16) {
			const __mmask16 m = tailmask(cols - j);
			const __m512i q = quant16(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), mr), s, z, lo, hi);
			_mm512_mask_cvtepi32_storeu_epi8(d + j, m, q);
		}
	}
}

// QuantizeLinear to uint8 and DequantizeLinear back with one scale and zero point, the
// quantized value kept in the register: mc_quant_u8_avx512's then mc_dequant_u8_avx512's
// arithmetic, so their bits, in one pass over memory instead of two.
void KTGT mc_qdq_u8_avx512(float *dst, const float *src, int64_t n, float scale, uint8_t zp) {
	const __m512 lo = _mm512_set1_ps(0.0f), hi = _mm512_set1_ps(255.0f);
	const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps((float)zp);
	const __m512i zi = _mm512_set1_epi32((int32_t)zp);
	for (int64_t i = 0; i < n; i += 16) {
		const __mmask16 m = tailmask(n - i);
		const __m512i q = quant16(_mm512_maskz_loadu_ps(m, src + i), s, z, lo, hi);
		_mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, zi)), s));
	}
}

// ---- reductions ------------------------------------------------------------------------------

void KTGT mc_minmax_rows_avx512(const float *src, int64_t rows, int64_t cols, int64_t ld, float *mn, float *mx) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m512 lo0 = _mm512_set1_ps(INFINITY), lo1 = lo0, hi0 = _mm512_set1_ps(-INFINITY), hi1 = hi0;
		int64_t i = 0;
		for (; i + 32 <= cols; i += 32) {
			__m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
			lo0 = _mm512_min_ps(a, lo0); hi0 = _mm512_max_ps(a, hi0); // NaN in a keeps the accumulator
			lo1 = _mm512_min_ps(b, lo1); hi1 = _mm512_max_ps(b, hi1);
		}
		for (; i < cols; i += 16) {
			__mmask16 m = tailmask(cols - i);
			__m512 a = _mm512_maskz_loadu_ps(m, x + i);
			lo0 = _mm512_mask_min_ps(lo0, m, a, lo0);
			hi0 = _mm512_mask_max_ps(hi0, m, a, hi0);
		}
		mn[r] = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
		mx[r] = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
	}
}

void KTGT mc_absmax_rows_avx512(const float *src, int64_t rows, int64_t cols, int64_t ld, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m512 m0 = _mm512_setzero_ps(), m1 = m0;
		int64_t i = 0;
		for (; i + 32 <= cols; i += 32) {
			m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), m0);
			m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i + 16)), m1);
		}
		for (; i < cols; i += 16) {
			__mmask16 m = tailmask(cols - i);
			m0 = _mm512_mask_max_ps(m0, m, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + i)), m0);
		}
		out[r] = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
	}
}

void KTGT mc_sumsq_rows_avx512(const float *src, int64_t rows, int64_t cols, int64_t ld, double *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
		int64_t i = 0;
		for (; i + 32 <= cols; i += 32) {
			__m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
			__m512d a0 = _mm512_cvtps_pd(_mm512_castps512_ps256(a)), a1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1));
			__m512d b0 = _mm512_cvtps_pd(_mm512_castps512_ps256(b)), b1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1));
			s0 = _mm512_fmadd_pd(a0, a0, s0); s1 = _mm512_fmadd_pd(a1, a1, s1);
			s2 = _mm512_fmadd_pd(b0, b0, s2); s3 = _mm512_fmadd_pd(b1, b1, s3);
		}
		for (; i < cols; i += 16) {
			__m512 a = _mm512_maskz_loadu_ps(tailmask(cols - i), x + i);
			__m512d a0 = _mm512_cvtps_pd(_mm512_castps512_ps256(a)), a1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1));
			s0 = _mm512_fmadd_pd(a0, a0, s0); s1 = _mm512_fmadd_pd(a1, a1, s1);
		}
		out[r] = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
	}
}

// ---- ggml Q8_0 / Q4_0 --------------------------------------------------------------------------

static inline KTGT float hmax_abs32(__m512 x0, __m512 x1) {
	return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
}

static inline KTGT __m512i round_away_i32(__m512 q) {
	__m512 t = _mm512_roundscale_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(q, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
	__m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(q, _mm512_set1_ps(-0.0f)));
	return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, one));
}

// max |x| of 16 consecutive Q8_0 blocks at src, lane k for block k (a transposing
// reduction tree instead of 16 horizontal ones); *nan gets a bit per block holding NaN.
// max is exact and order-free for non-NaN values, so this is ggml's amax.
static inline KTGT __m512 amax16_blocks(const float *src, __mmask16 *nan) {
	__m512 m[16];
	__mmask16 bad = 0;
	for (int k = 0; k < 16; k++) {
		const __m512 x0 = _mm512_loadu_ps(src + k * QK), x1 = _mm512_loadu_ps(src + k * QK + 16);
		if (_mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q)) bad |= (__mmask16)(1u << k);
		m[k] = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1));
	}
	__m512 t[8], u[4], v[2];
	for (int k = 0; k < 8; k++) // 256-bit half h: block 2k+h
		t[k] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0x44), _mm512_shuffle_f32x4(m[2 * k], m[2 * k + 1], 0xEE));
	for (int k = 0; k < 4; k++) // 128-bit lane j: block 4k+j
		u[k] = _mm512_max_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88), _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xDD));
	for (int k = 0; k < 2; k++) // lane j, elements 0-1: block 8k+j, 2-3: block 8k+4+j
		v[k] = _mm512_max_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44), _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
	// element 4j+i: block j+4i
	const __m512 w = _mm512_max_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
	*nan = bad;
	return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), w);
}

void KTGT mc_q8_0_avx512(uint8_t *dst, const float *src, int64_t nb) {
	// 16 blocks per step: their amax, d = amax/127, id = 1/d and f16(d) as vectors.
	for (; nb >= 16; nb -= 16, src += 16 * QK, dst += 16 * Q8_0_BYTES) {
		__mmask16 nan;
		const __m512 amax = amax16_blocks(src, &nan);
		const __m512 d = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
		const __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
		float id[16];
		uint16_t h[16];
		_mm512_storeu_ps(id, _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d));
		_mm256_storeu_si256((__m256i *)h, _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		for (int k = 0; k < 16; k++) {
			uint8_t *y = dst + k * Q8_0_BYTES;
			const float *x = src + k * QK;
			if (nan >> k & 1) {
				mc_q8_0_block(y, x); // NaN: ggml's order-dependent MAX, done in order
				continue;
			}
			memcpy(y, &h[k], 2);
			const __m512 vid = _mm512_set1_ps(id[k]);
			_mm512_mask_cvtepi32_storeu_epi8(y + 2, 0xffff, round_away_i32(_mm512_mul_ps(_mm512_loadu_ps(x), vid)));
			_mm512_mask_cvtepi32_storeu_epi8(y + 18, 0xffff, round_away_i32(_mm512_mul_ps(_mm512_loadu_ps(x + 16), vid)));
		}
	}
	for (int64_t b = 0; b < nb; b++, src += QK, dst += Q8_0_BYTES) {
		__m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16);
		if (_mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q)) {
			mc_q8_0_block(dst, src); // NaN: ggml's order-dependent MAX, done in order
			continue;
		}
		const float amax = hmax_abs32(x0, x1);
		const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
		const uint16_t h = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		memcpy(dst, &h, 2);
		const __m512 vid = _mm512_set1_ps(id);
		_mm512_mask_cvtepi32_storeu_epi8(dst + 2, 0xffff, round_away_i32(_mm512_mul_ps(x0, vid)));
		_mm512_mask_cvtepi32_storeu_epi8(dst + 18, 0xffff, round_away_i32(_mm512_mul_ps(x1, vid)));
	}
}

void KTGT mc_dq8_0_avx512(float *dst, const uint8_t *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += Q8_0_BYTES, dst += QK) {
		uint16_t h;
		memcpy(&h, src, 2);
		const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
		__m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(src + 2)));
		__m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(src + 18)));
		_mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d));
		_mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d));
	}
}

static inline KTGT __m512i q4_nib(__m512 x, __m512 id) {
	__m512i i = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(x, id), _mm512_set1_ps(8.5f)));
	i = _mm512_srai_epi32(_mm512_slli_epi32(i, 24), 24); // (int8_t)
	return _mm512_and_si512(_mm512_min_epi32(i, _mm512_set1_epi32(15)), _mm512_set1_epi32(15));
}

void KTGT mc_q4_0_avx512(uint8_t *dst, const float *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += QK, dst += Q4_0_BYTES) {
		__m512 x0 = _mm512_loadu_ps(src), x1 = _mm512_loadu_ps(src + 16);
		if (_mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q)) {
			mc_q4_0_block(dst, src);
			continue;
		}
		const float amax = hmax_abs32(x0, x1);
		float max = 0.0f; // the first value of largest magnitude, as ggml's strict '<' finds it
		if (amax > 0.0f) {
			const __m512 va = _mm512_set1_ps(amax);
			uint32_t m = (uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(x0), va, _CMP_EQ_OQ) |
			             ((uint32_t)_mm512_cmp_ps_mask(_mm512_abs_ps(x1), va, _CMP_EQ_OQ) << 16);
			max = src[__builtin_ctz(m)];
		}
		const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
		const uint16_t h = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		memcpy(dst, &h, 2);
		const __m512 vid = _mm512_set1_ps(id);
		__m512i q = _mm512_or_si512(q4_nib(x0, vid), _mm512_slli_epi32(q4_nib(x1, vid), 4));
		_mm512_mask_cvtepi32_storeu_epi8(dst + 2, 0xffff, q);
	}
}

void KTGT mc_dq4_0_avx512(float *dst, const uint8_t *src, int64_t nb) {
	const __m512i lowm = _mm512_set1_epi32(15), eight = _mm512_set1_epi32(8);
	for (int64_t b = 0; b < nb; b++, src += Q4_0_BYTES, dst += QK) {
		uint16_t h;
		memcpy(&h, src, 2);
		const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
		__m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + 2)));
		__m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, lowm), eight), hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
		_mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
		_mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
	}
}

// ---- activations -------------------------------------------------------------------------------

// e^x and SiLU: ep_exp and ep_silu (epilogue_avx512.h), shared with the kernels that
// apply the epilogue in registers.

// erfc(|z|) by the Numerical Recipes Chebyshev fit (relative error < 1.2e-7).
static inline KTGT __m512 erfc_abs16(__m512 az) {
	const __m512 one = _mm512_set1_ps(1.0f);
	__m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), az, one));
	__m512 p = _mm512_set1_ps(0.17087277f);
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
	p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
	__m512 e = _mm512_sub_ps(p, _mm512_mul_ps(az, az));
	return _mm512_mul_ps(t, ep_exp(e));
}

#define ACT_LOOP(NAME, EXPR)                                                   \
	void KTGT NAME(float *dst, const float *src, int64_t n) {                  \
		for (int64_t i = 0; i < n; i += 16) {                                  \
			__mmask16 m = tailmask(n - i);                                     \
			__m512 x = _mm512_maskz_loadu_ps(m, src + i);                      \
			_mm512_mask_storeu_ps(dst + i, m, EXPR);                           \
		}                                                                      \
	}

static inline KTGT __m512 gelu16(__m512 x) {
	const __m512 half = _mm512_set1_ps(0.5f);
	__m512 ec = erfc_abs16(_mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f)));
	// x ≥ 0: x·(1 − erfc/2); x < 0: x·erfc/2
	__m512 pos = _mm512_mul_ps(x, _mm512_fnmadd_ps(half, ec, _mm512_set1_ps(1.0f)));
	__m512 neg = _mm512_mul_ps(_mm512_mul_ps(x, half), ec);
	return _mm512_mask_mov_ps(pos, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), neg);
}


ACT_LOOP(mc_relu_avx512, _mm512_max_ps(x, _mm512_setzero_ps()))
ACT_LOOP(mc_exp_avx512, ep_exp(x))
ACT_LOOP(mc_gelu_avx512, gelu16(x))
ACT_LOOP(mc_silu_avx512, ep_silu(x))

void KTGT mc_softmax_rows_avx512(float *dst, const float *src, int64_t rows, int64_t cols) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * cols;
		float *y = dst + r * cols;
		__m512 mx = _mm512_set1_ps(-INFINITY);
		for (int64_t i = 0; i < cols; i += 16) {
			__mmask16 m = tailmask(cols - i);
			mx = _mm512_mask_max_ps(mx, m, _mm512_maskz_loadu_ps(m, x + i), mx);
		}
		const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
		__m512 s = _mm512_setzero_ps();
		for (int64_t i = 0; i < cols; i += 16) {
			__mmask16 m = tailmask(cols - i);
			__m512 e = ep_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm));
			s = _mm512_mask_add_ps(s, m, s, e);
			_mm512_mask_storeu_ps(y + i, m, e);
		}
		const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
		for (int64_t i = 0; i < cols; i += 16) {
			__mmask16 m = tailmask(cols - i);
			_mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), inv));
		}
	}
}

// ---- Q4_K / Q5_K sub-block fit: 16 sub-blocks per step, one per lane (kquant_simd.h) -----------

#define KQ_W 16
#define KQ_TGT KTGT
#define KQ_FN mc_fit_qkx2_avx512
#define KQX_FN mc_fit_qx_avx512
#include "kquant_simd.h"

// ---- recurrent cells (LSTM, GRU with linear_before_reset) -------------------------------------
// One pass per step over the gate rows: the activations and the state update stay in
// registers. σ(x) = 1/(1+e^−x); tanh(x) = 1 − 2/(e^{2x}+1), whose absolute error stays
// below 2⁻²¹ (the cancellation near 0 costs relative, not absolute, accuracy).

static inline KTGT __m512 sigm16(__m512 x) {
	return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), ep_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline KTGT __m512 tanh16(__m512 x) {
	__m512 e = ep_exp(_mm512_add_ps(x, x));
	return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
}

// g = hr + xw holds the gates i, o, f, c (ONNX order), each n wide.
void KTGT mc_lstm_cell_avx512(const float *hr, const float *xw, float *c, float *h, int64_t n) {
	for (int64_t j = 0; j < n; j += 16) {
		__mmask16 m = tailmask(n - j);
#define GATE(k) _mm512_add_ps(_mm512_maskz_loadu_ps(m, hr + (k) * n + j), _mm512_maskz_loadu_ps(m, xw + (k) * n + j))
		__m512 gi = sigm16(GATE(0)), go = sigm16(GATE(1)), gf = sigm16(GATE(2)), gc = tanh16(GATE(3));
#undef GATE
		__m512 cn = _mm512_fmadd_ps(gf, _mm512_maskz_loadu_ps(m, c + j), _mm512_mul_ps(gi, gc));
		_mm512_mask_storeu_ps(c + j, m, cn);
		_mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(go, tanh16(cn)));
	}
}

// Gates z, r, h: z, r = σ(xw + hr); ĥ = tanh(xw_h + r·hr_h); h = (1−z)·ĥ + z·h.
void KTGT mc_gru_cell_lbr_avx512(const float *hr, const float *xw, float *h, int64_t n) {
	for (int64_t j = 0; j < n; j += 16) {
		__mmask16 m = tailmask(n - j);
		__m512 z = sigm16(_mm512_add_ps(_mm512_maskz_loadu_ps(m, hr + j), _mm512_maskz_loadu_ps(m, xw + j)));
		__m512 r = sigm16(_mm512_add_ps(_mm512_maskz_loadu_ps(m, hr + n + j), _mm512_maskz_loadu_ps(m, xw + n + j)));
		__m512 hh = tanh16(_mm512_fmadd_ps(r, _mm512_maskz_loadu_ps(m, hr + 2 * n + j), _mm512_maskz_loadu_ps(m, xw + 2 * n + j)));
		__m512 hp = _mm512_maskz_loadu_ps(m, h + j);
		_mm512_mask_storeu_ps(h + j, m, _mm512_fmadd_ps(z, _mm512_sub_ps(hp, hh), hh));
	}
}
