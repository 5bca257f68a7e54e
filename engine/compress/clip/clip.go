// Package clip limits weight magnitudes: to a percentile of their absolute values (which
// removes the rare outliers that stretch a quantization range) or to an explicit range,
// per tensor or per output channel.
package clip

import (
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Options say how to clip. Exactly one of Percentile (0 < P ≤ 100) or a range Lo < Hi is
// used: Percentile when it is set.
type Options struct {
	Percentile float64
	Lo, Hi     float32
	PerChannel bool // percentile per output channel
	Exclude    compress.Exclude
}

// Clip clips the weights of every MatMul, Gemm and Conv.
func Clip(m *ir.Model, o Options) (*compress.Report, error) {
	name := fmt.Sprintf("clip range [%g, %g]", o.Lo, o.Hi)
	if o.Percentile > 0 {
		name = fmt.Sprintf("clip percentile %g", o.Percentile)
		if o.PerChannel {
			name += " per channel"
		}
	}
	r := &compress.Report{Pass: name}
	for _, l := range compress.Layers(m, o.Exclude, r) {
		w, err := compress.Floats(l.Weight)
		if err != nil {
			return nil, err
		}
		orig := append([]float32(nil), w...)
		clipped := 0
		if o.Percentile > 0 {
			outer, ch, inner := 1, 1, len(w)
			if o.PerChannel {
				outer, ch, inner = compress.Channels(l.Weight.Shape, l.OutAxis)
			}
			for c := 0; c < ch; c++ {
				// Gather channel c's values, find the threshold, clip in place.
				var idx []int
				for ob := 0; ob < outer; ob++ {
					for i := 0; i < inner; i++ {
						idx = append(idx, (ob*ch+c)*inner+i)
					}
				}
				mags := make([]float64, len(idx))
				for k, j := range idx {
					mags[k] = math.Abs(float64(w[j]))
				}
				sort.Float64s(mags)
				t := float32(mags[int(math.Round(o.Percentile/100*float64(len(mags)-1)))])
				for _, j := range idx {
					if w[j] > t {
						w[j], clipped = t, clipped+1
					} else if w[j] < -t {
						w[j], clipped = -t, clipped+1
					}
				}
			}
		} else {
			for j, x := range w {
				if x > o.Hi {
					w[j], clipped = o.Hi, clipped+1
				} else if x < o.Lo {
					w[j], clipped = o.Lo, clipped+1
				}
			}
		}
		compress.SetFloats(l.Weight, l.Weight.Shape, w)
		r.Layers = append(r.Layers, compress.LayerReport{
			Node: l.Name(), Op: l.Node.OpType, Tensor: l.Weight.Name,
			ParamsBefore: int64(len(w)), ParamsAfter: int64(len(w)),
			RelError: compress.RelError(orig, w), Detail: fmt.Sprintf("%d values clipped", clipped),
		})
	}
	return r, nil
}
