package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

func gemmConstBModel(t testing.TB, rng *rand.Rand, m, n, k int) (*ir.Model, *Tensor) {
	w := randT(rng, 0.5, n, k).Data.([]float32)
	bias := randT(rng, 1, n).Data.([]float32)
	raw := func(v []float32) []byte {
		b := make([]byte, 4*len(v))
		for i, f := range v {
			u := math.Float32bits(f)
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		}
		return b
	}
	wt, err := ir.NewTensor("w", ir.Float32, []int64{int64(n), int64(k)}, raw(w))
	if err != nil {
		t.Fatal(err)
	}
	bt, err := ir.NewTensor("bias", ir.Float32, []int64{int64(n)}, raw(bias))
	if err != nil {
		t.Fatal(err)
	}
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, int64(m), int64(k))}},
		Initializers: []*ir.Tensor{wt, bt},
		Nodes: []*ir.Node{{OpType: "Gemm", Name: "fc", Inputs: []string{"x", "w", "bias"}, Outputs: []string{"y"},
			Attrs: []*ir.Attribute{{Name: "transB", Type: ir.AttrInt, Int: 1}}}},
		Outputs: []*ir.ValueInfo{{Name: "y"}}}
	return &ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}, randT(rng, 1, m, k)
}

// TestGemmConstB: Gemm with a constant B and transB=1 (torch's Linear) on random odd
// shapes, at 1 and 2 threads: the pre-transposed weight gives the generic path's
// result within float32 rounding, the same bits run after run (the cached copy is
// reused), and the session keeps the copy only where the product is not a GEMV.
func TestGemmConstB(t *testing.T) {
	rng := rand.New(rand.NewSource(51))
	for trial := 0; trial < 30; trial++ {
		m, n, k := 1+rng.Intn(40), 1+rng.Intn(150), 1+rng.Intn(300)
		if trial < 3 {
			m, n, k = 16, 128, 1024 // the batch-16 classifier's first layer
		}
		model, x := gemmConstBModel(t, rng, m, n, k)
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%dx%dx%d/threads%d", m, n, k, threads), func(t *testing.T) {
				run := func(on bool) (*Session, []*Tensor) {
					fastPaths = on
					defer func() { fastPaths = true }()
					s, err := New(model, Options{Threads: threads})
					if err != nil {
						t.Fatal(err)
					}
					var outs []*Tensor
					for i := 0; i < 3; i++ {
						res, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
						if err != nil {
							t.Fatal(err)
						}
						outs = append(outs, res["y"])
					}
					return s, outs
				}
				s, fast := run(true)
				_, slow := run(false)
				closeTo(t, "y", fast[0], slow[0], 1e-5, 1e-5*math.Sqrt(float64(k)))
				for i := 1; i < len(fast); i++ {
					closeTo(t, "y (again)", fast[i], fast[0], 0, 0)
				}
				cached := false
				s.tables.Range(func(key, _ any) bool {
					if kk, ok := key.(nodeCacheKey); ok && kk.tag == "gemm-bT" {
						cached = true
					}
					return true
				})
				if want := m >= 2 && m*n*k >= smallGEMMFlops; cached != want {
					t.Errorf("transposed weight cached: %v, want %v", cached, want)
				}
			})
		}
	}
}

// BenchmarkGemmConstB: the batch-16 classifier's 16×1024 → 128 layer with the weight
// transposed once at first use, against packing Bᵀ in every product (fast paths off
// for the comparison would also switch off the bias epilogue, so the previous path is
// called directly).
func BenchmarkGemmConstB(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	model, x := gemmConstBModel(b, rng, 16, 128, 1024)
	s, err := New(model, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	feed := map[string]*Tensor{"x": x}
	b.Run("pretransposed", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := s.Run(context.Background(), feed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("packed-transB", func(b *testing.B) {
		w := s.main.init[s.main.slots["w"]].Data.([]float32)
		bias := s.main.init[s.main.slots["bias"]]
		xs := x.Data.([]float32)
		c := &opContext{node: &ir.Node{OpType: "Gemm"}}
		for i := 0; i < b.N; i++ {
			gemmFast(c, xs, w, bias, false, true, 16, 128, 1024, 1024, 1024, 1, 1)
		}
	})
}

// TestGemmOneRowPacked: a one-row Gemm with a constant B and transB=1 (a classifier head
// at batch 1) runs on B packed once per session where the backend has the packed
// kernel, with the bits of the row-major SGEMM it replaces, at 1 and 2 threads and run
// after run.
func TestGemmOneRowPacked(t *testing.T) {
	rng := rand.New(rand.NewSource(52))
	for _, s := range [][2]int{{1000, 1024}, {1024, 576}, {130, 133}, {5, 4001}} { // from smallGEMMFlops on
		n, k := s[0], s[1]
		model, x := gemmConstBModel(t, rng, 1, n, k)
		var vals [2][]float32
		for i, init := range model.Graph.Initializers {
			v, err := FromIR(init)
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = v.Data.([]float32)
		}
		wv, bv := vals[0], vals[1]
		want := make([]float32, n)
		accel.SGEMMBias(false, true, 1, n, k, 1, x.Data.([]float32), k, wv, k, 0, want, n, bv)
		for _, threads := range []int{1, 2} {
			sess, err := New(model, Options{Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			for run := 0; run < 2; run++ {
				res, err := sess.Run(context.Background(), map[string]*Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				for j, v := range res["y"].Data.([]float32) {
					if math.Float32bits(v) != math.Float32bits(want[j]) {
						t.Fatalf("%v, %d threads, run %d: y[%d] = %g, SGEMM %g", s, threads, run, j, v, want[j])
					}
				}
			}
			packed := false
			sess.tables.Range(func(key, _ any) bool {
				if kk, ok := key.(nodeCacheKey); ok && kk.tag == "gemv-b" {
					packed = true
				}
				return true
			})
			if want := accel.PackGEMV(wv, n, k, k) != nil; packed != want {
				t.Errorf("%v: packed weight kept: %v, want %v", s, packed, want)
			}
		}
	}
}
