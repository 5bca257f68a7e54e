package runtime

import "github.com/modelc/modelc/accel"

// A 1-D convolution (audio front ends: long signals, wide kernels, stride 2–4) lowered
// directly: the input is split once into its stride phases, after which every im2col row
// is one contiguous copy (tap k reads x[o·s + k·d − p] = phase[(k·d − p) mod s][o + ⌊(k·d − p)/s⌋]),
// then one GEMM per image and group with the bias and activation as its epilogue. Through
// the 2-D implicit kernel as a height-1 image, a stride > 1 gathered every value one lane
// at a time, which made the first layer of a 1-D audio model most of its run time.

// conv1dAs2D selects the previous lowering (a height-1 2-D convolution) for the benchmark.
var conv1dAs2D = false

// conv1dF32 computes y (n × m × O) for x (n × ch × S) and w (m × ch/group × K).
func conv1dF32(c *opContext, x, w, bias []float32, n, ch, m, group int, g *convGeom, stages []epStage) []float32 {
	cg, mg := ch/group, m/group
	S, K, O := g.in[0], g.kernel[0], g.out[0]
	s, d, p := g.strides[0], g.dil[0], g.padBegin[0]
	y := c.outputF32(n * m * O) // every element is written by the GEMM (beta 0)
	pointwise := K == 1 && s == 1 && p == 0 && O == S
	var col, phases []float32
	plen := (S + s - 1) / s // the longest phase
	if !pointwise {
		col = allocRaw[float32](c, cg*K*O)
		if s > 1 {
			phases = allocRaw[float32](c, cg*s*plen)
		}
	}
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			xg := x[(img*ch+gi*cg)*S : (img*ch+(gi+1)*cg)*S]
			src := xg
			if !pointwise {
				if s > 1 {
					accel.ParallelFor(cg, max(1, im2colGrain/max(S, 1)), func(c0, c1 int) {
						for ci := c0; ci < c1; ci++ {
							splitPhases(phases[ci*s*plen:(ci+1)*s*plen], xg[ci*S:(ci+1)*S], s, plen)
						}
					})
				}
				// Rows (channel, tap) split over the pool: a one-channel input (audio) has
				// as many rows as taps.
				accel.ParallelFor(cg*K, max(1, im2colGrain/max(O, 1)), func(r0, r1 int) {
					for rr := r0; rr < r1; rr++ {
						ci, k := rr/K, rr%K
						row := col[rr*O : (rr+1)*O]
						off := k*d - p
						if s == 1 {
							shiftedCopy(row, xg[ci*S:(ci+1)*S], off)
							continue
						}
						r := ((off % s) + s) % s // the phase tap k reads, and its offset in it
						q := (off - r) / s
						n := (S - r + s - 1) / s // phase r's length
						ph := phases[ci*s*plen+r*plen:]
						shiftedCopy(row, ph[:n], q)
					}
				})
				src = col
			}
			yg := y[(img*m+gi*mg)*O:]
			accel.SGEMM(false, false, mg, O, cg*K, 1, w[gi*mg*cg*K:], max(cg*K, 1), src, max(O, 1), 0, yg, max(O, 1))
			epilogueBlock(yg, mg, O, gi*mg, bias, stages)
		}
	}
	return y
}

// splitPhases writes x's stride phases one after the other, plen apart:
// ph[r·plen + j] = x[j·s + r].
func splitPhases(ph, x []float32, s, plen int) {
	for r := 0; r < s; r++ {
		dst := ph[r*plen : (r+1)*plen]
		j := 0
		for i := r; i < len(x); i += s {
			dst[j] = x[i]
			j++
		}
	}
}

// shiftedCopy sets row[o] = src[o + off] where that index is inside src, 0 elsewhere.
func shiftedCopy(row, src []float32, off int) {
	lo := min(max(0, -off), len(row))          // first o reading inside src
	hi := max(lo, min(len(row), len(src)-off)) // one past the last
	clear(row[:lo])
	if hi > lo {
		copy(row[lo:hi], src[lo+off:hi+off])
	}
	clear(row[hi:])
}
