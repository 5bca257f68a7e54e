//go:build amd64 && cgo && !purego

// The minmax_nan kernel (minmaxnan.go) for AVX-512 and AVX2: min and max of each row as
// mc_minmax_rows does, and one unordered compare of the two vectors loaded per step
// (true where either lane is NaN) folded into a flag; a row with a NaN gives NaN for both.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define T256 __attribute__((target("avx2,fma")))

void T512 mc_minmax_nan_rows_avx512(const float *src, int64_t rows, int64_t cols, int64_t ld, float *mn, float *mx) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m512 lo0 = _mm512_set1_ps(INFINITY), lo1 = lo0, hi0 = _mm512_set1_ps(-INFINITY), hi1 = hi0;
		__mmask16 nan = 0;
		int64_t i = 0;
		for (; i + 32 <= cols; i += 32) {
			__m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
			nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
			lo0 = _mm512_min_ps(a, lo0); hi0 = _mm512_max_ps(a, hi0);
			lo1 = _mm512_min_ps(b, lo1); hi1 = _mm512_max_ps(b, hi1);
		}
		for (; i < cols; i += 16) {
			__mmask16 m = (cols - i) >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - i)) - 1);
			__m512 a = _mm512_maskz_loadu_ps(m, x + i);
			nan |= _mm512_mask_cmp_ps_mask(m, a, a, _CMP_UNORD_Q);
			lo0 = _mm512_mask_min_ps(lo0, m, a, lo0);
			hi0 = _mm512_mask_max_ps(hi0, m, a, hi0);
		}
		if (nan) {
			mn[r] = mx[r] = NAN;
			continue;
		}
		mn[r] = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1));
		mx[r] = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
	}
}

void T256 mc_minmax_nan_rows_avx2(const float *src, int64_t rows, int64_t cols, int64_t ld, float *mn, float *mx) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * ld;
		__m256 lo0 = _mm256_set1_ps(INFINITY), lo1 = lo0, hi0 = _mm256_set1_ps(-INFINITY), hi1 = hi0;
		__m256 nan = _mm256_setzero_ps();
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16) {
			__m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
			nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
			lo0 = _mm256_min_ps(a, lo0); hi0 = _mm256_max_ps(a, hi0); // NaN in a keeps the accumulator
			lo1 = _mm256_min_ps(b, lo1); hi1 = _mm256_max_ps(b, hi1);
		}
		float lo[8], hi[8];
		_mm256_storeu_ps(lo, _mm256_min_ps(lo0, lo1));
		_mm256_storeu_ps(hi, _mm256_max_ps(hi0, hi1));
		int any = _mm256_movemask_ps(nan) != 0;
		float l = lo[0], h = hi[0];
		for (int j = 1; j < 8; j++) {
			l = lo[j] < l ? lo[j] : l;
			h = hi[j] > h ? hi[j] : h;
		}
		for (; i < cols; i++) {
			float v = x[i];
			any |= v != v;
			l = v < l ? v : l;
			h = v > h ? v : h;
		}
		if (any) l = h = NAN;
		mn[r] = l;
		mx[r] = h;
	}
}
