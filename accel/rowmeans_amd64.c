//go:build amd64 && cgo && !purego

// The row_means kernel (rowmeans.go) for AVX-512: each row's sixteen float64 partial
// sums in two 8-lane accumulators (values i ≡ 0–7 and 8–15 mod 16), a masked load for
// the tail (its zero lanes add nothing: the sums start at +0), then the fixed folds.
#include <immintrin.h>
#include <stdint.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))

void T512 mc_row_means_avx512(const float *src, int64_t rows, int64_t cols, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * cols;
		__m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16) {
			const __m512 v = _mm512_loadu_ps(x + i);
			lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
			hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
		}
		if (i < cols) {
			const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (cols - i)) - 1), x + i);
			lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
			hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
		}
		const __m512d t = _mm512_add_pd(lo, hi); // k + 8 into k
		const __m256d u = _mm256_add_pd(_mm512_castpd512_pd256(t), _mm512_extractf64x4_pd(t, 1)); // k + 4
		const __m128d w = _mm_add_pd(_mm256_castpd256_pd128(u), _mm256_extractf128_pd(u, 1)); // k + 2
		const double s = _mm_cvtsd_f64(w) + _mm_cvtsd_f64(_mm_unpackhi_pd(w, w)); // k + 1
		out[r] = (float)(s / (double)cols);
	}
}

#define T256 __attribute__((target("avx2,fma")))

// AVX2: the sixteen partial sums in four 4-lane accumulators (values i ≡ 0–3, 4–7, 8–11,
// 12–15 mod 16), the tail in the scalar partial sums, then the same folds.
void T256 mc_row_means_avx2(const float *src, int64_t rows, int64_t cols, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * cols;
		__m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16) {
			a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
			a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
			a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)));
			a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12)));
		}
		double s[16];
		_mm256_storeu_pd(s, a0);
		_mm256_storeu_pd(s + 4, a1);
		_mm256_storeu_pd(s + 8, a2);
		_mm256_storeu_pd(s + 12, a3);
		for (int64_t k = 0; i + k < cols; k++) s[k] += (double)x[i + k];
		for (int half = 8; half >= 1; half /= 2)
			for (int k = 0; k < half; k++) s[k] += s[k + half];
		out[r] = (float)(s[0] / (double)cols);
	}
}
