package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	goruntime "runtime"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestReduceSum32: ReduceSum and ReduceMean of float32 on random shapes (odd sizes,
// axes of size 1 and 0, NaN and ±Inf among the values), random axes and keepdims,
// with the fast paths on and off: the same bits, and the fast path taken whenever the
// reduced axes are one contiguous run.
func TestReduceSum32(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	taken := 0
	for trial := 0; trial < 400; trial++ {
		rank := 1 + rng.Intn(5)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = []int{1, 2, 3, 5, 7, 17}[rng.Intn(6)]
			if rng.Intn(40) == 0 {
				shape[i] = 0
			}
		}
		x := randT(rng, 1, shape...)
		xs := x.Data.([]float32)
		for i := range xs {
			switch rng.Intn(60) {
			case 0:
				xs[i] = float32(math.NaN())
			case 1:
				xs[i] = float32(math.Inf(1 - 2*rng.Intn(2)))
			}
		}
		var axes []int64
		red := make([]bool, rank)
		for i := range shape {
			if rng.Intn(2) == 0 {
				a := int64(i)
				if rng.Intn(2) == 0 {
					a -= int64(rank)
				}
				axes = append(axes, a)
				red[i] = true
			}
		}
		op := []string{"ReduceSum", "ReduceMean"}[rng.Intn(2)]
		keep := int64(rng.Intn(2))
		n := &ir.Node{OpType: op, Name: "r", Inputs: []string{"x", "axes"}, Outputs: []string{"y"},
			Attrs: []*ir.Attribute{{Name: "keepdims", Type: ir.AttrInt, Int: keep}}}
		inputs := []*Tensor{x, {DType: ir.Int64, Shape: []int{len(axes)}, Data: axes}}
		if len(axes) == 0 {
			inputs = inputs[:1] // no axes: all of them
			n.Inputs = n.Inputs[:1]
			for i := range red {
				red[i] = true
			}
		}
		what := fmt.Sprintf("%s %v axes %v keepdims %d", op, shape, axes, keep)
		fast, slow := runBoth(t, n, inputs)
		got, want := fast[0].Data.([]float32), slow[0].Data.([]float32)
		if !sameShape(fast[0].Shape, slow[0].Shape) || len(got) != len(want) {
			t.Fatalf("%s: shape %v, want %v", what, fast[0].Shape, slow[0].Shape)
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
			}
		}
		if contiguousRun(shape, red) {
			if _, ok := reduceSum32(nil, op, x, red, keep == 1); !ok {
				t.Fatalf("%s: the reduced axes are one run but the fast path declined", what)
			}
			taken++
		}
	}
	if taken < 100 {
		t.Fatalf("only %d of 400 cases took the fast path", taken)
	}
}

// contiguousRun is the test's own statement of when reduceSum32 applies.
func contiguousRun(shape []int, red []bool) bool {
	var idx []int
	for i, r := range red {
		if r && shape[i] != 1 {
			idx = append(idx, i)
		}
	}
	for k := 1; k < len(idx); k++ {
		for i := idx[k-1] + 1; i < idx[k]; i++ {
			if !red[i] && shape[i] != 1 {
				return false
			}
		}
	}
	return true
}

func BenchmarkReduceMeanHW(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x := randT(rng, 1, 1, 1024, 7, 7)
	red := []bool{false, false, true, true}
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			reduceSum32(nil, "ReduceMean", x, red, false)
		}
	})
	b.Run("generic", func(b *testing.B) {
		k := reduceKernel("ReduceMean")
		axes := &Tensor{DType: ir.Int64, Shape: []int{2}, Data: []int64{2, 3}}
		c := &opContext{node: &ir.Node{OpType: "ReduceMean"}, opset: 18}
		fastPaths = false
		defer func() { fastPaths = true }()
		for i := 0; i < b.N; i++ {
			if _, err := k(c, []*Tensor{x, axes}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestConcatPooled: Concat's output comes from the run's pool — a model run in a loop
// does not allocate it anew — and stays correct when its buffer is reused.
func TestConcatPooled(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 64, 32, 32)}},
		Nodes: []*ir.Node{
			{OpType: "Relu", Name: "a", Inputs: []string{"x"}, Outputs: []string{"a"}},
			{OpType: "Neg", Name: "b", Inputs: []string{"x"}, Outputs: []string{"b"}},
			{OpType: "Concat", Name: "cat", Inputs: []string{"a", "b", "a"}, Outputs: []string{"c"},
				Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 1}}},
			{OpType: "ReduceMean", Name: "m", Inputs: []string{"c"}, Outputs: []string{"y"},
				Attrs: []*ir.Attribute{{Name: "axes", Type: ir.AttrInts, Ints: []int64{2, 3}}}},
		},
		Outputs: []*ir.ValueInfo{{Name: "y"}}}
	s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := randT(rng, 1, 1, 64, 32, 32)
	first, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	const runs = 5
	for i := 0; i < runs; i++ {
		res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "y", res["y"], first["y"], 0, 0)
	}
	goruntime.ReadMemStats(&after)
	// The Concat output alone is 192 × 32 × 32 float32 = 768 KiB.
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Errorf("%d bytes allocated per run, want the Concat output from the pool", per)
	}
	ys := first["y"].Data.([]float32)
	xs := x.Data.([]float32)
	for ch := 0; ch < 192; ch++ { // the mean of each concatenated channel, recomputed here
		src := ch % 64
		sum := 0.0
		for _, v := range xs[src*1024 : (src+1)*1024] {
			if ch >= 64 && ch < 128 {
				v = -v
			} else {
				v = max(v, 0)
			}
			sum += float64(v)
		}
		if want := float32(sum / 1024); ys[ch] != want {
			t.Fatalf("channel %d: mean %v, want %v", ch, ys[ch], want)
		}
	}
}
