package train

import "github.com/modelc/modelc/accel"

// conv32 is conv's float32 path (the default, Net.Float64 off): the weights and the
// input are rounded to float32 once per call, the patches of the whole batch (im2col) are
// built in float32 as one [cg·kh·kw, n·oh·ow] matrix per group and kept for the backward
// pass, and each product is one accel SGEMM per group over the whole batch (forward,
// weight gradient and input gradient), writing straight into float32 buffers. The SGEMM
// is blocked the same way whatever the thread count, and the per-image work (patches,
// their adjoint) is split by image, so the result does not depend on the thread count.
// All buffers come from the tape's arena.
func conv32(c *opCtx, x, w, bias *T, g geom, oshape []int, needX bool) ([]*T, backFn) {
	cg, mg := g.c/g.group, g.m/g.group
	kk := cg * g.kh * g.kw
	ohw := g.oh * g.ow
	nn := g.n * ohw
	chw := g.c * g.h * g.w
	ph, pw := g.padded()
	padLen := ph * pw
	w32 := c.to32(w.D)
	x32 := c.to32(x.D)
	cols := c.f32(g.group * kk * nn) // kept for the backward pass
	res := c.f32(mg * nn)
	out := c.out(oshape...)
	for gi := 0; gi < g.group; gi++ {
		col := cols[gi*kk*nn : (gi+1)*kk*nn]
		accel.ParallelFor(g.n, rowsPerTask(kk*ohw), func(b0, b1 int) {
			pad := make([]float32, padLen)
			for b := b0; b < b1; b++ {
				g.im2col32(x32[b*chw:], gi*cg, cg, col[b*ohw:], nn, pad)
			}
		})
		accel.SGEMM(false, false, mg, nn, kk, 1, w32[gi*mg*kk:], kk, col, nn, 0, res, nn)
		accel.ParallelFor(mg, rowsPerTask(nn), func(m0, m1 int) {
			for m := m0; m < m1; m++ {
				var bv float64
				if bias != nil {
					bv = bias.D[gi*mg+m]
				}
				for b := 0; b < g.n; b++ {
					o := out.D[(b*g.m+gi*mg+m)*ohw : (b*g.m+gi*mg+m+1)*ohw]
					for i, v := range res[m*nn+b*ohw : m*nn+(b+1)*ohw] {
						o[i] = float64(v) + bv
					}
				}
			}
		})
	}
	back := func(gout []*T) []*T {
		gw := c.out(w.Shape...)
		var gx, gb *T
		if bias != nil {
			gb = c.zeros(bias.Shape...)
		}
		gd := c.f32(mg * nn)
		gwb := c.f32(kk * mg) // the weight gradient of a group, transposed
		var dcol, gimg []float32
		if needX {
			dcol, gimg = c.f32(kk*nn), c.f32(g.n*chw)
			clear(gimg) // col2im32 adds into it
		}
		for gi := 0; gi < g.group; gi++ {
			accel.ParallelFor(mg, rowsPerTask(nn), func(m0, m1 int) {
				for m := m0; m < m1; m++ {
					for b := 0; b < g.n; b++ {
						src := gout[0].D[(b*g.m+gi*mg+m)*ohw : (b*g.m+gi*mg+m+1)*ohw]
						dst := gd[m*nn+b*ohw:]
						for i, v := range src {
							dst[i] = float32(v)
						}
						if gb != nil {
							gb.D[gi*mg+m] += sum64(src)
						}
					}
				}
			})
			// The weight gradient is computed transposed, colᵀ·gdᵀ as [kk, mg]: with the
			// long batch dimension inner to both operands, accel's SGEMM runs this
			// orientation about twice as fast as gd·colᵀ (few rows, many columns).
			col := cols[gi*kk*nn : (gi+1)*kk*nn]
			accel.SGEMM(false, true, kk, mg, nn, 1, col, nn, gd, nn, 0, gwb, mg)
			for m := 0; m < mg; m++ {
				dst := gw.D[(gi*mg+m)*kk : (gi*mg+m+1)*kk]
				for j := range dst {
					dst[j] = float64(gwb[j*mg+m])
				}
			}
			if !needX {
				continue
			}
			// The input gradient's patches, wᵀ·gd, are made and folded back (col2im) a
			// block of images at a time, so that a block's patches are still in cache
			// when they are read again (blocks of about 64 K values, 256 KB: a share of
			// L2, but at least 512 columns: narrower products run the SGEMM at a
			// fraction of its speed, 3× slower for one 8×8 image of 1,152 patch rows).
			// The blocks are the same at any thread count.
			per := max(1, (1<<16)/(kk*ohw), (512+ohw-1)/ohw)
			accel.ParallelFor(g.n, per, func(b0, b1 int) {
				nb := (b1 - b0) * ohw
				block := dcol[b0*kk*ohw : b1*kk*ohw]
				accel.SGEMM(true, false, kk, nb, mg, 1, w32[gi*mg*kk:], kk, gd[b0*ohw:], nn, 0, block, nb)
				pad := make([]float32, padLen)
				for b := b0; b < b1; b++ {
					g.col2im32(block[(b-b0)*ohw:], gi*cg, cg, gimg[b*chw:], nb, pad)
				}
			})
		}
		if needX {
			gx = c.out(x.Shape...)
			accel.ParallelFor(len(gimg), elemsPerTask, func(lo, hi int) {
				for i, v := range gimg[lo:hi] {
					gx.D[lo+i] = float64(v)
				}
			})
		}
		return []*T{gx, gw, gb}
	}
	return []*T{out}, back
}

// padded is the size of one input plane with its padding: rows and columns far enough to
// hold every position a kernel window reads.
func (g geom) padded() (ph, pw int) {
	ph = max(g.pt+g.h, (g.oh-1)*g.sh+(g.kh-1)*g.dh+1)
	pw = max(g.pl+g.w, (g.ow-1)*g.sw+(g.kw-1)*g.dw+1)
	return ph, pw
}

// im2col32 is im2col on float32 values, rows ld apart. Each input plane is first copied
// into a zero-padded plane (pad, of g.padded() size), so that every row of patches is a
// plain strided copy without bounds tests: the images are often small (8×8), and per-row
// range checks would be most of the work.
func (g geom) im2col32(img []float32, c0, cg int, col []float32, ld int, pad []float32) {
	ph, pw := g.padded()
	pad = pad[:ph*pw]
	clear(pad)
	for ci := 0; ci < cg; ci++ {
		plane := img[(c0+ci)*g.h*g.w : (c0+ci+1)*g.h*g.w]
		for y := 0; y < g.h; y++ {
			copy(pad[(y+g.pt)*pw+g.pl:], plane[y*g.w:(y+1)*g.w])
		}
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ld:]
				for oy := 0; oy < g.oh; oy++ {
					src := pad[(oy*g.sh+ky*g.dh)*pw+kx*g.dw:]
					r := row[oy*g.ow : (oy+1)*g.ow]
					if g.sw == 1 {
						copy(r, src)
						continue
					}
					for ox := range r {
						r[ox] = src[ox*g.sw]
					}
				}
			}
		}
	}
}

// col2im32 is col2im on float32 values, rows ld apart: the patches are added into a
// zero-padded plane (pad, as in im2col32), whose inside is then added into the image.
func (g geom) col2im32(col []float32, c0, cg int, img []float32, ld int, pad []float32) {
	ph, pw := g.padded()
	pad = pad[:ph*pw]
	for ci := 0; ci < cg; ci++ {
		clear(pad)
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ld:]
				for oy := 0; oy < g.oh; oy++ {
					dst := pad[(oy*g.sh+ky*g.dh)*pw+kx*g.dw:]
					r := row[oy*g.ow : (oy+1)*g.ow]
					if g.sw == 1 {
						dst = dst[:len(r)]
						for i, v := range r {
							dst[i] += v
						}
						continue
					}
					for ox, v := range r {
						dst[ox*g.sw] += v
					}
				}
			}
		}
		plane := img[(c0+ci)*g.h*g.w : (c0+ci+1)*g.h*g.w]
		for y := 0; y < g.h; y++ {
			line := plane[y*g.w : (y+1)*g.w]
			for x, v := range pad[(y+g.pt)*pw+g.pl:][:g.w] {
				line[x] += v
			}
		}
	}
}

// sum64 is the sum of v in four interleaved partial sums (one running sum is a chain of
// dependent additions, four times slower), in a fixed order.
func sum64(v []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// elemsPerTask is the piece of an element-wise loop one thread takes: large enough to
// repay handing it to a helper (a few µs), small enough that a 64 K-element activation
// is split. The pieces do not depend on the thread count, nor, then, do the results.
const elemsPerTask = 1 << 14

// rowsPerTask is how many rows of the given length make one piece of elemsPerTask.
func rowsPerTask(rowLen int) int { return max(1, elemsPerTask/max(rowLen, 1)) }
