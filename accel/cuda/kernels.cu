// modelc's CUDA kernels. This file is embedded in the Go binary and compiled at run time
// by NVRTC for the device found (see module.go): no CUDA headers are included, so the
// half-precision conversions and tensor-core instructions are written out here.
//
// Bit-exactness. The integer GEMMs, the conversions and the quantizers must give the
// same bytes as accel/ref.go. NVRTC contracts a*b+c into an FMA by default, so every
// float operation in those kernels that the reference rounds separately is spelled with
// an explicit-rounding intrinsic (__fmul_rn, __fadd_rn, __fdiv_rn), which the compiler
// never fuses. Division is IEEE (NVRTC's default -prec-div=true); denormals are kept
// (-ftz=false is the default too).
//
// NaN payloads. A GPU returns the canonical NaN 0x7fffffff from arithmetic, while the
// CPU reference propagates the NaN operand (quieted), or produces the platform's
// "default NaN" (0xffc00000 on x86, 0x7fc00000 on arm64) for 0·Inf. Where a NaN can
// reach an output's bits, the kernels reproduce the CPU rule: quiet(operand), or dnan,
// a kernel argument the host fills with its own default NaN.

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

#define FULL 0xffffffffu

// ---- scalar helpers: ports of accel/ref.go ------------------------------------------------

__device__ __forceinline__ u16 f32_to_f16(float f) {
	u32 x = __float_as_uint(f);
	u32 sign = (x >> 16) & 0x8000u;
	int exp = (x >> 23) & 0xff;
	u32 mant = x & 0x7fffffu;
	if (exp == 0xff) {
		if (mant != 0) return (u16)(sign | 0x7e00u | (mant >> 13));
		return (u16)(sign | 0x7c00u);
	}
	int e = exp - 127 + 15;
	if (e >= 0x1f) return (u16)(sign | 0x7c00u);
	if (e <= 0) {
		if (e < -10) return (u16)sign;
		u32 m = mant | 0x800000u;
		u32 shift = (u32)(14 - e);
		u32 h = m >> shift;
		u32 rem = m & ((1u << shift) - 1);
		u32 half = 1u << (shift - 1);
		if (rem > half || (rem == half && (h & 1))) h++;
		return (u16)(sign | h);
	}
	u32 h = ((u32)e << 10) | (mant >> 13);
	u32 rem = mant & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; // may carry up to Inf: correct
	return (u16)(sign | h);
}

__device__ __forceinline__ float f16_to_f32(u16 h) {
	u32 sign = (u32)(h & 0x8000u) << 16;
	u32 exp = (h >> 10) & 0x1fu;
	u32 mant = h & 0x3ffu;
	if (exp == 0x1f) {
		if (mant != 0) return __uint_as_float(sign | 0x7fc00000u | (mant << 13));
		return __uint_as_float(sign | 0x7f800000u);
	}
	if (exp == 0) {
		if (mant == 0) return __uint_as_float(sign);
		u32 e = 127 - 15 + 1;
		while ((mant & 0x400u) == 0) {
			mant <<= 1;
			e--;
		}
		mant &= 0x3ffu;
		return __uint_as_float(sign | (e << 23) | (mant << 13));
	}
	return __uint_as_float(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

__device__ __forceinline__ u16 f32_to_bf16(float f) {
	u32 x = __float_as_uint(f);
	if ((x & 0x7fffffffu) > 0x7f800000u) return (u16)((x >> 16) | 0x40u);
	return (u16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float((u32)h << 16); }

__device__ __forceinline__ float quiet(float x) { return __uint_as_float(__float_as_uint(x) | 0x400000u); }

// mul_cpu is a·b with the CPU's NaN result: quiet(b) when b is NaN (a never is here: it
// comes from an integer), dnan when the product of non-NaNs is NaN (0·Inf).
__device__ __forceinline__ float mul_cpu(float a, float b, float dnan) {
	float r = __fmul_rn(a, b);
	if (r != r) return b != b ? quiet(b) : dnan;
	return r;
}

// quant_one is ONNX QuantizeLinear of one value: saturate(rint(x/scale) + zp); NaN → zp.
__device__ __forceinline__ int quant_one(float x, float scale, int zp, int lo, int hi) {
	float v = __fdiv_rn(x, scale);
	if (v != v) return zp;
	float r = __fadd_rn(rintf(v), (float)zp);
	if (r < (float)lo) return lo;
	if (r > (float)hi) return hi;
	return (int)r;
}

// c_int8 is C's (int8_t) conversion as x86 compilers emit it: truncate to int32 (NaN and
// out-of-range give 0x80000000, whose low byte is 0), keep the low byte.
__device__ __forceinline__ int c_int8(float v) {
	if (v != v || v >= 2147483648.0f || v < -2147483648.0f) return 0;
	return (int)(i8)(int)v;
}

// round_away is C roundf (half away from zero), written as the reference does it.
__device__ __forceinline__ float round_away(float v) {
	float t = truncf(v);
	float d = __fsub_rn(v, t);
	if (d >= 0.5f) t = __fadd_rn(t, 1.0f);
	else if (d <= -0.5f) t = __fsub_rn(t, 1.0f);
	return t;
}

// ---- conversions ----------------------------------------------------------------------------

#define GRID_STRIDE(i, n) for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

extern "C" __global__ void mc_f32_to_f16(u16 *dst, const float *src, i64 n) {
	GRID_STRIDE(i, n) dst[i] = f32_to_f16(src[i]);
}
extern "C" __global__ void mc_f16_to_f32(float *dst, const u16 *src, i64 n) {
	GRID_STRIDE(i, n) dst[i] = f16_to_f32(src[i]);
}
extern "C" __global__ void mc_f32_to_bf16(u16 *dst, const float *src, i64 n) {
	GRID_STRIDE(i, n) dst[i] = f32_to_bf16(src[i]);
}
extern "C" __global__ void mc_bf16_to_f32(float *dst, const u16 *src, i64 n) {
	GRID_STRIDE(i, n) dst[i] = bf16_to_f32(src[i]);
}

// ---- linear quantization, per tensor or per axis --------------------------------------------
// Element i of a call (global index g0+i of the tensor viewed as [outer, ch, inner]) uses
// scale[c], zp[c] with c = ((g0+i)/inner) % ch, as in refQuantS8.

template <typename Q>
__device__ __forceinline__ void quant_axis(Q *dst, const float *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const Q *zp, int lo, int hi) {
	GRID_STRIDE(i, n) {
		i64 c = ((g0 + i) / inner) % ch;
		dst[i] = (Q)quant_one(src[i], scale[c], (int)zp[c], lo, hi);
	}
}

template <typename Q>
__device__ __forceinline__ void dequant_axis(float *dst, const Q *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const Q *zp, float dnan) {
	GRID_STRIDE(i, n) {
		i64 c = ((g0 + i) / inner) % ch;
		dst[i] = mul_cpu((float)((int)src[i] - (int)zp[c]), scale[c], dnan);
	}
}

extern "C" __global__ void mc_quant_s8(i8 *dst, const float *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const i8 *zp) {
	quant_axis<i8>(dst, src, n, g0, inner, ch, scale, zp, -128, 127);
}
extern "C" __global__ void mc_quant_u8(u8 *dst, const float *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const u8 *zp) {
	quant_axis<u8>(dst, src, n, g0, inner, ch, scale, zp, 0, 255);
}
extern "C" __global__ void mc_dequant_s8(float *dst, const i8 *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const i8 *zp, float dnan) {
	dequant_axis<i8>(dst, src, n, g0, inner, ch, scale, zp, dnan);
}
extern "C" __global__ void mc_dequant_u8(float *dst, const u8 *src, i64 n, i64 g0, i64 inner, i64 ch,
	const float *scale, const u8 *zp, float dnan) {
	dequant_axis<u8>(dst, src, n, g0, inner, ch, scale, zp, dnan);
}

// ---- ggml blocks: one warp per block of 32 values, lane j owns value j ----------------------

#define WARP_STRIDE(b, nb)                                                                  \
	for (i64 b = (blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5; b < (nb);            \
	     b += ((i64)gridDim.x * blockDim.x) >> 5)

// mc_q8_0 is quantize_row_q8_0_ref. The reference scans amax = MAX(amax, |v|) in order,
// and a NaN makes that MAX forget everything before it: so amax is the maximum of |v|
// after the last NaN of the block, or that NaN itself when it is the last value.
extern "C" __global__ void mc_q8_0(u8 *dst, const float *src, i64 nb) {
	int lane = threadIdx.x & 31;
	WARP_STRIDE(b, nb) {
		float v = src[b * 32 + lane];
		float av = fabsf(v); // clears the sign bit only, as math.Abs: a NaN keeps its payload
		u32 nans = __ballot_sync(FULL, v != v);
		int last = nans ? 31 - __clz((int)nans) : -1;
		float m = lane > last ? av : 0.0f;
		for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(FULL, m, o));
		float amax = last == 31 ? __shfl_sync(FULL, av, 31) : m;
		float d = amax != amax ? quiet(amax) : __fdiv_rn(amax, 127.0f);
		float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
		u8 *y = dst + b * 34;
		if (lane == 0) {
			u16 h = f32_to_f16(d);
			y[0] = (u8)h;
			y[1] = (u8)(h >> 8);
		}
		y[2 + lane] = (u8)c_int8(round_away(__fmul_rn(v, id)));
	}
}

// mc_dq8_0: y = q · f16(d).
extern "C" __global__ void mc_dq8_0(float *dst, const u8 *src, i64 nb, float dnan) {
	int lane = threadIdx.x & 31;
	WARP_STRIDE(b, nb) {
		const u8 *y = src + b * 34;
		float d = f16_to_f32((u16)(y[0] | (y[1] << 8)));
		dst[b * 32 + lane] = mul_cpu((float)(i8)y[2 + lane], d, dnan);
	}
}

// mc_q4_0 is quantize_row_q4_0_ref: the value of largest magnitude (the first on ties,
// never a NaN, and only if above 0) sets d = max/−8; q = min(15, (int8)(x·id + 8.5));
// byte j holds value j (low nibble) and j+16 (high nibble).
extern "C" __global__ void mc_q4_0(u8 *dst, const float *src, i64 nb) {
	int lane = threadIdx.x & 31;
	WARP_STRIDE(b, nb) {
		float v = src[b * 32 + lane];
		float av = fabsf(v);
		float best = av > 0.0f ? av : -1.0f; // NaN and zeros never win
		int at = lane;
		for (int o = 16; o > 0; o >>= 1) {
			float ob = __shfl_xor_sync(FULL, best, o);
			int oa = __shfl_xor_sync(FULL, at, o);
			if (ob > best || (ob == best && oa < at)) {
				best = ob;
				at = oa;
			}
		}
		float mx = __shfl_sync(FULL, v, at);
		if (best < 0.0f) mx = 0.0f;
		float d = __fdiv_rn(mx, -8.0f);
		float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
		int q = c_int8(__fadd_rn(__fmul_rn(v, id), 8.5f));
		if (q > 15) q = 15;
		int hi = __shfl_down_sync(FULL, q, 16);
		u8 *y = dst + b * 18;
		if (lane == 0) {
			u16 h = f32_to_f16(d);
			y[0] = (u8)h;
			y[1] = (u8)(h >> 8);
		}
		if (lane < 16) y[2 + lane] = (u8)(((u8)q & 0x0f) | (u8)((u8)hi << 4));
	}
}

// mc_dq4_0: y = (q − 8) · f16(d).
extern "C" __global__ void mc_dq4_0(float *dst, const u8 *src, i64 nb, float dnan) {
	int lane = threadIdx.x & 31;
	WARP_STRIDE(b, nb) {
		const u8 *y = src + b * 18;
		float d = f16_to_f32((u16)(y[0] | (y[1] << 8)));
		u8 byte = y[2 + (lane & 15)];
		int q = lane < 16 ? (byte & 0x0f) : (byte >> 4);
		dst[b * 32 + lane] = mul_cpu((float)(q - 8), d, dnan);
	}
}

// ---- f32 GEMM -----------------------------------------------------------------------------------
// C = alpha·op(A)·op(B) + beta·C + bias, row-major, any leading dimensions. 128×128 tiles
// of C per block of 256 threads, 16-deep k slices staged in shared memory, 8×8 results
// per thread at a stride of 16 (so shared-memory reads are broadcasts or conflict-free).
// Tails are handled by zero-filling the staged tiles and masking the stores.

#define SG_BM 128
#define SG_BN 128
#define SG_BK 16

extern "C" __global__ void __launch_bounds__(256) mc_sgemm(int transA, int transB, i64 m, i64 n, i64 k,
	float alpha, const float *a, i64 lda, const float *b, i64 ldb, float beta, float *c, i64 ldc,
	const float *bias) {
	__shared__ float As[SG_BK][SG_BM + 4];
	__shared__ float Bs[SG_BK][SG_BN + 4];
	const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
	const i64 row0 = (i64)blockIdx.y * SG_BM, col0 = (i64)blockIdx.x * SG_BN;
	float acc[8][8];
#pragma unroll
	for (int i = 0; i < 8; i++)
#pragma unroll
		for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;

	for (i64 k0 = 0; k0 < k; k0 += SG_BK) {
		// Stage op(A)[row0:+128, k0:+16] and op(B)[k0:+16, col0:+128], 8 values per thread
		// each, walking the dimension that is contiguous in memory with consecutive threads.
#pragma unroll
		for (int r = 0; r < 8; r++) {
			int e = tid + r * 256;
			int i, p;
			if (transA) { i = e & 127; p = e >> 7; } // A is k×m: m contiguous
			else { p = e & 15; i = e >> 4; }          // A is m×k: k contiguous
			i64 gi = row0 + i, gp = k0 + p;
			float v = 0.0f;
			if (gi < m && gp < k) v = transA ? a[gp * lda + gi] : a[gi * lda + gp];
			As[p][i] = v;
		}
#pragma unroll
		for (int r = 0; r < 8; r++) {
			int e = tid + r * 256;
			int j, p;
			if (transB) { p = e & 15; j = e >> 4; } // B is n×k: k contiguous
			else { j = e & 127; p = e >> 7; }        // B is k×n: n contiguous
			i64 gj = col0 + j, gp = k0 + p;
			float v = 0.0f;
			if (gj < n && gp < k) v = transB ? b[gj * ldb + gp] : b[gp * ldb + gj];
			Bs[p][j] = v;
		}
		__syncthreads();
#pragma unroll
		for (int p = 0; p < SG_BK; p++) {
			float ar[8], br[8];
#pragma unroll
			for (int i = 0; i < 8; i++) ar[i] = As[p][ty + 16 * i];
#pragma unroll
			for (int j = 0; j < 8; j++) br[j] = Bs[p][tx + 16 * j];
#pragma unroll
			for (int i = 0; i < 8; i++)
#pragma unroll
				for (int j = 0; j < 8; j++) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
		}
		__syncthreads();
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		i64 gi = row0 + ty + 16 * i;
		if (gi >= m) continue;
#pragma unroll
		for (int j = 0; j < 8; j++) {
			i64 gj = col0 + tx + 16 * j;
			if (gj >= n) continue;
			float v = alpha * acc[i][j];
			if (beta != 0.0f) v += beta * c[gi * ldc + gj];
			if (bias) v += bias[gj];
			c[gi * ldc + gj] = v;
		}
	}
}

// ---- f16 / bf16 GEMM with f32 accumulation ---------------------------------------------------
// C(f32) = alpha·op(A)·op(B) + beta·C. 128×128 tiles per block of 8 warps (2 along m × 4
// along n); each warp owns 64×32 of C as 4×4 tensor-core tiles of 16×8. Staged tiles keep
// k contiguous for both operands (As[m][k], Bs[n][k]), which is the register layout of
// mma.m16n8k16 .row.col: a thread's pair of halves is one 32-bit shared-memory load.
// On devices before sm_80 (no m16n8k16 for bf16; different f16 shapes) the same
// accumulator layout is computed with scalar FMAs, so the result is the same up to the
// order of the f32 additions.

#define HG_BM 128
#define HG_BN 128
#define HG_BK 32
#define HG_PAD 8 // halves of padding per staged row: rows 80 bytes apart spread the banks

template <bool BF16>
__device__ __forceinline__ float half_to_f32(u16 h) { return BF16 ? bf16_to_f32(h) : f16_to_f32(h); }

template <bool BF16>
__device__ __forceinline__ void mma16816(float *c, const u32 *a, const u32 *b) {
#if __CUDA_ARCH__ >= 800
	if (BF16)
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
			: "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
			: "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
	else
		asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
			: "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
			: "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
	// Scalar version of the same fragment layout (see the PTX ISA, "Matrix Fragments for
	// mma.m16n8k16"): a[r] holds A(g + 8·(r&1), 2t + 8·(r>>1) + {0,1}), b[r] holds
	// B(2t + 8r + {0,1}, g) and c[r] is C(g + 8·(r>>1), 2t + (r&1)), with g = lane/4 and
	// t = lane%4. Each lane gathers the rows and columns it needs with shuffles.
	int lane = threadIdx.x & 31;
	int g = lane >> 2, t = lane & 3;
	for (int r = 0; r < 4; r++) {
		int row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
		float s = c[r];
		for (int kk = 0; kk < 16; kk++) {
			// A(row, kk) lives in lane row*4 + (kk%8)/2, register (row>=8) + 2*(kk>=8), half kk&1.
			int al = (row & 7) * 4 + ((kk & 7) >> 1), ar = (row >> 3) + 2 * (kk >> 3);
			// B(kk, col) lives in lane col*4 + (kk%8)/2, register kk>=8, half kk&1.
			int bl = col * 4 + ((kk & 7) >> 1), br = kk >> 3;
			u32 av = 0, bv = 0;
			for (int q = 0; q < 4; q++) {
				u32 x = __shfl_sync(FULL, a[q], al);
				if (q == ar) av = x;
			}
			for (int q = 0; q < 2; q++) {
				u32 x = __shfl_sync(FULL, b[q], bl);
				if (q == br) bv = x;
			}
			u16 ah = (kk & 1) ? (u16)(av >> 16) : (u16)av;
			u16 bh = (kk & 1) ? (u16)(bv >> 16) : (u16)bv;
			s = fmaf(half_to_f32<BF16>(ah), half_to_f32<BF16>(bh), s);
		}
		c[r] = s;
	}
#endif
}

template <bool BF16>
__device__ __forceinline__ void hgemm(int transA, int transB, i64 m, i64 n, i64 k, float alpha, const u16 *a,
	i64 lda, const u16 *b, i64 ldb, float beta, float *c, i64 ldc) {
	__shared__ __align__(16) u16 As[HG_BM][HG_BK + HG_PAD];
	__shared__ __align__(16) u16 Bs[HG_BN][HG_BK + HG_PAD];
	const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	const int wm = warp >> 2, wn = warp & 3; // warp tile: rows wm*64, cols wn*32
	const int g = lane >> 2, t = lane & 3;
	const i64 row0 = (i64)blockIdx.y * HG_BM, col0 = (i64)blockIdx.x * HG_BN;
	float acc[4][4][4];
#pragma unroll
	for (int i = 0; i < 4; i++)
#pragma unroll
		for (int j = 0; j < 4; j++)
#pragma unroll
			for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

	for (i64 k0 = 0; k0 < k; k0 += HG_BK) {
		// 128×32 halves per operand, 16 per thread, consecutive threads along the
		// contiguous dimension of the source.
#pragma unroll
		for (int r = 0; r < 16; r++) {
			int e = tid + r * 256;
			int i, p;
			if (transA) { i = e & 127; p = e >> 7; }
			else { p = e & 31; i = e >> 5; }
			i64 gi = row0 + i, gp = k0 + p;
			u16 v = 0;
			if (gi < m && gp < k) v = transA ? a[gp * lda + gi] : a[gi * lda + gp];
			As[i][p] = v;
		}
#pragma unroll
		for (int r = 0; r < 16; r++) {
			int e = tid + r * 256;
			int j, p;
			if (transB) { p = e & 31; j = e >> 5; }
			else { j = e & 127; p = e >> 7; }
			i64 gj = col0 + j, gp = k0 + p;
			u16 v = 0;
			if (gj < n && gp < k) v = transB ? b[gj * ldb + gp] : b[gp * ldb + gj];
			Bs[j][p] = v;
		}
		__syncthreads();
#pragma unroll
		for (int kk = 0; kk < HG_BK; kk += 16) {
			u32 af[4][4], bf[4][2];
#pragma unroll
			for (int i = 0; i < 4; i++) {
				int r = wm * 64 + i * 16 + g;
				af[i][0] = *(const u32 *)&As[r][kk + 2 * t];
				af[i][1] = *(const u32 *)&As[r + 8][kk + 2 * t];
				af[i][2] = *(const u32 *)&As[r][kk + 2 * t + 8];
				af[i][3] = *(const u32 *)&As[r + 8][kk + 2 * t + 8];
			}
#pragma unroll
			for (int j = 0; j < 4; j++) {
				int cn = wn * 32 + j * 8 + g;
				bf[j][0] = *(const u32 *)&Bs[cn][kk + 2 * t];
				bf[j][1] = *(const u32 *)&Bs[cn][kk + 2 * t + 8];
			}
#pragma unroll
			for (int i = 0; i < 4; i++)
#pragma unroll
				for (int j = 0; j < 4; j++) mma16816<BF16>(acc[i][j], af[i], bf[j]);
		}
		__syncthreads();
	}
#pragma unroll
	for (int i = 0; i < 4; i++)
#pragma unroll
		for (int j = 0; j < 4; j++)
#pragma unroll
			for (int r = 0; r < 4; r++) {
				i64 gi = row0 + wm * 64 + i * 16 + g + 8 * (r >> 1);
				i64 gj = col0 + wn * 32 + j * 8 + 2 * t + (r & 1);
				if (gi < m && gj < n) {
					float v = alpha * acc[i][j][r];
					if (beta != 0.0f) v += beta * c[gi * ldc + gj];
					c[gi * ldc + gj] = v;
				}
			}
}

extern "C" __global__ void __launch_bounds__(256) mc_hgemm_f16(int transA, int transB, i64 m, i64 n, i64 k,
	float alpha, const u16 *a, i64 lda, const u16 *b, i64 ldb, float beta, float *c, i64 ldc) {
	hgemm<false>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
extern "C" __global__ void __launch_bounds__(256) mc_hgemm_bf16(int transA, int transB, i64 m, i64 n, i64 k,
	float alpha, const u16 *a, i64 lda, const u16 *b, i64 ldb, float beta, float *c, i64 ldc) {
	hgemm<true>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// ---- int8 GEMM ------------------------------------------------------------------------------------
// C(int32) = A·op(B) for int8 or uint8 A and int8 B, exact: integer addition is
// associative modulo 2³², so any summation order gives the reference's bits. Same tiling
// as mc_sgemm, 32-deep k slices.

#define IG_BK 32

template <typename TA>
__device__ __forceinline__ void igemm(int transB, i64 m, i64 n, i64 k, const TA *a, i64 lda, const i8 *b, i64 ldb,
	int *c, i64 ldc) {
	__shared__ int As[IG_BK][SG_BM + 1];
	__shared__ int Bs[IG_BK][SG_BN + 1];
	const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
	const i64 row0 = (i64)blockIdx.y * SG_BM, col0 = (i64)blockIdx.x * SG_BN;
	u32 acc[8][8]; // unsigned: the sum wraps modulo 2³² like Go's int32, without C's overflow UB
#pragma unroll
	for (int i = 0; i < 8; i++)
#pragma unroll
		for (int j = 0; j < 8; j++) acc[i][j] = 0;
	for (i64 k0 = 0; k0 < k; k0 += IG_BK) {
#pragma unroll
		for (int r = 0; r < 16; r++) {
			int e = tid + r * 256;
			int p = e & 31, i = e >> 5;
			i64 gi = row0 + i, gp = k0 + p;
			As[p][i] = (gi < m && gp < k) ? (int)a[gi * lda + gp] : 0;
		}
#pragma unroll
		for (int r = 0; r < 16; r++) {
			int e = tid + r * 256;
			int j, p;
			if (transB) { p = e & 31; j = e >> 5; }
			else { j = e & 127; p = e >> 7; }
			i64 gj = col0 + j, gp = k0 + p;
			Bs[p][j] = (gj < n && gp < k) ? (int)(transB ? b[gj * ldb + gp] : b[gp * ldb + gj]) : 0;
		}
		__syncthreads();
#pragma unroll 4
		for (int p = 0; p < IG_BK; p++) {
			int ar[8], br[8];
#pragma unroll
			for (int i = 0; i < 8; i++) ar[i] = As[p][ty + 16 * i];
#pragma unroll
			for (int j = 0; j < 8; j++) br[j] = Bs[p][tx + 16 * j];
#pragma unroll
			for (int i = 0; i < 8; i++)
#pragma unroll
				for (int j = 0; j < 8; j++) acc[i][j] += (u32)(ar[i] * br[j]);
		}
		__syncthreads();
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		i64 gi = row0 + ty + 16 * i;
		if (gi >= m) continue;
#pragma unroll
		for (int j = 0; j < 8; j++) {
			i64 gj = col0 + tx + 16 * j;
			if (gj < n) c[gi * ldc + gj] = (int)acc[i][j];
		}
	}
}

extern "C" __global__ void __launch_bounds__(256) mc_gemm_s8s8(int transB, i64 m, i64 n, i64 k, const i8 *a, i64 lda,
	const i8 *b, i64 ldb, int *c, i64 ldc) {
	igemm<i8>(transB, m, n, k, a, lda, b, ldb, c, ldc);
}
extern "C" __global__ void __launch_bounds__(256) mc_gemm_u8s8(int transB, i64 m, i64 n, i64 k, const u8 *a, i64 lda,
	const i8 *b, i64 ldb, int *c, i64 ldc) {
	igemm<u8>(transB, m, n, k, a, lda, b, ldb, c, ldc);
}
