package train

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/accel"
)

func init() {
	register(pool, "MaxPool", "AveragePool")
	register(globalAvg, "GlobalAveragePool")
}

func pool(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	if len(x.Shape) != 4 {
		return nil, nil, fmt.Errorf("input %v: only 2-D pooling is supported", x.Shape)
	}
	k := c.ints("kernel_shape")
	s := c.ints("strides")
	if s == nil {
		s = []int{1, 1}
	}
	p := c.ints("pads")
	if p == nil {
		p = []int{0, 0, 0, 0}
	}
	if c.int("ceil_mode", 0) != 0 || c.ints("dilations") != nil && (c.ints("dilations")[0] != 1 || c.ints("dilations")[1] != 1) {
		return nil, nil, fmt.Errorf("ceil_mode and dilations are not supported")
	}
	if ap := c.str("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return nil, nil, fmt.Errorf("auto_pad %s is not supported: give pads", ap)
	}
	isMax := c.node.OpType == "MaxPool"
	incl := c.int("count_include_pad", 0) == 1
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := (h+p[0]+p[2]-k[0])/s[0]+1, (w+p[1]+p[3]-k[1])/s[1]+1
	if isMax && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 {
		out, back := maxPoolInside(c, x, k, s, oh, ow)
		return []*T{out}, back, nil
	}
	out := c.out(n, ch, oh, ow)
	arg := make([]int, out.Len())   // max: the input position chosen
	count := make([]float64, oh*ow) // average: the divisor
	for pl := 0; pl < n*ch; pl++ {
		src := x.D[pl*h*w:]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, bi, sum, cnt := math.Inf(-1), -1, 0.0, 0
				for ky := 0; ky < k[0]; ky++ {
					y := oy*s[0] - p[0] + ky
					for kx := 0; kx < k[1]; kx++ {
						xx := ox*s[1] - p[1] + kx
						if y < 0 || y >= h || xx < 0 || xx >= w {
							continue
						}
						v := src[y*w+xx]
						if v > best || bi < 0 {
							best, bi = v, y*w+xx
						}
						sum += v
						cnt++
					}
				}
				o := pl*oh*ow + oy*ow + ox
				if isMax {
					out.D[o], arg[o] = best, pl*h*w+bi
				} else {
					if incl {
						cnt = k[0] * k[1]
					}
					count[oy*ow+ox] = float64(cnt)
					out.D[o] = sum / float64(cnt)
				}
			}
		}
	}
	back := func(g []*T) []*T {
		gx := c.zeros(x.Shape...)
		for pl := 0; pl < n*ch; pl++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					o := pl*oh*ow + oy*ow + ox
					if isMax {
						gx.D[arg[o]] += g[0].D[o]
						continue
					}
					v := g[0].D[o] / count[oy*ow+ox]
					for ky := 0; ky < k[0]; ky++ {
						y := oy*s[0] - p[0] + ky
						for kx := 0; kx < k[1]; kx++ {
							xx := ox*s[1] - p[1] + kx
							if y >= 0 && y < h && xx >= 0 && xx < w {
								gx.D[pl*h*w+y*w+xx] += v
							}
						}
					}
				}
			}
		}
		return []*T{gx}
	}
	return []*T{out}, back, nil
}

// maxPoolInside is MaxPool without padding (every window inside the image, no bounds
// tests). It keeps no map of the chosen positions: the backward pass finds each window's
// first maximum again by comparing its inputs, as the forward pass chose it (the first
// position of the largest value). When the windows tile the image (stride = kernel, the
// usual 2×2/2), every input position is written once and the gradient needs no clearing.
func maxPoolInside(c *opCtx, x *T, k, s []int, oh, ow int) (*T, backFn) {
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	kh, kw, sh, sw := k[0], k[1], s[0], s[1]
	out := c.out(n, ch, oh, ow)
	accel.ParallelFor(n*ch, rowsPerTask(h*w), func(p0, p1 int) {
		for pl := p0; pl < p1; pl++ {
			src := x.D[pl*h*w : (pl+1)*h*w]
			dst := out.D[pl*oh*ow : (pl+1)*oh*ow]
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					dst[oy*ow+ox] = src[windowMax(src, oy*sh*w+ox*sw, w, kh, kw)]
				}
			}
		}
	})
	tiles := kh == sh && kw == sw && oh*kh == h && ow*kw == w
	back := func(g []*T) []*T {
		var gx *T
		if tiles {
			gx = c.out(x.Shape...)
		} else {
			gx = c.zeros(x.Shape...)
		}
		accel.ParallelFor(n*ch, rowsPerTask(h*w), func(p0, p1 int) {
			for pl := p0; pl < p1; pl++ {
				src := x.D[pl*h*w : (pl+1)*h*w]
				gp := gx.D[pl*h*w : (pl+1)*h*w]
				gy := g[0].D[pl*oh*ow : (pl+1)*oh*ow]
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						base := oy*sh*w + ox*sw
						bi := windowMax(src, base, w, kh, kw)
						if tiles {
							for ky := 0; ky < kh; ky++ {
								clear(gp[base+ky*w : base+ky*w+kw])
							}
							gp[bi] = gy[oy*ow+ox]
						} else {
							gp[bi] += gy[oy*ow+ox]
						}
					}
				}
			}
		})
		return []*T{gx}
	}
	return out, back
}

// windowMax returns the offset in plane of the first maximum of the kh×kw window whose
// top-left corner is at base (rows w apart). The 2×2 window, the common case, is spelled
// out and chooses without branches: which input is largest is random, so a branch
// mispredicts about every other window.
func windowMax(plane []float64, base, w, kh, kw int) int {
	if kh == 2 && kw == 2 {
		r0, r1 := plane[base:base+2], plane[base+w:base+w+2]
		best, bi := r0[0], base
		best, bi = greater(r0[1], base+1, best, bi)
		best, bi = greater(r1[0], base+w, best, bi)
		_, bi = greater(r1[1], base+w+1, best, bi)
		return bi
	}
	best, bi := plane[base], base
	for ky := 0; ky < kh; ky++ {
		row := plane[base+ky*w : base+ky*w+kw]
		for kx, v := range row {
			if v > best {
				best, bi = v, base+ky*w+kx
			}
		}
	}
	return bi
}

// greater returns (v, i) when v > best, else (best, bi), by masks instead of a branch.
func greater(v float64, i int, best float64, bi int) (float64, int) {
	var take int64
	if v > best { // compiled to a flag set (SETcc), not a jump
		take = 1
	}
	mask := -take
	vb, bb := int64(math.Float64bits(v)), int64(math.Float64bits(best))
	return math.Float64frombits(uint64(bb ^ (bb^vb)&mask)), bi ^ (bi^i)&int(mask)
}

func globalAvg(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	if len(x.Shape) < 3 {
		return nil, nil, fmt.Errorf("input %v: GlobalAveragePool needs [N, C, ...]", x.Shape)
	}
	nc := x.Shape[0] * x.Shape[1]
	sp := x.Len() / nc
	oshape := append([]int{x.Shape[0], x.Shape[1]}, make([]int, len(x.Shape)-2)...)
	for i := 2; i < len(oshape); i++ {
		oshape[i] = 1
	}
	out := New(oshape...)
	for i := 0; i < nc; i++ {
		s := 0.0
		for _, v := range x.D[i*sp : (i+1)*sp] {
			s += v
		}
		out.D[i] = s / float64(sp)
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i := 0; i < nc; i++ {
			v := g[0].D[i] / float64(sp)
			for j := i * sp; j < (i+1)*sp; j++ {
				gx.D[j] = v
			}
		}
		return []*T{gx}
	}
	return []*T{out}, back, nil
}
