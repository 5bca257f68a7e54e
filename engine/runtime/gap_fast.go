package runtime

import "github.com/modelc/modelc/accel"

// globalAverage32 writes res[i] = mean of plane i of x (len(res) planes of S values),
// summed in float64 as the reference GlobalAveragePool does, by accel.RowMeans: sixteen
// partial sums in a fixed order, vectorised, where the reference adds in plane order (a
// chain of dependent adds, four cycles each, which made the pools of EfficientNet's
// squeeze-and-excitation blocks 7 % of its time). The two agree within a float32
// rounding. The planes are split over the pool in fixed groups, and each plane's sum
// does not depend on the split, so every thread count gives the same bits.
func globalAverage32(res, x []float32, S int) {
	n := len(res)
	if n == 0 {
		return
	}
	accel.ParallelFor(n, max(1, gapTaskValues/max(S, 1)), func(lo, hi int) {
		accel.RowMeans(x[lo*S:hi*S], hi-lo, S, res[lo:hi])
	})
}

// gapTaskValues is the number of input values one GlobalAveragePool task sums at least:
// about 8 µs of ordered float64 adds (mobile networks' pools are 10k–60k values), worth
// a hand-off to the pool's spinning worker, which costs about a microsecond.
const gapTaskValues = 1 << 13
