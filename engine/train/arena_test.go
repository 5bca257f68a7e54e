package train

import (
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/accel"
)

// poisonArena fills the net's free buffers with NaN, so that a step that reads a value
// it did not write gives NaN instead of a stale number.
func poisonArena(n *Net) {
	for _, l := range n.arena.free64 {
		for _, b := range l {
			for i := range b {
				b[i] = math.NaN()
			}
		}
	}
	for _, l := range n.arena.free32 {
		for _, b := range l {
			for i := range b {
				b[i] = float32(math.NaN())
			}
		}
	}
}

// A training step on recycled (NaN-filled) buffers gives the same bits as one on fresh
// buffers, on the default float32 path of the digits models (Conv, Relu, MaxPool, Gemm).
func TestRecycledBuffers(t *testing.T) {
	for _, name := range []string{"cnn", "mlp"} {
		rng := rand.New(rand.NewSource(9))
		batch := func(rows int) *Data {
			x := New(rows, 64)
			for i := range x.D {
				x.D[i] = rng.Float64()
			}
			teacher := New(rows, 10)
			for i := range teacher.D {
				teacher.D[i] = rng.NormFloat64()
			}
			return &Data{Inputs: map[string]*T{"input": x}, Teacher: teacher}
		}
		first, second := batch(32), batch(32)
		cfg := Config{Temperature: 2}
		grads := func(n *Net) [][]float64 {
			n.ZeroGrad()
			_, tp, err := n.step(second, cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			tp.Release()
			var g [][]float64
			for _, p := range n.Params {
				g = append(g, append([]float64(nil), p.Grad.D...))
			}
			return g
		}
		fresh, err := NewNet(digits(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := grads(fresh)
		used, err := NewNet(digits(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, tp, err := used.step(first, cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		tp.Release()
		poisonArena(used)
		if len(used.arena.free64) == 0 || name == "cnn" && len(used.arena.free32) == 0 {
			t.Fatalf("%s: the step took no buffers from the arena", name)
		}
		got := grads(used)
		for i, p := range used.Params {
			for j := range got[i] {
				if got[i][j] != want[i][j] {
					t.Fatalf("%s: %s[%d] is %g on recycled buffers, %g on fresh ones", name, p.Name, j, got[i][j], want[i][j])
				}
			}
		}
	}
}

// The work is split in pieces that do not depend on the thread count, so a step gives the
// same bits on one thread and on several.
func TestThreadCountDoesNotChangeStep(t *testing.T) {
	x := New(32, 64)
	rng := rand.New(rand.NewSource(4))
	for i := range x.D {
		x.D[i] = rng.Float64()
	}
	teacher := New(32, 10)
	for i := range teacher.D {
		teacher.D[i] = rng.NormFloat64()
	}
	d := &Data{Inputs: map[string]*T{"input": x}, Teacher: teacher}
	grads := func(threads int) [][]float64 {
		defer accel.SetMaxThreads(accel.SetMaxThreads(threads))
		n, err := NewNet(digits(t, "cnn"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, tp, err := n.step(d, Config{Temperature: 2}, true)
		if err != nil {
			t.Fatal(err)
		}
		tp.Release()
		var g [][]float64
		for _, p := range n.Params {
			g = append(g, p.Grad.D)
		}
		return g
	}
	one, three := grads(1), grads(3)
	for i := range one {
		for j := range one[i] {
			if one[i][j] != three[i][j] {
				t.Fatalf("parameter %d value %d: %g on one thread, %g on three", i, j, one[i][j], three[i][j])
			}
		}
	}
}
