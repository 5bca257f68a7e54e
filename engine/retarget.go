package engine

import (
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/retarget"
	"github.com/modelc/modelc/engine/ir"
)

// retargetPass runs package retarget for each input input_shape names, or for every
// [N, C, H, W] input with input_scale.
func retargetPass(m *ir.Model, s CompressOptions) (*compress.Report, error) {
	if s.MaxSequenceLength > 0 {
		r, err := retarget.Sequence(m, s.MaxSequenceLength)
		if err != nil {
			return nil, Errorf(KindUnsupported, "option max_sequence_length: %v", err)
		}
		return r, nil
	}
	shapes, err := ParseInputShapes(s.InputShape)
	if err != nil {
		return nil, err
	}
	if s.InputScale != 0 {
		for _, v := range m.Graph.Inputs {
			if v.Type == nil || v.Type.Shape == nil || len(v.Type.Shape.Dims) != 4 {
				continue
			}
			d := v.Type.Shape.Dims
			if !d[1].HasValue || !d[2].HasValue || !d[3].HasValue {
				continue
			}
			h := int64(math.Round(float64(d[2].Value) * s.InputScale))
			w := int64(math.Round(float64(d[3].Value) * s.InputScale))
			if h < 1 || w < 1 {
				return nil, Errorf(KindInvalidArgument, "option input_scale: %g makes input %q empty", s.InputScale, v.Name)
			}
			shapes[v.Name] = []int64{1, d[1].Value, h, w}
		}
		if len(shapes) == 0 {
			return nil, Errorf(KindInvalidArgument, "option input_scale: the model has no [N, C, H, W] input with a declared size")
		}
	}
	var names []string
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var all *compress.Report
	for _, n := range names {
		r, err := retarget.Retarget(m, n, shapes[n])
		if err != nil {
			return nil, Errorf(KindUnsupported, "option input_shape: %v", err)
		}
		if all == nil {
			all = r
		} else {
			all.Pass += "; " + r.Pass
			all.Notes = append(all.Notes, r.Notes...)
		}
	}
	if all == nil {
		return nil, fmt.Errorf("nothing to retarget")
	}
	return all, nil
}
