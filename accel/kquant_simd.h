// The Q4_K / Q5_K sub-block fit (ggml's make_qkx2_quants with the default weights of
// quantize_row_q4_K_ref), one 32-value sub-block per vector lane. Every lane runs ggml's
// scalar code in its exact order (the sums are sequential per lane, never reassociated),
// so the result is bit-identical to the reference refFitQKX2 in kquant.go. Included by
// a per-ISA kernel file after it defines
//   KQ_W    lanes per vector (8 for AVX2, 16 for AVX-512)
//   KQ_TGT  the target attribute
//   KQ_FN   the name of the make_qkx2_quants kernel (Q4_K / Q5_K, 32-value sub-blocks)
//   KQX_FN  the name of the make_qx_quants kernel (Q6_K, 16-value sub-blocks)
// The code uses GCC vector extensions; the file is built with -std=c11, which keeps
// a*b+c unfused (no FMA contraction), as the bytes require.
#include "kernels.h"

typedef float kq_vf __attribute__((vector_size(4 * KQ_W)));
typedef int32_t kq_vi __attribute__((vector_size(4 * KQ_W)));

// m ? a : b for a lane mask m (all ones or all zeros per lane).
#define KQ_SEL(m, a, b) ((kq_vf)(((m) & (kq_vi)(a)) | (~(m) & (kq_vi)(b))))
#define KQ_SELI(m, a, b) (((m) & (a)) | (~(m) & (b)))

// ggml's nearest_int, then MAX(0, MIN(nmax, l)), as float.
#define KQ_LEVEL(out, f, nmax) do {                                         \
		kq_vf kq_v_ = (f) + 12582912.0f;                                    \
		kq_vi kq_l_ = ((kq_vi)kq_v_ & 0x007fffff) - 0x00400000;             \
		kq_l_ = KQ_SELI(kq_l_ > (nmax), (nmax) + (kq_vi){0}, kq_l_);        \
		kq_l_ = KQ_SELI(kq_l_ < 0, (kq_vi){0}, kq_l_);                      \
		(out) = __builtin_convertvector(kq_l_, kq_vf);                      \
	} while (0)

void KQ_TGT KQ_FN(float *scales, float *mins, uint8_t *levels, const float *x, int64_t nsub,
		int32_t nmax, float rmin, float rdelta, int32_t nstep) {
	const kq_vf zero = {0};
	for (int64_t s0 = 0; s0 < nsub; s0 += KQ_W) {
		const int nl = nsub - s0 < KQ_W ? (int)(nsub - s0) : KQ_W;
		kq_vf xt[32], wt[32], lv[32], la[32];
		for (int i = 0; i < 32; i++) xt[i] = zero;
		for (int k = 0; k < nl; k++) {
			const float *xs = x + (s0 + k) * 32;
			for (int i = 0; i < 32; i++) xt[i][k] = xs[i];
		}
		// weights[l] = sqrtf(Σx²/32) + |x[l]|
		kq_vf sx2 = zero;
		for (int i = 0; i < 32; i++) sx2 += xt[i] * xt[i];
		kq_vf avx;
		sx2 = sx2 / 32.0f;
		for (int k = 0; k < KQ_W; k++) avx[k] = sqrtf(sx2[k]);
		for (int i = 0; i < 32; i++) wt[i] = avx + (kq_vf)((kq_vi)xt[i] & 0x7fffffff);

		kq_vf mn = xt[0], mx = xt[0], sw = wt[0], sx = wt[0] * xt[0];
		for (int i = 1; i < 32; i++) {
			mn = KQ_SEL(xt[i] < mn, xt[i], mn);
			mx = KQ_SEL(xt[i] > mx, xt[i], mx);
			sw += wt[i];
			sx += wt[i] * xt[i];
		}
		mn = KQ_SEL(mn > 0.0f, zero, mn);
		const kq_vi flat = mx == mn;
		kq_vf iscale = (float)nmax / (mx - mn);
		kq_vf scale = 1.0f / iscale;
		kq_vf best = zero;
		for (int i = 0; i < 32; i++) {
			KQ_LEVEL(lv[i], iscale * (xt[i] - mn), nmax);
			kq_vf diff = ((scale * lv[i]) + mn) - xt[i];
			diff = diff * diff;
			best += wt[i] * diff;
		}
		for (int is = 0; is <= nstep && nstep >= 1; is++) {
			const float num = rmin + rdelta * (float)is + (float)nmax;
			const kq_vf isc = num / (mx - mn);
			kq_vf sl = zero, sl2 = zero, sxl = zero;
			for (int i = 0; i < 32; i++) {
				KQ_LEVEL(la[i], isc * (xt[i] - mn), nmax);
				const kq_vf wl = wt[i] * la[i];
				sl += wl;
				sl2 += wl * la[i];
				sxl += wl * xt[i];
			}
			const kq_vf D = sw * sl2 - sl * sl;
			const kq_vi ok = D > 0.0f;
			kq_vf ts = (sw * sxl - sx * sl) / D;
			kq_vf tm = (sl2 * sx - sl * sxl) / D;
			const kq_vi pos = tm > 0.0f;
			tm = KQ_SEL(pos, zero, tm);
			ts = KQ_SEL(pos, sxl / sl2, ts);
			kq_vf mad = zero;
			for (int i = 0; i < 32; i++) {
				kq_vf diff = ((ts * la[i]) + tm) - xt[i];
				diff = diff * diff;
				mad += wt[i] * diff;
			}
			const kq_vi upd = ok & ~flat & (mad < best);
			int any = 0;
			for (int k = 0; k < KQ_W; k++) any |= upd[k];
			if (!any) continue;
			for (int i = 0; i < 32; i++) lv[i] = KQ_SEL(upd, la[i], lv[i]);
			best = KQ_SEL(upd, mad, best);
			scale = KQ_SEL(upd, ts, scale);
			mn = KQ_SEL(upd, tm, mn);
		}
		scale = KQ_SEL(flat, zero, scale);
		for (int k = 0; k < nl; k++) {
			const float sk = scale[k], mk = -mn[k];
			scales[s0 + k] = sk == sk ? sk : mc_u2f(0x7fc00000); // one NaN: see canonNaN
			mins[s0 + k] = mk == mk ? mk : mc_u2f(0x7fc00000);
			uint8_t *l = levels + (s0 + k) * 32;
			for (int i = 0; i < 32; i++) l[i] = flat[k] ? 0 : (uint8_t)(int32_t)lv[i][k];
		}
	}
}

// ggml's make_qx_quants(16, nmax, x, L, rmse_type 1, qw NULL), one 16-value sub-block per
// lane; levels are stored offset by nmax, as ggml's L.
void KQ_TGT KQX_FN(float *scales, int8_t *levels, const float *x, int64_t nsub, int32_t nmax) {
	const kq_vf zero = {0};
	for (int64_t s0 = 0; s0 < nsub; s0 += KQ_W) {
		const int nl = nsub - s0 < KQ_W ? (int)(nsub - s0) : KQ_W;
		kq_vf xt[16], w[16], wx[16];
		kq_vi lv[16], la[16];
		for (int i = 0; i < 16; i++) xt[i] = zero;
		for (int k = 0; k < nl; k++) {
			const float *xs = x + (s0 + k) * 16;
			for (int i = 0; i < 16; i++) xt[i][k] = xs[i];
		}
		kq_vf amax = zero, mx = zero;
		for (int i = 0; i < 16; i++) {
			const kq_vf ax = (kq_vf)((kq_vi)xt[i] & 0x7fffffff);
			const kq_vi gt = ax > amax;
			amax = KQ_SEL(gt, ax, amax);
			mx = KQ_SEL(gt, xt[i], mx);
			w[i] = xt[i] * xt[i];
			wx[i] = w[i] * xt[i];
		}
		const kq_vi tiny = amax < 1e-15f;
#define KQX_LEVEL(out, f) do {                                                  \
		kq_vf kq_v_ = (f) + 12582912.0f;                                        \
		kq_vi kq_l_ = ((kq_vi)kq_v_ & 0x007fffff) - 0x00400000;                 \
		kq_l_ = KQ_SELI(kq_l_ > nmax - 1, (nmax - 1) + (kq_vi){0}, kq_l_);     \
		(out) = KQ_SELI(kq_l_ < -nmax, (-nmax) + (kq_vi){0}, kq_l_);           \
	} while (0)
		kq_vf iscale = (float)(-nmax) / mx;
		kq_vf slx = zero, sl2 = zero;
		for (int i = 0; i < 16; i++) {
			KQX_LEVEL(lv[i], iscale * xt[i]);
			const kq_vf fl = __builtin_convertvector(lv[i], kq_vf);
			slx += wx[i] * fl;
			sl2 += (w[i] * fl) * fl;
		}
		kq_vf scale = KQ_SEL(sl2 != 0.0f, slx / sl2, zero);
		kq_vf best = scale * slx;
		for (int is = -9; is <= 9; is++) {
			if (is == 0) continue;
			const float num = -((float)nmax + 0.1f * (float)is);
			iscale = num / mx;
			slx = zero;
			sl2 = zero;
			for (int i = 0; i < 16; i++) {
				KQX_LEVEL(la[i], iscale * xt[i]);
				const kq_vf fl = __builtin_convertvector(la[i], kq_vf);
				slx += wx[i] * fl;
				sl2 += (w[i] * fl) * fl;
			}
			const kq_vi upd = ~tiny & (sl2 > 0.0f) & (slx * slx > best * sl2);
			int any = 0;
			for (int k = 0; k < KQ_W; k++) any |= upd[k];
			if (!any) continue;
			for (int i = 0; i < 16; i++) lv[i] = KQ_SELI(upd, la[i], lv[i]);
			const kq_vf ns = slx / sl2;
			scale = KQ_SEL(upd, ns, scale);
			best = KQ_SEL(upd, ns * slx, best);
		}
#undef KQX_LEVEL
		scale = KQ_SEL(tiny, zero, scale);
		for (int k = 0; k < nl; k++) {
			const float sk = scale[k];
			scales[s0 + k] = sk == sk ? sk : mc_u2f(0x7fc00000);
			int8_t *l = levels + (s0 + k) * 16;
			for (int i = 0; i < 16; i++) l[i] = tiny[k] ? 0 : (int8_t)(lv[i][k] + nmax);
		}
	}
}
