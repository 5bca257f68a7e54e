package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestGEMVPacked: the packed one-row product gives SGEMMBias's bits (transB, one row)
// on sizes around the group of four rows and the 16-float block, with and without bias
// and beta, at one and two threads; the input B is left as it was.
func TestGEMVPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	shapes := [][2]int{{1000, 1024}, {1024, 576}, {5, 1000}, {7, 100}, {64, 17}, {33, 48}, {1, 4096}, {130, 1}, {2049, 8}}
	for _, s := range shapes {
		n, k := s[0], s[1]
		ldb := k + 3
		b := randF32(r, n*ldb, 1)
		for i, v := range []float32{float32(math.NaN()), float32(math.Inf(1))} { // padding columns must never be read
			for j := 0; j < n; j++ {
				b[j*ldb+k+i] = v
			}
		}
		before := append([]float32(nil), b...)
		w := PackGEMV(b, n, k, ldb)
		if w == nil {
			if tab().gemvPacked != nil && n*k >= smallFlops {
				t.Fatalf("%v: no packed weights on a backend with the kernel", s)
			}
			continue
		}
		for i := range b {
			if math.Float32bits(b[i]) != math.Float32bits(before[i]) {
				t.Fatalf("%v: B changed at %d", s, i)
			}
		}
		a, bias, c0 := randF32(r, k, 1), randF32(r, n, 1), randF32(r, n, 1)
		for _, c := range []struct {
			alpha, beta float32
			bias        []float32
		}{{1, 0, nil}, {1, 0, bias}, {0.5, 2, bias}, {-1.5, 1, nil}} {
			want := append([]float32(nil), c0...)
			SGEMMBias(false, true, 1, n, k, c.alpha, a, k, b, ldb, c.beta, want, n, c.bias)
			for _, th := range []int{1, 2} {
				got := append([]float32(nil), c0...)
				withThreads(t, th, func() { GEMVPacked(w, c.alpha, a, c.beta, got, c.bias) })
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("%v alpha %g beta %g bias %v, %d threads: c[%d] = %g, SGEMM %g", s, c.alpha, c.beta, c.bias != nil, th, j, got[j], want[j])
					}
				}
			}
		}
	}
}

// TestGEMVPackedGuards: a B too short to pack and buffers too short to run are errors
// that name the function, not a read past the end.
func TestGEMVPackedGuards(t *testing.T) {
	expectPanic(t, "PackGEMV", func() { PackGEMV(make([]float32, 100), 10, 11, 11) })
	expectPanic(t, "PackGEMV", func() { PackGEMV(make([]float32, 100), 10, 10, 9) })
	w := PackGEMV(make([]float32, 64*64), 64, 64, 64)
	if w == nil {
		t.Skip("no packed one-row kernel on this backend")
	}
	expectPanic(t, "GEMVPacked", func() { GEMVPacked(w, 1, make([]float32, 63), 0, make([]float32, 64), nil) })
	expectPanic(t, "GEMVPacked", func() { GEMVPacked(w, 1, make([]float32, 64), 0, make([]float32, 63), nil) })
	expectPanic(t, "GEMVPacked", func() { GEMVPacked(w, 1, make([]float32, 64), 0, make([]float32, 64), make([]float32, 3)) })
}

// BenchmarkGEMVPacked: MobileNetV3-Small's two classifier heads at batch 1, packed
// against the row-major one-row SGEMM (the path it replaces) and the pure-Go SGEMM, one
// thread, with the caches emptied before each pass (the weights of a model's head are
// not in cache when its turn comes) and warm. Emptying the caches is not timed, so
// give it a count: -benchtime=300x.
func BenchmarkGEMVPacked(b *testing.B) {
	old := SetMaxThreads(1)
	b.Cleanup(func() { SetMaxThreads(old) })
	r := rand.New(rand.NewPCG(3, 4))
	heads := [][2]int{{1024, 576}, {1000, 1024}}
	var bs [][]float32
	var ws []*GEMVWeights
	for _, h := range heads {
		bs = append(bs, randF32(r, h[0]*h[1], 1))
		ws = append(ws, PackGEMV(bs[len(bs)-1], h[0], h[1], h[1]))
	}
	if ws[0] == nil {
		b.Skip("no packed one-row kernel on this backend")
	}
	a, c := randF32(r, 1024, 1), make([]float32, 1024)
	junk := make([]float32, 16<<20)
	paths := map[string]func(){
		"packed": func() {
			for i, h := range heads {
				GEMVPacked(ws[i], 1, a, 0, c, nil)
				_ = h
			}
		},
		"sgemm": func() {
			for i, h := range heads {
				SGEMM(false, true, 1, h[0], h[1], 1, a, h[1], bs[i], h[1], 0, c, h[0])
			}
		},
		"go": func() {
			for i, h := range heads {
				goSGEMM(false, true, 1, h[0], h[1], 1, a, h[1], bs[i], h[1], 0, c, h[0], nil)
			}
		},
	}
	for _, cold := range []bool{true, false} {
		for _, name := range []string{"packed", "sgemm", "go"} {
			run := paths[name]
			b.Run(fmt.Sprintf("%s/cold=%v", name, cold), func(b *testing.B) {
				b.ReportMetric(float64(bestRun(b, cold, junk, run).Nanoseconds())/1e3, "best-µs")
			})
		}
	}
}

// bestRun runs f b.N times and returns its fastest run; with cold, the caches are
// emptied before each run by writing junk (64 MB), outside the timer.
func bestRun(b *testing.B, cold bool, junk []float32, f func()) time.Duration {
	var best time.Duration
	for i := 0; i < b.N; i++ {
		if cold {
			b.StopTimer()
			for j := range junk {
				junk[j]++
			}
			b.StartTimer()
		}
		t0 := time.Now()
		f()
		if d := time.Since(t0); i == 0 || d < best {
			best = d
		}
	}
	return best
}

// expectPanic fails t unless f panics with a message naming fn.
func expectPanic(t *testing.T, fn string, f func()) {
	t.Helper()
	defer func() {
		if e := recover(); e == nil || !strings.Contains(fmt.Sprint(e), fn) {
			t.Errorf("panic %v, want one naming %s", e, fn)
		}
	}()
	f()
}
