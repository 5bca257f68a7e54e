package accel

import "math"

// MaxPool2D writes the maximum of each window of p over planes H×W planes of x into
// planes OH×OW planes of y. Each output starts from its first tap inside the image
// (kernel row, then column), then takes each later tap v where v > the current value:
// a NaN met first stays, a NaN met later is skipped, and a window wholly in the padding
// gives −Inf. Exact (comparisons only), the same on every backend; planes are split
// over the worker pool.
func MaxPool2D(p Window2D, x, y []float32, planes int) {
	const fn = "MaxPool2D"
	if !(planes >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.KH > 0 && p.KW > 0) {
		fail(fn, "bad geometry %+v", p)
	}
	if !(p.SH > 0 && p.SW > 0 && p.DH > 0 && p.DW > 0 && p.PH >= 0 && p.PW >= 0) {
		fail(fn, "bad strides, dilations or pads %+v", p)
	}
	in, out := p.H*p.W, p.OH*p.OW
	if !(len(x) >= planes*in && len(y) >= planes*out) {
		fail(fn, "buffers too short for %d planes of %+v", planes, p)
	}
	if planes == 0 || out == 0 {
		return
	}
	kern := tab().maxPool2D
	per := max(1, dwTaskWork/max(out*p.KH*p.KW, 1))
	// Tasks of equal size: 512 planes in pieces of 300 would be 300 + 212, the second
	// thread idle for the difference. The maximum is exact, so any split gives the same bits.
	tasks := (planes + per - 1) / per
	per = (planes + tasks - 1) / tasks
	chunks(planes, per, func(lo, hi int) {
		kern(&p, x[lo*in:hi*in], y[lo*out:hi*out], hi-lo)
	})
}

// prevMaxPool2DAVX512 is the previous AVX-512 max-pooling kernel (row by row, one pass
// per tap), set where it is built, for the tests and benchmarks; never dispatched to.
var prevMaxPool2DAVX512 func(p *Window2D, x, y []float32, planes int)

// prevSpanMaxPool2DAVX512 is the AVX-512 kernel the stride-2 pools went to before the
// stride-2 kernel (whole windows in registers, each tap loaded on its own), and
// maxPool2DS2 the stride-2 kernel alone, which says whether it took the geometry: both
// set where they are built, for the tests and benchmarks.
var (
	prevSpanMaxPool2DAVX512 func(p *Window2D, x, y []float32, planes int)
	maxPool2DS2             func(p *Window2D, x, y []float32, planes int) bool
)

// refMaxPool2D is the pure-Go reference of the max-pooling kernel.
func refMaxPool2D(p *Window2D, x, y []float32, planes int) {
	in, out := p.H*p.W, p.OH*p.OW
	for c := 0; c < planes; c++ {
		plane, o := x[c*in:(c+1)*in], y[c*out:(c+1)*out]
		for r := 0; r < p.OH; r++ {
			for xo := 0; xo < p.OW; xo++ {
				best, seen := float32(0), false
				for i := 0; i < p.KH; i++ {
					ih := r*p.SH + i*p.DH - p.PH
					if ih < 0 || ih >= p.H {
						continue
					}
					row := plane[ih*p.W : (ih+1)*p.W]
					for j := 0; j < p.KW; j++ {
						iw := xo*p.SW + j*p.DW - p.PW
						if iw < 0 || iw >= p.W {
							continue
						}
						if v := row[iw]; !seen || v > best {
							best, seen = v, true
						}
					}
				}
				if !seen {
					best = float32(math.Inf(-1))
				}
				o[r*p.OW+xo] = best
			}
		}
	}
}
