package runtime

import "github.com/modelc/modelc/accel"

// globalAverage32 writes res[i] = mean of plane i of x (len(res) planes of S values): the
// same float64 sum in the same order as the reference GlobalAveragePool, without a
// float64 copy of x. One ordered sum is a chain of dependent adds (four cycles each);
// summing four planes side by side keeps four chains in flight, each still in order,
// and the planes are split over the pool in fixed groups, so every thread count gives
// the same bits.
func globalAverage32(res, x []float32, S int) {
	n := len(res)
	if n == 0 {
		return
	}
	grain := max(4, (gapTaskValues/max(S, 1))&^3) // whole groups of four planes
	accel.ParallelFor(n, grain, func(lo, hi int) {
		i := lo
		for ; i+4 <= hi; i += 4 {
			p0, p1, p2, p3 := x[i*S:(i+1)*S], x[(i+1)*S:(i+2)*S], x[(i+2)*S:(i+3)*S], x[(i+3)*S:(i+4)*S]
			var s0, s1, s2, s3 float64
			for k := range p0 {
				s0 += float64(p0[k])
				s1 += float64(p1[k])
				s2 += float64(p2[k])
				s3 += float64(p3[k])
			}
			res[i], res[i+1], res[i+2], res[i+3] = float32(s0/float64(S)), float32(s1/float64(S)), float32(s2/float64(S)), float32(s3/float64(S))
		}
		for ; i < hi; i++ {
			var s float64
			for _, v := range x[i*S : (i+1)*S] {
				s += float64(v)
			}
			res[i] = float32(s / float64(S))
		}
	})
}

// gapTaskValues is the number of input values one GlobalAveragePool task sums at least:
// about 8 µs of ordered float64 adds (mobile networks' pools are 10k–60k values), worth
// a hand-off to the pool's spinning worker, which costs about a microsecond.
const gapTaskValues = 1 << 13
