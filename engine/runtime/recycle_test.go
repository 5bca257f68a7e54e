package runtime

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// recycleModel: y = Relu(x) + x, z = Reshape(y) (a second output in y's buffer), and
// w = Identity(x) (the caller's own input, passed through).
func recycleModel(t testing.TB, n int64) *ir.Model {
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:       []*ir.ValueInfo{vi("x", ir.Float32, n)},
		Outputs:      []*ir.ValueInfo{vi("y", ir.Float32, n), vi("u", ir.Float32, n), vi("z", ir.Float32, 2, n/2), vi("w", ir.Float32, n)},
		Initializers: []*ir.Tensor{i64Tensor(t, "shape", 2, n/2)},
		Nodes: []*ir.Node{
			{Name: "relu", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}},
			{Name: "add", OpType: "Add", Inputs: []string{"r", "x"}, Outputs: []string{"y"}},
			{Name: "neg", OpType: "Neg", Inputs: []string{"r"}, Outputs: []string{"v"}},
			{Name: "mul", OpType: "Mul", Inputs: []string{"v", "x"}, Outputs: []string{"u"}},
			{Name: "reshape", OpType: "Reshape", Inputs: []string{"y", "shape"}, Outputs: []string{"z"}},
			{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"w"}},
		},
	}}
}

func TestRecycleReusesOnlyOwnedOutputs(t *testing.T) {
	const n = 1 << 14
	s, err := New(recycleModel(t, n), Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	feed := map[string]*Tensor{"x": f32([]int{n}, x...)}
	out, err := s.Run(context.Background(), feed)
	if err != nil {
		t.Fatal(err)
	}
	uData := out["u"].Data.([]float32)
	stale := *out["u"] // a copy of the handle, recycled by mistake later
	s.Recycle(out)
	if out["u"].Data != nil {
		t.Fatal("u, alone in its buffer, was not taken back")
	}
	if out["y"].Data == nil || out["z"].Data == nil {
		t.Fatal("y and z share a buffer: neither may be taken back")
	}
	if got := out["w"].Data.([]float32); &got[0] != &x[0] {
		t.Fatal("the input passed through was changed")
	}
	// The next run takes u's memory with the pool's, and computes into it correctly.
	pooled := map[uintptr]bool{}
	for _, b := range append(s.pool.idle, s.recycled...) {
		pooled[b.lo] = true
	}
	if !pooled[firstAddr(uData)] {
		t.Fatal("u's buffer is not among those the next run takes")
	}
	out2, err := s.Run(context.Background(), feed)
	if err != nil {
		t.Fatal(err)
	}
	u2 := out2["u"].Data.([]float32)
	if !pooled[firstAddr(u2)] {
		t.Error("the second run allocated a new buffer for u")
	}
	for i, v := range u2 {
		if want := -max(x[i], 0) * x[i]; v != want {
			t.Fatalf("u[%d] = %v, want %v", i, v, want)
		}
	}
	// The stale copy names the buffer the second run lent out again: refused.
	s.Recycle(map[string]*Tensor{"u": &stale})
	if stale.Data == nil || out2["u"].Data == nil {
		t.Fatal("a stale copy of an output was recycled")
	}
	s.Recycle(out2)
	s.Recycle(out2) // twice: a no-op
	if len(s.recycled) != 1 {
		t.Fatalf("%d buffers waiting, want 1", len(s.recycled))
	}
}

// A loop that recycles its outputs allocates far less than their size per run.
func TestRecycleLoopAllocatesLittle(t *testing.T) {
	const n, runs = 1 << 16, 50
	m := chain()
	m.Graph.Inputs[0], m.Graph.Outputs[0] = vi("x", ir.Float32, n), vi("y", ir.Float32, n)
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	feed := map[string]*Tensor{"x": f32([]int{n}, make([]float32, n)...)}
	run := func() {
		out, err := s.Run(context.Background(), feed)
		if err != nil {
			t.Fatal(err)
		}
		s.Recycle(out)
	}
	run()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		run()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > n*4/8 {
		t.Errorf("%d bytes allocated per run for a %d-byte output", per, n*4)
	}
}

// Runs on one session from several goroutines, each recycling its outputs, compute
// right (with -race: no unsynchronised access to the pool).
func TestRecycleConcurrentRuns(t *testing.T) {
	const n = 1 << 12
	s, err := New(recycleModel(t, n), Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32((i+g)%5) - 2
			}
			feed := map[string]*Tensor{"x": f32([]int{n}, x...)}
			for r := 0; r < 30; r++ {
				out, err := s.Run(context.Background(), feed)
				if err != nil {
					errs <- err
					return
				}
				for i, v := range out["u"].Data.([]float32) {
					if want := -max(x[i], 0) * x[i]; v != want {
						errs <- fmt.Errorf("goroutine %d, run %d: u[%d] = %v, want %v", g, r, i, v, want)
						return
					}
				}
				s.Recycle(out)
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
