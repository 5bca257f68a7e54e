//go:build arm64 && cgo && !purego

// NEON (Advanced SIMD) kernels for arm64. NEON is part of the arm64 baseline; the int8
// GEMM's sdot path carries target("arch=armv8.2-a+dotprod") and runs only when cpuid reports ASIMDDP.
// Kernels without a NEON version here use the Go reference (the report says so).
#include "kernels.h"
#include <arm_neon.h>

#define KTGT

// ---- f32 GEMM: 8×12 micro-kernel (24 q-register accumulators, fmla by lane) -------------

#define MR 8
#define NR 12
#define KC 256
#define MC 96
#define NC 384

#define ROW(i, av, lane)                                       \
	c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, lane);          \
	c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, lane);          \
	c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, lane);
#define DECL(i) float32x4_t c##i##0 = vdupq_n_f32(0), c##i##1 = c##i##0, c##i##2 = c##i##0;
#define OUT(i)                                      \
	vst1q_f32(acc + (i) * NR, c##i##0);             \
	vst1q_f32(acc + (i) * NR + 4, c##i##1);         \
	vst1q_f32(acc + (i) * NR + 8, c##i##2);

static inline void ukr_neon(int64_t kc, const float *pa, const float *pb, float *acc) {
	DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7)
	for (int64_t p = 0; p < kc; p++) {
		const float32x4_t b0 = vld1q_f32(pb + p * NR), b1 = vld1q_f32(pb + p * NR + 4), b2 = vld1q_f32(pb + p * NR + 8);
		const float32x4_t a0 = vld1q_f32(pa + p * MR), a1 = vld1q_f32(pa + p * MR + 4);
		ROW(0, a0, 0) ROW(1, a0, 1) ROW(2, a0, 2) ROW(3, a0, 3)
		ROW(4, a1, 0) ROW(5, a1, 1) ROW(6, a1, 2) ROW(7, a1, 3)
	}
	OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7)
}

#define UKR ukr_neon
#define SGEMM_FN mc_sgemm_neon
#include "gemm_f32_driver.h"

#define DWCONV_FN mc_dwconv2d_neon
#include "dwconv_driver.h"

#define BIASACT_FN mc_bias_act_neon
#define ADDACT_FN mc_add_act_neon
#include "biasact_driver.h"

#define MAXPOOL_FN mc_maxpool2d_neon
#include "maxpool_driver.h"

// ---- int8 GEMM -------------------------------------------------------------------------------
// dotprod: sdot by lane on k-quads (A 8 rows, B 12 columns); uint8 A is shifted to int8
// (a−128) and 128·Σb is added back. Without dotprod: int16 widening, smlal by lane.

#define IMR 8
#define INR 12
#define IKC 512
#define IMC 96
#define INC 384

static void ipack_a_q(int8_t *pa, const uint8_t *a, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc, uint8_t flip) {
	int64_t kq = (kc + 3) / 4;
	for (int64_t s = 0; s < mc; s += IMR) {
		int64_t mr = mc - s < IMR ? mc - s : IMR;
		int8_t *d = pa + s * kq * 4;
		for (int64_t i = 0; i < IMR; i++) {
			const uint8_t *src = a + (i0 + s + i) * lda + p0;
			for (int64_t p = 0; p < kq * 4; p++)
				d[((p >> 2) * IMR + i) * 4 + (p & 3)] = (i < mr && p < kc) ? (int8_t)(src[p] ^ flip) : 0;
		}
	}
}

static void ipack_b_q(int8_t *pb, int32_t *colsum, const int8_t *b, int trans, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc) {
	int64_t kq = (kc + 3) / 4;
	for (int64_t s = 0; s < nc; s += INR) {
		int64_t nr = nc - s < INR ? nc - s : INR;
		int8_t *d = pb + s * kq * 4;
		for (int64_t j = 0; j < INR; j++) {
			int32_t sum = 0;
			for (int64_t p = 0; p < kq * 4; p++) {
				int8_t v = 0;
				if (j < nr && p < kc) v = trans ? b[(j0 + s + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + s + j];
				sum += v;
				d[((p >> 2) * INR + j) * 4 + (p & 3)] = v;
			}
			colsum[s + j] = sum;
		}
	}
}

#define IDECL(i) int32x4_t c##i##0 = vdupq_n_s32(0), c##i##1 = c##i##0, c##i##2 = c##i##0;
#define IROW(i, av, lane)                                   \
	c##i##0 = vdotq_laneq_s32(c##i##0, b0, av, lane);       \
	c##i##1 = vdotq_laneq_s32(c##i##1, b1, av, lane);       \
	c##i##2 = vdotq_laneq_s32(c##i##2, b2, av, lane);
#define IOUT(i)                                     \
	vst1q_s32(acc + (i) * INR, c##i##0);            \
	vst1q_s32(acc + (i) * INR + 4, c##i##1);        \
	vst1q_s32(acc + (i) * INR + 8, c##i##2);

__attribute__((target("arch=armv8.2-a+dotprod"))) static void iukr_sdot(int64_t kq, const int8_t *pa, const int8_t *pb, int32_t *acc) {
	IDECL(0) IDECL(1) IDECL(2) IDECL(3) IDECL(4) IDECL(5) IDECL(6) IDECL(7)
	for (int64_t q = 0; q < kq; q++) {
		const int8x16_t b0 = vld1q_s8(pb + q * INR * 4), b1 = vld1q_s8(pb + q * INR * 4 + 16), b2 = vld1q_s8(pb + q * INR * 4 + 32);
		const int8x16_t a0 = vld1q_s8(pa + q * IMR * 4), a1 = vld1q_s8(pa + q * IMR * 4 + 16);
		IROW(0, a0, 0) IROW(1, a0, 1) IROW(2, a0, 2) IROW(3, a0, 3)
		IROW(4, a1, 0) IROW(5, a1, 1) IROW(6, a1, 2) IROW(7, a1, 3)
	}
	IOUT(0) IOUT(1) IOUT(2) IOUT(3) IOUT(4) IOUT(5) IOUT(6) IOUT(7)
}

static void igemm_sdot(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc, uint8_t flip) {
	if (m <= 0 || n <= 0) return;
	for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * 4);
	if (k <= 0) return;
	const int64_t kcmax = ((k < IKC ? k : IKC) + 3) / 4 * 4;
	const int64_t ncmax = ((n < INC ? n : INC) + INR - 1) / INR * INR;
	const int64_t mcmax = ((m < IMC ? m : IMC) + IMR - 1) / IMR * IMR;
	int8_t *pa = (int8_t *)mc_alloc((size_t)(mcmax * kcmax));
	int8_t *pb = (int8_t *)mc_alloc((size_t)(ncmax * kcmax));
	int32_t *colsum = (int32_t *)mc_alloc((size_t)ncmax * 4);
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	if (!pa || !pb || !colsum) abort();
	for (int64_t jc = 0; jc < n; jc += INC) {
		int64_t nc = n - jc < INC ? n - jc : INC;
		for (int64_t pc = 0; pc < k; pc += IKC) {
			int64_t kc = k - pc < IKC ? k - pc : IKC, kq = (kc + 3) / 4;
			ipack_b_q(pb, colsum, b, trans, ldb, pc, jc, kc, nc);
			for (int64_t ic = 0; ic < m; ic += IMC) {
				int64_t mc = m - ic < IMC ? m - ic : IMC;
				ipack_a_q(pa, a, lda, ic, pc, mc, kc, flip);
				for (int64_t ir = 0; ir < mc; ir += IMR) {
					int64_t mr = mc - ir < IMR ? mc - ir : IMR;
					for (int64_t jr = 0; jr < nc; jr += INR) {
						int64_t nr = nc - jr < INR ? nc - jr : INR;
						iukr_sdot(kq, pa + ir * kq * 4, pb + jr * kq * 4, acc);
						for (int64_t i = 0; i < mr; i++) {
							int32_t *ci = c + (ic + ir + i) * ldc + jc + jr;
							for (int64_t j = 0; j < nr; j++)
								ci[j] = (int32_t)((uint32_t)ci[j] + (uint32_t)acc[i * INR + j] + (flip ? 128u * (uint32_t)colsum[jr + j] : 0u));
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

void mc_gemm_s8s8_sdot(int trans, int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_sdot(trans, m, n, k, (const uint8_t *)a, lda, b, ldb, c, ldc, 0);
}

void mc_gemm_u8s8_sdot(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                       const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_sdot(trans, m, n, k, a, lda, b, ldb, c, ldc, 0x80);
}

// Without dotprod: A and B widened to int16 ([k][MR] and [k][NR]), smlal by lane.
static void ipack_a_w(int16_t *pa, const void *a, int u8, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc) {
	for (int64_t s = 0; s < mc; s += IMR) {
		int64_t mr = mc - s < IMR ? mc - s : IMR;
		int16_t *d = pa + s * kc;
		for (int64_t i = 0; i < IMR; i++)
			for (int64_t p = 0; p < kc; p++) {
				int64_t idx = (i0 + s + i) * lda + p0 + p;
				d[p * IMR + i] = i < mr ? (u8 ? (int16_t)((const uint8_t *)a)[idx] : (int16_t)((const int8_t *)a)[idx]) : 0;
			}
	}
}

static void ipack_b_w(int16_t *pb, const int8_t *b, int trans, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc) {
	for (int64_t s = 0; s < nc; s += INR) {
		int64_t nr = nc - s < INR ? nc - s : INR;
		int16_t *d = pb + s * kc;
		for (int64_t p = 0; p < kc; p++)
			for (int64_t j = 0; j < INR; j++)
				d[p * INR + j] = j < nr ? (trans ? b[(j0 + s + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + s + j]) : 0;
	}
}

#define WROW(i, lane)                                           \
	c##i##0 = vmlal_laneq_s16(c##i##0, b0, av, lane);           \
	c##i##1 = vmlal_laneq_s16(c##i##1, b1, av, lane);           \
	c##i##2 = vmlal_laneq_s16(c##i##2, b2, av, lane);

static void iukr_smlal(int64_t kc, const int16_t *pa, const int16_t *pb, int32_t *acc) {
	IDECL(0) IDECL(1) IDECL(2) IDECL(3) IDECL(4) IDECL(5) IDECL(6) IDECL(7)
	for (int64_t p = 0; p < kc; p++) {
		const int16x4_t b0 = vld1_s16(pb + p * INR), b1 = vld1_s16(pb + p * INR + 4), b2 = vld1_s16(pb + p * INR + 8);
		const int16x8_t av = vld1q_s16(pa + p * IMR);
		WROW(0, 0) WROW(1, 1) WROW(2, 2) WROW(3, 3) WROW(4, 4) WROW(5, 5) WROW(6, 6) WROW(7, 7)
	}
	IOUT(0) IOUT(1) IOUT(2) IOUT(3) IOUT(4) IOUT(5) IOUT(6) IOUT(7)
}

static void igemm_smlal(int trans, int64_t m, int64_t n, int64_t k, const void *a, int u8, int64_t lda,
                        const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	if (m <= 0 || n <= 0) return;
	for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * 4);
	if (k <= 0) return;
	const int64_t kcmax = k < IKC ? k : IKC;
	const int64_t ncmax = ((n < INC ? n : INC) + INR - 1) / INR * INR;
	const int64_t mcmax = ((m < IMC ? m : IMC) + IMR - 1) / IMR * IMR;
	int16_t *pa = (int16_t *)mc_alloc((size_t)(mcmax * kcmax) * 2);
	int16_t *pb = (int16_t *)mc_alloc((size_t)(ncmax * kcmax) * 2);
	int32_t acc[IMR * INR] __attribute__((aligned(64)));
	if (!pa || !pb) abort();
	for (int64_t jc = 0; jc < n; jc += INC) {
		int64_t nc = n - jc < INC ? n - jc : INC;
		for (int64_t pc = 0; pc < k; pc += IKC) {
			int64_t kc = k - pc < IKC ? k - pc : IKC;
			ipack_b_w(pb, b, trans, ldb, pc, jc, kc, nc);
			for (int64_t ic = 0; ic < m; ic += IMC) {
				int64_t mc = m - ic < IMC ? m - ic : IMC;
				ipack_a_w(pa, a, u8, lda, ic, pc, mc, kc);
				for (int64_t ir = 0; ir < mc; ir += IMR) {
					int64_t mr = mc - ir < IMR ? mc - ir : IMR;
					for (int64_t jr = 0; jr < nc; jr += INR) {
						int64_t nr = nc - jr < INR ? nc - jr : INR;
						iukr_smlal(kc, pa + ir * kc, pb + jr * kc, acc);
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

void mc_gemm_s8s8_smlal(int trans, int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
                        const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_smlal(trans, m, n, k, a, 0, lda, b, ldb, c, ldc);
}

void mc_gemm_u8s8_smlal(int trans, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                        const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc) {
	igemm_smlal(trans, m, n, k, a, 1, lda, b, ldb, c, ldc);
}

// ---- conversions ---------------------------------------------------------------------------------

void mc_f32_to_f16_neon(uint16_t *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		float16x4_t h0 = vcvt_f16_f32(vld1q_f32(src + i)), h1 = vcvt_f16_f32(vld1q_f32(src + i + 4));
		vst1q_u16(dst + i, vcombine_u16(vreinterpret_u16_f16(h0), vreinterpret_u16_f16(h1)));
	}
	for (; i < n; i++) dst[i] = mc_f32_to_f16(src[i]);
}

void mc_f16_to_f32_neon(float *dst, const uint16_t *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint16x8_t h = vld1q_u16(src + i);
		vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))));
		vst1q_f32(dst + i + 4, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))));
	}
	for (; i < n; i++) dst[i] = mc_f16_to_f32(src[i]);
}

static inline uint16x4_t bf16x4(uint32x4_t x) {
	uint32x4_t nan = vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
	uint32x4_t r = vshrq_n_u32(vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1)))), 16);
	r = vbslq_u32(nan, vorrq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(0x40)), r);
	return vmovn_u32(r);
}

void mc_f32_to_bf16_neon(uint16_t *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		const uint32_t *s = (const uint32_t *)(const void *)(src + i);
		vst1q_u16(dst + i, vcombine_u16(bf16x4(vld1q_u32(s)), bf16x4(vld1q_u32(s + 4))));
	}
	for (; i < n; i++) dst[i] = mc_f32_to_bf16(src[i]);
}

void mc_bf16_to_f32_neon(float *dst, const uint16_t *src, int64_t n) {
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint16x8_t h = vld1q_u16(src + i);
		vst1q_u32((uint32_t *)(void *)(dst + i), vshll_n_u16(vget_low_u16(h), 16));
		vst1q_u32((uint32_t *)(void *)(dst + i + 4), vshll_n_u16(vget_high_u16(h), 16));
	}
	for (; i < n; i++) { uint32_t u = (uint32_t)src[i] << 16; memcpy(dst + i, &u, 4); }
}

// ---- QuantizeLinear (per tensor or per axis; the inner == 1 layout runs scalar) ---------------

static inline int32x4_t quant4(float32x4_t x, float32x4_t s, float32x4_t z, float32x4_t lo, float32x4_t hi) {
	float32x4_t v = vdivq_f32(x, s);
	v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vceqq_f32(v, v))); // NaN -> 0
	v = vaddq_f32(vrndnq_f32(v), z);
	v = vminq_f32(vmaxq_f32(v, lo), hi);
	return vcvtq_s32_f32(v);
}

#define QUANT_FN(NAME, T, LO, HI)                                                                     \
	void NAME(T *dst, const float *src, int64_t g0, int64_t n, int64_t inner, int64_t ch,            \
	          const float *scale, const T *zp) {                                                      \
		const float32x4_t lo = vdupq_n_f32(LO), hi = vdupq_n_f32(HI);                                 \
		if (ch == 1) inner = n + 1;                                                                   \
		int64_t i = 0;                                                                                \
		while (i < n) {                                                                               \
			int64_t row = (g0 + i) / inner, c = row % ch, end = (row + 1) * inner - g0;               \
			if (end > n) end = n;                                                                     \
			const float32x4_t s = vdupq_n_f32(scale[c]), z = vdupq_n_f32((float)zp[c]);               \
			for (; i + 8 <= end; i += 8) {                                                            \
				int32x4_t q0 = quant4(vld1q_f32(src + i), s, z, lo, hi), q1 = quant4(vld1q_f32(src + i + 4), s, z, lo, hi); \
				uint8x8_t b = vmovn_u16(vcombine_u16(vmovn_u32(vreinterpretq_u32_s32(q0)), vmovn_u32(vreinterpretq_u32_s32(q1)))); \
				vst1_u8((uint8_t *)(void *)(dst + i), b);                                             \
			}                                                                                         \
			for (; i < end; i++) dst[i] = (T)mc_quant1(src[i], scale[c], zp[c], (int32_t)LO, (int32_t)HI); \
		}                                                                                             \
	}

QUANT_FN(mc_quant_s8_neon, int8_t, -128.0f, 127.0f)
QUANT_FN(mc_quant_u8_neon, uint8_t, 0.0f, 255.0f)

// ---- reductions: NaN lanes masked out (fminnm would turn a signalling NaN into NaN) ------------------------------------------------------------

void mc_minmax_rows_neon(const float *src, int64_t rows, int64_t cols, int64_t ld, float *mn, float *mx) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		float32x4_t lo = vdupq_n_f32(INFINITY), hi = vdupq_n_f32(-INFINITY);
		int64_t i = 0;
		for (; i + 4 <= cols; i += 4) {
			float32x4_t v = vld1q_f32(x + i);
			uint32x4_t ok = vceqq_f32(v, v); // NaN lanes (signalling ones too) replaced by ±Inf
			lo = vminq_f32(lo, vbslq_f32(ok, v, vdupq_n_f32(INFINITY)));
			hi = vmaxq_f32(hi, vbslq_f32(ok, v, vdupq_n_f32(-INFINITY)));
		}
		float l = vminvq_f32(lo), h = vmaxvq_f32(hi);
		for (; i < cols; i++) { if (x[i] < l) l = x[i]; if (x[i] > h) h = x[i]; }
		mn[r] = l; mx[r] = h;
	}
}

void mc_absmax_rows_neon(const float *src, int64_t rows, int64_t cols, int64_t ld, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		float32x4_t m = vdupq_n_f32(0);
		int64_t i = 0;
		for (; i + 4 <= cols; i += 4) {
			float32x4_t v = vld1q_f32(x + i);
			m = vmaxq_f32(m, vbslq_f32(vceqq_f32(v, v), vabsq_f32(v), vdupq_n_f32(0)));
		}
		float h = vmaxvq_f32(m);
		for (; i < cols; i++) { float a = fabsf(x[i]); if (a > h) h = a; }
		out[r] = h;
	}
}

// ---- Q8_0 ---------------------------------------------------------------------------------------------

void mc_q8_0_neon(uint8_t *dst, const float *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += QK, dst += Q8_0_BYTES) {
		float32x4_t x[8];
		uint32x4_t ok = vdupq_n_u32(0xffffffff);
		float32x4_t am = vdupq_n_f32(0);
		for (int v = 0; v < 8; v++) {
			x[v] = vld1q_f32(src + 4 * v);
			ok = vandq_u32(ok, vceqq_f32(x[v], x[v]));
			am = vmaxq_f32(am, vabsq_f32(x[v]));
		}
		if (vminvq_u32(ok) == 0) { mc_q8_0_block(dst, src); continue; } // NaN: ggml order
		const float amax = vmaxvq_f32(am);
		const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
		const uint16_t h = mc_f32_to_f16(d);
		memcpy(dst, &h, 2);
		int16x8_t w[4];
		for (int v = 0; v < 4; v++) {
			int32x4_t q0 = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(x[2 * v], id)));  // roundf: ties away
			int32x4_t q1 = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(x[2 * v + 1], id)));
			w[v] = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
		}
		vst1q_s8((int8_t *)(dst + 2), vcombine_s8(vmovn_s16(w[0]), vmovn_s16(w[1])));
		vst1q_s8((int8_t *)(dst + 18), vcombine_s8(vmovn_s16(w[2]), vmovn_s16(w[3])));
	}
}

void mc_dq8_0_neon(float *dst, const uint8_t *src, int64_t nb) {
	for (int64_t b = 0; b < nb; b++, src += Q8_0_BYTES, dst += QK) {
		uint16_t h;
		memcpy(&h, src, 2);
		const float d = mc_f16_to_f32(h);
		for (int v = 0; v < 2; v++) {
			int8x16_t q = vld1q_s8((const int8_t *)(src + 2 + 16 * v));
			int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
			vst1q_f32(dst + 16 * v, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
			vst1q_f32(dst + 16 * v + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), d));
			vst1q_f32(dst + 16 * v + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
			vst1q_f32(dst + 16 * v + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), d));
		}
	}
}

// ---- ReLU (x > 0 ? x : 0; fmax would let NaN through) ---------------------------------------------------

void mc_relu_neon(float *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		float32x4_t x = vld1q_f32(src + i);
		vst1q_f32(dst + i, vbslq_f32(vcgtq_f32(x, vdupq_n_f32(0)), x, vdupq_n_f32(0)));
	}
	for (; i < n; i++) dst[i] = src[i] > 0 ? src[i] : 0.0f;
}

// ---- recurrent cells (LSTM, GRU with linear_before_reset); see kernels_avx512.c ----------------

// e^x as exp16 in kernels_avx512.c: Cody–Waite reduction, the Cephes degree-6 polynomial,
// 2^n applied as two factors. NaN propagates (fmin/fmax keep it).
static inline float32x4_t exp4(float32x4_t x) {
	x = vminq_f32(vdupq_n_f32(89.0f), vmaxq_f32(vdupq_n_f32(-104.0f), x));
	float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
	float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
	r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
	float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
	p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
	p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
	p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
	p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
	p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
	int32x4_t ni = vcvtq_s32_f32(n);
	int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
	float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
	float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
	return vmulq_f32(vmulq_f32(p, s1), s2);
}

static inline float32x4_t sigm4(float32x4_t x) {
	return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(x))));
}

static inline float32x4_t tanh4(float32x4_t x) {
	float32x4_t e = exp4(vaddq_f32(x, x));
	return vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
}

static inline void lstm4(const float *hr, const float *xw, float *c, float *h, int64_t n, int64_t j) {
#define GATE(k) vaddq_f32(vld1q_f32(hr + (k) * n + j), vld1q_f32(xw + (k) * n + j))
	float32x4_t gi = sigm4(GATE(0)), go = sigm4(GATE(1)), gf = sigm4(GATE(2)), gc = tanh4(GATE(3));
#undef GATE
	float32x4_t cn = vfmaq_f32(vmulq_f32(gi, gc), gf, vld1q_f32(c + j));
	vst1q_f32(c + j, cn);
	vst1q_f32(h + j, vmulq_f32(go, tanh4(cn)));
}

void mc_lstm_cell_neon(const float *hr, const float *xw, float *c, float *h, int64_t n) {
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) lstm4(hr, xw, c, h, n, j);
	if (j < n) {
		int64_t r = n - j;
		float thr[16] = {0}, txw[16] = {0}, tc[4] = {0}, th[4] = {0};
		for (int k = 0; k < 4; k++) {
			memcpy(thr + 4 * k, hr + k * n + j, (size_t)r * 4);
			memcpy(txw + 4 * k, xw + k * n + j, (size_t)r * 4);
		}
		memcpy(tc, c + j, (size_t)r * 4);
		lstm4(thr, txw, tc, th, 4, 0);
		memcpy(c + j, tc, (size_t)r * 4);
		memcpy(h + j, th, (size_t)r * 4);
	}
}

static inline void gru4(const float *hr, const float *xw, float *h, int64_t n, int64_t j) {
	float32x4_t z = sigm4(vaddq_f32(vld1q_f32(hr + j), vld1q_f32(xw + j)));
	float32x4_t r = sigm4(vaddq_f32(vld1q_f32(hr + n + j), vld1q_f32(xw + n + j)));
	float32x4_t hh = tanh4(vfmaq_f32(vld1q_f32(xw + 2 * n + j), r, vld1q_f32(hr + 2 * n + j)));
	float32x4_t hp = vld1q_f32(h + j);
	vst1q_f32(h + j, vfmaq_f32(hh, z, vsubq_f32(hp, hh)));
}

void mc_gru_cell_lbr_neon(const float *hr, const float *xw, float *h, int64_t n) {
	int64_t j = 0;
	for (; j + 4 <= n; j += 4) gru4(hr, xw, h, n, j);
	if (j < n) {
		int64_t r = n - j;
		float thr[12] = {0}, txw[12] = {0}, th[4] = {0};
		for (int k = 0; k < 3; k++) {
			memcpy(thr + 4 * k, hr + k * n + j, (size_t)r * 4);
			memcpy(txw + 4 * k, xw + k * n + j, (size_t)r * 4);
		}
		memcpy(th, h + j, (size_t)r * 4);
		gru4(thr, txw, th, 4, 0);
		memcpy(h + j, th, (size_t)r * 4);
	}
}
