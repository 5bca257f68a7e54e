package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// qkx2Inputs: random sub-blocks of several scales and sub-block counts (lane tails
// included), plus sub-blocks that take the rare paths: all zero, all equal and negative
// (max == min), all positive, one outlier, NaN and infinities.
func qkx2Inputs(r *rand.Rand) [][]float32 {
	var ins [][]float32
	for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 33, 64} {
		for _, scale := range []float32{1, 1e-3, 3e4} {
			ins = append(ins, randF32(r, n*QKX2Sub, scale))
		}
	}
	sub := func(f func(i int) float32) []float32 {
		x := make([]float32, QKX2Sub)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	var odd []float32
	for _, s := range [][]float32{
		sub(func(int) float32 { return 0 }),
		sub(func(int) float32 { return -2.5 }),
		sub(func(int) float32 { return 3 }),
		sub(func(i int) float32 { return 1 + float32(i)*0.01 }),
		sub(func(i int) float32 { return float32(i%16) - 0.25 }),
		sub(func(i int) float32 {
			if i == 5 {
				return 100
			}
			return float32(i) * 1e-3
		}),
		sub(func(i int) float32 {
			if i == 3 {
				return float32(math.NaN())
			}
			return float32(i)
		}),
		sub(func(i int) float32 {
			if i == 0 {
				return float32(math.NaN())
			}
			return -float32(i)
		}),
		sub(func(i int) float32 {
			if i == 7 {
				return float32(math.Inf(1))
			}
			return float32(i)
		}),
		sub(func(i int) float32 {
			if i == 30 {
				return float32(math.Inf(-1))
			}
			return float32(i)
		}),
		sub(func(i int) float32 { return 1e-40 * float32(i-16) }),
	} {
		odd = append(odd, s...)
		ins = append(ins, s)
	}
	odd = append(odd, randF32(r, 5*QKX2Sub, 2)...)
	return append(ins, odd)
}

func TestFitQKX2(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	ins := qkx2Inputs(r)
	for _, bt := range backendsUnderTest() {
		for bi, x := range ins {
			n := len(x) / QKX2Sub
			for _, p := range []struct {
				nmax         int
				rmin, rdelta float32
				nstep        int
			}{{15, -1, 0.1, 20}, {31, -0.5, 0.1, 15}, {15, -1, 0.1, 0}, {7, -1, 0.2, 3}} {
				name := fmt.Sprintf("%s/input%d/%dsub/nmax%d/nstep%d", bt.name, bi, n, p.nmax, p.nstep)
				ws, wm, wl := make([]float32, n), make([]float32, n), make([]uint8, len(x))
				refFitQKX2(ws, wm, wl, x, p.nmax, p.rmin, p.rdelta, p.nstep)
				fs, gs := guardedF32(n, 0)
				fm, gm := guardedF32(n, 0)
				fl, gl := guarded[uint8](len(x), 0xee)
				bt.t.fitQKX2(gs, gm, gl, x, p.nmax, p.rmin, p.rdelta, p.nstep)
				checkGuardsF32(t, name+"/scales", fs, n)
				checkGuardsF32(t, name+"/mins", fm, n)
				checkGuards(t, name+"/levels", fl, len(x), 0xee)
				for j := 0; j < n; j++ {
					if math.Float32bits(gs[j]) != math.Float32bits(ws[j]) || math.Float32bits(gm[j]) != math.Float32bits(wm[j]) {
						t.Fatalf("%s: sub-block %d: scale, min = %g, %g, want %g, %g (x %v)", name, j, gs[j], gm[j], ws[j], wm[j], x[j*32:j*32+32])
					}
				}
				for i := range gl {
					if gl[i] != wl[i] {
						t.Fatalf("%s: level %d = %d, want %d", name, i, gl[i], wl[i])
					}
				}
			}
		}
	}
}

// A sub-block already on the grid 0..15 is fitted exactly: scale 1, min −0, levels = x.
func TestFitQKX2Known(t *testing.T) {
	x := make([]float32, QKX2Sub)
	for i := range x {
		x[i] = float32(i % 16)
	}
	sc, mn, l := make([]float32, 1), make([]float32, 1), make([]uint8, QKX2Sub)
	FitQKX2(sc, mn, l, x, 15, -1, 0.1, 20)
	if sc[0] != 1 || math.Float32bits(mn[0]) != 0x80000000 {
		t.Fatalf("scale, min = %g, %g; want 1, -0", sc[0], mn[0])
	}
	for i := range l {
		if l[i] != uint8(i%16) {
			t.Fatalf("level %d = %d, want %d", i, l[i], i%16)
		}
	}
	for i := range x {
		x[i] = -4
	}
	FitQKX2(sc, mn, l, x, 15, -1, 0.1, 20)
	if sc[0] != 0 || mn[0] != 4 || l[0] != 0 || l[31] != 0 {
		t.Fatalf("flat block: scale, min = %g, %g, levels %v; want 0, 4, zeros", sc[0], mn[0], l)
	}
}

func TestFitQKX2BadArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"ragged x", func() {
			FitQKX2(make([]float32, 1), make([]float32, 1), make([]uint8, 33), make([]float32, 33), 15, -1, 0.1, 20)
		}},
		{"short scales", func() {
			FitQKX2(make([]float32, 1), make([]float32, 2), make([]uint8, 64), make([]float32, 64), 15, -1, 0.1, 20)
		}},
		{"short levels", func() {
			FitQKX2(make([]float32, 1), make([]float32, 1), make([]uint8, 31), make([]float32, 32), 15, -1, 0.1, 20)
		}},
		{"nmax", func() {
			FitQKX2(make([]float32, 1), make([]float32, 1), make([]uint8, 32), make([]float32, 32), 0, -1, 0.1, 20)
		}},
		{"nstep", func() {
			FitQKX2(make([]float32, 1), make([]float32, 1), make([]uint8, 32), make([]float32, 32), 15, -1, 0.1, -1)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.f()
		}()
	}
}

func TestFitQX(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	ins := qkx2Inputs(r) // 32-value sub-blocks are two 16-value ones each
	ins = append(ins, randF32(r, 3*QXSub, 1), randF32(r, 17*QXSub, 5), randSpecial(r, 40*QXSub))
	for _, bt := range backendsUnderTest() {
		for bi, x := range ins {
			n := len(x) / QXSub
			for _, nmax := range []int{32, 4, 1} {
				name := fmt.Sprintf("%s/input%d/%dsub/nmax%d", bt.name, bi, n, nmax)
				ws, wl := make([]float32, n), make([]int8, len(x))
				refFitQX(ws, wl, x, nmax)
				fs, gs := guardedF32(n, 0)
				fl, gl := guarded[int8](len(x), -18)
				bt.t.fitQX(gs, gl, x, nmax)
				checkGuardsF32(t, name+"/scales", fs, n)
				checkGuards(t, name+"/levels", fl, len(x), -18)
				for j := 0; j < n; j++ {
					if math.Float32bits(gs[j]) != math.Float32bits(ws[j]) {
						t.Fatalf("%s: sub-block %d: scale = %g, want %g (x %v)", name, j, gs[j], ws[j], x[j*16:j*16+16])
					}
				}
				for i := range gl {
					if gl[i] != wl[i] {
						t.Fatalf("%s: level %d = %d, want %d", name, i, gl[i], wl[i])
					}
				}
			}
		}
	}
}

// Values on a grid of 1/4 are fitted exactly; an all-zero sub-block
// gets scale 0 and levels 0.
func TestFitQXKnown(t *testing.T) {
	x := make([]float32, 2*QXSub)
	for i := 0; i < QXSub; i++ {
		x[i] = float32(i-16) * 0.5 // −8 … 7.5: max |x| = 8 at −8, iscale = 32/8 = 4
	}
	sc, l := make([]float32, 2), make([]int8, 2*QXSub)
	FitQX(sc, l, x, 32)
	// max |x| is 8, at x = −8: iscale = −32/−8 = 4, level = 4x + 32 = 2i, exact, so no
	// other candidate scale does better and scale = 1/4.
	for i := 0; i < QXSub; i++ {
		if l[i] != int8(2*i) {
			t.Fatalf("level %d = %d, want %d", i, l[i], 2*i)
		}
	}
	if sc[0] != 0.25 {
		t.Fatalf("scale = %g, want 0.25", sc[0])
	}
	if sc[1] != 0 || l[QXSub] != 0 || l[2*QXSub-1] != 0 {
		t.Fatalf("zero sub-block: scale %g, levels %v", sc[1], l[QXSub:])
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("FitQX with nmax 0: no panic")
			}
		}()
		FitQX(sc, l, x, 0)
	}()
}
