//go:build amd64 && cgo && !purego

// 2-D max pooling over NCHW planes, AVX-512, stride 2 across the row with a 2- or 3-wide
// window (mc_maxpool2d_s2_avx512): the pools of SqueezeNet, ResNet, ShuffleNet and UNet.
//
// Each output is the reference's fold: its first tap inside the image (kernel row, then
// column), then v > best ? v : best for each later tap, which is one vmaxps(v, best). The
// order is what keeps a NaN or a −0/+0 tie giving the reference's bits, so it is kept.
//
// On the machines this was tuned on, 512-bit loads that cross a cache line (nearly all of
// them on rows of odd width) go at under one per cycle, while shuffles and maxima go at
// two, so the loads are what is saved. Sixteen outputs of a row (a column block) need the
// input positions q[0 … 2·15 + 2] of each kernel row: two vectors a, b and q[32]. One
// permute each gives the even (tap 0) and odd (tap 1) positions, and tap 2 is the even
// vector moved down one lane with q[32] shifted in — two loads per input row instead of
// six, or eighteen with the taps loaded one by one. A column block then walks down the
// plane, and the input row that two neighbouring output rows share (3 rows at stride 2)
// is split into its taps once and kept in registers for the next output row.
//
// Windows that reach past the image's left or right edge (a pad of one, ceil_mode's
// partial last window) stay in the vectors: a tap outside the image takes the value of
// the same row's neighbouring tap inside it, taken right before or after that tap in the
// fold, where a second copy of a value changes nothing (v > v is false, and a value
// after itself cannot beat the best it helped make). Lanes of positions outside the image
// are never read. Rows outside the image are skipped, and a window with no row inside
// gives −Inf, as the reference does.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define PTGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define PINL __attribute__((always_inline)) inline

static PINL PTGT __mmask16 mp_mask(int64_t n) {
	return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// The taps t[j][l] = q[2·l + j] (j < kw) of one input row for one column block. full:
// sixteen lanes whose every position is inside the image, read with plain loads.
// Otherwise only positions [plo, phi) are read (plo is 1 when q[0] is the left pad);
// the fixups then give each tap outside the image its neighbour's value: tap 0 of lane
// 0 when plo is 1, the last tap of the lanes in redge (past the right edge).
typedef struct {
	__m512 t0, t1, t2;
} mp_taps;

static PINL PTGT mp_taps mp_row_taps(const float *q, int kw, int full, int64_t plo, int64_t phi, __mmask16 redge) {
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
	__m512 a, b, c = _mm512_setzero_ps();
	if (full) {
		a = _mm512_loadu_ps(q), b = _mm512_loadu_ps(q + 16);
		if (kw == 3) c = _mm512_castps128_ps512(_mm_load_ss(q + 32));
	} else {
		a = _mm512_maskz_loadu_ps(mp_mask(phi) & (__mmask16)~mp_mask(plo), q);
		b = _mm512_maskz_loadu_ps(mp_mask(phi - 16), q + 16);
		if (kw == 3 && phi > 32) c = _mm512_castps128_ps512(_mm_load_ss(q + 32));
	}
	mp_taps t;
	t.t0 = _mm512_permutex2var_ps(a, even, b);
	t.t1 = _mm512_permutex2var_ps(a, odd, b);
	t.t2 = t.t1;
	if (kw == 3)
		t.t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(c), _mm512_castps_si512(t.t0), 1));
	if (!full) {
		if (plo > 0) t.t0 = _mm512_mask_mov_ps(t.t0, 1, t.t1);
		if (kw == 3)
			t.t2 = _mm512_mask_mov_ps(t.t2, redge, t.t1);
		else
			t.t1 = _mm512_mask_mov_ps(t.t1, redge, t.t0);
	}
	return t;
}

// Folds one input row's taps into best (the row's first tap starts the fold when first).
static PINL PTGT __m512 mp_fold_row(__m512 best, mp_taps t, int kw, int first) {
	best = first ? t.t0 : _mm512_max_ps(t.t0, best);
	best = _mm512_max_ps(t.t1, best);
	return kw == 3 ? _mm512_max_ps(t.t2, best) : best;
}

// One column block of one plane: outputs [o, o + lanes) of every output row. The output
// rows whose kernel rows are all inside the image, [rlo, rhi), run without a branch; with
// 3 rows at stride 2 the last input row of one is the first of the next, split once. The
// rows at the top and bottom skip their kernel rows outside the image.
static PINL PTGT void mp_block(float *yc, const float *xc, int64_t h, int64_t wd, int64_t oh, int64_t ow, int64_t kh,
                               int kw, int64_t sh, int64_t ph, int64_t pw, int64_t dh, int64_t o, int64_t lanes,
                               int64_t ohi, int full) {
	const int64_t plo = o == 0 ? pw : 0;
	int64_t phi = 2 * lanes - 2 + kw;
	if (phi > wd + pw - 2 * o) phi = wd + pw - 2 * o;
	const __mmask16 redge = mp_mask(lanes) & (__mmask16)~mp_mask(ohi - o), smask = mp_mask(lanes);
	const float *xq = xc - pw + 2 * o;
	float *yo = yc + o;
#define MP_STORE(r, v) (full ? _mm512_storeu_ps(yo + (r) * ow, v) : _mm512_mask_storeu_ps(yo + (r) * ow, smask, v))
#define MP_TAPS(ih) mp_row_taps(xq + (ih) * wd, kw, full, plo, phi, redge)
	int64_t rlo = (ph + sh - 1) / sh, rhi = (h - 1 - (kh - 1) * dh + ph) / sh + 1;
	if (h - 1 - (kh - 1) * dh + ph < 0) rhi = 0;
	if (rhi > oh) rhi = oh;
	if (rlo > rhi) rlo = rhi;
	for (int64_t r = 0; r < oh; r++) {
		if (r == rlo && rlo < rhi) { // the interior rows
			if (kh == 3 && sh == 2 && dh == 1) {
				mp_taps a = MP_TAPS(2 * r - ph);
				for (; r < rhi; r++) {
					const mp_taps b = MP_TAPS(2 * r - ph + 1), c = MP_TAPS(2 * r - ph + 2);
					MP_STORE(r, mp_fold_row(mp_fold_row(mp_fold_row(a.t0, a, kw, 1), b, kw, 0), c, kw, 0));
					a = c;
				}
			} else {
				for (; r < rhi; r++) {
					__m512 best = mp_fold_row(_mm512_setzero_ps(), MP_TAPS(r * sh - ph), kw, 1);
					for (int64_t i = 1; i < kh; i++) best = mp_fold_row(best, MP_TAPS(r * sh + i * dh - ph), kw, 0);
					MP_STORE(r, best);
				}
			}
			if (r >= oh) break;
		}
		__m512 best = _mm512_set1_ps(-INFINITY);
		int first = 1;
		for (int64_t i = 0; i < kh; i++) {
			const int64_t ih = r * sh + i * dh - ph;
			if (ih < 0 || ih >= h) continue;
			best = mp_fold_row(best, MP_TAPS(ih), kw, first);
			first = 0;
		}
		MP_STORE(r, best);
	}
#undef MP_STORE
#undef MP_TAPS
}

// The plane loop for one window shape: full blocks where every lane's taps are inside the
// image and it is not the first block of a row with a left pad, masked blocks otherwise.
static PINL PTGT void mp_planes(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh,
                                int64_t ow, int64_t kh, int kw, int64_t sh, int64_t ph, int64_t pw, int64_t dh,
                                int64_t ohi) {
	for (int64_t c = 0; c < planes; c++) {
		const float *xc = x + c * h * wd;
		float *yc = y + c * oh * ow;
		for (int64_t o = 0; o < ow; o += 16) {
			const int64_t lanes = ow - o < 16 ? ow - o : 16;
			if (lanes == 16 && o + 16 <= ohi && (o > 0 || pw == 0))
				mp_block(yc, xc, h, wd, oh, ow, kh, kw, sh, ph, pw, dh, o, 16, ohi, 1);
			else
				mp_block(yc, xc, h, wd, oh, ow, kh, kw, sh, ph, pw, dh, o, lanes, ohi, 0);
		}
	}
}

// Specialisations with the window known, so that the tap and row loops unroll.
static PTGT void mp_planes_3x3(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh, int64_t ow,
                               int64_t sh, int64_t ph, int64_t pw, int64_t dh, int64_t ohi) {
	mp_planes(x, y, planes, h, wd, oh, ow, 3, 3, sh, ph, pw, dh, ohi);
}
static PTGT void mp_planes_2x2(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh, int64_t ow,
                               int64_t sh, int64_t ph, int64_t pw, int64_t dh, int64_t ohi) {
	mp_planes(x, y, planes, h, wd, oh, ow, 2, 2, sh, ph, pw, dh, ohi);
}
static PTGT void mp_planes_any(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh, int64_t ow,
                               int64_t kh, int kw, int64_t sh, int64_t ph, int64_t pw, int64_t dh, int64_t ohi) {
	mp_planes(x, y, planes, h, wd, oh, ow, kh, kw, sh, ph, pw, dh, ohi);
}

// Returns 0, having written nothing, when the geometry is not one of these (column stride
// not 2, column dilation not 1, a window 1 or over 3 wide, a left pad over 1, or a last
// window with only its first tap inside the image): the caller runs the general kernel.
int PTGT mc_maxpool2d_s2_avx512(const float *x, float *y, int64_t planes, int64_t h, int64_t wd, int64_t oh,
                                int64_t ow, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                int64_t dh, int64_t dw) {
	if (!(sw == 2 && dw == 1 && (kw == 2 || kw == 3) && pw <= 1 && wd >= 1 && ow >= 1 && oh >= 1))
		return 0;
	// Every window keeps its tap kw − 2 inside the image: the last window's, on the right;
	// the first's is column 0 or 1 on the left.
	if (2 * (ow - 1) - pw + kw - 2 > wd - 1) return 0;
	// Outputs below ohi have every tap inside on the right.
	int64_t ohi = (wd + pw - kw) / 2 + 1;
	if (wd + pw - kw < 0) ohi = 0;
	if (ohi > ow) ohi = ow;
	if (kh == 3 && kw == 3)
		mp_planes_3x3(x, y, planes, h, wd, oh, ow, sh, ph, pw, dh, ohi);
	else if (kh == 2 && kw == 2)
		mp_planes_2x2(x, y, planes, h, wd, oh, ow, sh, ph, pw, dh, ohi);
	else
		mp_planes_any(x, y, planes, h, wd, oh, ow, kh, (int)kw, sh, ph, pw, dh, ohi);
	return 1;
}
