package runtime

import (
	"math"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Resize (opset 10 to 19: nearest / linear / cubic, every coordinate transformation
// mode, roi for tf_crop_and_resize, sizes with keep_aspect_ratio_policy, axes) and the
// older Upsample. The interpolation is separable, so it runs one axis at a time; each
// output coordinate along an axis becomes a few (input index, weight) taps.

func init() {
	register(opResize, "Resize")
	register(opUpsample, "Upsample")
}

type tap struct {
	idx []int
	w   []float64
	ext bool // outside the crop: the output is extrapolation_value
}

type resizeParams struct {
	mode, coord, nearest string
	cubicA               float64
	excludeOutside       bool
	extrapolation        float64
}

func opUpsample(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	var scales []float64
	if s := opt(in, 1); s != nil {
		scales = float64s(s)
	} else if f, ok := c.attrFloats("scales"); ok {
		for _, v := range f {
			scales = append(scales, float64(v))
		}
	}
	if len(scales) != len(x.Shape) {
		return nil, errf("scales %v do not match rank %d", scales, len(x.Shape))
	}
	mode := c.attrString("mode", "nearest")
	p := resizeParams{mode: mode, coord: "asymmetric", nearest: "floor", cubicA: -0.75}
	if mode == "linear" || mode == "bilinear" {
		p.mode = "linear"
	}
	out := make([]int, len(x.Shape))
	for i, d := range x.Shape {
		out[i] = int(math.Floor(float64(d) * scales[i]))
	}
	return one(resizeAll(x, out, scales, nil, p))
}

func opResize(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := len(x.Shape)
	if c.attrInt("antialias", 0) == 1 {
		return nil, unsupported("Resize with antialias")
	}
	p := resizeParams{
		mode: c.attrString("mode", "nearest"), coord: c.attrString("coordinate_transformation_mode", "half_pixel"),
		nearest: c.attrString("nearest_mode", "round_prefer_floor"), cubicA: float64(c.attrFloat("cubic_coeff_a", -0.75)),
		excludeOutside: c.attrInt("exclude_outside", 0) == 1, extrapolation: float64(c.attrFloat("extrapolation_value", 0)),
	}
	if p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic" {
		return nil, unsupported("Resize mode %q", p.mode)
	}
	if c.opset < 11 { // opset 10: inputs X, scales; asymmetric coordinates
		p.coord, p.nearest = "asymmetric", "floor"
	}
	axes, ok := c.attrInts("axes")
	if !ok {
		axes = make([]int, r)
		for i := range axes {
			axes[i] = i
		}
	}
	for i := range axes {
		a, err := normAxis(axes[i], r)
		if err != nil {
			return nil, err
		}
		axes[i] = a
	}
	var roiIn, scalesIn, sizesIn *Tensor
	if c.opset < 11 {
		scalesIn = opt(in, 1)
	} else {
		roiIn, scalesIn, sizesIn = opt(in, 1), opt(in, 2), opt(in, 3)
	}
	scales := make([]float64, r)
	for i := range scales {
		scales[i] = 1
	}
	out := shapeOf(x)
	roi := make([]float64, 2*r)
	for i := 0; i < r; i++ {
		roi[r+i] = 1
	}
	if roiIn != nil && roiIn.Len() > 0 {
		v := float64s(roiIn)
		if len(v) != 2*len(axes) {
			return nil, errf("roi has %d values for %d axes", len(v), len(axes))
		}
		for i, a := range axes {
			roi[a], roi[r+a] = v[i], v[len(axes)+i]
		}
	}
	switch {
	case sizesIn != nil && sizesIn.Len() > 0:
		sz := ints(sizesIn)
		if len(sz) != len(axes) {
			return nil, errf("sizes %v do not match %d axes", sz, len(axes))
		}
		policy := c.attrString("keep_aspect_ratio_policy", "stretch")
		if policy != "stretch" {
			s := math.Inf(1)
			if policy == "not_smaller" {
				s = math.Inf(-1)
			}
			for i, a := range axes {
				f := float64(sz[i]) / float64(x.Shape[a])
				if policy == "not_larger" {
					s = math.Min(s, f)
				} else {
					s = math.Max(s, f)
				}
			}
			for _, a := range axes {
				scales[a] = s
				out[a] = int(math.Round(s * float64(x.Shape[a])))
			}
		} else {
			for i, a := range axes {
				out[a] = sz[i]
				scales[a] = float64(sz[i]) / float64(x.Shape[a])
			}
		}
	case scalesIn != nil && scalesIn.Len() > 0:
		sv := float64s(scalesIn)
		if len(sv) != len(axes) {
			return nil, errf("scales %v do not match %d axes", sv, len(axes))
		}
		for i, a := range axes {
			scales[a] = sv[i]
			span := 1.0
			if p.coord == "tf_crop_and_resize" {
				span = roi[r+a] - roi[a]
			}
			out[a] = int(math.Floor(float64(x.Shape[a]) * span * sv[i]))
		}
	default:
		return nil, errf("needs scales or sizes")
	}
	if y, ok := resize2D32(c, x, out, scales, roi, p); ok {
		return one(y)
	}
	return one(resizeAll(x, out, scales, roi, p))
}

// resize2D32 is resizeAll for float32 input whose last two axes alone change (images,
// NCHW), in float32: per output row, the weighted input rows (one tap for nearest, two
// for linear, …), then the weighted columns of that row; the same taps and the same
// order as resizeAll, float32 arithmetic instead of float64.
func resize2D32(c *opContext, x *Tensor, out []int, scales, roi []float64, p resizeParams) (*Tensor, bool) {
	xs, ok := x.Data.([]float32)
	r := len(x.Shape)
	if !ok || x.DType != ir.Float32 || r < 2 || !fastPaths || p.coord == "tf_crop_and_resize" {
		return nil, false
	}
	for a := 0; a < r-2; a++ {
		if out[a] != x.Shape[a] || scales[a] != 1 {
			return nil, false
		}
	}
	if y, ok := resizeTwoTap(c, x, xs, out, scales, roi, p); ok {
		return y, true
	}
	h, w, oh, ow := x.Shape[r-2], x.Shape[r-1], out[r-2], out[r-1]
	var rs, re, cs, ce float64
	if roi != nil {
		rs, re, cs, ce = roi[r-2], roi[2*r-2], roi[r-1], roi[2*r-1]
	}
	th, tw := axisTaps(h, oh, scales[r-2], rs, re, p), axisTaps(w, ow, scales[r-1], cs, ce, p)
	for _, ts := range [][]tap{th, tw} {
		for _, t := range ts {
			if t.ext {
				return nil, false
			}
		}
	}
	planes := prod(x.Shape[:r-2])
	y := c.tensorF32(ir.Float32, append(append([]int{}, x.Shape[:r-2]...), oh, ow))
	ys := y.Data.([]float32)
	wts := func(t tap) []float32 {
		f := make([]float32, len(t.w))
		for i, v := range t.w {
			f[i] = float32(v)
		}
		return f
	}
	var nearestW []int32
	for o, tc := range tw {
		if len(tc.idx) != 1 || tc.w[0] != 1 {
			nearestW = nil
			break
		}
		if nearestW == nil {
			nearestW = make([]int32, ow)
		}
		nearestW[o] = int32(tc.idx[0])
	}
	hw, ww := make([][]float32, oh), make([][]float32, ow)
	for j := range th {
		hw[j] = wts(th[j])
	}
	for j := range tw {
		ww[j] = wts(tw[j])
	}
	accel.ParallelFor(planes, max(1, (1<<15)/max(oh*ow, 1)), func(p0, p1 int) {
		tmp := make([]float32, w)
		for pl := p0; pl < p1; pl++ {
			plane := xs[pl*h*w : (pl+1)*h*w]
			for j, t := range th {
				src := tmp
				if len(t.idx) == 1 && hw[j][0] == 1 {
					src = plane[t.idx[0]*w : (t.idx[0]+1)*w]
				} else {
					clear(tmp)
					for k, si := range t.idx {
						wk, row := hw[j][k], plane[si*w:(si+1)*w]
						for i, v := range row {
							tmp[i] += wk * v
						}
					}
				}
				orow := ys[(pl*oh+j)*ow : (pl*oh+j+1)*ow]
				if nearestW != nil { // every column one tap of weight 1: a gather
					for o, si := range nearestW {
						orow[o] = src[si]
					}
					continue
				}
				for o, tc := range tw {
					if len(tc.idx) == 1 && ww[o][0] == 1 {
						orow[o] = src[tc.idx[0]]
						continue
					}
					var s float32
					for k, si := range tc.idx {
						s += ww[o][k] * src[si]
					}
					orow[o] = s
				}
			}
		}
	})
	return y, true
}

// resizeAll interpolates x to shape out, axis by axis (only axes whose size changes or
// whose coordinates move are processed).
func resizeAll(x *Tensor, out []int, scales, roi []float64, p resizeParams) *Tensor {
	cur := float64s(x)
	shape := shapeOf(x)
	r := len(shape)
	for a := 0; a < r; a++ {
		if out[a] == shape[a] && scales[a] == 1 && p.coord != "tf_crop_and_resize" {
			continue
		}
		var rs, re float64
		if roi != nil {
			rs, re = roi[a], roi[r+a]
		}
		taps := axisTaps(shape[a], out[a], scales[a], rs, re, p)
		outer, inner := prod(shape[:a]), prod(shape[a+1:])
		next := make([]float64, outer*out[a]*inner)
		for o := 0; o < outer; o++ {
			for j, t := range taps {
				dst := next[(o*out[a]+j)*inner : (o*out[a]+j+1)*inner]
				if t.ext {
					for i := range dst {
						dst[i] = p.extrapolation
					}
					continue
				}
				for k, src := range t.idx {
					w := t.w[k]
					row := cur[(o*shape[a]+src)*inner : (o*shape[a]+src+1)*inner]
					for i := range dst {
						dst[i] += w * row[i]
					}
				}
			}
		}
		cur = next
		shape[a] = out[a]
	}
	return fromFloat64s(x.DType, shape, cur)
}

// axisTaps computes the taps of every output coordinate along one axis.
func axisTaps(in, out int, scale, roiStart, roiEnd float64, p resizeParams) []tap {
	taps := make([]tap, out)
	// Nearest and linear taps share one index and one weight array per axis (a tap is
	// one or two entries of it): two allocations per axis, not two per output
	// coordinate on every run.
	var idxs []int
	var ws []float64
	switch p.mode {
	case "nearest":
		idxs, ws = make([]int, out), []float64{1}
	case "linear":
		idxs, ws = make([]int, 2*out), make([]float64, 2*out)
	}
	// The reference transforms coordinates with the unrounded resized length in·scale.
	lr := float64(in) * scale
	for j := range taps {
		xj := float64(j)
		var src float64
		switch p.coord {
		case "half_pixel":
			src = (xj+0.5)/scale - 0.5
		case "half_pixel_symmetric":
			adj := float64(out) / lr
			center := float64(in) / 2
			src = center*(1-adj) + (xj+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			if lr > 1 {
				src = (xj+0.5)/scale - 0.5
			} else {
				src = 0
			}
		case "align_corners":
			if lr > 1 {
				src = xj * float64(in-1) / (lr - 1)
			}
		case "asymmetric":
			src = xj / scale
		case "tf_crop_and_resize":
			if out > 1 {
				src = roiStart*float64(in-1) + xj*(roiEnd-roiStart)*float64(in-1)/float64(out-1)
			} else {
				src = 0.5 * (roiStart + roiEnd) * float64(in-1)
			}
			if src < 0 || src > float64(in-1) {
				taps[j].ext = true
				continue
			}
		default:
			src = (xj+0.5)/scale - 0.5
		}
		edge := func(i int) int { return clamp(i, 0, in-1) }
		switch p.mode {
		case "nearest":
			var n float64
			switch p.nearest {
			case "round_prefer_ceil":
				n = math.Floor(src + 0.5)
			case "floor":
				n = math.Floor(src)
			case "ceil":
				n = math.Ceil(src)
			default: // round_prefer_floor
				n = math.Ceil(src - 0.5)
			}
			idxs[j] = edge(int(n))
			taps[j] = tap{idx: idxs[j : j+1 : j+1], w: ws}
		case "linear":
			s := math.Max(0, math.Min(src, float64(in-1)))
			i0 := int(math.Floor(s))
			f := s - float64(i0)
			idx, w := idxs[2*j:2*j+2:2*j+2], ws[2*j:2*j+2:2*j+2]
			idx[0], idx[1], w[0], w[1] = edge(i0), edge(i0+1), 1-f, f
			taps[j] = tap{idx: idx, w: w}
		case "cubic":
			i0 := int(math.Floor(src))
			t := src - float64(i0)
			a := p.cubicA
			w := []float64{
				((a*(t+1)-5*a)*(t+1)+8*a)*(t+1) - 4*a,
				((a+2)*t-(a+3))*t*t + 1,
				((a+2)*(1-t)-(a+3))*(1-t)*(1-t) + 1,
				((a*(2-t)-5*a)*(2-t)+8*a)*(2-t) - 4*a,
			}
			idx := []int{i0 - 1, i0, i0 + 1, i0 + 2}
			if p.excludeOutside {
				var s float64
				for k, i := range idx {
					if i < 0 || i >= in {
						w[k] = 0
					}
					s += w[k]
				}
				for k := range w {
					if s != 0 {
						w[k] /= s
					}
				}
			}
			for k := range idx {
				idx[k] = edge(idx[k])
			}
			taps[j] = tap{idx: idx, w: w}
		}
	}
	return taps
}
