package train

import (
	"fmt"
	"math"
)

func init() { register(resize, "Resize") }

// resize supports what retargeting inserts: nearest, whole upscaling factors on the last
// two axes (asymmetric coordinates, floor), where each input value is copied to a block.
func resize(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	if c.str("mode", "nearest") != "nearest" || len(x.Shape) != 4 || len(in) < 3 || in[2] == nil || in[2].Len() != 4 {
		return nil, nil, fmt.Errorf("only Resize nearest of [N, C, H, W] by scales is supported")
	}
	s := in[2].D
	sh, sw := int(math.Round(s[2])), int(math.Round(s[3]))
	if s[0] != 1 || s[1] != 1 || float64(sh) != s[2] || float64(sw) != s[3] || sh < 1 || sw < 1 {
		return nil, nil, fmt.Errorf("Resize scales %v: only whole factors on height and width", s)
	}
	n, ch, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := h*sh, w*sw
	out := New(n, ch, oh, ow)
	for p := 0; p < n*ch; p++ {
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				out.D[(p*oh+y)*ow+xx] = x.D[(p*h+y/sh)*w+xx/sw]
			}
		}
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for p := 0; p < n*ch; p++ {
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					gx.D[(p*h+y/sh)*w+xx/sw] += g[0].D[(p*oh+y)*ow+xx]
				}
			}
		}
		return []*T{gx, nil, nil}
	}
	return []*T{out}, back, nil
}

// ResizeBilinear resizes the images x [N, C, H, W] to h×w, bilinear with half-pixel
// centres (ONNX Resize linear, torch's align_corners=False, no antialiasing).
func ResizeBilinear(x *T, h, w int) *T {
	n, ch, ih, iw := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := New(n, ch, h, w)
	coord := func(o, in, size int) (int, int, float64) {
		f := (float64(o)+0.5)*float64(in)/float64(size) - 0.5
		f = math.Max(f, 0)
		i0 := min(int(f), in-1)
		i1 := min(i0+1, in-1)
		return i0, i1, f - float64(i0)
	}
	for p := 0; p < n*ch; p++ {
		src := x.D[p*ih*iw:]
		for y := 0; y < h; y++ {
			y0, y1, fy := coord(y, ih, h)
			for xx := 0; xx < w; xx++ {
				x0, x1, fx := coord(xx, iw, w)
				top := src[y0*iw+x0]*(1-fx) + src[y0*iw+x1]*fx
				bot := src[y1*iw+x0]*(1-fx) + src[y1*iw+x1]*fx
				out.D[(p*h+y)*w+xx] = top*(1-fy) + bot*fy
			}
		}
	}
	return out
}
