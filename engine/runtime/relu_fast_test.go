package runtime

import (
	"math"
	"math/rand"
	"testing"
)

// TestRelu32: the branch-free Relu gives the reference's bits (reluT) on random values,
// every special (±0, ±Inf, NaNs of both signs and several payloads, subnormals, the
// extremes) and random bit patterns.
func TestRelu32(t *testing.T) {
	rng := rand.New(rand.NewSource(61))
	src := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000), math.Float32frombits(0x7f800001),
		math.Float32frombits(0xff800001), math.Float32frombits(0xffffffff), math.Float32frombits(1),
		math.Float32frombits(0x80000001), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -1, 1}
	for i := 0; i < 5000; i++ {
		src = append(src, float32(rng.NormFloat64()), math.Float32frombits(rng.Uint32()))
	}
	dst := make([]float32, len(src)+1)
	dst[len(src)] = 42 // a guard: relu32 writes len(src) values
	relu32(dst, src)
	for i, v := range src {
		if got, want := math.Float32bits(dst[i]), math.Float32bits(reluT(v)); got != want {
			t.Fatalf("relu32(%#08x) = %#08x, want %#08x", math.Float32bits(v), got, want)
		}
	}
	if dst[len(src)] != 42 {
		t.Fatal("relu32 wrote past the end")
	}
}

func BenchmarkRelu32(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	src := randT(rng, 1, 64*56*56).Data.([]float32)
	dst := make([]float32, len(src))
	b.Run("branchfree", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			relu32(dst, src)
		}
	})
	b.Run("branch", func(b *testing.B) { // the previous kernel
		for i := 0; i < b.N; i++ {
			for j, v := range src {
				if v < 0 {
					v = 0
				}
				dst[j] = v
			}
		}
	})
}
