package clip

import (
	"testing"

	"github.com/modelc/modelc/engine/compress/internal/ctest"
)

func TestRangeAndPercentile(t *testing.T) {
	m := ctest.MLP(1)
	if _, err := Clip(m, Options{Lo: -0.5, Hi: 0.25}); err != nil {
		t.Fatal(err)
	}
	w, _ := m.Graph.Initializer("w1").Float32s()
	for _, v := range w {
		if v < -0.5 || v > 0.25 {
			t.Fatalf("value %g outside the range", v)
		}
	}
	m = ctest.MLP(1)
	r, err := Clip(m, Options{Percentile: 90, PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	// About a tenth of each channel is clipped: 16 values per channel of w1 → 1 or 2.
	if r.Layers[0].Detail == "0 values clipped" || r.Layers[0].RelError <= 0 {
		t.Fatalf("%+v", r.Layers[0])
	}
	w, _ = m.Graph.Initializer("w1").Float32s()
	for c := 0; c < 32; c++ {
		var top float32
		n := 0
		for k := 0; k < 16; k++ {
			top = max(top, abs32(w[k*32+c]))
		}
		for k := 0; k < 16; k++ {
			if abs32(w[k*32+c]) == top {
				n++
			}
		}
		if n < 2 {
			t.Fatalf("channel %d: the largest magnitude appears %d times; clipping should tie the top values", c, n)
		}
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
