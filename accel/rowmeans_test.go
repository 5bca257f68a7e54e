package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Every backend bit for bit against the Go reference (one summation order for all),
// ragged widths around the 16-lane blocks, NaN and ±Inf included; the reference within
// a float32 rounding of the mean summed in order in float64.
func TestRowMeans(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for trial := 0; trial < 300; trial++ {
		rows, cols := 1+r.IntN(6), r.IntN(70)
		if trial%10 == 0 {
			cols = 1000 + r.IntN(3000)
		}
		src := randF32(r, rows*cols, 10)
		if trial%7 == 0 && rows*cols > 0 {
			src = randSpecial(r, rows*cols)
		}
		want := make([]float32, rows)
		refRowMeans(src, rows, cols, want)
		for _, bt := range backendsUnderTest() {
			full, got := guardedF32(rows, 0)
			bt.t.rowMeans(src, rows, cols, got)
			checkGuardsF32(t, bt.name+"/row_means", full, rows)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s %d×%d: mean[%d] = %g, reference %g", bt.name, rows, cols, i, got[i], want[i])
				}
			}
		}
		for i := 0; i < rows && cols > 0; i++ {
			var s, abs float64
			for _, v := range src[i*cols : (i+1)*cols] {
				s += float64(v)
				abs += math.Abs(float64(v))
			}
			ordered := s / float64(cols)
			if d := math.Abs(float64(want[i]) - ordered); d > 6e-8*math.Abs(ordered)+1e-15*abs/float64(cols) && !math.IsNaN(ordered) && !math.IsInf(ordered, 0) {
				t.Fatalf("%d×%d: mean[%d] = %g, ordered float64 sum gives %g", rows, cols, i, want[i], ordered)
			}
		}
	}
}

// RowMeans against the ordered float64 loop it replaced in GlobalAveragePool (four planes
// side by side), on EfficientNet-B0's squeeze-and-excitation inputs.
func BenchmarkRowMeans(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][2]int{{96, 112 * 112}, {240, 28 * 28}, {1152, 7 * 7}} {
		rows, cols := s[0], s[1]
		src, out := randF32(r, rows*cols, 1), make([]float32, rows)
		for _, bt := range backendsUnderTest() {
			b.Run(fmt.Sprintf("%s/%dx%d", bt.name, rows, cols), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					bt.t.rowMeans(src, rows, cols, out)
				}
			})
		}
		b.Run(fmt.Sprintf("ordered/%dx%d", rows, cols), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				orderedMeans(src, rows, cols, out)
			}
		})
	}
}

// orderedMeans is GlobalAveragePool's previous plane means: each plane summed in order in
// float64, four planes side by side.
func orderedMeans(x []float32, rows, S int, res []float32) {
	i := 0
	for ; i+4 <= rows; i += 4 {
		p0, p1, p2, p3 := x[i*S:(i+1)*S], x[(i+1)*S:(i+2)*S], x[(i+2)*S:(i+3)*S], x[(i+3)*S:(i+4)*S]
		var s0, s1, s2, s3 float64
		for k := range p0 {
			s0 += float64(p0[k])
			s1 += float64(p1[k])
			s2 += float64(p2[k])
			s3 += float64(p3[k])
		}
		res[i], res[i+1], res[i+2], res[i+3] = float32(s0/float64(S)), float32(s1/float64(S)), float32(s2/float64(S)), float32(s3/float64(S))
	}
	for ; i < rows; i++ {
		var s float64
		for _, v := range x[i*S : (i+1)*S] {
			s += float64(v)
		}
		res[i] = float32(s / float64(S))
	}
}
