package accel

import (
	"math/rand"
	"testing"
)

// TestRNNStepAllocatesNothing: the kernels an RNN calls at every time step (the
// recurrent matrix-vector product and the fused LSTM and GRU cells) allocate nothing, at
// one thread and at two, so a long sequence does not feed the garbage collector.
func TestRNNStepAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	const H = 128
	h, c, R := fill(H), fill(H), fill(4*H*H)
	hr, xw, bias := fill(4*H), fill(4*H), fill(4*H)
	for _, threads := range []int{1, 2} {
		prev := SetMaxThreads(threads)
		for name, f := range map[string]func(){
			"SGEMMBias 1×512×128": func() { SGEMMBias(false, true, 1, 4*H, H, 1, h, H, R, H, 0, hr, 4*H, bias) },
			"LSTMCell":            func() { LSTMCell(hr, xw, c, h) },
			"GRUCellLBR":          func() { GRUCellLBR(hr[:3*H], xw[:3*H], h) },
		} {
			if n := testing.AllocsPerRun(50, f); n != 0 {
				t.Errorf("%s at %d threads: %v allocations per call, want 0", name, threads, n)
			}
		}
		SetMaxThreads(prev)
	}
}
