package lowrank

import (
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/internal/ctest"
)

// A weight of rank 3 is reproduced exactly by rank-3 factors, with fewer parameters.
func TestExactLowRank(t *testing.T) {
	m := ctest.MLP(1)
	a, b := ctest.Random(2, 16*3), ctest.Random(3, 3*32)
	w := make([]float32, 16*32)
	for i := 0; i < 16; i++ {
		for j := 0; j < 32; j++ {
			for k := 0; k < 3; k++ {
				w[i*32+j] += a[i*3+k] * b[k*32+j]
			}
		}
	}
	compress.SetFloats(m.Graph.Initializer("w1"), []int64{16, 32}, w)
	x := ctest.Random(4, 64)
	want := ctest.Run(t, m, x)
	r, err := Factorize(m, Options{Energy: 0.9999, Exclude: compress.Exclude{"fc2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 1 || r.Layers[0].Detail != "rank 3 of 16" || r.Layers[0].ParamsAfter != 3*48 || r.Layers[0].RelError > 1e-5 {
		t.Fatalf("%+v", r.Layers)
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 1e-3 {
		t.Fatalf("outputs differ by %g", d)
	}
}

func TestGemmTransBAndSkip(t *testing.T) {
	m := ctest.MLP(1)
	x := ctest.Random(4, 64)
	want := ctest.Run(t, m, x)
	// rank 8 on [16,32]: 384 < 512 pays off; on the Gemm's [8,32]: 320 ≥ 256 does not.
	r, err := Factorize(m, Options{Rank: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 1 || len(r.Skipped) != 1 {
		t.Fatalf("%+v", r)
	}
	// Full rank on the Gemm with transB reproduces it.
	m = ctest.MLP(1)
	r, err = Factorize(m, Options{Rank: 3, Exclude: compress.Exclude{"fc1"}})
	if err != nil || len(r.Layers) != 1 {
		t.Fatalf("%v %+v", err, r)
	}
	got := ctest.Run(t, m, x)
	if d := ctest.MaxDiff(want, got); d == 0 || r.Layers[0].RelError <= 0 {
		t.Fatal("rank 3 of 8 cannot be exact")
	}
	if g := m.Graph.Initializer("w2_lowrank_b"); g == nil || g.Shape[0] != 8 || g.Shape[1] != 3 {
		t.Fatalf("second factor %v", g)
	}
}
