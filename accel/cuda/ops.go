package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// The host-level kernels: Go slices in, Go slices out, synchronous. Shapes and lengths
// follow package accel (row-major, leading dimensions, op(X) = X or Xᵀ); a call with bad
// sizes returns an error instead of launching anything.

// Launch arguments are passed as 8-byte words (see launch).
func argP(p devptr) uint64  { return uint64(p) }
func argI(x int) uint64     { return uint64(int64(x)) }
func argB(b bool) uint64    { return map[bool]uint64{false: 0, true: 1}[b] }
func argF(f float32) uint64 { return uint64(math.Float32bits(f)) }
func ceilDiv(a, b int) int  { return (a + b - 1) / b }
func dims(t bool, r, c int) (int, int) {
	if t {
		return c, r
	}
	return r, c
}

// span is the number of elements a rows×cols matrix with leading dimension ld covers.
func span(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func checkMat(fn, name string, have, rows, cols, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("cuda: %s: ld%s = %d < max(1, %d)", fn, name, ld, cols)
	}
	if need := span(rows, cols, ld); have < need {
		return fmt.Errorf("cuda: %s: len(%s) = %d, need ≥ %d for %d×%d with ld %d", fn, name, have, need, rows, cols, ld)
	}
	return nil
}

func checkGEMM(fn string, transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("cuda: %s: negative size %d×%d×%d", fn, m, n, k)
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	if err := checkMat(fn, "a", la, ar, ac, lda); err != nil {
		return err
	}
	if err := checkMat(fn, "b", lb, br, bc, ldb); err != nil {
		return err
	}
	if err := checkMat(fn, "c", lc, m, n, ldc); err != nil {
		return err
	}
	if ceilDiv(m, 128) > 65535 {
		return fmt.Errorf("cuda: %s: m = %d is more rows than one launch covers", fn, m)
	}
	return nil
}

// devBufs allocates several device buffers at once and frees them together.
type devBufs []devptr

func allocAll(sizes ...int) (devBufs, error) {
	bufs := make(devBufs, 0, len(sizes))
	for _, n := range sizes {
		p, err := memAlloc(n)
		if err != nil {
			bufs.free()
			return nil, err
		}
		bufs = append(bufs, p)
	}
	return bufs, nil
}

func (b devBufs) free() {
	for _, p := range b {
		memFree(p)
	}
}

// gemm runs one GEMM kernel: uploads A, B, C (when it is read: beta ≠ 0, or rows with
// gaps that must survive the download) and bias, launches, downloads C. GEMMs are
// compute-bound — O(n²) bytes against O(n³) work — so plain synchronous copies on the
// default stream are used.
func (d *Device) gemm(kernel string, a, b, c, bias []byte, readC bool, gx, gy int,
	args func(pa, pb, pc, pbias devptr) []uint64) error {
	return d.do(func() error {
		bufs, err := allocAll(len(a), len(b), len(c), len(bias))
		if err != nil {
			return err
		}
		defer bufs.free()
		if err := htod(bufs[0], a); err != nil {
			return err
		}
		if err := htod(bufs[1], b); err != nil {
			return err
		}
		if readC {
			if err := htod(bufs[2], c); err != nil {
				return err
			}
		}
		if err := htod(bufs[3], bias); err != nil {
			return err
		}
		if err := launch(kernel, d.fn(kernel), gx, gy, 256, nil, args(bufs[0], bufs[1], bufs[2], bufs[3])...); err != nil {
			return err
		}
		return dtoh(c, bufs[2])
	})
}

// SGEMM is accel.SGEMMBias on the GPU: C = alpha·op(A)·op(B) + beta·C + bias (bias nil
// or of length ≥ n). Accumulation is in f32 with FMAs, in another order than the CPU.
func (d *Device) SGEMM(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, bias []float32) error {
	if err := checkGEMM("SGEMM", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return err
	}
	if bias != nil && len(bias) < n {
		return fmt.Errorf("cuda: SGEMM: len(bias) = %d < n = %d", len(bias), n)
	}
	if m == 0 || n == 0 {
		return nil
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	if bias != nil {
		bias = bias[:n]
	}
	return d.gemm("mc_sgemm", asBytes(a[:span(ar, ac, lda)]), asBytes(b[:span(br, bc, ldb)]),
		asBytes(c[:span(m, n, ldc)]), asBytes(bias), beta != 0 || ldc != n, ceilDiv(n, 128), ceilDiv(m, 128),
		func(pa, pb, pc, pbias devptr) []uint64 {
			return []uint64{argB(transA), argB(transB), argI(m), argI(n), argI(k), argF(alpha), argP(pa), argI(lda),
				argP(pb), argI(ldb), argF(beta), argP(pc), argI(ldc), argP(pbias)}
		})
}

// GEMMHalf is C(f32) = alpha·op(A)·op(B) + beta·C for A and B in IEEE half precision
// (bf16 false) or bfloat16 (bf16 true), with f32 accumulation — on tensor cores from
// sm_80. The products are exact in f32, so the error bound is SGEMM's.
func (d *Device) GEMMHalf(bf16, transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16,
	ldb int, beta float32, c []float32, ldc int) error {
	fn := "GEMMF16"
	kernel := "mc_hgemm_f16"
	if bf16 {
		fn, kernel = "GEMMBF16", "mc_hgemm_bf16"
	}
	if err := checkGEMM(fn, transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	ar, ac := dims(transA, m, k)
	br, bc := dims(transB, k, n)
	return d.gemm(kernel, asBytes(a[:span(ar, ac, lda)]), asBytes(b[:span(br, bc, ldb)]),
		asBytes(c[:span(m, n, ldc)]), nil, beta != 0 || ldc != n, ceilDiv(n, 128), ceilDiv(m, 128),
		func(pa, pb, pc, _ devptr) []uint64 {
			return []uint64{argB(transA), argB(transB), argI(m), argI(n), argI(k), argF(alpha), argP(pa), argI(lda),
				argP(pb), argI(ldb), argF(beta), argP(pc), argI(ldc)}
		})
}

// GEMMS8S8 is accel.GEMMS8S8 on the GPU: C(int32) = A·op(B), exact.
func (d *Device) GEMMS8S8(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) error {
	return igemm(d, "mc_gemm_s8s8", transB, m, n, k, a, lda, b, ldb, c, ldc)
}

// GEMMU8S8 is accel.GEMMU8S8 on the GPU (uint8 A).
func (d *Device) GEMMU8S8(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) error {
	return igemm(d, "mc_gemm_u8s8", transB, m, n, k, a, lda, b, ldb, c, ldc)
}

func igemm[T int8 | uint8](d *Device, kernel string, transB bool, m, n, k int, a []T, lda int, b []int8, ldb int,
	c []int32, ldc int) error {
	if err := checkGEMM(kernel, false, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	br, bc := dims(transB, k, n)
	return d.gemm(kernel, asBytes(a[:span(m, k, lda)]), asBytes(b[:span(br, bc, ldb)]), asBytes(c[:span(m, n, ldc)]),
		nil, ldc != n, ceilDiv(n, 128), ceilDiv(m, 128),
		func(pa, pb, pc, _ devptr) []uint64 {
			return []uint64{argB(transB), argI(m), argI(n), argI(k), argP(pa), argI(lda), argP(pb), argI(ldb),
				argP(pc), argI(ldc)}
		})
}

// ---- element-wise kernels, pipelined ------------------------------------------------------------

// stageBytes is the size of one staging buffer: large calls move through the GPU in
// chunks of this many input (and output) bytes, two chunks in flight on two streams so
// the upload of one overlaps the kernel and download of the other.
const stageBytes = 16 << 20

// slot is one chunk's worth of staging: a stream, page-locked host buffers, device buffers.
type slot struct {
	s         cuStream
	hin, hout unsafe.Pointer
	din, dout devptr
	pending   bool
	lo, cnt   int
}

func newSlot() (*slot, error) {
	sl := &slot{}
	var err error
	if sl.s, err = newStream(); err != nil {
		return nil, err
	}
	if sl.hin, err = hostAlloc(stageBytes); err == nil {
		if sl.hout, err = hostAlloc(stageBytes); err == nil {
			if sl.din, err = memAlloc(stageBytes); err == nil {
				sl.dout, err = memAlloc(stageBytes)
			}
		}
	}
	if err != nil {
		sl.free()
		return nil, err
	}
	return sl, nil
}

func (sl *slot) free() {
	_ = syncStream(sl.s)
	hostFree(sl.hin)
	hostFree(sl.hout)
	memFree(sl.din)
	memFree(sl.dout)
	destroyStream(sl.s)
}

// hostBytes views n bytes of C memory.
func hostBytes(p unsafe.Pointer, n int) []byte { return unsafe.Slice((*byte)(p), n) }

// elementwise runs kernel over items [0, n): item i reads inSize bytes at in[i·inSize:]
// and writes outSize bytes at out[i·outSize:]. args builds the kernel's arguments for a
// chunk [lo, lo+cnt) staged at din/dout. perItem is the number of threads per item (1,
// or 32 for the one-warp-per-block kernels).
func (d *Device) elementwise(kernel string, n, inSize, outSize, perItem int, in, out []byte,
	args func(din, dout devptr, lo, cnt int) []uint64) error {
	if n == 0 {
		return nil
	}
	per := stageBytes / max(inSize, outSize)
	if d.slots == nil {
		for range 2 {
			sl, err := newSlot()
			if err != nil {
				for _, s := range d.slots {
					s.free()
				}
				d.slots = nil
				return err
			}
			d.slots = append(d.slots, sl)
		}
	}
	finish := func(sl *slot) error {
		if !sl.pending {
			return nil
		}
		sl.pending = false
		if err := syncStream(sl.s); err != nil {
			return err
		}
		copy(out[sl.lo*outSize:(sl.lo+sl.cnt)*outSize], hostBytes(sl.hout, sl.cnt*outSize))
		return nil
	}
	var err error
	for i, lo := 0, 0; lo < n && err == nil; i, lo = i+1, lo+per {
		cnt := min(per, n-lo)
		sl := d.slots[i%len(d.slots)]
		if err = finish(sl); err != nil {
			break
		}
		copy(hostBytes(sl.hin, cnt*inSize), in[lo*inSize:(lo+cnt)*inSize])
		if err = htodAsync(sl.din, sl.hin, cnt*inSize, sl.s); err != nil {
			break
		}
		blocks := min(ceilDiv(cnt*perItem, 256), d.Info.SMs*64)
		if err = launch(kernel, d.fn(kernel), max(blocks, 1), 1, 256, sl.s, args(sl.din, sl.dout, lo, cnt)...); err != nil {
			break
		}
		if err = dtohAsync(sl.hout, sl.dout, cnt*outSize, sl.s); err != nil {
			break
		}
		sl.pending, sl.lo, sl.cnt = true, lo, cnt
	}
	// Drain in order; on an earlier error still wait for the streams, so nothing runs on
	// the staging buffers after we return.
	for i := range d.slots {
		sl := d.slots[i]
		if err != nil {
			_ = syncStream(sl.s)
			sl.pending = false
			continue
		}
		err = finish(sl)
	}
	return err
}

func checkLen(fn string, dst, src int) error {
	if dst < src {
		return fmt.Errorf("cuda: %s: len(dst) = %d < len(src) = %d", fn, dst, src)
	}
	return nil
}

func (d *Device) convert(kernel string, n, inSize, outSize int, in, out []byte) error {
	return d.do(func() error {
		return d.elementwise(kernel, n, inSize, outSize, 1, in, out, func(din, dout devptr, _, cnt int) []uint64 {
			return []uint64{argP(dout), argP(din), argI(cnt)}
		})
	})
}

// F32ToF16 converts to IEEE half bits, rounding to nearest even (bit-exact with accel).
func (d *Device) F32ToF16(dst []uint16, src []float32) error {
	if err := checkLen("F32ToF16", len(dst), len(src)); err != nil {
		return err
	}
	return d.convert("mc_f32_to_f16", len(src), 4, 2, asBytes(src), asBytes(dst[:len(src)]))
}

// F16ToF32 converts half bits to float32 (exact).
func (d *Device) F16ToF32(dst []float32, src []uint16) error {
	if err := checkLen("F16ToF32", len(dst), len(src)); err != nil {
		return err
	}
	return d.convert("mc_f16_to_f32", len(src), 2, 4, asBytes(src), asBytes(dst[:len(src)]))
}

// F32ToBF16 converts to bfloat16 bits, rounding to nearest even.
func (d *Device) F32ToBF16(dst []uint16, src []float32) error {
	if err := checkLen("F32ToBF16", len(dst), len(src)); err != nil {
		return err
	}
	return d.convert("mc_f32_to_bf16", len(src), 4, 2, asBytes(src), asBytes(dst[:len(src)]))
}

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func (d *Device) BF16ToF32(dst []float32, src []uint16) error {
	if err := checkLen("BF16ToF32", len(dst), len(src)); err != nil {
		return err
	}
	return d.convert("mc_bf16_to_f32", len(src), 2, 4, asBytes(src), asBytes(dst[:len(src)]))
}

func checkAxis(fn string, n, inner, ch, zps int) error {
	switch {
	case ch <= 0:
		return fmt.Errorf("cuda: %s: no scales", fn)
	case inner <= 0:
		return fmt.Errorf("cuda: %s: inner = %d ≤ 0", fn, inner)
	case zps != 0 && zps != ch:
		return fmt.Errorf("cuda: %s: %d zero points for %d scales", fn, zps, ch)
	case n%(inner*ch) != 0:
		return fmt.Errorf("cuda: %s: len(src) = %d is not a multiple of inner·len(scale) = %d·%d", fn, n, inner, ch)
	}
	return nil
}

// axis runs a per-axis (de)quantization kernel: scale and zp go to the device once, the
// data streams through elementwise. g0 (the chunk's first index) keeps channels right.
func axis[Z int8 | uint8](d *Device, kernel string, n, inSize, outSize int, in, out []byte, inner int,
	scale []float32, zp []Z, withNaN bool) error {
	if zp == nil {
		zp = make([]Z, len(scale))
	}
	return d.do(func() error {
		bufs, err := allocAll(len(scale)*4, len(zp))
		if err != nil {
			return err
		}
		defer bufs.free()
		if err := htod(bufs[0], asBytes(scale)); err != nil {
			return err
		}
		if err := htod(bufs[1], asBytes(zp)); err != nil {
			return err
		}
		return d.elementwise(kernel, n, inSize, outSize, 1, in, out, func(din, dout devptr, lo, cnt int) []uint64 {
			a := []uint64{argP(dout), argP(din), argI(cnt), argI(lo), argI(inner), argI(len(scale)), argP(bufs[0]), argP(bufs[1])}
			if withNaN {
				a = append(a, argF(d.dnan))
			}
			return a
		})
	})
}

// QuantizeS8Axis is accel.QuantizeS8Axis (ONNX QuantizeLinear per axis), bit-exact.
func (d *Device) QuantizeS8Axis(dst []int8, src []float32, inner int, scale []float32, zp []int8) error {
	if err := checkLen("QuantizeS8Axis", len(dst), len(src)); err != nil {
		return err
	}
	if err := checkAxis("QuantizeS8Axis", len(src), inner, len(scale), len(zp)); err != nil {
		return err
	}
	return axis(d, "mc_quant_s8", len(src), 4, 1, asBytes(src), asBytes(dst[:len(src)]), inner, scale, zp, false)
}

// QuantizeU8Axis is accel.QuantizeU8Axis, bit-exact.
func (d *Device) QuantizeU8Axis(dst []uint8, src []float32, inner int, scale []float32, zp []uint8) error {
	if err := checkLen("QuantizeU8Axis", len(dst), len(src)); err != nil {
		return err
	}
	if err := checkAxis("QuantizeU8Axis", len(src), inner, len(scale), len(zp)); err != nil {
		return err
	}
	return axis(d, "mc_quant_u8", len(src), 4, 1, asBytes(src), dst[:len(src)], inner, scale, zp, false)
}

// DequantizeS8Axis is accel.DequantizeS8Axis (ONNX DequantizeLinear per axis), bit-exact.
func (d *Device) DequantizeS8Axis(dst []float32, src []int8, inner int, scale []float32, zp []int8) error {
	if err := checkLen("DequantizeS8Axis", len(dst), len(src)); err != nil {
		return err
	}
	if err := checkAxis("DequantizeS8Axis", len(src), inner, len(scale), len(zp)); err != nil {
		return err
	}
	return axis(d, "mc_dequant_s8", len(src), 1, 4, asBytes(src), asBytes(dst[:len(src)]), inner, scale, zp, true)
}

// DequantizeU8Axis is accel.DequantizeU8Axis, bit-exact.
func (d *Device) DequantizeU8Axis(dst []float32, src []uint8, inner int, scale []float32, zp []uint8) error {
	if err := checkLen("DequantizeU8Axis", len(dst), len(src)); err != nil {
		return err
	}
	if err := checkAxis("DequantizeU8Axis", len(src), inner, len(scale), len(zp)); err != nil {
		return err
	}
	return axis(d, "mc_dequant_u8", len(src), 1, 4, src, asBytes(dst[:len(src)]), inner, scale, zp, true)
}

// ggml block geometry (as in package accel).
const (
	qk        = 32
	q8_0Bytes = 34
	q4_0Bytes = 18
)

func checkBlocks(fn string, nvals, nbytes, blockBytes int) (int, error) {
	if nvals%qk != 0 {
		return 0, fmt.Errorf("cuda: %s: %d values is not a multiple of %d", fn, nvals, qk)
	}
	nb := nvals / qk
	if nbytes < nb*blockBytes {
		return 0, fmt.Errorf("cuda: %s: %d bytes < %d blocks × %d bytes", fn, nbytes, nb, blockBytes)
	}
	return nb, nil
}

func (d *Device) blocks(kernel string, nb, inSize, outSize int, in, out []byte, withNaN bool) error {
	return d.do(func() error {
		return d.elementwise(kernel, nb, inSize, outSize, 32, in, out, func(din, dout devptr, _, cnt int) []uint64 {
			a := []uint64{argP(dout), argP(din), argI(cnt)}
			if withNaN {
				a = append(a, argF(d.dnan))
			}
			return a
		})
	})
}

// QuantizeQ8_0 is accel.QuantizeQ8_0 (ggml quantize_row_q8_0_ref), byte for byte.
func (d *Device) QuantizeQ8_0(dst []byte, src []float32) error {
	nb, err := checkBlocks("QuantizeQ8_0", len(src), len(dst), q8_0Bytes)
	if err != nil {
		return err
	}
	return d.blocks("mc_q8_0", nb, qk*4, q8_0Bytes, asBytes(src), dst[:nb*q8_0Bytes], false)
}

// DequantizeQ8_0 is accel.DequantizeQ8_0, bit-exact.
func (d *Device) DequantizeQ8_0(dst []float32, src []byte) error {
	nb, err := checkBlocks("DequantizeQ8_0", len(dst), len(src), q8_0Bytes)
	if err != nil {
		return err
	}
	return d.blocks("mc_dq8_0", nb, q8_0Bytes, qk*4, src[:nb*q8_0Bytes], asBytes(dst), true)
}

// QuantizeQ4_0 is accel.QuantizeQ4_0 (ggml quantize_row_q4_0_ref), byte for byte.
func (d *Device) QuantizeQ4_0(dst []byte, src []float32) error {
	nb, err := checkBlocks("QuantizeQ4_0", len(src), len(dst), q4_0Bytes)
	if err != nil {
		return err
	}
	return d.blocks("mc_q4_0", nb, qk*4, q4_0Bytes, asBytes(src), dst[:nb*q4_0Bytes], false)
}

// DequantizeQ4_0 is accel.DequantizeQ4_0, bit-exact.
func (d *Device) DequantizeQ4_0(dst []float32, src []byte) error {
	nb, err := checkBlocks("DequantizeQ4_0", len(dst), len(src), q4_0Bytes)
	if err != nil {
		return err
	}
	return d.blocks("mc_dq4_0", nb, q4_0Bytes, qk*4, src[:nb*q4_0Bytes], asBytes(dst), true)
}
