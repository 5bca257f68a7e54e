package runtime

import (
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestSliceView: random slices (contiguous runs and not: channel ranges of one image,
// rows, reversed and strided axes) give the same values with the fast paths on (views
// where possible) and off (copies); the contiguous ones are views.
func TestSliceView(t *testing.T) {
	rng := rand.New(rand.NewSource(41))
	views := 0
	for trial := 0; trial < 300; trial++ {
		rank := 1 + rng.Intn(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + rng.Intn(5)
		}
		x := randT(rng, 1, shape...)
		var starts, ends, axes, steps []int64
		for _, a := range rng.Perm(rank)[:1+rng.Intn(rank)] {
			d := int64(shape[a])
			s, e := rng.Int63n(d+1), rng.Int63n(d+1)
			if s > e {
				s, e = e, s
			}
			k := int64(1)
			if rng.Intn(4) == 0 {
				k = []int64{2, -1}[rng.Intn(2)]
				if k < 0 {
					s, e = e-1, s-1-d // backwards, e written from the end
				}
			}
			starts, ends, axes, steps = append(starts, s), append(ends, e), append(axes, int64(a)), append(steps, k)
		}
		i64 := func(v []int64) *Tensor { return &Tensor{DType: ir.Int64, Shape: []int{len(v)}, Data: v} }
		n := &ir.Node{OpType: "Slice", Name: "s", Inputs: make([]string, 5), Outputs: []string{"y"}}
		fast, slow := runBoth(t, n, []*Tensor{x, i64(starts), i64(ends), i64(axes), i64(steps)})
		closeTo(t, "y", fast[0], slow[0], 0, 0)
		lo, step, out := make([]int, rank), make([]int, rank), shapeOf(x)
		for d := range step {
			step[d] = 1
		}
		for i, a := range axes {
			lo[a], out[a] = sliceRange(shape[a], int(starts[i]), int(ends[i]), int(steps[i]))
			step[a] = int(steps[i])
		}
		if v, ok := contiguousSlice(x, out, lo, step); ok {
			views++
			closeTo(t, "view", v, slow[0], 0, 0)
		}
	}
	if views < 50 {
		t.Fatalf("only %d of 300 slices were views", views)
	}
}
