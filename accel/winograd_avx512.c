//go:build amd64 && cgo && !purego

// Winograd F(4×4, 3×3) input and output transforms (winograd.go), AVX-512: the 16 lanes
// of a vector are 16 tiles. Tiles of one tile row read 6 contiguous input rows, so when a
// row has 8 tiles or more, each row is loaded with four plain (masked) loads and split
// into the tiles' six columns with permutes; tiles of smaller images are gathered. Same
// target-attribute scheme as kernels_avx512.c: compiled for baseline x86-64, called
// only after cpuid said yes.
#include <immintrin.h>
#include <stdint.h>

#define WTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// Lanes [lo, hi) of a 16-lane mask, clamped to [0, 16].
static inline WTGT __mmask16 rangemask(int64_t lo, int64_t hi) {
	if (lo < 0) lo = 0;
	if (hi > 16) hi = 16;
	if (hi <= lo) return 0;
	return (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

// o = Bᵀ·d for F(4×4, 3×3).
static inline WTGT void bt6(const __m512 d[6], __m512 o[6]) {
	const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
	__m512 t1 = _mm512_fmadd_ps(four, d[1], _mm512_setzero_ps()); // 4·d1
	__m512 t2 = _mm512_fmsub_ps(four, d[2], d[4]);                // 4·d2 − d4
	__m512 t3 = _mm512_fmadd_ps(two, d[1], _mm512_setzero_ps());  // 2·d1
	__m512 t4 = _mm512_fmsub_ps(two, d[3], _mm512_setzero_ps());  // 2·d3
	__m512 s12 = _mm512_sub_ps(d[3], t1), s34 = _mm512_sub_ps(d[4], d[2]);
	o[0] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[2], _mm512_mul_ps(four, d[0])), d[4]);
	o[1] = _mm512_sub_ps(s12, t2);                              // −4d1 − 4d2 + d3 + d4
	o[2] = _mm512_sub_ps(_mm512_sub_ps(t1, d[3]), t2);          // 4d1 − 4d2 − d3 + d4
	o[3] = _mm512_add_ps(_mm512_sub_ps(t4, t3), s34);           // −2d1 − d2 + 2d3 + d4
	o[4] = _mm512_add_ps(_mm512_sub_ps(t3, t4), s34);           // 2d1 − d2 − 2d3 + d4
	o[5] = _mm512_add_ps(_mm512_fnmadd_ps(five, d[3], t1), d[5]); // 4d1 − 5d3 + d5
}

// o = Aᵀ·s for F(4×4, 3×3).
static inline WTGT void at6(const __m512 s[6], __m512 o[4]) {
	const __m512 two = _mm512_set1_ps(2.f), four = _mm512_set1_ps(4.f), eight = _mm512_set1_ps(8.f);
	__m512 a = _mm512_add_ps(s[1], s[2]), b = _mm512_sub_ps(s[1], s[2]);
	__m512 c = _mm512_add_ps(s[3], s[4]), d = _mm512_sub_ps(s[3], s[4]);
	o[0] = _mm512_add_ps(_mm512_add_ps(s[0], a), c);
	o[1] = _mm512_fmadd_ps(two, d, b);
	o[2] = _mm512_fmadd_ps(four, c, a);
	o[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d, b), s[5]);
}

// d (36 vectors, [row][col] of the 6×6 patches) → V_e stored at v + e·es for the n lanes.
static inline WTGT void in_tail(__m512 d[36], float *v, int64_t es, __mmask16 lanes) {
	__m512 h[36], col[6], o[6];
	for (int r = 0; r < 6; r++) bt6(d + r * 6, h + r * 6); // h[r][j] = (d B)[r][j]
	for (int j = 0; j < 6; j++) {
		for (int r = 0; r < 6; r++) col[r] = h[r * 6 + j];
		bt6(col, o);
		for (int i = 0; i < 6; i++) _mm512_mask_storeu_ps(v + (i * 6 + j) * es, lanes, o[i]);
	}
}

// The six columns k0..k5 of 16 tiles from one input row: q0..q3 hold the row's 64
// values from the first tile's left edge, e64 and e65 the two after them.
static inline WTGT void split_row(__m512 q0, __m512 q1, __m512 q2, __m512 q3, float e64, float e65, __m512 k[6]) {
	const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
	// 64-bit pairs: (k0,k1) and (k2,k3) of tiles 0–7 and 8–15.
	__m512 a = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(q0), even, _mm512_castps_pd(q1)));
	__m512 b = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(q0), odd, _mm512_castps_pd(q1)));
	__m512 c = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(q2), even, _mm512_castps_pd(q3)));
	__m512 d = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(q2), odd, _mm512_castps_pd(q3)));
	const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
	k[0] = _mm512_permutex2var_ps(a, ev, c);
	k[1] = _mm512_permutex2var_ps(a, od, c);
	k[2] = _mm512_permutex2var_ps(b, ev, d);
	k[3] = _mm512_permutex2var_ps(b, od, d);
	// k4, k5 of tile l are k0, k1 of tile l+1.
	const __m512i next = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
	k[4] = _mm512_permutex2var_ps(k[0], next, _mm512_set1_ps(e64));
	k[5] = _mm512_permutex2var_ps(k[1], next, _mm512_set1_ps(e65));
}

// Input transform of channels [c0, c1) and batch tiles [t0, t1): see refWinogradIn.
void WTGT mc_wino_in_avx512(const float *x, int64_t c, int64_t H, int64_t W, int64_t PT, int64_t PL, int64_t TY, int64_t TX,
                            int64_t c0, int64_t c1, int64_t t0, int64_t t1, float *v, int64_t ldv, int64_t es) {
	const int64_t hw = H * W, per = TY * TX;
	__m512 d[36];
	if (TX >= 8) {
		for (int64_t ci = c0; ci < c1; ci++) {
			for (int64_t t = t0; t < t1;) {
				const int64_t img = t / per, r = t % per, ty = r / TX, tx = r % TX;
				int64_t n = TX - tx;
				if (n > 16) n = 16;
				if (n > t1 - t) n = t1 - t;
				const float *plane = x + (img * c + ci) * hw;
				const int64_t y0 = ty * 4 - PT, x0 = tx * 4 - PL;
				__mmask16 mk[4];
				for (int q = 0; q < 4; q++) mk[q] = rangemask(-x0 - 16 * q, W - x0 - 16 * q);
				for (int rr = 0; rr < 6; rr++) {
					const int64_t yy = y0 + rr;
					if (yy < 0 || yy >= H) {
						for (int k = 0; k < 6; k++) d[rr * 6 + k] = _mm512_setzero_ps();
						continue;
					}
					const float *row = plane + yy * W + x0;
					__m512 q0 = _mm512_maskz_loadu_ps(mk[0], row), q1 = _mm512_maskz_loadu_ps(mk[1], row + 16);
					__m512 q2 = _mm512_maskz_loadu_ps(mk[2], row + 32), q3 = _mm512_maskz_loadu_ps(mk[3], row + 48);
					float e64 = (x0 + 64 >= 0 && x0 + 64 < W) ? row[64] : 0.f;
					float e65 = (x0 + 65 >= 0 && x0 + 65 < W) ? row[65] : 0.f;
					split_row(q0, q1, q2, q3, e64, e65, d + rr * 6);
				}
				in_tail(d, v + ci * ldv + (t - t0), es, rangemask(0, n));
				t += n;
			}
		}
		return;
	}
	// Small images: gather each tile's patch, lanes free to span rows and images.
	for (int64_t t = t0; t < t1; t += 16) {
		const int64_t n = t1 - t < 16 ? t1 - t : 16;
		int32_t base[16] = {0};
		__mmask16 rowok[6] = {0}, colok[6] = {0};
		for (int64_t l = 0; l < n; l++) {
			const int64_t img = (t + l) / per, r = (t + l) % per;
			const int64_t y0 = (r / TX) * 4 - PT, x0 = (r % TX) * 4 - PL;
			base[l] = (int32_t)(img * c * hw + y0 * W + x0);
			for (int k = 0; k < 6; k++) {
				if (y0 + k >= 0 && y0 + k < H) rowok[k] |= (__mmask16)(1u << l);
				if (x0 + k >= 0 && x0 + k < W) colok[k] |= (__mmask16)(1u << l);
			}
		}
		const __m512i vb = _mm512_loadu_si512(base);
		for (int64_t ci = c0; ci < c1; ci++) {
			for (int rr = 0; rr < 6; rr++) {
				for (int k = 0; k < 6; k++) {
					const __m512i idx = _mm512_add_epi32(vb, _mm512_set1_epi32((int32_t)(ci * hw + rr * W + k)));
					d[rr * 6 + k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rowok[rr] & colok[k], idx, x, 4);
				}
			}
			in_tail(d, v + ci * ldv + (t - t0), es, rangemask(0, n));
		}
	}
}

// The 16 output vectors out[i·4+j] (lane = tile) of output channel o, bias added and
// clamped to [lo, hi] (max and min with the bound first: a NaN passes through).
static inline WTGT void out_tiles(const float *mm, int64_t es, __mmask16 lanes, float bias, __m512 lo, __m512 hi, __m512 out[16]) {
	__m512 s[6], cols[6][4], row[6], o[4];
	for (int j = 0; j < 6; j++) {
		for (int i = 0; i < 6; i++) s[i] = _mm512_maskz_loadu_ps(lanes, mm + (i * 6 + j) * es);
		at6(s, cols[j]); // cols[j][i] = (Aᵀ M)[i][j]
	}
	const __m512 b = _mm512_set1_ps(bias);
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 6; j++) row[j] = cols[j][i];
		at6(row, o);
		for (int j = 0; j < 4; j++) out[i * 4 + j] = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(o[j], b)));
	}
}

// Output transform of output channels [o0, o1) and batch tiles [t0, t1): see
// refWinogradOut.
void WTGT mc_wino_out_avx512(const float *mm, int64_t ldm, int64_t es, int64_t m, int64_t OH, int64_t OW, int64_t TY, int64_t TX,
                             int64_t o0, int64_t o1, int64_t t0, int64_t t1, const float *bias, float lo, float hi, float *y) {
	const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
	const int64_t ohw = OH * OW, per = TY * TX;
	__m512 out[16];
	const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
	const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
	const __m512i p0 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), p1 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
	for (int64_t o = o0; o < o1; o++) {
		const float b = bias ? bias[o] : 0.f;
		if (TX >= 8) {
			for (int64_t t = t0; t < t1;) {
				const int64_t img = t / per, r = t % per, ty = r / TX, tx = r % TX;
				int64_t n = TX - tx;
				if (n > 16) n = 16;
				if (n > t1 - t) n = t1 - t;
				out_tiles(mm + o * ldm + (t - t0), es, rangemask(0, n), b, vlo, vhi, out);
				float *plane = y + (img * m + o) * ohw;
				const int64_t x0 = tx * 4, xend = x0 + 4 * n < OW ? x0 + 4 * n : OW;
				for (int i = 0; i < 4; i++) {
					const int64_t yy = ty * 4 + i;
					if (yy >= OH) break;
					// Interleave the tiles' four columns into 64 consecutive outputs.
					__m512 *oj = out + i * 4;
					__m512d l01 = _mm512_castps_pd(_mm512_permutex2var_ps(oj[0], ilo, oj[1]));
					__m512d h01 = _mm512_castps_pd(_mm512_permutex2var_ps(oj[0], ihi, oj[1]));
					__m512d l23 = _mm512_castps_pd(_mm512_permutex2var_ps(oj[2], ilo, oj[3]));
					__m512d h23 = _mm512_castps_pd(_mm512_permutex2var_ps(oj[2], ihi, oj[3]));
					__m512 w[4] = {
						_mm512_castpd_ps(_mm512_permutex2var_pd(l01, p0, l23)), _mm512_castpd_ps(_mm512_permutex2var_pd(l01, p1, l23)),
						_mm512_castpd_ps(_mm512_permutex2var_pd(h01, p0, h23)), _mm512_castpd_ps(_mm512_permutex2var_pd(h01, p1, h23)),
					};
					float *dst = plane + yy * OW + x0;
					for (int q = 0; q < 4; q++) {
						const __mmask16 mk = rangemask(0, xend - x0 - 16 * q);
						if (mk) _mm512_mask_storeu_ps(dst + 16 * q, mk, w[q]);
					}
				}
				t += n;
			}
			continue;
		}
		for (int64_t t = t0; t < t1; t += 16) {
			const int64_t n = t1 - t < 16 ? t1 - t : 16;
			out_tiles(mm + o * ldm + (t - t0), es, rangemask(0, n), b, vlo, vhi, out);
			float buf[16][16];
			for (int e = 0; e < 16; e++) _mm512_storeu_ps(buf[e], out[e]);
			for (int64_t l = 0; l < n; l++) {
				const int64_t img = (t + l) / per, r = (t + l) % per;
				const int64_t y0 = (r / TX) * 4, x0 = (r % TX) * 4;
				float *plane = y + (img * m + o) * ohw;
				for (int i = 0; i < 4 && y0 + i < OH; i++)
					for (int j = 0; j < 4 && x0 + j < OW; j++) plane[(y0 + i) * OW + x0 + j] = buf[i * 4 + j][l];
			}
		}
	}
}

// M = U·V for one of the 36 products: up is U packed at plan time in panels of 12 rows
// (NewWinogradWeights: [panel][k][12], zero rows past m), v is k×n with leading
// dimension ldv, mm is m×n with leading dimension ldm, overwritten. Neither operand is
// packed per call (the SGEMM would repack all of U for every block of tiles): 12×32
// register tiles, or 12×16 for the last 16 columns or fewer.
void WTGT mc_wino_gemm_avx512(int64_t m, int64_t n, int64_t k, const float *up, const float *v, int64_t ldv, float *mm, int64_t ldm) {
	for (int64_t i0 = 0; i0 < m; i0 += 12) {
		const float *a = up + (i0 / 12) * k * 12;
		const int64_t rows = m - i0 < 12 ? m - i0 : 12;
		for (int64_t j0 = 0; j0 < n; j0 += 32) {
			const int64_t cols = n - j0;
			if (cols > 16) {
				const __mmask16 m1 = rangemask(0, cols - 16);
				__m512 c0[12], c1[12];
#pragma GCC unroll 12
				for (int r = 0; r < 12; r++) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
				for (int64_t p = 0; p < k; p++) {
					const __m512 b0 = _mm512_loadu_ps(v + p * ldv + j0), b1 = _mm512_maskz_loadu_ps(m1, v + p * ldv + j0 + 16);
#pragma GCC unroll 12
					for (int r = 0; r < 12; r++) {
						const __m512 av = _mm512_set1_ps(a[p * 12 + r]);
						c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
						c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
					}
				}
				// Unrolled with constant indices, so the accumulators stay in registers.
#pragma GCC unroll 12
				for (int r = 0; r < 12; r++) {
					if (r < rows) {
						_mm512_storeu_ps(mm + (i0 + r) * ldm + j0, c0[r]);
						_mm512_mask_storeu_ps(mm + (i0 + r) * ldm + j0 + 16, m1, c1[r]);
					}
				}
			} else {
				const __mmask16 m0 = rangemask(0, cols);
				__m512 c0[12];
#pragma GCC unroll 12
				for (int r = 0; r < 12; r++) c0[r] = _mm512_setzero_ps();
				for (int64_t p = 0; p < k; p++) {
					const __m512 b0 = _mm512_maskz_loadu_ps(m0, v + p * ldv + j0);
#pragma GCC unroll 12
					for (int r = 0; r < 12; r++) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[p * 12 + r]), b0, c0[r]);
				}
#pragma GCC unroll 12
				for (int r = 0; r < 12; r++)
					if (r < rows) _mm512_mask_storeu_ps(mm + (i0 + r) * ldm + j0, m0, c0[r]);
			}
		}
	}
}
