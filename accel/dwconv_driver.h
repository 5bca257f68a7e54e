// Depthwise 2-D convolution (one filter per channel, NCHW), included once per ISA file
// after that file defines KTGT and DWCONV_FN. Each output row is accumulated in place,
// tap by tap, over the range of output columns whose input column is inside the image:
// no im2col, no padding copies, and for stride 1 the inner loop is a plain axpy that the
// compiler vectorises for the ISA. y[c][oh][ow] = bias[c] + Σ w[c][kh][kw]·x[c][ih][iw].
// The sum runs in tap order (kh, then kw), the same order as the Go reference.

#ifndef DW_AXPY // y[0:n] += a·x[0:n]; an ISA file may supply its own
static inline void KTGT glue(DWCONV_FN, _axpy)(float *y, const float *x, float a, int64_t n) {
	for (int64_t o = 0; o < n; o++) y[o] += a * x[o];
}
#define DW_AXPY glue(DWCONV_FN, _axpy)
#endif

#ifndef DW_MAXW
#define DW_MAXW 4096 // widest row split into phases on the stack (wider: strided loads)
#endif

static inline int64_t glue(DWCONV_FN, _cdiv)(int64_t a, int64_t b) { // ceil(a/b), b > 0
	return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// Undilated kernels: the channel is split into its sh×sw stride phases, zero-padded, each
// phase an Hq×Wq plane: P[a][b][r][o] = x[r·sh + a − ph][o·sw + b − pw] (0 outside). Then
// y[r][o] = Σ w[i][j]·P[i%sh][j%sw][r + i/sh][o + j/sw], and over the flattened index
// t = r·Wq + o every tap is one contiguous axpy of (OH−1)·Wq + OW values: a few long
// vector loops per channel instead of one short loop per row and tap. The columns
// o ≥ OW of the flat result are scratch, dropped when the rows are copied out.
static void KTGT glue(DWCONV_FN, _phased)(const float *x, const float *w, const float *bias, float *y, int64_t channels,
                                          int64_t h, int64_t wd, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                                          int64_t sh, int64_t sw, int64_t ph, int64_t pw, float *buf) {
	const int64_t hq = oh - 1 + (kh + sh - 1) / sh, wq = ow - 1 + (kw + sw - 1) / sw;
	const int64_t plane = hq * wq, len = (oh - 1) * wq + ow;
	float *flat = buf + sh * sw * plane;
	for (int64_t c = 0; c < channels; c++) {
		const float *xc = x + c * h * wd, *wc = w + c * kh * kw;
		for (int64_t a = 0; a < sh; a++)
			for (int64_t b = 0; b < sw; b++) {
				float *p = buf + (a * sw + b) * plane;
				// Columns o with 0 ≤ o·sw + b − pw < wd: [lo, hi); zeros around them. The same
				// for every row (divisions hoisted: they were a tenth of the kernel's time).
				int64_t lo = glue(DWCONV_FN, _cdiv)(pw - b, sw), hi = glue(DWCONV_FN, _cdiv)(wd + pw - b, sw);
				if (lo < 0) lo = 0;
				if (hi > wq) hi = wq;
				if (hi < lo) hi = lo;
				for (int64_t r = 0; r < hq; r++) {
					const int64_t ih = r * sh + a - ph;
					float *pr = p + r * wq;
					if (ih < 0 || ih >= h) {
						for (int64_t o = 0; o < wq; o++) pr[o] = 0.0f;
						continue;
					}
					const float *xr = xc + ih * wd;
					for (int64_t o = 0; o < lo; o++) pr[o] = 0.0f;
					if (sw == 1) {
						if (hi > lo) memcpy(pr + lo, xr + lo + b - pw, (size_t)(hi - lo) * sizeof(float));
					} else {
						const float *xs = xr + b - pw;
						int64_t o = lo;
#ifdef DW_GATHER2
						if (sw == 2) o = DW_GATHER2(pr, xs, lo, hi);
#endif
						for (; o < hi; o++) pr[o] = xs[o * sw];
					}
					for (int64_t o = hi; o < wq; o++) pr[o] = 0.0f;
				}
			}
		const float bv = bias ? bias[c] : 0.0f;
#ifdef DW_TAPS
		if (DW_TAPS(buf, plane, wq, wc, bv, y + c * oh * ow, flat, oh, ow, kh, kw, sh, sw)) continue;
#endif
		for (int64_t t = 0; t < len; t++) flat[t] = bv;
		for (int64_t i = 0; i < kh; i++)
			for (int64_t j = 0; j < kw; j++) {
				const float *p = buf + ((i % sh) * sw + j % sw) * plane + (i / sh) * wq + j / sw;
				DW_AXPY(flat, p, wc[i * kw + j], len);
			}
		float *yc = y + c * oh * ow;
		for (int64_t r = 0; r < oh; r++) memcpy(yc + r * ow, flat + r * wq, (size_t)ow * sizeof(float));
	}
}

void KTGT DWCONV_FN(const float *x, const float *w, const float *bias, float *y, int64_t channels,
                    int64_t h, int64_t wd, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
	if (dh == 1 && dw == 1 && oh > 0 && ow > 0) {
		const int64_t hq = oh - 1 + (kh + sh - 1) / sh, wq = ow - 1 + (kw + sw - 1) / sw;
		float *buf = (float *)malloc((size_t)(sh * sw * hq * wq + (oh - 1) * wq + ow) * sizeof(float));
		if (buf) {
			glue(DWCONV_FN, _phased)(x, w, bias, y, channels, h, wd, oh, ow, kh, kw, sh, sw, ph, pw, buf);
			free(buf);
			return;
		}
	}
	float phase[DW_MAXW];
	for (int64_t c = 0; c < channels; c++) {
		const float *xc = x + c * h * wd, *wc = w + c * kh * kw;
		float *yc = y + c * oh * ow;
		const float b = bias ? bias[c] : 0.0f;
		for (int64_t r = 0; r < oh; r++) {
			float *yr = yc + r * ow;
			for (int64_t o = 0; o < ow; o++) yr[o] = b;
			for (int64_t i = 0; i < kh; i++) {
				const int64_t ih = r * sh + i * dh - ph;
				if (ih < 0 || ih >= h) continue;
				const float *xr = xc + ih * wd;
				if (sw > 1 && wd <= DW_MAXW) {
					// Split the row into its sw phases once; each tap then reads one phase
					// contiguously: iw = o*sw + off = (o + off/sw)*sw + off%sw.
					int64_t plen = (wd + sw - 1) / sw;
					for (int64_t q = 0; q < sw; q++)
						for (int64_t t = 0; t * sw + q < wd; t++) phase[q * plen + t] = xr[t * sw + q];
					for (int64_t j = 0; j < kw; j++) {
						const float wv = wc[i * kw + j];
						const int64_t off = j * dw - pw;
						int64_t lo = glue(DWCONV_FN, _cdiv)(-off, sw), hi = glue(DWCONV_FN, _cdiv)(wd - off, sw);
						if (lo < 0) lo = 0;
						if (hi > ow) hi = ow;
						const int64_t q = ((off % sw) + sw) % sw, base = (off - q) / sw;
						const float *xs = phase + q * plen + base;
						DW_AXPY(yr + lo, xs + lo, wv, hi - lo);
					}
					continue;
				}
				for (int64_t j = 0; j < kw; j++) {
					const float wv = wc[i * kw + j];
					const int64_t off = j * dw - pw; // iw = o*sw + off
					int64_t lo = glue(DWCONV_FN, _cdiv)(-off, sw), hi = glue(DWCONV_FN, _cdiv)(wd - off, sw);
					if (lo < 0) lo = 0;
					if (hi > ow) hi = ow;
					if (sw == 1) {
						const float *xs = xr + off;
						DW_AXPY(yr + lo, xs + lo, wv, hi - lo);
					} else {
						for (int64_t o = lo; o < hi; o++) yr[o] += wv * xr[o * sw + off];
					}
				}
			}
		}
	}
}
