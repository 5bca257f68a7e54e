package prune

import (
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/internal/ctest"
	"github.com/modelc/modelc/engine/ir"
)

func floats(t *testing.T, m *ir.Model, name string) []float32 {
	v, err := m.Graph.Initializer(name).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMagnitude(t *testing.T) {
	m := ctest.MLP(1)
	orig := append([]float32(nil), floats(t, m, "w1")...)
	r, err := Magnitude(m, 0.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := floats(t, m, "w1")
	if s := compress.Sparsity(w); s != 0.5 {
		t.Fatalf("sparsity %g", s)
	}
	// Every kept weight is at least as large as every pruned one.
	var maxPruned, minKept float32 = 0, 1e9
	for i := range w {
		if w[i] == 0 {
			maxPruned = max(maxPruned, abs(orig[i]))
		} else {
			minKept = min(minKept, abs(w[i]))
			if w[i] != orig[i] {
				t.Fatal("a kept weight changed")
			}
		}
	}
	if maxPruned > minKept {
		t.Fatalf("pruned %g > kept %g", maxPruned, minKept)
	}
	if len(r.Layers) != 2 || r.Layers[1].Sparsity != 0.5 {
		t.Fatalf("%+v", r.Layers)
	}
}

func TestGlobal(t *testing.T) {
	m := ctest.MLP(1)
	// Make w2 tiny: a global threshold prunes it entirely first.
	w2 := floats(t, m, "w2")
	for i := range w2 {
		w2[i] *= 1e-6
	}
	compress.SetFloats(m.Graph.Initializer("w2"), []int64{8, 32}, append([]float32(nil), w2...))
	if _, err := Global(m, 256.0/768, nil); err != nil {
		t.Fatal(err)
	}
	if s := compress.Sparsity(floats(t, m, "w2")); s != 1 {
		t.Fatalf("w2 sparsity %g", s)
	}
	if s := compress.Sparsity(floats(t, m, "w1")); s != 0 {
		t.Fatalf("w1 sparsity %g", s)
	}
}

func TestNM(t *testing.T) {
	m := ctest.CNN(1)
	r, err := NM(m, 2, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	// conv1 has 3 input channels: skipped. conv2 [4, 8, 3, 3]: groups of 4 along axis 1.
	if len(r.Skipped) != 1 || len(r.Layers) != 2 {
		t.Fatalf("%+v", r)
	}
	w := floats(t, m, "cw2")
	for o := 0; o < 4; o++ {
		for g := 0; g < 2; g++ {
			for s := 0; s < 9; s++ {
				nz := 0
				for j := 0; j < 4; j++ {
					if w[(o*8+g*4+j)*9+s] != 0 {
						nz++
					}
				}
				if nz > 2 {
					t.Fatalf("group (%d, %d, %d) keeps %d", o, g, s, nz)
				}
			}
		}
	}
	// The Gemm [5, 36] with transB: groups along the last axis.
	fw := floats(t, m, "fw")
	for i := 0; i < len(fw); i += 4 {
		nz := 0
		for _, v := range fw[i : i+4] {
			if v != 0 {
				nz++
			}
		}
		if nz != 2 {
			t.Fatalf("fc group %d keeps %d", i/4, nz)
		}
	}
}

// Channels whose filters (and biases) are zero contribute nothing: removing them must
// leave the outputs unchanged while every affected tensor shrinks.
func TestChannelsRemovesDeadChannelsExactly(t *testing.T) {
	m := ctest.CNN(3)
	g := m.Graph
	zeroChannel := func(name string, axis int, c int) {
		tt := g.Initializer(name)
		v := append([]float32(nil), floats(t, m, name)...)
		outer, ch, inner := compress.Channels(tt.Shape, axis)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				v[(o*ch+c)*inner+i] = 0
			}
		}
		compress.SetFloats(tt, tt.Shape, v)
	}
	// conv1: channels 1 and 6 dead (8 → 6 with fraction 0.25); conv2: channel 2 (4 → 3).
	for _, c := range []int{1, 6} {
		zeroChannel("cw1", 0, c)
		zeroChannel("cb1", 0, c)
	}
	zeroChannel("cw2", 0, 2)
	zeroChannel("cb2", 0, 2)
	x := ctest.Random(4, 2*3*6*6)
	want := ctest.Run(t, m, x)
	r, err := Channels(m, 0.25, "l1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 2 {
		t.Fatalf("%+v", r)
	}
	shapes := map[string][]int64{"cw1": {6, 3, 3, 3}, "cb1": {6}, "cw2": {3, 6, 3, 3}, "cb2": {3}, "fw": {5, 27}}
	for name, s := range shapes {
		if got := g.Initializer(name).Shape; len(got) != len(s) || got[0] != s[0] || got[len(got)-1] != s[len(s)-1] {
			t.Errorf("%s shape %v, want %v", name, got, s)
		}
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 1e-4 {
		t.Fatalf("outputs changed by %g", d)
	}
}

func TestChannelsMLPBiasAdd(t *testing.T) {
	m := ctest.MLP(5)
	r, err := Channels(m, 0.25, "l2", nil)
	if err != nil {
		t.Fatal(err)
	}
	// fc1 → Add → Relu → fc2: prunable; fc2's output is the graph output: skipped.
	if len(r.Layers) != 1 || len(r.Skipped) != 1 {
		t.Fatalf("%+v", r)
	}
	g := m.Graph
	if g.Initializer("w1").Shape[1] != 24 || g.Initializer("b1").Shape[0] != 24 || g.Initializer("w2").Shape[1] != 24 {
		t.Fatalf("shapes %v %v %v", g.Initializer("w1").Shape, g.Initializer("b1").Shape, g.Initializer("w2").Shape)
	}
	ctest.Run(t, m, ctest.Random(1, 64)) // still runs
}
