// 2-D max pooling over NCHW planes, included once per ISA file after that file defines
// KTGT and MAXPOOL_FN. Row by row and tap by tap (kernel row, then column) over the
// range of output columns whose input is inside the image, as the depthwise kernel.
// Semantics of the Go reference: each output starts from its first tap inside the
// image (in tap order), then takes v where v > best, so a NaN met first stays and a NaN
// met later is skipped; a window wholly in the padding gives −Inf.
// An ISA file may define MAXPOOL_COPY2(y, src, lo, hi) (y[o] = src[2·o]) and
// MAXPOOL_MAX2(y, src, lo, hi) (y[o] = src[2·o] > y[o] ? src[2·o] : y[o]) for stride-2
// columns: each handles outputs from lo on and returns where the scalar loop goes on.
// An ISA file may also define MAXPOOL_SPAN(y, rows, nrows, kw, dw, sw, lo, hi), which
// computes whole windows in registers for the outputs o in [lo, hi) whose column taps
// all lie inside the image: y[o] = fold of rows[i][o·sw + j·dw] over i < nrows, then
// j < kw (the reference's tap order), each row pointer already offset by −pw. It returns
// where it stopped (lo when it does not handle the geometry); the driver finishes the
// rest window by window. That stores each output once instead of once per tap, whose
// load-max-store chain on the same output row was most of the row-by-row loop's time.

// One window in the reference's order, for the outputs at a row's edges.
static inline float glue(MAXPOOL_FN, _window)(const float *const *rows, int64_t nrows, int64_t wd, int64_t kw,
                                              int64_t dw, int64_t start) {
	float best = -INFINITY;
	int seen = 0;
	for (int64_t i = 0; i < nrows; i++)
		for (int64_t j = 0; j < kw; j++) {
			const int64_t iw = start + j * dw;
			if (iw < 0 || iw >= wd) continue;
			const float v = rows[i][iw];
			if (!seen || v > best) best = v, seen = 1;
		}
	return best;
}

static inline int64_t glue(MAXPOOL_FN, _cdiv)(int64_t a, int64_t b) {
	return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

void KTGT MAXPOOL_FN(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh, int64_t ow,
                     int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
	// Each column tap's range of outputs inside the image depends on the tap alone:
	// computed once here (up to 16 taps) instead of with two divisions per row and tap.
	enum { MAXPOOL_TAB = 16 };
	int64_t lotab[MAXPOOL_TAB], hitab[MAXPOOL_TAB];
	for (int64_t j = 0; j < kw && j < MAXPOOL_TAB; j++) {
		const int64_t off = j * dw - pw;
		lotab[j] = glue(MAXPOOL_FN, _cdiv)(-off, sw);
		hitab[j] = glue(MAXPOOL_FN, _cdiv)(wd - off, sw);
	}
	// Short rows (a batch of small maps, e.g. 8×8 pooled 2×2 to 4×4) with every window
	// inside the image: window by window, its taps in order. The row-wise loop below
	// sets up a range per row and tap, which costs more than it saves on a few outputs.
	if (ow < 16 && ph == 0 && pw == 0 && (oh - 1) * sh + (kh - 1) * dh < h && (ow - 1) * sw + (kw - 1) * dw < wd) {
		for (int64_t c = 0; c < planes; c++) {
			const float *xc = x + c * h * wd;
			float *yc = y + c * oh * ow;
			for (int64_t r = 0; r < oh; r++) {
				for (int64_t o = 0; o < ow; o++) {
					const float *xw = xc + r * sh * wd + o * sw; // the window's first tap
					float best = xw[0];
					if (kh == 2 && kw == 2) {
						const float *x1 = xw + dh * wd;
						best = xw[dw] > best ? xw[dw] : best;
						best = x1[0] > best ? x1[0] : best;
						best = x1[dw] > best ? x1[dw] : best;
					} else {
						for (int64_t i = 0; i < kh; i++) {
							for (int64_t j = 0; j < kw; j++) {
								const float v = xw[i * dh * wd + j * dw];
								best = v > best ? v : best;
							}
						}
					}
					yc[r * ow + o] = best;
				}
			}
		}
		return;
	}
#ifdef MAXPOOL_SPAN
	enum { MAXPOOL_ROWS = 16 };
	if (kh <= MAXPOOL_ROWS && kw <= MAXPOOL_TAB) {
		// Outputs whose column taps are all inside the image: [olo, ohi).
		int64_t olo = lotab[0] > 0 ? lotab[0] : 0, ohi = hitab[kw - 1] < ow ? hitab[kw - 1] : ow;
		if (ohi < olo) ohi = olo;
		for (int64_t c = 0; c < planes; c++) {
			const float *xc = x + c * h * wd;
			float *yc = y + c * oh * ow;
			for (int64_t r = 0; r < oh; r++) {
				float *yr = yc + r * ow;
				const float *rows[MAXPOOL_ROWS], *shifted[MAXPOOL_ROWS];
				int64_t nrows = 0;
				for (int64_t i = 0; i < kh; i++) {
					const int64_t ih = r * sh + i * dh - ph;
					if (ih < 0 || ih >= h) continue;
					rows[nrows] = xc + ih * wd;
					shifted[nrows++] = xc + ih * wd - pw;
				}
				int64_t o = 0;
				if (nrows > 0 && ohi > olo) {
					for (; o < olo; o++) yr[o] = glue(MAXPOOL_FN, _window)(rows, nrows, wd, kw, dw, o * sw - pw);
					o = MAXPOOL_SPAN(yr, shifted, nrows, kw, dw, sw, olo, ohi);
				}
				for (; o < ow; o++) yr[o] = glue(MAXPOOL_FN, _window)(rows, nrows, wd, kw, dw, o * sw - pw);
			}
		}
		return;
	}
#endif
	for (int64_t c = 0; c < planes; c++) {
		const float *xc = x + c * h * wd;
		float *yc = y + c * oh * ow;
		for (int64_t r = 0; r < oh; r++) {
			float *yr = yc + r * ow;
			for (int64_t o = 0; o < ow; o++) yr[o] = -INFINITY;
			int first = 1;
			for (int64_t i = 0; i < kh; i++) {
				const int64_t ih = r * sh + i * dh - ph;
				if (ih < 0 || ih >= h) continue;
				const float *xr = xc + ih * wd;
				int64_t prevlo = ow; // outputs from prevlo on have had a tap in this row
				for (int64_t j = 0; j < kw; j++) {
					const int64_t off = j * dw - pw;
					int64_t lo = j < MAXPOOL_TAB ? lotab[j] : glue(MAXPOOL_FN, _cdiv)(-off, sw);
					int64_t hi = j < MAXPOOL_TAB ? hitab[j] : glue(MAXPOOL_FN, _cdiv)(wd - off, sw);
					if (lo < 0) lo = 0;
					if (hi > ow) hi = ow;
					if (lo >= hi) continue;
					int64_t mlo = lo;
					if (first) { // outputs [lo, min(prevlo, hi)) meet their first tap here
						const int64_t e = prevlo < hi ? prevlo : hi;
						int64_t o = lo;
#ifdef MAXPOOL_COPY2
						if (sw == 2) o = MAXPOOL_COPY2(yr, xr + off, lo, e);
#endif
						for (; o < e; o++) yr[o] = xr[o * sw + off];
						mlo = e > lo ? e : lo;
						if (lo < prevlo) prevlo = lo;
					}
					if (sw == 1) {
						const float *xs = xr + off;
						for (int64_t o = mlo; o < hi; o++) {
							const float v = xs[o];
							yr[o] = v > yr[o] ? v : yr[o];
						}
					} else {
						int64_t o = mlo;
#ifdef MAXPOOL_MAX2
						if (sw == 2) o = MAXPOOL_MAX2(yr, xr + off, mlo, hi);
#endif
						for (; o < hi; o++) {
							const float v = xr[o * sw + off];
							yr[o] = v > yr[o] ? v : yr[o];
						}
					}
				}
				first = 0;
			}
		}
	}
}
