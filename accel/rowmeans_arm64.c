//go:build arm64 && cgo && !purego

// The row_means kernel (rowmeans.go) for NEON: the sixteen float64 partial sums in eight
// 2-lane accumulators, the tail in the scalar partial sums, then the fixed folds.
#include <arm_neon.h>
#include <stdint.h>

void mc_row_means_neon(const float *src, int64_t rows, int64_t cols, float *out) {
	for (int64_t r = 0; r < rows; r++) {
		const float *x = src + r * cols;
		float64x2_t a[8];
		for (int k = 0; k < 8; k++) a[k] = vdupq_n_f64(0.0);
		int64_t i = 0;
		for (; i + 16 <= cols; i += 16)
			for (int q = 0; q < 4; q++) {
				const float32x4_t v = vld1q_f32(x + i + 4 * q);
				a[2 * q] = vaddq_f64(a[2 * q], vcvt_f64_f32(vget_low_f32(v)));
				a[2 * q + 1] = vaddq_f64(a[2 * q + 1], vcvt_high_f64_f32(v));
			}
		double s[16];
		for (int k = 0; k < 8; k++) vst1q_f64(s + 2 * k, a[k]);
		for (int64_t k = 0; i + k < cols; k++) s[k] += (double)x[i + k];
		for (int half = 8; half >= 1; half /= 2)
			for (int k = 0; k < half; k++) s[k] += s[k + half];
		out[r] = (float)(s[0] / (double)cols);
	}
}
