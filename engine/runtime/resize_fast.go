package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Nearest and linear Resize of an image's last two axes (a UNet's 2× upsampling of its
// output, an FPN's top-down path) with taps computed once per node and geometry: every
// output coordinate reads one or two input indices with float32 weights held in flat
// arrays, so a run allocates nothing but its output. The taps are axisTaps', every
// coordinate transformation mode included, summed in resize2D32's order (rows, then
// columns; the first tap's product plus the second's).

// resizeFlat switches this path on; BenchmarkResize2x turns it off to time resize2D32.
var resizeFlat = true

// twoTaps is one axis: output j reads i0[j] (weight w0[j]) and, for linear, i1[j]
// (weight w1[j]).
type twoTaps struct {
	i0, i1 []int32
	w0, w1 []float32
	linear bool
}

// resizeKey files a node's taps in the session's table cache apart from its windows.
type resizeKey struct{ n *ir.Node }

type resizeEntry struct {
	h, w, oh, ow int
	sh, sw       float64 // scales
	roi          [4]float64
	rows, cols   twoTaps
	rep          int // nearest, each input column read by rep consecutive outputs (integer upscale); 0 otherwise
}

// flatTaps converts axisTaps' taps, or reports false if one has more than two
// entries (cubic) or lies outside the crop.
func flatTaps(ts []tap, linear bool) (twoTaps, bool) {
	n := len(ts)
	a := twoTaps{i0: make([]int32, n), w0: make([]float32, n), linear: linear}
	if linear {
		a.i1, a.w1 = make([]int32, n), make([]float32, n)
	}
	for j, t := range ts {
		switch {
		case t.ext:
			return a, false
		case !linear && len(t.idx) == 1 && t.w[0] == 1:
			a.i0[j], a.w0[j] = int32(t.idx[0]), 1
		case linear && len(t.idx) == 2:
			a.i0[j], a.i1[j] = int32(t.idx[0]), int32(t.idx[1])
			a.w0[j], a.w1[j] = float32(t.w[0]), float32(t.w[1])
		default:
			return a, false
		}
	}
	return a, true
}

// resizeTwoTap is resize2D32 for nearest and linear modes; false when the taps do not
// fit (cubic, extrapolation).
func resizeTwoTap(c *opContext, x *Tensor, xs []float32, out []int, scales, roi []float64, p resizeParams) (*Tensor, bool) {
	if p.mode != "nearest" && p.mode != "linear" || !resizeFlat {
		return nil, false
	}
	r := len(x.Shape)
	e := &resizeEntry{h: x.Shape[r-2], w: x.Shape[r-1], oh: out[r-2], ow: out[r-1], sh: scales[r-2], sw: scales[r-1]}
	if roi != nil {
		e.roi = [4]float64{roi[r-2], roi[2*r-2], roi[r-1], roi[2*r-1]}
	}
	if v, ok := c.sess.tables.Load(resizeKey{c.node}); ok {
		if old := v.(*resizeEntry); old.h == e.h && old.w == e.w && old.oh == e.oh && old.ow == e.ow && old.sh == e.sh &&
			old.sw == e.sw && old.roi == e.roi {
			e = old
		}
	}
	if e.rows.i0 == nil {
		linear := p.mode == "linear"
		var ok1, ok2 bool
		e.rows, ok1 = flatTaps(axisTaps(e.h, e.oh, e.sh, e.roi[0], e.roi[1], p), linear)
		e.cols, ok2 = flatTaps(axisTaps(e.w, e.ow, e.sw, e.roi[2], e.roi[3], p), linear)
		if !ok1 || !ok2 {
			return nil, false
		}
		e.rep = colRepeat(&e.cols, e.w, e.ow)
		c.sess.tables.Store(resizeKey{c.node}, e)
	}
	h, w, oh, ow := e.h, e.w, e.oh, e.ow
	planes := prod(x.Shape[:r-2])
	y := c.tensorF32(ir.Float32, append(append([]int{}, x.Shape[:r-2]...), oh, ow))
	ys := y.Data.([]float32)
	rows, cols, rep := &e.rows, &e.cols, e.rep
	if !resizeRep {
		rep = 0
	}
	accel.ParallelFor(planes, max(1, (1<<15)/max(oh*ow, 1)), func(p0, p1 int) {
		var tmp []float32
		if rows.linear {
			tmp = make([]float32, w)
		}
		for pl := p0; pl < p1; pl++ {
			plane := xs[pl*h*w : (pl+1)*h*w]
			yp := ys[pl*oh*ow : (pl+1)*oh*ow]
			for j := 0; j < oh; j++ {
				orow := yp[j*ow : (j+1)*ow]
				i0 := int(rows.i0[j])
				if !rows.linear && j > 0 && int(rows.i0[j-1]) == i0 {
					copy(orow, yp[(j-1)*ow:j*ow]) // the same source row as the last output row
					continue
				}
				src := plane[i0*w : (i0+1)*w]
				if rows.linear {
					a, b := rows.w0[j], rows.w1[j]
					r1 := plane[int(rows.i1[j])*w : (int(rows.i1[j])+1)*w]
					for i := range tmp {
						tmp[i] = a*src[i] + b*r1[i]
					}
					src = tmp
				}
				if rep > 0 {
					repeatRow(orow, src[:w], rep)
					continue
				}
				interpRow(orow, src, cols)
			}
		}
	})
	return y, true
}

// interpRow computes one output row from one (blended) input row along the columns.
func interpRow(orow, src []float32, cols *twoTaps) {
	i0 := cols.i0[:len(orow)]
	if !cols.linear {
		for o, si := range i0 {
			orow[o] = src[si]
		}
		return
	}
	i1, w0, w1 := cols.i1[:len(orow)], cols.w0[:len(orow)], cols.w1[:len(orow)]
	for o := range orow {
		orow[o] = w0[o]*src[i0[o]] + w1[o]*src[i1[o]]
	}
}

// resizeRep switches the integer-scale nearest path (repeatRow) on; BenchmarkResizeNearest2x
// turns it off to time interpRow's gather.
var resizeRep = true

// colRepeat returns s when nearest column taps read input column o/s for every output
// column o (an integer upscale: 2× nearest with asymmetric/floor, as an FPN or a
// detector's neck writes it), or 0.
func colRepeat(cols *twoTaps, w, ow int) int {
	if cols.linear || w == 0 || ow%w != 0 || ow/w < 2 {
		return 0
	}
	s := ow / w
	for o, i := range cols.i0[:ow] {
		if int(i) != o/s {
			return 0
		}
	}
	return s
}

// repeatRow writes each value of src s times over orow (len(orow) = s·len(src)): the
// same values interpRow gathers, without an index load per output.
func repeatRow(orow, src []float32, s int) {
	if s == 2 {
		orow = orow[:2*len(src)]
		for len(src) >= 4 { // four values per bounds check
			o, v := orow[:8:8], src[:4:4]
			o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3]
			orow, src = orow[8:], src[4:]
		}
		for i, v := range src {
			orow[2*i], orow[2*i+1] = v, v
		}
		return
	}
	orow = orow[:s*len(src)]
	for i, v := range src {
		o := orow[s*i : s*i+s]
		for j := range o {
			o[j] = v
		}
	}
}
