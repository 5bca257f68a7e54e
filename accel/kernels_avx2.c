//go:build amd64 && cgo && !purego

// AVX2 + FMA + F16C kernels. Every function carries its own target attribute (the file
// is compiled for baseline x86-64). Tails shorter than a vector go through a small
// zero-padded buffer and the same vector code, so they round exactly like the body.
#include "kernels.h"
#include <immintrin.h>

#define KTGT __attribute__((target("avx2,fma,f16c")))

// ---- f32 GEMM: 6×16 micro-kernel (12 ymm accumulators) -------------------------------------

#define MR 6
#define NR 16
#define KC 256
#define MC 96
#define NC 512

static inline KTGT void ukr_avx2(int64_t kc, const float *pa, const float *pb, float *acc) {
	__m256 c0[MR], c1[MR];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
	for (int64_t p = 0; p < kc; p++) {
		const __m256 b0 = _mm256_load_ps(pb + p * NR), b1 = _mm256_load_ps(pb + p * NR + 8);
#pragma GCC unroll 6
		for (int i = 0; i < MR; i++) {
			const __m256 av = _mm256_broadcast_ss(pa + p * MR + i);
			c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
			c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
		}
	}
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++) { _mm256_store_ps(acc + i * NR, c0[i]); _mm256_store_ps(acc + i * NR + 8, c1[i]); }
}

#define UKR ukr_avx2
#define SGEMM_FN mc_sgemm_avx2
#include "gemm_f32_driver.h"

#define DWCONV_FN mc_dwconv2d_avx2
#include "dwconv_driver.h"

#define BIASACT_FN mc_bias_act_avx2
#define ADDACT_FN mc_add_act_avx2
#include "biasact_driver.h"

#define MAXPOOL_FN mc_maxpool2d_avx2
#include "maxpool_driver.h"

// ---- int8 GEMM with vpmaddwd: operands widened to int16 pairs, exact (no saturation) -------

#define IMR 6
#define INR 16
#define IKC 512
#define IMC 96
#define INC 512

static void KTGT ipack_a_w(int16_t *pa, const void *a, int u8, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc) {
	int64_t kp = (kc + 1) / 2;
	for (int64_t s = 0; s < mc; s += IMR) {
		int64_t mr = mc - s < IMR ? mc - s : IMR;
		int16_t *d = pa + s * kp * 2;
		for (int64_t i = 0; i < IMR; i++) {
			for (int64_t p = 0; p < kp * 2; p++) {
				int16_t v = 0;
				if (i < mr && p < kc) {
					int64_t idx = (i0 + s + i) * lda + p0 + p;
					v = u8 ? (int16_t)((const uint8_t *)a)[idx] : (int16_t)((const int8_t *)a)[idx];
				}
				d[((p >> 1) * IMR + i) * 2 + (p & 1)] = v;
			}
		}
	}
}

static void KTGT ipack_b_w(int16_t *pb, const int8_t *b, int trans, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc) {
	int64_t kp = (kc + 1) / 2;
	for (int64_t s = 0; s < nc; s += INR) {
		int64_t nr = nc - s < INR ? nc - s : INR;
		int16_t *d = pb + s * kp * 2;
		for (int64_t p = 0; p < kp * 2; p++) {
			for (int64_t j = 0; j < INR; j++) {
				int16_t v = 0;
				if (j < nr && p < kc) v = trans ? b[(j0 + s + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + s + j];
				d[((p >> 1) * INR + j) * 2 + (p & 1)] = v;
			}
		}
	}
}

static inline KTGT void iukr_avx2(int64_t kp, const int16_t *pa, const int16_t *pb, int32_t *acc) {
	__m256i c0[IMR], c1[IMR];
#pragma GCC unroll 6
	for (int i = 0; i < IMR; i++) { c0[i] = _mm256_setzero_si256(); c1[i] = _mm256_setzero_si256(); }
	for (int64_t q = 0; q < kp; q++) {
		const __m256i b0 = _mm256_load_si256((const __m256i *)(pb + q * INR * 2));
		const __m256i b1 = _mm256_load_si256((const __m256i *)(pb + q * INR * 2 + 16));
#pragma GCC unroll 6
		for (int i = 0; i < IMR; i++) {
			int32_t w;
			memcpy(&w, pa + (q * IMR + i) * 2, 4);
			const __m256i av = _mm256_set1_epi32(w);
			c0[i] = _mm256_add_epi32(c0[i], _mm256_madd_epi16(av, b0));
			c1[i] = _mm256_add_epi32(c1[i], _mm256_madd_epi16(av, b1));
		}
	}
#pragma GCC unroll 6
	for (int i = 0; i < IMR; i++) {
		_mm256_store_si256((__m256i *)(acc + i * INR), c0[i]);
		_mm256_store_si256((__m256i *)(acc + i * INR + 8), c1[i]);
	}
}

static void KTGT igemm_avx2(int trans, int64_t m, int64_t n, int64_t k, const void *a, int u8, int64_t lda,
                            const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	if (m <= 0 || n <= 0) return;
	for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * 4);
	if (k <= 0) return;
	const int64_t kcmax = ((k < IKC ? k : IKC) + 1) / 2 * 2;
	const int64_t ncmax = ((n < INC ? n : INC) + INR - 1) / INR * INR;
	const int64_t mcmax = ((m < IMC ? m : IMC) + IMR - 1) / IMR * IMR;
	int16_t *pa = (int16_t *)mc_alloc((size_t)(mcmax * kcmax) * 2);
	int16_t *pb = (int16_t *)mc_alloc((size_t)(ncmax * kcmax) * 2);
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	if (!pa || !pb) abort();
	for (int64_t jc = 0; jc < n; jc += INC) {
		int64_t nc = n - jc < INC ? n - jc : INC;
		for (int64_t pc = 0; pc < k; pc += IKC) {
			int64_t kc = k - pc < IKC ? k - pc : IKC, kp = (kc + 1) / 2;
			ipack_b_w(pb, b, trans, ldb, pc, jc, kc, nc);
			for (int64_t ic = 0; ic < m; ic += IMC) {
				int64_t mc = m - ic < IMC ? m - ic : IMC;
				ipack_a_w(pa, a, u8, lda, ic, pc, mc, kc);
				for (int64_t ir = 0; ir < mc; ir += IMR) {
					int64_t mr = mc - ir < IMR ? mc - ir : IMR;
					for (int64_t jr = 0; jr < nc; jr += INR) {
						int64_t nr = nc - jr < INR ? nc - jr : INR;
						iukr_avx2(kp, pa + ir * kp * 2, pb + jr * kp * 2, acc);
						for (int64_t i = 0; i < mr; i++) {
							int32_t *ci = c + (ic + ir + i) * ldc + jc + jr;
							for (int64_t j = 0; j < nr; j++) ci[j] = (int32_t)((uint32_t)ci[j] + (uint32_t)acc[i * INR + j]);
						}
					}
				}
			}
		}
	}
	free(pa);
	free(pb);
}

void mc_gemm_s8s8_avx2(int trans, int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_avx2(trans, m, n, k, a, 0, lda, b, ldb, c, ldc);
}

void mc_gemm_u8s8_avx2(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_avx2(trans, m, n, k, a, 1, lda, b, ldb, c, ldc);
}

// ---- int8 GEMM on a B packed once (PackB8): ipack_b_w's panels over all of k ---------------
// Layout: panels of INR columns, panel j/INR at int16 j·kp·2, each [pair][column][2 k].
// A is widened IMR rows at a time (on the stack while k ≤ 2·IPK_STACK/(2·IMR)) and swept
// over a block of panels that stays in L2.

#define IPK_STACK 24576
#define IPK_L2 (256 * 1024)

void mc_pack_b8_avx2(int16_t *pb, const int8_t *b, int64_t k, int64_t n, int64_t ldb) {
	ipack_b_w(pb, b, 0, ldb, 0, 0, k, n);
}

static void KTGT igemm_avx2_packed(int64_t m, int64_t j0, int64_t j1, int64_t k, const void *a, int u8, int64_t lda,
                                   const int16_t *pb, const int32_t *colsum, int32_t azp, int32_t *c, int64_t ldc) {
	if (m <= 0 || j1 <= j0) return;
	if (k <= 0) {
		for (int64_t i = 0; i < m; i++) memset(c + i * ldc + j0, 0, (size_t)(j1 - j0) * 4);
		return;
	}
	const int64_t kp = (k + 1) / 2;
	int16_t sbuf[IPK_STACK / 2] __attribute__((aligned(64)));
	int16_t *pa = sbuf;
	if (IMR * kp * 4 > IPK_STACK) {
		pa = (int16_t *)mc_alloc((size_t)(IMR * kp * 4));
		if (!pa) abort();
	}
	int64_t npb = IPK_L2 / (INR * kp * 4);
	if (npb < 1) npb = 1;
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	for (int64_t jb = j0; jb < j1; jb += npb * INR) {
		const int64_t je = j1 - jb < npb * INR ? j1 : jb + npb * INR;
		for (int64_t ir = 0; ir < m; ir += IMR) {
			const int64_t mr = m - ir < IMR ? m - ir : IMR;
			ipack_a_w(pa, a, u8, lda, ir, 0, mr, k);
			for (int64_t jr = jb; jr < je; jr += INR) {
				const int64_t nr = je - jr < INR ? je - jr : INR;
				iukr_avx2(kp, pa, pb + jr * kp * 2, acc);
				if (!azp) {
					for (int64_t i = 0; i < mr; i++) memcpy(c + (ir + i) * ldc + jr, acc + i * INR, (size_t)nr * 4);
					continue;
				}
				for (int64_t i = 0; i < mr; i++) { // (a − azp)·b = a·b − azp·Σb, wrapping
					int32_t *ci = c + (ir + i) * ldc + jr;
					for (int64_t j = 0; j < nr; j++)
						ci[j] = (int32_t)((uint32_t)acc[i * INR + j] - (uint32_t)azp * (uint32_t)colsum[jr + j]);
				}
			}
		}
	}
	if (pa != sbuf) free(pa);
}

void mc_gemm_s8s8_packed_avx2(int64_t m, int64_t j0, int64_t j1, int64_t k, const int8_t *a, int64_t lda,
                              const int16_t *pb, const int32_t *colsum, int32_t azp, int32_t *c, int64_t ldc) {
	igemm_avx2_packed(m, j0, j1, k, a, 0, lda, pb, colsum, azp, c, ldc);
}

void mc_gemm_u8s8_packed_avx2(int64_t m, int64_t j0, int64_t j1, int64_t k, const uint8_t *a, int64_t lda,
                              const int16_t *pb, const int32_t *colsum, int32_t azp, int32_t *c, int64_t ldc) {
	igemm_avx2_packed(m, j0, j1, k, a, 1, lda, pb, colsum, azp, c, ldc);
}

// ---- helpers -------------------------------------------------------------------------------------

static inline KTGT __m256 abs8(__m256 x) { return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }

static inline KTGT float hmax8(__m256 v) {
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}

static inline KTGT float hmin8(__m256 v) {
	__m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_min_ps(m, _mm_movehl_ps(m, m));
	m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}

static inline KTGT float hsum8(__m256 v) {
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

// The low byte of each int32 lane, as 8 bytes.
static inline KTGT uint64_t lowbytes8(__m256i v) {
	const __m256i sh = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	                                    0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256i t = _mm256_shuffle_epi8(v, sh);
	return (uint64_t)(uint32_t)_mm256_extract_epi32(t, 0) | ((uint64_t)(uint32_t)_mm256_extract_epi32(t, 4) << 32);
}

// ---- conversions ----------------------------------------------------------------------------------

void KTGT mc_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++) dst[i] = mc_f32_to_f16(src[i]);
}

void KTGT mc_f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
	for (; i < n; i++) dst[i] = mc_f16_to_f32(src[i]);
}

static inline KTGT __m128i bf16x8(__m256i x) {
	const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
	__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, absm), inf);
	__m256i r = _mm256_add_epi32(x, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1))));
	r = _mm256_srli_epi32(r, 16);
	r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40)), nan);
	r = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xd8);
	return _mm256_castsi256_si128(r);
}

void KTGT mc_f32_to_bf16_avx2(uint16_t *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(dst + i), bf16x8(_mm256_loadu_si256((const __m256i *)(src + i))));
	for (; i < n; i++) dst[i] = mc_f32_to_bf16(src[i]);
}

void KTGT mc_bf16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i))), 16));
	for (; i < n; i++) { uint32_t u = (uint32_t)src[i] << 16; memcpy(dst + i, &u, 4); }
}

// ---- quantize / dequantize -----------------------------------------------------------------------

static inline KTGT __m256i quant8(__m256 x, __m256 s, __m256 z, __m256 lo, __m256 hi) {
	__m256 v = _mm256_div_ps(x, s);
	v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
	v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
	return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
}

#define QUANT_FN(NAME, T, LO, HI)                                                                     \
	void KTGT NAME(T *dst, const float *src, int64_t g0, int64_t n, int64_t inner, int64_t ch,       \
	               const float *scale, const T *zp) {                                                \
		const __m256 lo = _mm256_set1_ps(LO), hi = _mm256_set1_ps(HI);                                \
		int64_t i = 0;                                                                                \
		if (ch == 1) inner = n + 1;                                                                   \
		if (inner == 1) {                                                                             \
			while (i < n) {                                                                           \
				int64_t c = (g0 + i) % ch, len = ch - c < n - i ? ch - c : n - i, j = 0;              \
				for (; j + 8 <= len; j += 8) {                                                        \
					__m256 z = _mm256_setr_ps(zp[c + j], zp[c + j + 1], zp[c + j + 2], zp[c + j + 3], \
					                          zp[c + j + 4], zp[c + j + 5], zp[c + j + 6], zp[c + j + 7]); \
					__m256i q = quant8(_mm256_loadu_ps(src + i + j), _mm256_loadu_ps(scale + c + j), z, lo, hi); \
					uint64_t w = lowbytes8(q);                                                        \
					memcpy(dst + i + j, &w, 8);                                                       \
				}                                                                                     \
				for (; j < len; j++) dst[i + j] = (T)mc_quant1(src[i + j], scale[c + j], zp[c + j], (int32_t)LO, (int32_t)HI); \
				i += len;                                                                             \
			}                                                                                         \
			return;                                                                                   \
		}                                                                                             \
		while (i < n) {                                                                               \
			int64_t row = (g0 + i) / inner, c = row % ch, end = (row + 1) * inner - g0;               \
			if (end > n) end = n;                                                                     \
			const __m256 s = _mm256_set1_ps(scale[c]), z = _mm256_set1_ps((float)zp[c]);             \
			for (; i + 8 <= end; i += 8) {                                                            \
				uint64_t w = lowbytes8(quant8(_mm256_loadu_ps(src + i), s, z, lo, hi));               \
				memcpy(dst + i, &w, 8);                                                               \
			}                                                                                         \
			for (; i < end; i++) dst[i] = (T)mc_quant1(src[i], scale[c], zp[c], (int32_t)LO, (int32_t)HI); \
		}                                                                                             \
	}

QUANT_FN(mc_quant_s8_avx2, int8_t, -128.0f, 127.0f)
QUANT_FN(mc_quant_u8_avx2, uint8_t, 0.0f, 255.0f)

#define DEQUANT_FN(NAME, T, CVT)                                                                       \
	void KTGT NAME(float *dst, const T *src, int64_t g0, int64_t n, int64_t inner, int64_t ch,        \
	               const float *scale, const T *zp) {                                                 \
		int64_t i = 0;                                                                                 \
		if (ch == 1) inner = n + 1;                                                                    \
		while (i < n) {                                                                                \
			int64_t row = (g0 + i) / inner, c = row % ch, end = (row + 1) * inner - g0;                \
			if (inner == 1) { end = i + 1; }                                                           \
			if (end > n) end = n;                                                                      \
			const __m256 s = _mm256_set1_ps(scale[c]);                                                 \
			const __m256i z = _mm256_set1_epi32((int32_t)zp[c]);                                       \
			for (; i + 8 <= end; i += 8) {                                                             \
				__m256i q = CVT(_mm_loadl_epi64((const __m128i *)(src + i)));                          \
				_mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s)); \
			}                                                                                          \
			for (; i < end; i++) dst[i] = (float)((int32_t)src[i] - (int32_t)zp[c]) * scale[c];        \
		}                                                                                              \
	}

DEQUANT_FN(mc_dequant_s8_avx2, int8_t, _mm256_cvtepi8_epi32)
DEQUANT_FN(mc_dequant_u8_avx2, uint8_t, _mm256_cvtepu8_epi32)

// ---- reductions -----------------------------------------------------------------------------------

void KTGT mc_minmax_rows_avx2(const float *src, int64_t rows, int64_t cols, int64_t ld, float *mn, float *mx) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m256 lo0 = _mm256_set1_ps(INFINITY), lo1 = lo0, hi0 = _mm256_set1_ps(-INFINITY), hi1 = hi0;
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16) {
			__m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
			lo0 = _mm256_min_ps(a, lo0); hi0 = _mm256_max_ps(a, hi0);
			lo1 = _mm256_min_ps(b, lo1); hi1 = _mm256_max_ps(b, hi1);
		}
		float lo = hmin8(_mm256_min_ps(lo0, lo1)), hi = hmax8(_mm256_max_ps(hi0, hi1));
		for (; i < cols; i++) { if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i]; }
		mn[r] = lo; mx[r] = hi;
	}
}

void KTGT mc_absmax_rows_avx2(const float *src, int64_t rows, int64_t cols, int64_t ld, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m256 m0 = _mm256_setzero_ps(), m1 = m0;
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16) {
			m0 = _mm256_max_ps(abs8(_mm256_loadu_ps(x + i)), m0);
			m1 = _mm256_max_ps(abs8(_mm256_loadu_ps(x + i + 8)), m1);
		}
		float m = hmax8(_mm256_max_ps(m0, m1));
		for (; i < cols; i++) { float a = fabsf(x[i]); if (a > m) m = a; }
		out[r] = m;
	}
}

void KTGT mc_sumsq_rows_avx2(const float *src, int64_t rows, int64_t cols, int64_t ld, double *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m256d s0 = _mm256_setzero_pd(), s1 = s0;
		int64_t i = 0;
		for (; i + 8 <= cols; i += 8) {
			__m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
			s0 = _mm256_fmadd_pd(a, a, s0); s1 = _mm256_fmadd_pd(b, b, s1);
		}
		double t[4];
		_mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
		double s = (t[0] + t[1]) + (t[2] + t[3]);
		for (; i < cols; i++) s += (double)x[i] * (double)x[i];
		out[r] = s;
	}
}

// ---- ggml Q8_0 / Q4_0 --------------------------------------------------------------------------------

static inline KTGT __m256i round_away8(__m256 q) {
	__m256 t = _mm256_round_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256 up = _mm256_cmp_ps(abs8(_mm256_sub_ps(q, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
	__m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(q, _mm256_set1_ps(-0.0f)));
	return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, one)));
}

static inline KTGT int has_nan32(const __m256 *x) {
	__m256 u = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(x[0], x[0], _CMP_UNORD_Q), _mm256_cmp_ps(x[1], x[1], _CMP_UNORD_Q)),
	                        _mm256_or_ps(_mm256_cmp_ps(x[2], x[2], _CMP_UNORD_Q), _mm256_cmp_ps(x[3], x[3], _CMP_UNORD_Q)));
	return _mm256_movemask_ps(u) != 0;
}

static inline KTGT float amax32(const __m256 *x) {
	return hmax8(_mm256_max_ps(_mm256_max_ps(abs8(x[0]), abs8(x[1])), _mm256_max_ps(abs8(x[2]), abs8(x[3]))));
}

// max |x| of 8 consecutive Q8_0 blocks at src, lane k for block k (a transposing
// reduction tree instead of 8 horizontal ones); *nan gets a bit per block holding NaN.
// max is exact and order-free for non-NaN values, so this is ggml's amax.
static inline KTGT __m256 amax8_blocks(const float *src, int *nan) {
	__m256 m[8];
	int bad = 0;
	for (int k = 0; k < 8; k++) {
		__m256 x[4];
		for (int v = 0; v < 4; v++) x[v] = _mm256_loadu_ps(src + k * QK + 8 * v);
		if (has_nan32(x)) bad |= 1 << k;
		m[k] = _mm256_max_ps(_mm256_max_ps(abs8(x[0]), abs8(x[1])), _mm256_max_ps(abs8(x[2]), abs8(x[3])));
	}
	__m256 t[4], u[2];
	for (int k = 0; k < 4; k++) // 128-bit lane h: block 2k+h
		t[k] = _mm256_max_ps(_mm256_permute2f128_ps(m[2 * k], m[2 * k + 1], 0x20), _mm256_permute2f128_ps(m[2 * k], m[2 * k + 1], 0x31));
	for (int k = 0; k < 2; k++) // lane j, elements 0-1: block 4k+j, 2-3: block 4k+2+j
		u[k] = _mm256_max_ps(_mm256_shuffle_ps(t[2 * k], t[2 * k + 1], 0x44), _mm256_shuffle_ps(t[2 * k], t[2 * k + 1], 0xEE));
	// element 4j+i: block j+2i
	const __m256 w = _mm256_max_ps(_mm256_shuffle_ps(u[0], u[1], 0x88), _mm256_shuffle_ps(u[0], u[1], 0xDD));
	*nan = bad;
	return _mm256_permutevar8x32_ps(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void KTGT mc_q8_0_avx2(uint8_t *dst, const float *src, int64_t nb) {
	// 8 blocks per step: their amax, d = amax/127, id = 1/d and f16(d) as vectors.
	for (; nb >= 8; nb -= 8, src += 8 * QK, dst += 8 * Q8_0_BYTES) {
		int nan;
		const __m256 amax = amax8_blocks(src, &nan);
		const __m256 d = _mm256_div_ps(amax, _mm256_set1_ps(127.0f));
		const __m256 nz = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ);
		float id[8];
		uint16_t h[8];
		_mm256_storeu_ps(id, _mm256_and_ps(nz, _mm256_div_ps(_mm256_set1_ps(1.0f), d)));
		_mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
		for (int k = 0; k < 8; k++) {
			uint8_t *y = dst + k * Q8_0_BYTES;
			const float *xs = src + k * QK;
			if (nan >> k & 1) {
				mc_q8_0_block(y, xs); // NaN: ggml's order-dependent MAX, done in order
				continue;
			}
			memcpy(y, &h[k], 2);
			const __m256 vid = _mm256_set1_ps(id[k]);
			for (int v = 0; v < 4; v++) {
				uint64_t w = lowbytes8(round_away8(_mm256_mul_ps(_mm256_loadu_ps(xs + 8 * v), vid)));
				memcpy(y + 2 + 8 * v, &w, 8);
			}
		}
	}
	for (int64_t b = 0; b < nb; b++, src += QK, dst += Q8_0_BYTES) {
		__m256 x[4];
		for (int v = 0; v < 4; v++) x[v] = _mm256_loadu_ps(src + 8 * v);
		if (has_nan32(x)) { mc_q8_0_block(dst, src); continue; }
		const float amax = amax32(x);
		const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
		const uint16_t h = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		memcpy(dst, &h, 2);
		const __m256 vid = _mm256_set1_ps(id);
		for (int v = 0; v < 4; v++) {
			uint64_t w = lowbytes8(round_away8(_mm256_mul_ps(x[v], vid)));
			memcpy(dst + 2 + 8 * v, &w, 8);
		}
	}
}

void KTGT mc_dq8_0_avx2(float *dst, const uint8_t *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += Q8_0_BYTES, dst += QK) {
		uint16_t h;
		memcpy(&h, src, 2);
		const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
		for (int v = 0; v < 4; v++) {
			__m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + 2 + 8 * v)));
			_mm256_storeu_ps(dst + 8 * v, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
		}
	}
}

static inline KTGT __m256i q4_nib8(__m256 x, __m256 id) {
	__m256i i = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(x, id), _mm256_set1_ps(8.5f)));
	i = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
	return _mm256_and_si256(_mm256_min_epi32(i, _mm256_set1_epi32(15)), _mm256_set1_epi32(15));
}

void KTGT mc_q4_0_avx2(uint8_t *dst, const float *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += QK, dst += Q4_0_BYTES) {
		__m256 x[4];
		for (int v = 0; v < 4; v++) x[v] = _mm256_loadu_ps(src + 8 * v);
		if (has_nan32(x)) { mc_q4_0_block(dst, src); continue; }
		const float amax = amax32(x);
		float max = 0.0f;
		if (amax > 0.0f) {
			const __m256 va = _mm256_set1_ps(amax);
			uint32_t m = 0;
			for (int v = 0; v < 4; v++) m |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(abs8(x[v]), va, _CMP_EQ_OQ)) << (8 * v);
			max = src[__builtin_ctz(m)];
		}
		const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
		const uint16_t h = (uint16_t)_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
		memcpy(dst, &h, 2);
		const __m256 vid = _mm256_set1_ps(id);
		for (int v = 0; v < 2; v++) {
			__m256i q = _mm256_or_si256(q4_nib8(x[v], vid), _mm256_slli_epi32(q4_nib8(x[v + 2], vid), 4));
			uint64_t w = lowbytes8(q);
			memcpy(dst + 2 + 8 * v, &w, 8);
		}
	}
}

void KTGT mc_dq4_0_avx2(float *dst, const uint8_t *src, int64_t nb) {
	const __m256i lowm = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
	for (int64_t b = 0; b < nb; b++, src += Q4_0_BYTES, dst += QK) {
		uint16_t h;
		memcpy(&h, src, 2);
		const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
		for (int v = 0; v < 2; v++) {
			__m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + 2 + 8 * v)));
			__m256i lo = _mm256_sub_epi32(_mm256_and_si256(q, lowm), eight), hi = _mm256_sub_epi32(_mm256_srli_epi32(q, 4), eight);
			_mm256_storeu_ps(dst + 8 * v, _mm256_mul_ps(_mm256_cvtepi32_ps(lo), d));
			_mm256_storeu_ps(dst + 16 + 8 * v, _mm256_mul_ps(_mm256_cvtepi32_ps(hi), d));
		}
	}
}

// ---- activations ---------------------------------------------------------------------------------------

static inline KTGT __m256 exp8(__m256 x) {
	x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
	return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static inline KTGT __m256 erfc_abs8(__m256 az) {
	const __m256 one = _mm256_set1_ps(1.0f);
	__m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), az, one));
	__m256 p = _mm256_set1_ps(0.17087277f);
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
	p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
	return _mm256_mul_ps(t, exp8(_mm256_sub_ps(p, _mm256_mul_ps(az, az))));
}

static inline KTGT __m256 gelu8(__m256 x) {
	const __m256 half = _mm256_set1_ps(0.5f);
	__m256 ec = erfc_abs8(_mm256_mul_ps(abs8(x), _mm256_set1_ps(0.70710678118654752f)));
	__m256 pos = _mm256_mul_ps(x, _mm256_fnmadd_ps(half, ec, _mm256_set1_ps(1.0f)));
	__m256 neg = _mm256_mul_ps(_mm256_mul_ps(x, half), ec);
	return _mm256_blendv_ps(pos, neg, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

static inline KTGT __m256 silu8(__m256 x) {
	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

#define ACT_LOOP(NAME, EXPR)                                                   \
	void KTGT NAME(float *dst, const float *src, int64_t n) {                  \
		int64_t i = 0;                                                         \
		for (; i + 8 <= n; i += 8) {                                           \
			__m256 x = _mm256_loadu_ps(src + i);                               \
			_mm256_storeu_ps(dst + i, EXPR);                                   \
		}                                                                      \
		if (i < n) {                                                           \
			float t[8] = {0};                                                  \
			memcpy(t, src + i, (size_t)(n - i) * 4);                           \
			__m256 x = _mm256_loadu_ps(t);                                     \
			_mm256_storeu_ps(t, EXPR);                                         \
			memcpy(dst + i, t, (size_t)(n - i) * 4);                           \
		}                                                                      \
	}

ACT_LOOP(mc_relu_avx2, _mm256_max_ps(x, _mm256_setzero_ps()))
ACT_LOOP(mc_exp_avx2, exp8(x))
ACT_LOOP(mc_gelu_avx2, gelu8(x))
ACT_LOOP(mc_silu_avx2, silu8(x))

void KTGT mc_softmax_rows_avx2(float *dst, const float *src, int64_t rows, int64_t cols) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * cols;
		float *y = dst + r * cols;
		__m256 mx = _mm256_set1_ps(-INFINITY);
		int64_t i = 0;
		for (; i + 8 <= cols; i += 8) mx = _mm256_max_ps(_mm256_loadu_ps(x + i), mx);
		float m = hmax8(mx);
		for (; i < cols; i++) if (x[i] > m) m = x[i];
		const __m256 vm = _mm256_set1_ps(m);
		__m256 s = _mm256_setzero_ps();
		for (i = 0; i + 8 <= cols; i += 8) {
			__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
			s = _mm256_add_ps(s, e);
			_mm256_storeu_ps(y + i, e);
		}
		float sum = hsum8(s);
		if (i < cols) {
			float t[8];
			for (int j = 0; j < 8; j++) t[j] = i + j < cols ? x[i + j] : -INFINITY;
			__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(t), vm));
			_mm256_storeu_ps(t, e);
			for (int j = 0; i + j < cols; j++) { y[i + j] = t[j]; sum += t[j]; }
		}
		const __m256 inv = _mm256_set1_ps(1.0f / sum);
		for (i = 0; i + 8 <= cols; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
		for (; i < cols; i++) y[i] = y[i] * (1.0f / sum);
	}
}

// ---- Q4_K / Q5_K sub-block fit: 8 sub-blocks per step, one per lane (kquant_simd.h) ------------

#define KQ_W 8
#define KQ_TGT KTGT
#define KQ_FN mc_fit_qkx2_avx2
#define KQX_FN mc_fit_qx_avx2
#include "kquant_simd.h"

// ---- recurrent cells (LSTM, GRU with linear_before_reset); see kernels_avx512.c ----------------

static inline KTGT __m256 sigm8(__m256 x) {
	return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

static inline KTGT __m256 tanh8(__m256 x) {
	__m256 e = exp8(_mm256_add_ps(x, x));
	return _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}

// The vector body; a tail under 8 goes through zero-padded copies.
static inline KTGT void lstm8(const float *hr, const float *xw, float *c, float *h, int64_t n, int64_t j) {
#define GATE(k) _mm256_add_ps(_mm256_loadu_ps(hr + (k) * n + j), _mm256_loadu_ps(xw + (k) * n + j))
	__m256 gi = sigm8(GATE(0)), go = sigm8(GATE(1)), gf = sigm8(GATE(2)), gc = tanh8(GATE(3));
#undef GATE
	__m256 cn = _mm256_fmadd_ps(gf, _mm256_loadu_ps(c + j), _mm256_mul_ps(gi, gc));
	_mm256_storeu_ps(c + j, cn);
	_mm256_storeu_ps(h + j, _mm256_mul_ps(go, tanh8(cn)));
}

void KTGT mc_lstm_cell_avx2(const float *hr, const float *xw, float *c, float *h, int64_t n) {
	int64_t j = 0;
	for (; j + 8 <= n; j += 8) lstm8(hr, xw, c, h, n, j);
	if (j < n) {
		int64_t r = n - j;
		float thr[32] = {0}, txw[32] = {0}, tc[8] = {0}, th[8] = {0};
		for (int k = 0; k < 4; k++) {
			memcpy(thr + 8 * k, hr + k * n + j, (size_t)r * 4);
			memcpy(txw + 8 * k, xw + k * n + j, (size_t)r * 4);
		}
		memcpy(tc, c + j, (size_t)r * 4);
		lstm8(thr, txw, tc, th, 8, 0);
		memcpy(c + j, tc, (size_t)r * 4);
		memcpy(h + j, th, (size_t)r * 4);
	}
}

static inline KTGT void gru8(const float *hr, const float *xw, float *h, int64_t n, int64_t j) {
	__m256 z = sigm8(_mm256_add_ps(_mm256_loadu_ps(hr + j), _mm256_loadu_ps(xw + j)));
	__m256 r = sigm8(_mm256_add_ps(_mm256_loadu_ps(hr + n + j), _mm256_loadu_ps(xw + n + j)));
	__m256 hh = tanh8(_mm256_fmadd_ps(r, _mm256_loadu_ps(hr + 2 * n + j), _mm256_loadu_ps(xw + 2 * n + j)));
	__m256 hp = _mm256_loadu_ps(h + j);
	_mm256_storeu_ps(h + j, _mm256_fmadd_ps(z, _mm256_sub_ps(hp, hh), hh));
}

void KTGT mc_gru_cell_lbr_avx2(const float *hr, const float *xw, float *h, int64_t n) {
	int64_t j = 0;
	for (; j + 8 <= n; j += 8) gru8(hr, xw, h, n, j);
	if (j < n) {
		int64_t r = n - j;
		float thr[24] = {0}, txw[24] = {0}, th[8] = {0};
		for (int k = 0; k < 3; k++) {
			memcpy(thr + 8 * k, hr + k * n + j, (size_t)r * 4);
			memcpy(txw + 8 * k, xw + k * n + j, (size_t)r * 4);
		}
		memcpy(th, h + j, (size_t)r * 4);
		gru8(thr, txw, th, 8, 0);
		memcpy(h + j, th, (size_t)r * 4);
	}
}
