package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Every kernel of every backend this machine runs is checked against the reference in
// ref.go. Backends are iterated explicitly (not through MODELC_ACCEL), and each SIMD
// backend is also run with optional features switched off (VNNI, dotprod), so one
// `go test ./accel/` covers every path the CPU can execute.
//
// Tolerances: integer and conversion kernels must be bit-exact. Float kernels:
//   GEMM      |got−want| ≤ (k+2)·2⁻²³·(|α|Σ|a||b| + |β c| + |bias|)   (classic γ_k bound)
//   Exp       rel ≤ 4e-7, or abs ≤ 1e-37 (subnormal results)
//   SiLU      rel ≤ 1e-6, or abs ≤ 1e-30
//   GELU      abs ≤ 1e-6·max(1, |x|)
//   Softmax   rel ≤ (8 + cols + |x−max|)·2⁻²³ of each output, or abs ≤ 1e-30
//   SumSq     rel ≤ 1e-12

type namedTable struct {
	name string
	t    *table
}

// backendsUnderTest lists the go table and every SIMD table (and feature-reduced variant)
// this CPU can run.
func backendsUnderTest() []namedTable {
	f := detect()
	out := []namedTable{{"go", goTable()}}
	for _, b := range []Backend{BackendAVX512, BackendAVX2, BackendNEON} {
		if requirement(b, f) != "" {
			continue
		}
		out = append(out, namedTable{string(b), tableFor(b, f)})
		switch {
		case b == BackendAVX512 && f.avx512vnni:
			g := f
			g.avx512vnni = false
			out = append(out, namedTable{"avx512-novnni", tableFor(b, g)})
		case b == BackendNEON && f.asimddp:
			g := f
			g.asimddp = false
			out = append(out, namedTable{"neon-nodotprod", tableFor(b, g)})
		}
	}
	return out
}

func TestBackendsListed(t *testing.T) {
	for _, bt := range backendsUnderTest() {
		t.Logf("testing backend %s", bt.name)
		for _, k := range kernelNames {
			if _, ok := bt.t.impl[k]; !ok {
				t.Errorf("%s: no report entry for kernel %s", bt.name, k)
			}
		}
	}
}

// ---- guarded buffers (gonum internal/asm style) ------------------------------------------

const guardN = 17

func guardedF32(n int, fill float32) (full, mid []float32) {
	full = make([]float32, n+2*guardN)
	for i := range full {
		full[i] = guardF32
	}
	mid = full[guardN : guardN+n : guardN+n]
	for i := range mid {
		mid[i] = fill
	}
	return
}

var guardF32 = math.Float32frombits(0x7fa5a5a5) // a NaN no kernel produces

func checkGuardsF32(t *testing.T, what string, full []float32, n int) {
	t.Helper()
	for i := 0; i < guardN; i++ {
		if math.Float32bits(full[i]) != 0x7fa5a5a5 || math.Float32bits(full[guardN+n+i]) != 0x7fa5a5a5 {
			t.Fatalf("%s: write outside the output slice (guard %d)", what, i)
		}
	}
}

func guarded[T ~int8 | ~uint8 | ~uint16 | ~int32](n int, g T) (full, mid []T) {
	full = make([]T, n+2*guardN)
	for i := range full {
		full[i] = g
	}
	return full, full[guardN : guardN+n : guardN+n]
}

func checkGuards[T comparable](t *testing.T, what string, full []T, n int, g T) {
	t.Helper()
	for i := 0; i < guardN; i++ {
		if full[i] != g || full[guardN+n+i] != g {
			t.Fatalf("%s: write outside the output slice (guard %d)", what, i)
		}
	}
}

// ---- inputs ------------------------------------------------------------------------------------

var sizes = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 1000, 1023, 4097}

func randF32(r *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (r.Float32()*2 - 1) * scale
	}
	return x
}

var specials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc12345),
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, -1e-40, 1.17549435e-38,
	65504, 65519.99, 65520, -65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1e-7,
	3.0000002, 0.33333334, 88.7, 89, -87.5, -103, -104, 100, -100, 20, -20, 9, -9}

// randSpecial mixes specials into random data.
func randSpecial(r *rand.Rand, n int) []float32 {
	x := randF32(r, n, 10)
	for i := range x {
		switch r.IntN(8) {
		case 0:
			x[i] = specials[r.IntN(len(specials))]
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		}
	}
	return x
}

func sameF32(a, b float32) bool {
	return a == b || (a != a && b != b)
}

// ---- GEMM ---------------------------------------------------------------------------------------

func TestSGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ m, n, k int }
	shapes := []shape{{0, 0, 0}, {1, 1, 1}, {1, 0, 3}, {0, 4, 2}, {3, 4, 0}, {1, 17, 5}, {13, 1, 7}, {2, 3, 4},
		{12, 32, 16}, {13, 33, 17}, {11, 31, 15}, {25, 65, 257}, {37, 19, 300}, {100, 100, 100}, {97, 130, 520}, {130, 600, 40},
		{1, 1030, 37}, {1, 7, 300}, {1, 2100, 19}, {1, 5, 16}, {1, 33, 1},
		{9, 49, 600}, {17, 47, 513}, {8, 16, 256}, {7, 97, 1}, {16, 48, 255}, {64, 200, 27},
		{13, 64, 300}, {7, 57, 33}}
	for i := 0; i < 10; i++ {
		shapes = append(shapes, shape{1 + r.IntN(70), 1 + r.IntN(70), 1 + r.IntN(300)})
	}
	for _, bt := range backendsUnderTest() {
		for _, s := range shapes {
			for _, tr := range [4][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, ab := range [][2]float32{{1, 0}, {0.75, -1.5}} {
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/alpha=%g,beta=%g", bt.name, s.m, s.n, s.k, tr[0], tr[1], ab[0], ab[1])
					checkSGEMM(t, r, bt.t, name, s.m, s.n, s.k, tr[0], tr[1], ab[0], ab[1], s.m%2 == 0 || s.n%2 == 1)
				}
			}
		}
	}
}

func checkSGEMM(t *testing.T, r *rand.Rand, tb *table, name string, m, n, k int, tA, tB bool, alpha, beta float32, withBias bool) {
	ar, ac := dims(tA, m, k)
	br, bc := dims(tB, k, n)
	lda, ldb, ldc := ac+r.IntN(3), bc+r.IntN(3), n+1+r.IntN(3)
	a := randF32(r, max(ar*lda, 1), 1)
	b := randF32(r, max(br*ldb, 1), 1)
	var bias []float32
	if withBias {
		bias = randF32(r, n, 1)
	}
	c0 := randF32(r, m*ldc, 1)
	if beta == 0 {
		for i := range c0 {
			c0[i] = float32(math.NaN()) // must not leak through when beta == 0
		}
	}
	want := append([]float32(nil), c0...)
	refSGEMM(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc, bias)
	// bound: the same product on absolute values
	abs := func(x []float32) []float32 {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(math.Abs(float64(v)))
		}
		return y
	}
	bound := abs(c0)
	if beta == 0 {
		clear(bound)
	}
	var absBias []float32
	if bias != nil {
		absBias = abs(bias)
	}
	refSGEMM(tA, tB, m, n, k, float32(math.Abs(float64(alpha))), abs(a), lda, abs(b), ldb, float32(math.Abs(float64(beta))), bound, ldc, absBias)
	full, c := guardedF32(len(c0), 0)
	copy(c, c0)
	tb.sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	checkGuardsF32(t, name, full, len(c0))
	tol := float64(k+2) * math.Pow(2, -23)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got, w := c[i*ldc+j], want[i*ldc+j]
			if j >= n { // padding between rows: untouched
				if !sameF32(got, c0[i*ldc+j]) {
					t.Fatalf("%s: C[%d][%d] (padding) changed", name, i, j)
				}
				continue
			}
			if math.Abs(float64(got-w)) > tol*float64(bound[i*ldc+j])+1e-30 || got != got {
				t.Fatalf("%s: C[%d][%d] = %g, want %g (bound %g)", name, i, j, got, w, tol*float64(bound[i*ldc+j]))
			}
		}
	}
}

func TestIGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {1, 1, 3}, {2, 3, 5}, {12, 32, 16}, {13, 33, 17}, {6, 16, 8}, {7, 17, 9}, {40, 50, 600},
		{25, 70, 1030}, {100, 37, 64}, {3, 200, 513}, {17, 1100, 150}, {0, 5, 5}, {5, 0, 5}, {5, 5, 0}}
	for i := 0; i < 8; i++ {
		shapes = append(shapes, shape{1 + r.IntN(60), 1 + r.IntN(80), 1 + r.IntN(700)})
	}
	for _, bt := range backendsUnderTest() {
		for _, s := range shapes {
			for _, tB := range []bool{false, true} {
				br, bc := dims(tB, s.k, s.n)
				lda, ldb, ldc := s.k+r.IntN(3), bc+r.IntN(3), s.n+r.IntN(3)
				a8 := make([]int8, max(s.m*lda, 1))
				au := make([]uint8, max(s.m*lda, 1))
				b := make([]int8, max(br*ldb, 1))
				extreme := r.IntN(3) == 0
				for i := range a8 {
					a8[i], au[i] = int8(r.Uint32()), uint8(r.Uint32())
					if extreme {
						a8[i], au[i] = -128, 255
					}
				}
				for i := range b {
					b[i] = int8(r.Uint32())
					if extreme {
						b[i] = -128
					}
				}
				name := fmt.Sprintf("%s/%dx%dx%d/tB=%v", bt.name, s.m, s.n, s.k, tB)
				nc := max(s.m*ldc, 0)
				want := make([]int32, nc)
				refIGEMM(tB, s.m, s.n, s.k, a8, lda, b, ldb, want, ldc)
				full, c := guarded[int32](nc, 0x5a5a5a5a)
				for i := range c {
					c[i] = 0x5a5a5a5a
				}
				bt.t.gemmS8S8(tB, s.m, s.n, s.k, a8, lda, b, ldb, c, ldc)
				checkGuards(t, name+"/s8s8", full, nc, 0x5a5a5a5a)
				cmpI32(t, name+"/s8s8", c, want, s.m, s.n, ldc)

				refIGEMM(tB, s.m, s.n, s.k, au, lda, b, ldb, want, ldc)
				full, c = guarded[int32](nc, 0x5a5a5a5a)
				for i := range c {
					c[i] = 0x5a5a5a5a
				}
				bt.t.gemmU8S8(tB, s.m, s.n, s.k, au, lda, b, ldb, c, ldc)
				checkGuards(t, name+"/u8s8", full, nc, 0x5a5a5a5a)
				cmpI32(t, name+"/u8s8", c, want, s.m, s.n, ldc)
			}
		}
	}
}

func cmpI32(t *testing.T, name string, got, want []int32, m, n, ldc int) {
	t.Helper()
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			if j >= n {
				if got[i*ldc+j] != 0x5a5a5a5a {
					t.Fatalf("%s: padding C[%d][%d] changed", name, i, j)
				}
				continue
			}
			if got[i*ldc+j] != want[i*ldc+j] {
				t.Fatalf("%s: C[%d][%d] = %d, want %d", name, i, j, got[i*ldc+j], want[i*ldc+j])
			}
		}
	}
}

// ---- conversions ----------------------------------------------------------------------------------

func TestHalfConversions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// every half value, and float32 values around every half boundary
	allH := make([]uint16, 65536)
	for i := range allH {
		allH[i] = uint16(i)
	}
	var around []float32
	for i := 0; i < 65536; i += 7 {
		f := F16ToF32Scalar(uint16(i))
		u := math.Float32bits(f)
		around = append(around, f, math.Float32frombits(u+0x1000), math.Float32frombits(u+0xfff), math.Float32frombits(u+0x1001), math.Float32frombits(u+0x2000))
	}
	for _, bt := range backendsUnderTest() {
		for _, n := range append(sizes, len(allH)) {
			src := allH[:n]
			if n != len(allH) {
				src = make([]uint16, n)
				for i := range src {
					src[i] = uint16(r.Uint32())
				}
			}
			want := make([]float32, n)
			refF16ToF32(want, src)
			full, got := guardedF32(n, 0)
			bt.t.f16ToF32(got, src)
			checkGuardsF32(t, bt.name+"/f16_to_f32", full, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s: f16_to_f32(%#04x) = %#08x, want %#08x", bt.name, src[i], math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
			wantB := make([]float32, n)
			refBF16ToF32(wantB, src)
			full, got = guardedF32(n, 0)
			bt.t.bf16ToF32(got, src)
			checkGuardsF32(t, bt.name+"/bf16_to_f32", full, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(wantB[i]) {
					t.Fatalf("%s: bf16_to_f32(%#04x) = %#08x, want %#08x", bt.name, src[i], math.Float32bits(got[i]), math.Float32bits(wantB[i]))
				}
			}
		}
		for _, n := range append(sizes, len(around)) {
			src := around
			if n != len(around) {
				src = randSpecial(r, n)
			}
			want := make([]uint16, len(src))
			for _, c := range []struct {
				name string
				ref  func([]uint16, []float32)
				k    func([]uint16, []float32)
			}{{"f32_to_f16", refF32ToF16, bt.t.f32ToF16}, {"f32_to_bf16", refF32ToBF16, bt.t.f32ToBF16}} {
				c.ref(want, src)
				full, got := guarded[uint16](len(src), 0xa5a5)
				c.k(got, src)
				checkGuards(t, bt.name+"/"+c.name, full, len(src), 0xa5a5)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s: %s(%g = %#08x) = %#04x, want %#04x", bt.name, c.name, src[i], math.Float32bits(src[i]), got[i], want[i])
					}
				}
			}
		}
	}
}

func TestHalfScalarKnown(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {65519.99, 0x7bff},
		{5.9604645e-08, 0x0001}, {2.9802322e-08, 0x0000}, {2.9802326e-08, 0x0001}, {6.1035156e-05, 0x0400},
		{float32(math.Inf(-1)), 0xfc00}, {1.0009766, 0x3c01}, {1.00048828125, 0x3c00}, {1.00146484375, 0x3c02}}
	for _, c := range cases {
		if got := F32ToF16Scalar(c.f); got != c.h {
			t.Errorf("F32ToF16Scalar(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := F32ToF16Scalar(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN → %#04x, not a NaN", h)
	}
	if b := F32ToBF16Scalar(1.00390625); b != 0x3f80 { // tie, rounds to even
		t.Errorf("bf16 tie = %#04x", b)
	}
	if b := F32ToBF16Scalar(math.Float32frombits(0x7f800001)); b&0x7f80 != 0x7f80 || b&0x7f == 0 {
		t.Errorf("bf16 of sNaN = %#04x, not a NaN", b)
	}
}

// ---- linear quantization ---------------------------------------------------------------------------

func TestQuantizeLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	type layout struct{ inner, ch int }
	for _, bt := range backendsUnderTest() {
		for _, n := range sizes {
			layouts := []layout{{max(n, 1), 1}}
			for _, ch := range []int{1, 3, 16, 37} {
				for _, inner := range []int{1, 2, 5, 33} {
					if n%(ch*inner) == 0 && n > 0 {
						layouts = append(layouts, layout{inner, ch})
					}
				}
			}
			src := randSpecial(r, n)
			for _, l := range layouts {
				scale := make([]float32, l.ch)
				zs := make([]int8, l.ch)
				zu := make([]uint8, l.ch)
				for c := range scale {
					scale[c] = []float32{0.05, 0.1, 1, 3.7, 1e-3, 0.0078125}[r.IntN(6)]
					zs[c], zu[c] = int8(r.IntN(256)-128), uint8(r.IntN(256))
				}
				// call on an offset sub-range too: the kernels get g0 ≠ 0 from the pool
				for _, g0 := range []int{0, n / 3} {
					part := src[g0:]
					name := fmt.Sprintf("%s/n=%d/inner=%d/ch=%d/g0=%d", bt.name, n, l.inner, l.ch, g0)
					ws := make([]int8, len(part))
					refQuantS8(ws, part, g0, l.inner, l.ch, scale, zs)
					full, gs := guarded[int8](len(part), 0x55)
					bt.t.quantS8(gs, part, g0, l.inner, l.ch, scale, zs)
					checkGuards(t, name+"/q_s8", full, len(part), 0x55)
					for i := range gs {
						if gs[i] != ws[i] {
							t.Fatalf("%s: quantize_s8(%g) at %d = %d, want %d", name, part[i], i, gs[i], ws[i])
						}
					}
					wu := make([]uint8, len(part))
					refQuantU8(wu, part, g0, l.inner, l.ch, scale, zu)
					fullu, gu := guarded[uint8](len(part), 0x55)
					bt.t.quantU8(gu, part, g0, l.inner, l.ch, scale, zu)
					checkGuards(t, name+"/q_u8", fullu, len(part), 0x55)
					for i := range gu {
						if gu[i] != wu[i] {
							t.Fatalf("%s: quantize_u8(%g) at %d = %d, want %d", name, part[i], i, gu[i], wu[i])
						}
					}
					// dequantize what we got
					wf := make([]float32, len(part))
					refDequantS8(wf, ws, g0, l.inner, l.ch, scale, zs)
					fullf, gf := guardedF32(len(part), 0)
					bt.t.dequantS8(gf, ws, g0, l.inner, l.ch, scale, zs)
					checkGuardsF32(t, name+"/dq_s8", fullf, len(part))
					for i := range gf {
						if math.Float32bits(gf[i]) != math.Float32bits(wf[i]) {
							t.Fatalf("%s: dequantize_s8 at %d = %g, want %g", name, i, gf[i], wf[i])
						}
					}
					refDequantU8(wf, wu, g0, l.inner, l.ch, scale, zu)
					fullf, gf = guardedF32(len(part), 0)
					bt.t.dequantU8(gf, wu, g0, l.inner, l.ch, scale, zu)
					checkGuardsF32(t, name+"/dq_u8", fullf, len(part))
					for i := range gf {
						if math.Float32bits(gf[i]) != math.Float32bits(wf[i]) {
							t.Fatalf("%s: dequantize_u8 at %d = %g, want %g", name, i, gf[i], wf[i])
						}
					}
				}
			}
		}
	}
}

func TestQuantOneRounding(t *testing.T) {
	for _, c := range []struct {
		x    float32
		want int32
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2}, {126.5, 126}, {127.5, 127}, {-128.5, -128}, {1e9, 127}, {-1e9, -128}} {
		if got := quantOne(c.x, 1, 0, -128, 127); got != c.want {
			t.Errorf("quantOne(%g) = %d, want %d", c.x, got, c.want)
		}
	}
	if got := quantOne(float32(math.NaN()), 1, 7, -128, 127); got != 7 {
		t.Errorf("NaN → %d, want the zero point", got)
	}
}

// ---- reductions -------------------------------------------------------------------------------------------

func TestReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, bt := range backendsUnderTest() {
		for _, rows := range []int{1, 2, 5} {
			for _, cols := range sizes {
				ld := cols + r.IntN(4)
				src := randSpecial(r, rows*ld)
				if r.IntN(2) == 0 { // some rows without specials
					src = randF32(r, rows*ld, 100)
				}
				if cols > 0 && rows > 1 { // an all-NaN row
					for j := 0; j < cols; j++ {
						src[ld+j] = float32(math.NaN())
					}
				}
				name := fmt.Sprintf("%s/%dx%d", bt.name, rows, cols)
				wmn, wmx := make([]float32, rows), make([]float32, rows)
				refMinMaxRows(src, rows, cols, ld, wmn, wmx)
				fmn, mn := guardedF32(rows, 0)
				fmx, mx := guardedF32(rows, 0)
				bt.t.minMaxRows(src, rows, cols, ld, mn, mx)
				checkGuardsF32(t, name+"/minmax", fmn, rows)
				checkGuardsF32(t, name+"/minmax", fmx, rows)
				wab := make([]float32, rows)
				refAbsMaxRows(src, rows, cols, ld, wab)
				fab, ab := guardedF32(rows, 0)
				bt.t.absMaxRows(src, rows, cols, ld, ab)
				checkGuardsF32(t, name+"/absmax", fab, rows)
				wss := make([]float64, rows)
				refSumSqRows(src, rows, cols, ld, wss)
				ss := make([]float64, rows+1)
				ss[rows] = 42
				bt.t.sumSqRows(src, rows, cols, ld, ss[:rows:rows])
				if ss[rows] != 42 {
					t.Fatalf("%s: sumsq wrote past the end", name)
				}
				for i := 0; i < rows; i++ {
					if mn[i] != wmn[i] || mx[i] != wmx[i] {
						t.Fatalf("%s: row %d minmax = (%g, %g), want (%g, %g)", name, i, mn[i], mx[i], wmn[i], wmx[i])
					}
					if ab[i] != wab[i] {
						t.Fatalf("%s: row %d absmax = %g, want %g", name, i, ab[i], wab[i])
					}
					if !(ss[i] == wss[i] || math.Abs(ss[i]-wss[i]) <= 1e-12*math.Abs(wss[i]) || (math.IsNaN(ss[i]) && math.IsNaN(wss[i]))) {
						t.Fatalf("%s: row %d sumsq = %g, want %g", name, i, ss[i], wss[i])
					}
				}
			}
		}
	}
}

// ---- ggml blocks -------------------------------------------------------------------------------------------

func blockInputs(r *rand.Rand) [][]float32 {
	var ins [][]float32
	for _, nb := range []int{0, 1, 2, 3, 7, 64, 129} {
		ins = append(ins, randF32(r, nb*32, 3), randSpecial(r, nb*32))
	}
	blk := func(f func(j int) float32) []float32 {
		x := make([]float32, 32)
		for j := range x {
			x[j] = f(j)
		}
		return x
	}
	nan := float32(math.NaN())
	ins = append(ins,
		blk(func(int) float32 { return 0 }),
		blk(func(int) float32 { return float32(math.Copysign(0, -1)) }),
		blk(func(j int) float32 { return float32(j) - 15.5 }), // halves: roundf ties away
		blk(func(j int) float32 { return []float32{127, -127, 0.5, -0.5, 1.5, -2.5}[j%6] }),
		blk(func(j int) float32 { return []float32{-8, 8, 0.5, -0.5, 7.5, -7.5, 3}[j%7] }), // Q4_0 ties in |max|
		blk(func(j int) float32 { return []float32{8, -8, 1}[j%3] }),
		blk(func(j int) float32 { return float32(j%5) * 1e-30 }),
		blk(func(j int) float32 {
			if j == 31 {
				return nan
			}
			return float32(j)
		}),
		blk(func(j int) float32 {
			if j == 0 {
				return nan
			}
			return float32(j)
		}),
		blk(func(j int) float32 {
			if j == 10 {
				return float32(math.Inf(-1))
			}
			return float32(j)
		}),
		blk(func(j int) float32 { return 1e38 * float32(j-16) }),
	)
	return ins
}

func TestBlockQuant(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, bt := range backendsUnderTest() {
		for bi, src := range blockInputs(r) {
			nb := len(src) / 32
			name := fmt.Sprintf("%s/input%d/%dblocks", bt.name, bi, nb)
			for _, c := range []struct {
				name  string
				bytes int
				ref   func([]byte, []float32)
				k     func([]byte, []float32)
				dref  func([]float32, []byte)
				dk    func([]float32, []byte)
			}{
				{"q8_0", Q8_0Bytes, refQuantizeQ8_0, bt.t.quantQ8_0, refDequantizeQ8_0, bt.t.dequantQ8_0},
				{"q4_0", Q4_0Bytes, refQuantizeQ4_0, bt.t.quantQ4_0, refDequantizeQ4_0, bt.t.dequantQ4_0},
			} {
				want := make([]byte, nb*c.bytes)
				c.ref(want, src)
				full, got := guarded[uint8](nb*c.bytes, 0xee)
				c.k(got, src)
				checkGuards(t, name+"/"+c.name, full, nb*c.bytes, 0xee)
				for i := range got {
					if got[i] != want[i] {
						b := i / c.bytes
						t.Fatalf("%s/%s: block %d byte %d = %#02x, want %#02x (block %v)", name, c.name, b, i%c.bytes, got[i], want[i], src[b*32:b*32+32])
					}
				}
				wf := make([]float32, nb*32)
				c.dref(wf, want)
				ff, gf := guardedF32(nb*32, 0)
				c.dk(gf, want)
				checkGuardsF32(t, name+"/de"+c.name, ff, nb*32)
				for i := range gf {
					if math.Float32bits(gf[i]) != math.Float32bits(wf[i]) && !(gf[i] != gf[i] && wf[i] != wf[i]) {
						t.Fatalf("%s/de%s: value %d = %g, want %g", name, c.name, i, gf[i], wf[i])
					}
				}
			}
		}
	}
}

// Known answers worked out by hand from ggml's reference code.
func TestBlockQuantKnown(t *testing.T) {
	x := make([]float32, 32)
	for j := range x {
		x[j] = float32(j) - 15.5 // amax 15.5 → d = 15.5/127
	}
	q := make([]byte, Q8_0Bytes)
	refQuantizeQ8_0(q, x)
	if h := uint16(q[0]) | uint16(q[1])<<8; h != F32ToF16Scalar(15.5/127) {
		t.Errorf("q8_0 d = %#04x", h)
	}
	if int8(q[2]) != -127 || int8(q[33]) != 127 {
		t.Errorf("q8_0 ends = %d, %d", int8(q[2]), int8(q[33]))
	}
	// Q4_0: max = −8 (first of ±8) → d = 1, id = 1: q = min(15, trunc(x + 8.5))
	for j := range x {
		x[j] = []float32{-8, 8, 0.5, -0.5, 7.5, -7.5, 3}[j%7]
	}
	q4 := make([]byte, Q4_0Bytes)
	refQuantizeQ4_0(q4, x)
	if h := uint16(q4[0]) | uint16(q4[1])<<8; h != 0x3c00 {
		t.Errorf("q4_0 d = %#04x, want 1.0", h)
	}
	if q4[2] != 0x90 { // x[0] = −8 → trunc(0.5) = 0; x[16] = 0.5 → trunc(9.0) = 9
		t.Errorf("q4_0 byte0 = %#02x, want 0x90", q4[2])
	}
	if got := q4[3] & 0x0f; got != 15 { // x[1] = 8 → min(15, 16)
		t.Errorf("q4_0 x=8 → %d, want 15", got)
	}
}

// ---- activations ------------------------------------------------------------------------------------------

func TestActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	type act struct {
		name string
		ref  func(d, s []float32)
		k    func(*table) func(d, s []float32)
		ok   func(x, got, want float32) bool
	}
	rel := func(rtol, atol float64) func(x, got, want float32) bool {
		return func(_, got, want float32) bool {
			if sameF32(got, want) {
				return true
			}
			d := math.Abs(float64(got) - float64(want))
			return d <= rtol*math.Abs(float64(want)) || d <= atol
		}
	}
	acts := []act{
		{"relu", refReLU, func(t *table) func(d, s []float32) { return t.relu }, func(_, g, w float32) bool { return math.Float32bits(g) == math.Float32bits(w) }},
		{"exp", refExp, func(t *table) func(d, s []float32) { return t.exp }, rel(4e-7, 1e-37)},
		{"silu", refSiLU, func(t *table) func(d, s []float32) { return t.silu }, rel(1e-6, 1e-30)},
		{"gelu", refGELU, func(t *table) func(d, s []float32) { return t.gelu }, func(x, g, w float32) bool {
			return sameF32(g, w) || math.Abs(float64(g)-float64(w)) <= 1e-6*math.Max(1, math.Abs(float64(x)))
		}},
	}
	for _, bt := range backendsUnderTest() {
		for _, n := range sizes {
			src := randSpecial(r, n)
			for i := range src {
				if r.IntN(3) == 0 {
					src[i] = (r.Float32()*2 - 1) * 120 // the whole range of exp
				}
			}
			for _, a := range acts {
				want := make([]float32, n)
				a.ref(want, src)
				full, got := guardedF32(n, 0)
				a.k(bt.t)(got, src)
				checkGuardsF32(t, bt.name+"/"+a.name, full, n)
				for i := range got {
					if !a.ok(src[i], got[i], want[i]) {
						t.Fatalf("%s/%s(%g) = %g, want %g", bt.name, a.name, src[i], got[i], want[i])
					}
				}
				// in place
				inplace := append([]float32(nil), src...)
				a.k(bt.t)(inplace, inplace)
				for i := range inplace {
					if !a.ok(src[i], inplace[i], want[i]) {
						t.Fatalf("%s/%s in place (%g) = %g, want %g", bt.name, a.name, src[i], inplace[i], want[i])
					}
				}
			}
		}
	}
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, bt := range backendsUnderTest() {
		for _, rows := range []int{1, 3} {
			for _, cols := range sizes[1:] {
				src := randF32(r, rows*cols, 30)
				if rows == 3 && cols > 2 {
					src[cols+1] = float32(math.NaN())   // row 1: NaN
					src[2*cols] = float32(math.Inf(-1)) // row 2: a −Inf is fine
				}
				want := make([]float32, len(src))
				refSoftmaxRows(want, src, rows, cols)
				full, got := guardedF32(len(src), 0)
				bt.t.softmaxRows(got, src, rows, cols)
				checkGuardsF32(t, bt.name+"/softmax", full, len(src))
				for i := range got {
					row := src[i/cols*cols : i/cols*cols+cols]
					m := float32(math.Inf(-1))
					for _, v := range row {
						m = max(m, v)
					}
					// x−max is rounded to float32 before the exp: its error scales with |x−max|
					tol := (float64(8+cols) + math.Abs(float64(src[i]-m))) * math.Pow(2, -23)
					g, w := float64(got[i]), float64(want[i])
					if !(sameF32(got[i], want[i]) || math.Abs(g-w) <= tol*math.Abs(w) || math.Abs(g-w) <= 1e-30) {
						t.Fatalf("%s: softmax %dx%d [%d] = %g, want %g", bt.name, rows, cols, i, g, w)
					}
				}
			}
		}
	}
}

// BenchmarkIGEMM: the integer convolutions of the int8 UNet (W with its row of ones,
// m+1 rows, times the window matrix of P = ch·9 rows and one column per output
// position), each backend.
func BenchmarkIGEMM(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{17, 4096, 144}, {33, 1024, 288}, {65, 256, 576}, {17, 4096, 288}} {
		a := make([]int8, s.m*s.k)
		bm := make([]int8, s.k*s.n)
		for i := range a {
			a[i] = int8(i*7 + 3)
		}
		for i := range bm {
			bm[i] = int8(i*13 + 1)
		}
		c := make([]int32, s.m*s.n)
		for _, bt := range backendsUnderTest() {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, bt.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					bt.t.gemmS8S8(false, s.m, s.n, s.k, a, s.k, bm, s.n, c, s.n)
				}
			})
		}
	}
}
