package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestRecurrentFusedCells runs the cases the fused accel cells take (LSTM without
// peepholes, GRU with linear_before_reset, no clip) with W and R as initializers, so the
// session's cached Wᵀ is used, twice per session (the second run hits the cache), against
// the generic float64 kernel. Two sizes: H = 17, one full 16-lane block and a tail, with
// seq·batch·G·in above smallGEMMFlops, so the projection takes the cached Wᵀ; and one
// sequence of 128 hidden units, whose steps' H·Rᵀ is split between the threads (one
// direction) or not (two, side by side).
func TestRecurrentFusedCells(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, kind := range []string{"LSTM", "GRU"} {
		gates := map[string]int{"LSTM": 4, "GRU": 3}[kind]
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for variant := 0; variant < 4; variant++ {
				withState := variant%2 == 1
				seq, batch, in, H := 8, 3, 23, 17
				if variant >= 2 {
					seq, batch, in, H = 4, 1, 16, 128
				}
				dirs := 1
				if dir == "bidirectional" {
					dirs = 2
				}
				w, r := randT(rng, 0.5, dirs, gates*H, in), randT(rng, 0.5, dirs, gates*H, H)
				inputs := []*Tensor{randT(rng, 1, seq, batch, in), nil, nil}
				if withState {
					inputs = append(inputs, randT(rng, 0.5, dirs, 2*gates*H),
						&Tensor{DType: ir.Int32, Shape: []int{batch}, Data: []int32{8, 3, 0}[:batch]}, randT(rng, 1, dirs, batch, H))
					if kind == "LSTM" {
						inputs = append(inputs, randT(rng, 1, dirs, batch, H))
					}
				}
				attrs := []*ir.Attribute{{Name: "direction", Type: ir.AttrString, String: []byte(dir)},
					{Name: "hidden_size", Type: ir.AttrInt, Int: int64(H)}}
				outs := []string{"y", "yh"}
				if kind == "LSTM" {
					outs = append(outs, "yc")
				} else {
					attrs = append(attrs, &ir.Attribute{Name: "linear_before_reset", Type: ir.AttrInt, Int: 1})
				}
				n := &ir.Node{OpType: kind, Name: "r", Inputs: make([]string, len(inputs)), Outputs: outs, Attrs: attrs}
				fast, slow := runFixedWeights(t, n, inputs, w, r)
				atol := 1e-6
				if H > 100 { // sums of 128 products in float32, four steps
					atol = 5e-6
				}
				for i := range fast {
					closeTo(t, fmt.Sprintf("%s %s H %d state %v output %d", kind, dir, H, withState, i), fast[i], slow[i], 1e-5, atol)
				}
			}
		}
	}
}

// runFixedWeights is runBoth with W and R (inputs 1 and 2) as initializers; the fast
// session runs twice and both runs must agree, and so must a one-thread session (the
// directions of a bidirectional layer run in parallel otherwise).
func runFixedWeights(t *testing.T, n *ir.Node, inputs []*Tensor, w, r *Tensor) (fast, slow []*Tensor) {
	t.Helper()
	g := &ir.Graph{Nodes: []*ir.Node{n}}
	feed := map[string]*Tensor{}
	for i, x := range inputs {
		name := fmt.Sprintf("in%d", i)
		n.Inputs[i] = name
		switch {
		case i == 1 || i == 2:
			init, err := ToIR(name, []*Tensor{w, r}[i-1])
			if err != nil {
				t.Fatal(err)
			}
			g.Initializers = append(g.Initializers, init)
		case x == nil:
			n.Inputs[i] = ""
		default:
			g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: name})
			feed[name] = x
		}
	}
	for _, o := range n.Outputs {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
	}
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 21}}, Graph: g}
	run := func(on bool, times, threads int) []*Tensor {
		fastPaths = on
		defer func() { fastPaths = true }()
		s, err := New(m, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		var first []*Tensor
		for k := 0; k < times; k++ {
			res, err := s.Run(context.Background(), feed)
			if err != nil {
				t.Fatalf("%s (fast %v): %v", n.OpType, on, err)
			}
			var out []*Tensor
			for _, o := range n.Outputs {
				out = append(out, res[o])
			}
			if first == nil {
				first = out
				continue
			}
			for i := range out {
				closeTo(t, "second run", out[i], first[i], 0, 0)
			}
		}
		return first
	}
	fast, one := run(true, 2, 2), run(true, 1, 1)
	for i := range fast {
		closeTo(t, "one thread", one[i], fast[i], 0, 0)
	}
	return fast, run(false, 1, 1)
}
