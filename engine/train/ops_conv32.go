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
	w32 := c.to32(w.D)
	x32 := c.to32(x.D)
	cols := c.f32(g.group * kk * nn) // kept for the backward pass
	res := c.f32(mg * nn)
	out := c.out(oshape...)
	for gi := 0; gi < g.group; gi++ {
		col := cols[gi*kk*nn : (gi+1)*kk*nn]
		accel.ParallelFor(g.n, 1, func(b0, b1 int) {
			for b := b0; b < b1; b++ {
				g.im2col32(x32[b*chw:], gi*cg, cg, col[b*ohw:], nn)
			}
		})
		accel.SGEMM(false, false, mg, nn, kk, 1, w32[gi*mg*kk:], kk, col, nn, 0, res, nn)
		for m := 0; m < mg; m++ {
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
	}
	back := func(gout []*T) []*T {
		gw := c.out(w.Shape...)
		var gx, gb *T
		if bias != nil {
			gb = c.zeros(bias.Shape...)
		}
		gd := c.f32(mg * nn)
		gwb := c.f32(mg * kk)
		var dcol, gimg []float32
		if needX {
			dcol, gimg = c.f32(kk*nn), c.f32(g.n*chw)
			clear(gimg) // col2im32 adds into it
		}
		for gi := 0; gi < g.group; gi++ {
			for m := 0; m < mg; m++ {
				for b := 0; b < g.n; b++ {
					src := gout[0].D[(b*g.m+gi*mg+m)*ohw : (b*g.m+gi*mg+m+1)*ohw]
					dst := gd[m*nn+b*ohw:]
					for i, v := range src {
						dst[i] = float32(v)
						if gb != nil {
							gb.D[gi*mg+m] += v
						}
					}
				}
			}
			col := cols[gi*kk*nn : (gi+1)*kk*nn]
			accel.SGEMM(false, true, mg, kk, nn, 1, gd, nn, col, nn, 0, gwb, kk)
			for i, v := range gwb {
				gw.D[gi*mg*kk+i] = float64(v)
			}
			if !needX {
				continue
			}
			accel.SGEMM(true, false, kk, nn, mg, 1, w32[gi*mg*kk:], kk, gd, nn, 0, dcol, nn)
			accel.ParallelFor(g.n, 1, func(b0, b1 int) {
				for b := b0; b < b1; b++ {
					g.col2im32(dcol[b*ohw:], gi*cg, cg, gimg[b*chw:], nn)
				}
			})
		}
		if needX {
			gx = c.out(x.Shape...)
			for i, v := range gimg {
				gx.D[i] = float64(v)
			}
		}
		return []*T{gx, gw, gb}
	}
	return []*T{out}, back
}

// im2col32 is im2col on float32 values, rows ld apart. Stride 1 (the common case) runs
// as plain loops over the in-image span of each row: the images are often small (8×8),
// so the per-row work must be a few instructions, not calls.
func (g geom) im2col32(img []float32, c0, cg int, col []float32, ld int) {
	for ci := 0; ci < cg; ci++ {
		plane := img[(c0+ci)*g.h*g.w : (c0+ci+1)*g.h*g.w]
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ld:]
				lo, hi := g.span(kx)
				off := kx*g.dw - g.pl
				for oy := 0; oy < g.oh; oy++ {
					y := oy*g.sh - g.pt + ky*g.dh
					r := row[oy*g.ow : (oy+1)*g.ow]
					if y < 0 || y >= g.h {
						for i := range r {
							r[i] = 0
						}
						continue
					}
					line := plane[y*g.w : (y+1)*g.w]
					if g.sw == 1 {
						for ox := 0; ox < lo; ox++ {
							r[ox] = 0
						}
						for ox := lo; ox < hi; ox++ {
							r[ox] = line[ox+off]
						}
						for ox := hi; ox < len(r); ox++ {
							r[ox] = 0
						}
						continue
					}
					for ox := range r {
						x := ox*g.sw + off
						if x >= 0 && x < g.w {
							r[ox] = line[x]
						} else {
							r[ox] = 0
						}
					}
				}
			}
		}
	}
}

// col2im32 is col2im on float32 values, rows ld apart.
func (g geom) col2im32(col []float32, c0, cg int, img []float32, ld int) {
	for ci := 0; ci < cg; ci++ {
		plane := img[(c0+ci)*g.h*g.w : (c0+ci+1)*g.h*g.w]
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ld:]
				lo, hi := g.span(kx)
				off := kx*g.dw - g.pl
				for oy := 0; oy < g.oh; oy++ {
					y := oy*g.sh - g.pt + ky*g.dh
					if y < 0 || y >= g.h {
						continue
					}
					line := plane[y*g.w : (y+1)*g.w]
					r := row[oy*g.ow : (oy+1)*g.ow]
					if g.sw == 1 {
						for ox := lo; ox < hi; ox++ {
							line[ox+off] += r[ox]
						}
						continue
					}
					for ox, v := range r {
						x := ox*g.sw + off
						if x >= 0 && x < g.w {
							line[x] += v
						}
					}
				}
			}
		}
	}
}

// span is the range [lo, hi) of output columns whose input column ox - pl + kx·dw lies
// inside the image, for stride 1.
func (g geom) span(kx int) (int, int) {
	off := kx*g.dw - g.pl
	lo, hi := max(0, -off), min(g.ow, g.w-off)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}
