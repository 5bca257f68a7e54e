// The blocked, packed f32 GEMM driver (GotoBLAS/BLIS loop order), included once per ISA
// file after that file defines:
//   KTGT            the function attribute enabling the ISA (empty on arm64)
//   MR, NR          the micro-kernel's tile (rows of A, columns of B)
//   KC, MC, NC      cache blocking: an MR×KC sliver of A stays in L1, a KC×NC panel of B in L2
//   UKR             static void UKR(int64_t kc, const float *pa, const float *pb, float *acc)
//                   acc[MR*NR] = Σ_p pa[p*MR+i] · pb[p*NR+j]  (row-major MR×NR)
//   SGEMM_FN        the name of the exported driver
// and optionally SGEMM_DIRECT(transA, transB, m, n, k), a test choosing SGEMM_DIRECT_FN (same
// arguments as the driver without the transposes) for products it serves without packing.
// The driver computes C = alpha·op(A)·op(B) + beta·C + bias on the calling thread; Go
// splits big problems over threads by calling it on disjoint blocks of C.

static void KTGT glue(SGEMM_FN, _pack_a)(float *pa, const float *a, int trans, int64_t lda,
                                         int64_t i0, int64_t p0, int64_t mc, int64_t kc) {
	for (int64_t s = 0; s < mc; s += MR) {
		int64_t mr = mc - s < MR ? mc - s : MR;
		float *d = pa + s * kc;
		if (trans) { // A(i,p) = a[p*lda + i]: contiguous along i
			for (int64_t p = 0; p < kc; p++) {
				const float *src = a + (p0 + p) * lda + i0 + s;
				int64_t i = 0;
				for (; i < mr; i++) d[p * MR + i] = src[i];
				for (; i < MR; i++) d[p * MR + i] = 0.0f;
			}
		} else { // A(i,p) = a[i*lda + p]: read rows, write with stride MR
			for (int64_t i = 0; i < MR; i++) {
				if (i < mr) {
					const float *src = a + (i0 + s + i) * lda + p0;
					for (int64_t p = 0; p < kc; p++) d[p * MR + i] = src[p];
				} else {
					for (int64_t p = 0; p < kc; p++) d[p * MR + i] = 0.0f;
				}
			}
		}
	}
}

static void KTGT glue(SGEMM_FN, _pack_b)(float *pb, const float *b, int trans, int64_t ldb,
                                         int64_t p0, int64_t j0, int64_t kc, int64_t nc) {
	for (int64_t s = 0; s < nc; s += NR) {
		int64_t nr = nc - s < NR ? nc - s : NR;
		float *d = pb + s * kc;
		if (!trans) { // B(p,j) = b[p*ldb + j]
			for (int64_t p = 0; p < kc; p++) {
				const float *src = b + (p0 + p) * ldb + j0 + s;
				int64_t j = 0;
				for (; j < nr; j++) d[p * NR + j] = src[j];
				for (; j < NR; j++) d[p * NR + j] = 0.0f;
			}
		} else { // B(p,j) = b[j*ldb + p]
			for (int64_t j = 0; j < NR; j++) {
				if (j < nr) {
					const float *src = b + (j0 + s + j) * ldb + p0;
					for (int64_t p = 0; p < kc; p++) d[p * NR + j] = src[p];
				} else {
					for (int64_t p = 0; p < kc; p++) d[p * NR + j] = 0.0f;
				}
			}
		}
	}
}

// C[mr×nr] (= or +=) alpha·acc, with beta·C and bias folded in on the first k-block.
static inline void KTGT glue(SGEMM_FN, _store)(float *c, int64_t ldc, const float *acc, int64_t mr, int64_t nr,
                                               float alpha, float beta, const float *bias, int first) {
	for (int64_t i = 0; i < mr; i++) {
		float *ci = c + i * ldc;
		const float *ai = acc + i * NR;
		if (!first) {
			for (int64_t j = 0; j < nr; j++) ci[j] = ci[j] + alpha * ai[j];
		} else if (beta == 0.0f) {
			if (bias) for (int64_t j = 0; j < nr; j++) ci[j] = alpha * ai[j] + bias[j];
			else for (int64_t j = 0; j < nr; j++) ci[j] = alpha * ai[j];
		} else {
			if (bias) for (int64_t j = 0; j < nr; j++) ci[j] = alpha * ai[j] + beta * ci[j] + bias[j];
			else for (int64_t j = 0; j < nr; j++) ci[j] = alpha * ai[j] + beta * ci[j];
		}
	}
}

// One row of A (m = 1): a matrix-vector product that reads B once, without packing.
// op(B) = Bᵀ (B is n×k): each C[j] is a dot product over k, summed in 16 interleaved
// lanes (lane l takes p ≡ l mod 16) added pairwise at the end; four rows of B at a time
// share the loads of a. op(B) = B (k×n): C[j] accumulates a[p]·B[p][j] over p in order,
// in blocks of GEMV_NB columns. Either way each C[j] depends only on j's own data, in a
// fixed order: the same bits for any split of the columns over threads. An ISA file may
// supply GEMV_T(n, k, a, b, ldb, acc) and GEMV_N with its own fixed lane order.
#define GEMV_L 16
#define GEMV_NB 1024

static inline float KTGT glue(SGEMM_FN, _hsum)(const float *s) {
	float t[8];
	for (int l = 0; l < 8; l++) t[l] = s[l] + s[l + 8];
	for (int l = 0; l < 4; l++) t[l] = t[l] + t[l + 4];
	return (t[0] + t[2]) + (t[1] + t[3]);
}

static void KTGT glue(SGEMM_FN, _gemv)(int transA, int transB, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                                       const float *b, int64_t ldb, float beta, float *c, const float *bias) {
	float av[k > 0 ? k : 1];
	for (int64_t p = 0; p < k; p++) av[p] = transA ? a[p * lda] : a[p];
	const int64_t kv = k / GEMV_L * GEMV_L;
	float acc[GEMV_NB];
	for (int64_t j0 = 0; j0 < n; j0 += GEMV_NB) {
		const int64_t nb = n - j0 < GEMV_NB ? n - j0 : GEMV_NB;
#ifdef GEMV_T
		if (transB) {
			GEMV_T(nb, k, av, b + j0 * ldb, ldb, acc);
		} else {
			GEMV_N(nb, k, av, b + j0, ldb, acc);
		}
#else
		if (transB) {
			int64_t j = 0;
			for (; j + 4 <= nb; j += 4) {
				const float *b0 = b + (j0 + j) * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
				float s0[GEMV_L] = {0}, s1[GEMV_L] = {0}, s2[GEMV_L] = {0}, s3[GEMV_L] = {0};
				for (int64_t p = 0; p < kv; p += GEMV_L)
					for (int l = 0; l < GEMV_L; l++) {
						const float x = av[p + l];
						s0[l] += x * b0[p + l];
						s1[l] += x * b1[p + l];
						s2[l] += x * b2[p + l];
						s3[l] += x * b3[p + l];
					}
				for (int64_t p = kv; p < k; p++) {
					const float x = av[p];
					s0[p - kv] += x * b0[p];
					s1[p - kv] += x * b1[p];
					s2[p - kv] += x * b2[p];
					s3[p - kv] += x * b3[p];
				}
				acc[j] = glue(SGEMM_FN, _hsum)(s0);
				acc[j + 1] = glue(SGEMM_FN, _hsum)(s1);
				acc[j + 2] = glue(SGEMM_FN, _hsum)(s2);
				acc[j + 3] = glue(SGEMM_FN, _hsum)(s3);
			}
			for (; j < nb; j++) {
				const float *b0 = b + (j0 + j) * ldb;
				float s0[GEMV_L] = {0};
				for (int64_t p = 0; p < kv; p += GEMV_L)
					for (int l = 0; l < GEMV_L; l++) s0[l] += av[p + l] * b0[p + l];
				for (int64_t p = kv; p < k; p++) s0[p - kv] += av[p] * b0[p];
				acc[j] = glue(SGEMM_FN, _hsum)(s0);
			}
		} else {
			for (int64_t j = 0; j < nb; j++) acc[j] = 0.0f;
			for (int64_t p = 0; p < k; p++) {
				const float x = av[p];
				const float *bp = b + p * ldb + j0;
				for (int64_t j = 0; j < nb; j++) acc[j] += x * bp[j];
			}
		}
#endif
		float *cj = c + j0;
		const float *bj = bias ? bias + j0 : 0;
		for (int64_t j = 0; j < nb; j++) {
			float v = alpha * acc[j];
			if (beta != 0.0f) v += beta * cj[j];
			if (bj) v += bj[j];
			cj[j] = v;
		}
	}
}

void KTGT SGEMM_FN(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                   float *c, int64_t ldc, const float *bias) {
	if (m <= 0 || n <= 0) return;
	if (m == 1 && k > 0 && k <= (1 << 14)) { // a on the stack: at most 64 KiB
		glue(SGEMM_FN, _gemv)(transA, transB, n, k, alpha, a, lda, b, ldb, beta, c, bias);
		return;
	}
	if (k <= 0) {
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				float v = alpha * 0.0f;
				if (beta != 0.0f) v += beta * c[i * ldc + j];
				if (bias) v += bias[j];
				c[i * ldc + j] = v;
			}
		return;
	}
#ifdef SGEMM_DIRECT
	if (SGEMM_DIRECT(transA, transB, m, n, k)) {
		SGEMM_DIRECT_FN(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
		return;
	}
#endif
	const int64_t kcmax = k < KC ? k : KC;
	const int64_t ncmax = ((n < NC ? n : NC) + NR - 1) / NR * NR;
	const int64_t mcmax = ((m < MC ? m : MC) + MR - 1) / MR * MR;
	float *pa = (float *)mc_alloc((size_t)(mcmax * kcmax) * sizeof(float));
	float *pb = (float *)mc_alloc((size_t)(ncmax * kcmax) * sizeof(float));
	float acc[MR * NR] __attribute__((aligned(64)));
	if (!pa || !pb) abort();
	for (int64_t jc = 0; jc < n; jc += NC) {
		int64_t nc = n - jc < NC ? n - jc : NC;
		for (int64_t pc = 0; pc < k; pc += KC) {
			int64_t kc = k - pc < KC ? k - pc : KC;
			glue(SGEMM_FN, _pack_b)(pb, b, transB, ldb, pc, jc, kc, nc);
			for (int64_t ic = 0; ic < m; ic += MC) {
				int64_t mc = m - ic < MC ? m - ic : MC;
				glue(SGEMM_FN, _pack_a)(pa, a, transA, lda, ic, pc, mc, kc);
				for (int64_t ir = 0; ir < mc; ir += MR) {
					for (int64_t jr = 0; jr < nc; jr += NR) {
						UKR(kc, pa + ir * kc, pb + jr * kc, acc);
						glue(SGEMM_FN, _store)(c + (ic + ir) * ldc + jc + jr, ldc, acc,
						                       mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR,
						                       alpha, beta, bias ? bias + jc + jr : 0, pc == 0);
					}
				}
			}
		}
	}
	free(pa);
	free(pb);
}
