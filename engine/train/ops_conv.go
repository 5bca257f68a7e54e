package train

import "fmt"

func init() {
	register(conv, "Conv")
	register(convTranspose, "ConvTranspose")
}

// geom is a 2-D convolution's geometry (1-D convolutions are 2-D with height 1).
type geom struct {
	n, c, h, w, m, kh, kw, oh, ow, group int
	sh, sw, dh, dw, pt, pl               int
}

func convGeom(c *opCtx, x, w *T, transposed bool) (geom, error) {
	if len(x.Shape) != 4 && len(x.Shape) != 3 {
		return geom{}, fmt.Errorf("input %v: only 1-D and 2-D convolutions are supported", x.Shape)
	}
	one := len(x.Shape) == 3
	dims := func(v []int, def int) (int, int) {
		switch {
		case len(v) == 0:
			return def, def
		case one:
			return 1, v[0]
		}
		return v[0], v[1]
	}
	g := geom{n: x.Shape[0], c: x.Shape[1], group: c.int("group", 1)}
	if one {
		g.h, g.w = 1, x.Shape[2]
		g.kh, g.kw = 1, w.Shape[2]
	} else {
		g.h, g.w = x.Shape[2], x.Shape[3]
		g.kh, g.kw = w.Shape[2], w.Shape[3]
	}
	g.sh, g.sw = dims(c.ints("strides"), 1)
	g.dh, g.dw = dims(c.ints("dilations"), 1)
	pads := c.ints("pads")
	pb, pr := 0, 0
	if len(pads) > 0 {
		if one {
			g.pl, pr = pads[0], pads[1]
		} else {
			g.pt, g.pl, pb, pr = pads[0], pads[1], pads[2], pads[3]
		}
	}
	if ap := c.str("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return geom{}, fmt.Errorf("auto_pad %s is not supported: give pads", ap)
	}
	ekh, ekw := (g.kh-1)*g.dh+1, (g.kw-1)*g.dw+1
	if transposed {
		g.m = w.Shape[1] * g.group
		op := c.ints("output_padding")
		oph, opw := 0, 0
		if len(op) > 0 {
			oph, opw = dims(op, 0)
		}
		if c.ints("output_shape") != nil {
			return geom{}, fmt.Errorf("output_shape is not supported: give pads")
		}
		g.oh = (g.h-1)*g.sh + ekh + oph - g.pt - pb
		g.ow = (g.w-1)*g.sw + ekw + opw - g.pl - pr
	} else {
		g.m = w.Shape[0]
		g.oh = (g.h+g.pt+pb-ekh)/g.sh + 1
		g.ow = (g.w+g.pl+pr-ekw)/g.sw + 1
		if w.Shape[1]*g.group != g.c {
			return geom{}, fmt.Errorf("weight %v does not fit input %v with group %d", w.Shape, x.Shape, g.group)
		}
	}
	return g, nil
}

// im2col fills col [cg·kh·kw, oh·ow] from channels c0..c0+cg of image img [c, h, w].
func (g geom) im2col(img []float64, c0, cg int, col []float64) {
	ohw := g.oh * g.ow
	for ci := 0; ci < cg; ci++ {
		plane := img[(c0+ci)*g.h*g.w:]
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ohw:]
				for oy := 0; oy < g.oh; oy++ {
					y := oy*g.sh - g.pt + ky*g.dh
					for ox := 0; ox < g.ow; ox++ {
						x := ox*g.sw - g.pl + kx*g.dw
						v := 0.0
						if y >= 0 && y < g.h && x >= 0 && x < g.w {
							v = plane[y*g.w+x]
						}
						row[oy*g.ow+ox] = v
					}
				}
			}
		}
	}
}

// col2im adds col back into img (the adjoint of im2col).
func (g geom) col2im(col []float64, c0, cg int, img []float64) {
	ohw := g.oh * g.ow
	for ci := 0; ci < cg; ci++ {
		plane := img[(c0+ci)*g.h*g.w:]
		for ky := 0; ky < g.kh; ky++ {
			for kx := 0; kx < g.kw; kx++ {
				row := col[((ci*g.kh+ky)*g.kw+kx)*ohw:]
				for oy := 0; oy < g.oh; oy++ {
					y := oy*g.sh - g.pt + ky*g.dh
					if y < 0 || y >= g.h {
						continue
					}
					for ox := 0; ox < g.ow; ox++ {
						x := ox*g.sw - g.pl + kx*g.dw
						if x >= 0 && x < g.w {
							plane[y*g.w+x] += row[oy*g.ow+ox]
						}
					}
				}
			}
		}
	}
}

func conv(c *opCtx, in []*T) ([]*T, backFn, error) {
	mm := c.mm()
	x, w := in[0], in[1]
	g, err := convGeom(c, x, w, false)
	if err != nil {
		return nil, nil, err
	}
	cg, mg := g.c/g.group, g.m/g.group
	kk := cg * g.kh * g.kw
	ohw := g.oh * g.ow
	oshape := []int{g.n, g.m, g.oh, g.ow}
	if len(x.Shape) == 3 {
		oshape = []int{g.n, g.m, g.ow}
	}
	if !c.net.Float64 && mg*g.n*ohw*kk >= 4096 {
		var bias *T
		if len(in) > 2 {
			bias = in[2]
		}
		outs, back := conv32(c, x, w, bias, g, oshape, c.net.needsGrad(c.node.Inputs[0]))
		return outs, back, nil
	}
	out := New(oshape...)
	cols := make([][]float64, g.n*g.group) // kept for the backward pass
	for b := 0; b < g.n; b++ {
		img := x.D[b*g.c*g.h*g.w:]
		for gi := 0; gi < g.group; gi++ {
			col := make([]float64, kk*ohw)
			g.im2col(img, gi*cg, cg, col)
			cols[b*g.group+gi] = col
			mm(false, false, mg, ohw, kk, w.D[gi*mg*kk:], col, out.D[(b*g.m+gi*mg)*ohw:(b*g.m+(gi+1)*mg)*ohw])
		}
		if len(in) > 2 && in[2] != nil {
			for m := 0; m < g.m; m++ {
				o := out.D[(b*g.m+m)*ohw : (b*g.m+m+1)*ohw]
				for i := range o {
					o[i] += in[2].D[m]
				}
			}
		}
	}
	back := func(gout []*T) []*T {
		gx, gw := zerosLike(x), zerosLike(w)
		var gb *T
		if len(in) > 2 && in[2] != nil {
			gb = zerosLike(in[2])
		}
		dcol := make([]float64, kk*ohw)
		for b := 0; b < g.n; b++ {
			for gi := 0; gi < g.group; gi++ {
				gd := gout[0].D[(b*g.m+gi*mg)*ohw : (b*g.m+(gi+1)*mg)*ohw]
				mm(false, true, mg, kk, ohw, gd, cols[b*g.group+gi], gw.D[gi*mg*kk:(gi+1)*mg*kk])
				clear(dcol)
				mm(true, false, kk, ohw, mg, w.D[gi*mg*kk:], gd, dcol)
				g.col2im(dcol, gi*cg, cg, gx.D[b*g.c*g.h*g.w:])
			}
			if gb != nil {
				for m := 0; m < g.m; m++ {
					for _, v := range gout[0].D[(b*g.m+m)*ohw : (b*g.m+m+1)*ohw] {
						gb.D[m] += v
					}
				}
			}
		}
		return []*T{gx, gw, gb}
	}
	return []*T{out}, back, nil
}

// convTranspose is the adjoint of conv: with the roles of input and output swapped, its
// forward is conv's input gradient and its backward is conv's forward.
func convTranspose(c *opCtx, in []*T) ([]*T, backFn, error) {
	mm := c.mm()
	x, w := in[0], in[1]
	t, err := convGeom(c, x, w, true)
	if err != nil {
		return nil, nil, err
	}
	// g describes the forward conv from the output (m channels, oh×ow) to x.
	g := t
	g.c, g.h, g.w = t.m, t.oh, t.ow
	g.m, g.oh, g.ow = t.c, t.h, t.w
	cg, mg := g.c/g.group, g.m/g.group // cg: out channels per group, mg: in channels per group
	kk := cg * g.kh * g.kw
	ohw := g.oh * g.ow
	oshape := []int{t.n, t.m, t.oh, t.ow}
	if len(x.Shape) == 3 {
		oshape = []int{t.n, t.m, t.ow}
	}
	out := New(oshape...)
	col := make([]float64, kk*ohw)
	for b := 0; b < g.n; b++ {
		for gi := 0; gi < g.group; gi++ {
			clear(col)
			xd := x.D[(b*g.m+gi*mg)*ohw : (b*g.m+(gi+1)*mg)*ohw]
			mm(true, false, kk, ohw, mg, w.D[gi*mg*kk:], xd, col)
			g.col2im(col, gi*cg, cg, out.D[b*g.c*g.h*g.w:])
		}
		if len(in) > 2 && in[2] != nil {
			for m := 0; m < t.m; m++ {
				o := out.D[(b*t.m+m)*t.oh*t.ow : (b*t.m+m+1)*t.oh*t.ow]
				for i := range o {
					o[i] += in[2].D[m]
				}
			}
		}
	}
	back := func(gout []*T) []*T {
		gx, gw := zerosLike(x), zerosLike(w)
		var gb *T
		if len(in) > 2 && in[2] != nil {
			gb = zerosLike(in[2])
		}
		col := make([]float64, kk*ohw)
		for b := 0; b < g.n; b++ {
			for gi := 0; gi < g.group; gi++ {
				g.im2col(gout[0].D[b*g.c*g.h*g.w:], gi*cg, cg, col)
				xd := x.D[(b*g.m+gi*mg)*ohw : (b*g.m+(gi+1)*mg)*ohw]
				mm(false, false, mg, ohw, kk, w.D[gi*mg*kk:], col, gx.D[(b*g.m+gi*mg)*ohw:(b*g.m+(gi+1)*mg)*ohw])
				mm(false, true, mg, kk, ohw, xd, col, gw.D[gi*mg*kk:(gi+1)*mg*kk])
			}
			if gb != nil {
				for m := 0; m < t.m; m++ {
					for _, v := range gout[0].D[(b*t.m+m)*t.oh*t.ow : (b*t.m+m+1)*t.oh*t.ow] {
						gb.D[m] += v
					}
				}
			}
		}
		return []*T{gx, gw, gb}
	}
	return []*T{out}, back, nil
}
