package cuda

import "fmt"

// Device-resident buffers and kernels, for measuring the GPU alone (bench/gpu): data
// stays on the device between calls, so a timing covers the kernel and not PCIe.

// Buffer is device memory from cuMemAlloc; Free returns it.
type Buffer struct {
	d *Device
	p devptr
	n int
}

// Alloc returns n bytes of device memory (contents undefined).
func (d *Device) Alloc(n int) (*Buffer, error) {
	var b *Buffer
	err := d.do(func() error {
		p, err := memAlloc(n)
		b = &Buffer{d: d, p: p, n: n}
		return err
	})
	return b, err
}

// Len is the buffer's size in bytes.
func (b *Buffer) Len() int { return b.n }

// Free releases the memory; the buffer must not be used afterwards.
func (b *Buffer) Free() error {
	return b.d.do(func() error {
		memFree(b.p)
		b.p, b.n = 0, 0
		return nil
	})
}

// Write copies src to the start of the buffer.
func (b *Buffer) Write(src []byte) error {
	if len(src) > b.n {
		return fmt.Errorf("cuda: Buffer.Write: %d bytes into a %d-byte buffer", len(src), b.n)
	}
	return b.d.do(func() error { return htod(b.p, src) })
}

// Read copies the start of the buffer to dst.
func (b *Buffer) Read(dst []byte) error {
	if len(dst) > b.n {
		return fmt.Errorf("cuda: Buffer.Read: %d bytes from a %d-byte buffer", len(dst), b.n)
	}
	return b.d.do(func() error { return dtoh(dst, b.p) })
}

// CopyBuffer copies src into dst on the device and waits: the device's copy bandwidth
// is 2·len/time (every byte read once and written once).
func (d *Device) CopyBuffer(dst, src *Buffer) error {
	if src.n > dst.n {
		return fmt.Errorf("cuda: CopyBuffer: %d bytes into %d", src.n, dst.n)
	}
	return d.do(func() error {
		if err := dtodAsync(dst.p, src.p, src.n, nil); err != nil {
			return err
		}
		return syncStream(nil)
	})
}

// QuantizeQ8_0Buffer quantizes the float32 values in src (a multiple of 32) into Q8_0
// blocks in dst, on the device, and waits.
func (d *Device) QuantizeQ8_0Buffer(dst, src *Buffer) error {
	nb, err := checkBlocks("QuantizeQ8_0Buffer", src.n/4, dst.n, q8_0Bytes)
	if err != nil {
		return err
	}
	return d.do(func() error {
		blocks := min(ceilDiv(nb*32, 256), d.Info.SMs*64)
		if err := launch("mc_q8_0", d.fn("mc_q8_0"), max(blocks, 1), 1, 256, nil, argP(dst.p), argP(src.p), argI(nb)); err != nil {
			return err
		}
		return syncStream(nil)
	})
}

// GEMMKind selects the element type of a device GEMM's A and B.
type GEMMKind int

const (
	F32  GEMMKind = iota // float32 (SGEMM)
	F16                  // IEEE half, f32 accumulation
	BF16                 // bfloat16, f32 accumulation
)

// GEMMBuffer runs C(f32) = alpha·op(A)·op(B) + beta·C on device buffers and waits.
func (d *Device) GEMMBuffer(kind GEMMKind, transA, transB bool, m, n, k int, alpha float32, a *Buffer, lda int,
	b *Buffer, ldb int, beta float32, c *Buffer, ldc int) error {
	es := 4
	kernel := "mc_sgemm"
	switch kind {
	case F16:
		es, kernel = 2, "mc_hgemm_f16"
	case BF16:
		es, kernel = 2, "mc_hgemm_bf16"
	}
	if err := checkGEMM("GEMMBuffer", transA, transB, m, n, k, a.n/es, lda, b.n/es, ldb, c.n/4, ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	args := []uint64{argB(transA), argB(transB), argI(m), argI(n), argI(k), argF(alpha), argP(a.p), argI(lda),
		argP(b.p), argI(ldb), argF(beta), argP(c.p), argI(ldc)}
	if kind == F32 {
		args = append(args, 0) // no bias
	}
	return d.do(func() error {
		if err := launch(kernel, d.fn(kernel), ceilDiv(n, 128), ceilDiv(m, 128), 256, nil, args...); err != nil {
			return err
		}
		return syncStream(nil)
	})
}
