package cuda_test

// Every CUDA kernel against accel's pure-Go reference (accel.Use(go)), on random shapes
// with tails and on inputs full of special values. They need a GPU: without one they
// skip with the loader's one-line reason.
//
// Tolerances: conversions, quantizers, dequantizers and the integer GEMMs must be
// bit-exact (NaN payloads included). f32 and f16/bf16 GEMMs: |got − want| ≤
// (k+2)·2⁻²³·(|α|Σ|a||b| + |β c| + |bias|) per element against a float64 reference on
// the same (widened) inputs — the bound accel's CPU GEMMs meet.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/accel/cuda"
)

func TestMain(m *testing.M) {
	// The reference is the go backend, whatever MODELC_ACCEL says.
	if err := accel.Use(accel.BackendGo); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func device(t testing.TB) *cuda.Device {
	t.Helper()
	d, err := cuda.Open()
	if err != nil {
		t.Skipf("CUDA unavailable: %s", cuda.Reason())
	}
	return d
}

// Sizes with tails around warp, block and staging-chunk edges (16 MiB chunks hold 4 Mi
// float32; the last two sizes make the pipeline run several chunks).
var sizes = []int{1, 31, 32, 33, 255, 257, 1000, 65537, 4<<20 + 32, 9<<20 + 96}

var specials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0x7f800001),
	math.Float32frombits(0xffc12345), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-40, -1e-40,
	65504, 65519.99, 65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 127.5, -127.5, 8.5, -8}

func randSpecial(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(8) {
		case 0:
			x[i] = specials[r.IntN(len(specials))]
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		default:
			x[i] = (r.Float32()*2 - 1) * 10
		}
	}
	return x
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sameBits[T comparable](t *testing.T, name string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func f32bits(x []float32) []uint32 {
	b := make([]uint32, len(x))
	for i, v := range x {
		b[i] = math.Float32bits(v)
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConversions(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range sizes {
		src := randSpecial(r, n)
		h, want := make([]uint16, n), make([]uint16, n)
		must(t, d.F32ToF16(h, src))
		accel.F32ToF16(want, src)
		sameBits(t, fmt.Sprintf("F32ToF16/n=%d", n), h, want)
		must(t, d.F32ToBF16(h, src))
		accel.F32ToBF16(want, src)
		sameBits(t, fmt.Sprintf("F32ToBF16/n=%d", n), h, want)

		bits := make([]uint16, n)
		for i := range bits {
			bits[i] = uint16(r.Uint32())
		}
		f, fw := make([]float32, n), make([]float32, n)
		must(t, d.F16ToF32(f, bits))
		accel.F16ToF32(fw, bits)
		sameBits(t, fmt.Sprintf("F16ToF32/n=%d", n), f32bits(f), f32bits(fw))
		must(t, d.BF16ToF32(f, bits))
		accel.BF16ToF32(fw, bits)
		sameBits(t, fmt.Sprintf("BF16ToF32/n=%d", n), f32bits(f), f32bits(fw))
	}
}

func TestQuantizeLinear(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(2, 2))
	for _, n := range sizes {
		// per tensor; then, for the first c of 7, 3, 2 dividing n, per row of [c, n/c]
		// (inner = n/c) and per column of [n/c, c] (inner = 1)
		layouts := [][2]int{{n, 1}}
		for _, c := range []int{7, 3, 2} {
			if n%c == 0 && n > c {
				layouts = append(layouts, [2]int{n / c, c}, [2]int{1, c})
				break
			}
		}
		for _, layout := range layouts {
			inner, ch := layout[0], layout[1]
			scale := make([]float32, ch)
			zs, zu := make([]int8, ch), make([]uint8, ch)
			for c := range scale {
				scale[c] = math.Float32frombits(0x3c000000 + r.Uint32()%0x04000000) // ~2⁻⁷ … 2⁰
				zs[c], zu[c] = int8(r.Uint32()), uint8(r.Uint32())
			}
			if ch > 2 {
				scale[1] = float32(math.NaN()) // NaN payloads and 0·Inf go through the CPU rules
				scale[2] = float32(math.Inf(1))
			}
			name := fmt.Sprintf("n=%d/inner=%d/ch=%d", n, inner, ch)
			src := randSpecial(r, n)
			qs, qsw := make([]int8, n), make([]int8, n)
			must(t, d.QuantizeS8Axis(qs, src, inner, scale, zs))
			accel.QuantizeS8Axis(qsw, src, inner, scale, zs)
			sameBits(t, "QuantizeS8Axis/"+name, qs, qsw)
			qu, quw := make([]uint8, n), make([]uint8, n)
			must(t, d.QuantizeU8Axis(qu, src, inner, scale, zu))
			accel.QuantizeU8Axis(quw, src, inner, scale, zu)
			sameBits(t, "QuantizeU8Axis/"+name, qu, quw)

			raw := randBytes(r, n)
			f, fw := make([]float32, n), make([]float32, n)
			s8 := make([]int8, n)
			for i, b := range raw {
				s8[i] = int8(b)
			}
			must(t, d.DequantizeS8Axis(f, s8, inner, scale, zs))
			accel.DequantizeS8Axis(fw, s8, inner, scale, zs)
			sameBits(t, "DequantizeS8Axis/"+name, f32bits(f), f32bits(fw))
			must(t, d.DequantizeU8Axis(f, raw, inner, scale, nil))
			accel.DequantizeU8Axis(fw, raw, inner, scale, nil)
			sameBits(t, "DequantizeU8Axis/"+name, f32bits(f), f32bits(fw))
		}
	}
}

// blockInputs are whole-block inputs with the cases the warp reductions must get right:
// NaN at the first, a middle and the last position, ties of magnitude with either sign
// first, all zeros, −0, Inf, and random data.
func blockInputs(r *rand.Rand, nb int) []float32 {
	x := randSpecial(r, nb*32)
	nan := float32(math.NaN())
	for b := 0; b < nb; b++ {
		blk := x[b*32 : (b+1)*32]
		switch b % 9 {
		case 0:
			blk[0] = nan
		case 1:
			blk[13] = math.Float32frombits(0x7fa00001) // signalling NaN with a payload
		case 2:
			blk[31] = nan
		case 3:
			for i := range blk {
				blk[i] = float32(math.Copysign(0, -1))
			}
		case 4:
			blk[5], blk[20] = -7, 7
		case 5:
			blk[5], blk[20] = 7, -7
		case 6:
			blk[9] = float32(math.Inf(-1))
		case 7:
			for i := range blk {
				blk[i] = (r.Float32()*2 - 1) * 3
			}
		}
	}
	return x
}

func TestBlockQuant(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range sizes {
		nb := max(1, n/32)
		src := blockInputs(r, nb)
		name := fmt.Sprintf("blocks=%d", nb)
		q, qw := make([]byte, nb*34), make([]byte, nb*34)
		must(t, d.QuantizeQ8_0(q, src))
		accel.QuantizeQ8_0(qw, src)
		sameBits(t, "QuantizeQ8_0/"+name, q, qw)
		q4, q4w := make([]byte, nb*18), make([]byte, nb*18)
		must(t, d.QuantizeQ4_0(q4, src))
		accel.QuantizeQ4_0(q4w, src)
		sameBits(t, "QuantizeQ4_0/"+name, q4, q4w)

		// dequantizers on arbitrary bytes: every f16 scale (NaN, Inf, subnormal) occurs
		raw8, raw4 := randBytes(r, nb*34), randBytes(r, nb*18)
		f, fw := make([]float32, nb*32), make([]float32, nb*32)
		must(t, d.DequantizeQ8_0(f, raw8))
		accel.DequantizeQ8_0(fw, raw8)
		sameBits(t, "DequantizeQ8_0/"+name, f32bits(f), f32bits(fw))
		must(t, d.DequantizeQ4_0(f, raw4))
		accel.DequantizeQ4_0(fw, raw4)
		sameBits(t, "DequantizeQ4_0/"+name, f32bits(f), f32bits(fw))
	}
}

// gemmShapes: tails on every side of the 128×128 tiles and the 16/32-deep k slices.
func gemmShapes(r *rand.Rand) [][3]int {
	s := [][3]int{{1, 1, 1}, {3, 4, 0}, {1, 17, 5}, {13, 1, 7}, {127, 129, 15}, {128, 128, 32}, {129, 130, 33},
		{200, 70, 300}, {300, 257, 70}, {64, 512, 1000}}
	for i := 0; i < 6; i++ {
		s = append(s, [3]int{1 + r.IntN(300), 1 + r.IntN(300), 1 + r.IntN(400)})
	}
	return s
}

type gemmCase struct {
	m, n, k, lda, ldb, ldc int
	tA, tB                 bool
}

func newGemmCase(r *rand.Rand, s [3]int, tA, tB bool) gemmCase {
	g := gemmCase{m: s[0], n: s[1], k: s[2], tA: tA, tB: tB}
	ac, bc := g.k, g.n
	if tA {
		ac = g.m
	}
	if tB {
		bc = g.k
	}
	g.lda, g.ldb, g.ldc = max(ac, 1)+r.IntN(3), max(bc, 1)+r.IntN(3), g.n+1+r.IntN(3)
	return g
}

func (g gemmCase) aLen() int {
	if g.tA {
		return max(g.k*g.lda, 1)
	}
	return max(g.m*g.lda, 1)
}

func (g gemmCase) bLen() int {
	if g.tB {
		return max(g.n*g.ldb, 1)
	}
	return max(g.k*g.ldb, 1)
}

func (g gemmCase) at(x []float32, ld int, t bool, i, j int) float64 {
	if t {
		return float64(x[j*ld+i])
	}
	return float64(x[i*ld+j])
}

// checkFloatGEMM compares got with the float64 product of the (widened) inputs.
func checkFloatGEMM(t *testing.T, name string, g gemmCase, alpha, beta float32, a, b, c0, bias, got []float32) {
	t.Helper()
	tol := float64(g.k+2) * math.Pow(2, -23)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc; j++ {
			v := got[i*g.ldc+j]
			if j >= g.n {
				if math.Float32bits(v) != math.Float32bits(c0[i*g.ldc+j]) {
					t.Fatalf("%s: padding C[%d][%d] changed", name, i, j)
				}
				continue
			}
			var s, sa float64
			for p := 0; p < g.k; p++ {
				x := g.at(a, g.lda, g.tA, i, p) * g.at(b, g.ldb, g.tB, p, j)
				s += x
				sa += math.Abs(x)
			}
			want := float64(alpha) * s
			bound := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				want += float64(beta) * float64(c0[i*g.ldc+j])
				bound += math.Abs(float64(beta) * float64(c0[i*g.ldc+j]))
			}
			if bias != nil {
				want += float64(bias[j])
				bound += math.Abs(float64(bias[j]))
			}
			if math.Abs(float64(v)-want) > tol*bound+1e-30 || v != v {
				t.Fatalf("%s: C[%d][%d] = %g, want %g ± %g", name, i, j, v, want, tol*bound)
			}
		}
	}
}

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

func TestSGEMM(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(4, 4))
	for _, s := range gemmShapes(r) {
		for _, tr := range [4][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.75, -1.5}} {
				g := newGemmCase(r, s, tr[0], tr[1])
				name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v/alpha=%g,beta=%g", g.m, g.n, g.k, g.tA, g.tB, ab[0], ab[1])
				a, b := randF32(r, g.aLen()), randF32(r, g.bLen())
				c0 := randF32(r, g.m*g.ldc)
				if ab[1] == 0 {
					for i := range c0 {
						if i%g.ldc < g.n {
							c0[i] = float32(math.NaN()) // must not leak through when beta == 0
						}
					}
				}
				var bias []float32
				if g.m%2 == 0 {
					bias = randF32(r, g.n)
				}
				got := append([]float32(nil), c0...)
				must(t, d.SGEMM(g.tA, g.tB, g.m, g.n, g.k, ab[0], a, g.lda, b, g.ldb, ab[1], got, g.ldc, bias))
				checkFloatGEMM(t, name, g, ab[0], ab[1], a, b, c0, bias, got)
			}
		}
	}
}

func TestGEMMHalf(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(5, 5))
	for _, bf := range []bool{false, true} {
		toHalf, fromHalf := accel.F32ToF16Scalar, accel.F16ToF32Scalar
		if bf {
			toHalf, fromHalf = accel.F32ToBF16Scalar, accel.BF16ToF32Scalar
		}
		half := func(n int) ([]uint16, []float32) {
			h, f := make([]uint16, n), make([]float32, n)
			for i := range h {
				h[i] = toHalf(r.Float32()*2 - 1)
				f[i] = fromHalf(h[i])
			}
			return h, f
		}
		for _, s := range gemmShapes(r) {
			for _, tr := range [4][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				g := newGemmCase(r, s, tr[0], tr[1])
				name := fmt.Sprintf("bf16=%v/%dx%dx%d/tA=%v,tB=%v", bf, g.m, g.n, g.k, g.tA, g.tB)
				ah, af := half(g.aLen())
				bh, bfl := half(g.bLen())
				c0 := randF32(r, g.m*g.ldc)
				got := append([]float32(nil), c0...)
				must(t, d.GEMMHalf(bf, g.tA, g.tB, g.m, g.n, g.k, 0.5, ah, g.lda, bh, g.ldb, -1, got, g.ldc))
				checkFloatGEMM(t, name, g, 0.5, -1, af, bfl, c0, nil, got)
			}
		}
	}
}

func TestIGEMM(t *testing.T) {
	d := device(t)
	r := rand.New(rand.NewPCG(6, 6))
	shapes := append(gemmShapes(r), [3]int{33, 40, 5000}) // long k: large sums
	for _, s := range shapes {
		for _, tB := range []bool{false, true} {
			g := newGemmCase(r, s, false, tB)
			name := fmt.Sprintf("%dx%dx%d/tB=%v", g.m, g.n, g.k, tB)
			a8, b8 := make([]int8, g.aLen()), make([]int8, g.bLen())
			for i := range a8 {
				a8[i] = int8(r.Uint32())
			}
			for i := range b8 {
				b8[i] = int8(r.Uint32())
			}
			au := make([]uint8, len(a8))
			for i, v := range a8 {
				au[i] = uint8(v)
			}
			fill := func() []int32 {
				c := make([]int32, g.m*g.ldc)
				for i := range c {
					c[i] = -7 // padding must survive
				}
				return c
			}
			got, want := fill(), fill()
			must(t, d.GEMMS8S8(tB, g.m, g.n, g.k, a8, g.lda, b8, g.ldb, got, g.ldc))
			accel.GEMMS8S8(tB, g.m, g.n, g.k, a8, g.lda, b8, g.ldb, want, g.ldc)
			sameBits(t, "GEMMS8S8/"+name, got, want)
			got, want = fill(), fill()
			must(t, d.GEMMU8S8(tB, g.m, g.n, g.k, au, g.lda, b8, g.ldb, got, g.ldc))
			accel.GEMMU8S8(tB, g.m, g.n, g.k, au, g.lda, b8, g.ldb, want, g.ldc)
			sameBits(t, "GEMMU8S8/"+name, got, want)
		}
	}
}

// Bad sizes are errors, not launches (and not panics).
func TestBadArguments(t *testing.T) {
	d := device(t)
	if err := d.SGEMM(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4, nil); err == nil {
		t.Error("short C accepted")
	}
	if err := d.QuantizeQ8_0(make([]byte, 100), make([]float32, 33)); err == nil {
		t.Error("33 values accepted for Q8_0")
	}
	if err := d.QuantizeS8Axis(make([]int8, 10), make([]float32, 10), 3, []float32{1}, nil); err == nil {
		t.Error("bad axis accepted")
	}
}

// Through accel's table: MODELC_ACCEL=cuda's table gives the reference's bytes, and
// the report names the device.
func TestDispatch(t *testing.T) {
	device(t)
	r := rand.New(rand.NewPCG(7, 7))
	src := blockInputs(r, 5000)
	want := make([]byte, 5000*34)
	accel.QuantizeQ8_0(want, src)
	must(t, accel.Use(accel.BackendCUDA))
	defer func() { must(t, accel.Use(accel.BackendGo)) }()
	got := make([]byte, len(want))
	accel.QuantizeQ8_0(got, src)
	sameBits(t, "accel.QuantizeQ8_0 via cuda", got, want)
	rep := accel.Describe()
	if rep.Backend != "cuda" || !rep.CUDA.Usable || rep.CUDA.Calls == 0 || rep.CUDA.Fallbacks != 0 {
		t.Fatalf("report: backend %s, cuda %+v", rep.Backend, rep.CUDA)
	}
	t.Logf("%s", rep.CUDA.Device)
}
