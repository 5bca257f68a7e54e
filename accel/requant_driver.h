// RequantRows (requant.go) for one ISA, included once per target after KTGT and
// REQUANT_FN are defined: plain loops the compiler vectorises; unsigned arithmetic wraps
// modulo 2^32 like the Go reference, and the int32 → float conversion and the product
// round to nearest even, so the bits match it.
void KTGT REQUANT_FN(float *dst, int64_t ldd, const int32_t *acc, int64_t lda, int64_t rows, int64_t n,
                     const int32_t *fix, const int32_t *zw, const int32_t *cs, const float *scale) {
	for (int64_t r = 0; r < rows; r++) {
		const int32_t *a = acc + r * lda;
		float *d = dst + r * ldd;
		const uint32_t f = (uint32_t)fix[r];
		const float s = scale[r];
		if (!zw || zw[r] == 0) {
			for (int64_t j = 0; j < n; j++) d[j] = (float)(int32_t)((uint32_t)a[j] - f) * s;
			continue;
		}
		const uint32_t z = (uint32_t)zw[r];
		for (int64_t j = 0; j < n; j++) d[j] = (float)(int32_t)((uint32_t)a[j] - f - z * (uint32_t)cs[j]) * s;
	}
}
