package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// convT2x2Acts: the activations ConvTranspose2x2 takes (every one BiasAct's reference
// has, SiLU, Sigmoid).
var convT2x2Acts = append(append([]Act{}, pointwiseActs...), Act{Kind: ActSigmoid})

// TestConvTranspose2x2 checks every backend's 2×2 / stride-2 ConvTranspose against the
// float64 reference on the bench set's shapes and random ones (rows shorter and longer
// than 16, tails, none, one or more than CT_PACK channels in, one out), over a range of
// segment groups, with NaN left in the outputs of the other groups and guards around the
// output.
func TestConvTranspose2x2(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	cases := [][4]int{{16, 8, 24, 80}, {8, 1, 48, 160}, {64, 32, 16, 16}, {32, 16, 32, 32}, {1, 1, 1, 1}, {3, 5, 7, 17}, {2, 3, 5, 33}, {130, 3, 3, 20}, {0, 3, 2, 5}}
	for i := 0; i < 20; i++ {
		cases = append(cases, [4]int{1 + r.IntN(40), 1 + r.IntN(9), 1 + r.IntN(20), 1 + r.IntN(70)})
	}
	for _, bt := range backendsUnderTest() {
		kern := bt.t.convT2x2
		if kern == nil {
			continue
		}
		for _, c := range cases {
			cin, cout, h, w := c[0], c[1], c[2], c[3]
			nsr := (w + 15) / 16
			groups := (h*nsr + convT2x2Segs - 1) / convT2x2Segs
			x, wt := randF32(r, cin*h*w, 1), randF32(r, cin*cout*4, 1)
			var bias []float32
			if r.IntN(4) > 0 {
				bias = randF32(r, cout, 1)
			}
			g0 := r.IntN(groups)
			g1 := g0 + 1 + r.IntN(groups-g0)
			n := cout * 4 * h * w
			for _, act := range convT2x2Acts {
				name := fmt.Sprintf("%s/%d→%d,%dx%d/groups[%d,%d)/act%d", bt.name, cin, cout, h, w, g0, g1, act.Kind)
				want := make([]float32, n)
				refConvTranspose2x2(cin, cout, h, w, x, wt, bias, want, act)
				full, y := guardedF32(n, float32(math.NaN()))
				kern(cin, cout, h, w, x, wt, bias, y, g0, g1, act)
				checkGuardsF32(t, name, full, n)
				tol := 1.1 * float64(cin+2) * math.Pow(2, -23)
				for co := 0; co < cout; co++ {
					var bound float64
					for ci := 0; ci < cin; ci++ {
						for k := 0; k < 4; k++ {
							bound = max(bound, math.Abs(float64(wt[(ci*cout+co)*4+k])))
						}
					}
					bound = bound*float64(cin) + 1
					for oy := 0; oy < 2*h; oy++ {
						for ox := 0; ox < 2*w; ox++ {
							i := co*4*h*w + oy*2*w + ox
							got, g := y[i], ((oy/2)*nsr+ox/32)/convT2x2Segs
							if g < g0 || g >= g1 {
								if got == got {
									t.Fatalf("%s: y[%d][%d][%d] outside the groups written", name, co, oy, ox)
								}
								continue
							}
							if d := math.Abs(float64(got - want[i])); !(d <= tol*bound+1e-6) {
								t.Fatalf("%s: y[%d][%d][%d] = %g, want %g", name, co, oy, ox, got, want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestConvTranspose2x2Threads: the public entry point gives the same bits at 1 and 2
// threads.
func TestConvTranspose2x2Threads(t *testing.T) {
	if !HasConvTranspose2x2() {
		t.Skip("no ConvTranspose 2×2 kernel on this backend")
	}
	r := rand.New(rand.NewPCG(33, 34))
	cin, cout, h, w := 16, 8, 24, 80
	x, wt, bias := randF32(r, cin*h*w, 1), randF32(r, cin*cout*4, 1), randF32(r, cout, 1)
	y1, y2 := make([]float32, cout*4*h*w), make([]float32, cout*4*h*w)
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	act := Act{Kind: ActSigmoid}
	if !ConvTranspose2x2(cin, cout, h, w, x, wt, bias, y1, act) {
		t.Fatal("declined")
	}
	SetMaxThreads(2)
	ConvTranspose2x2(cin, cout, h, w, x, wt, bias, y2, act)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("y[%d]: %g at 1 thread, %g at 2", i, y1[i], y2[i])
		}
	}
}

// TestSigmoid: every backend's Sigmoid has the bits of negate, Exp, 1/(1+e) (what the
// runtime computed as three passes), on special values and odd lengths, and is within
// a few ulps of the float64 reference.
func TestSigmoid(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, bt := range backendsUnderTest() {
		kern := bt.t.sigmoid
		if kern == nil {
			kern = sigmoidVia(bt.t.exp)
		}
		for _, n := range []int{1, 15, 16, 17, 64, 100, 1000} {
			x := randF32(r, n, 30)
			copy(x, specials[:min(n, len(specials))])
			want, got := make([]float32, n), make([]float32, n)
			sigmoidVia(bt.t.exp)(want, x)
			kern(got, x)
			ref := make([]float32, n)
			refSigmoidRow(ref, x)
			for i := range x {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s: sigmoid(%g) = %g, three passes give %g", bt.name, x[i], got[i], want[i])
				}
				if d := math.Abs(float64(got[i] - ref[i])); !(d <= 1e-6*math.Abs(float64(ref[i]))+1e-37) && ref[i] == ref[i] {
					t.Fatalf("%s: sigmoid(%g) = %g, reference %g", bt.name, x[i], got[i], ref[i])
				}
			}
		}
	}
	// In place, through the public entry point (small sizes take the reference exp).
	for _, n := range []int{5, 200} {
		x := randF32(r, n, 10)
		want := make([]float32, n)
		sigmoidVia(Exp)(want, x)
		Sigmoid(x, x)
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(want[i]) {
				t.Fatalf("Sigmoid n=%d [%d] = %g, want %g", n, i, x[i], want[i])
			}
		}
	}
}

// BenchmarkConvTranspose2x2 times the kernel at one thread on the bench set's layers.
func BenchmarkConvTranspose2x2(b *testing.B) {
	r := rand.New(rand.NewPCG(37, 38))
	for _, c := range [][4]int{{16, 8, 24, 80}, {8, 1, 48, 160}, {64, 32, 16, 16}, {32, 16, 32, 32}} {
		cin, cout, h, w := c[0], c[1], c[2], c[3]
		x, wt, bias := randF32(r, cin*h*w, 1), randF32(r, cin*cout*4, 1), randF32(r, cout, 1)
		y := make([]float32, cout*4*h*w)
		for _, act := range []Act{{Kind: ActRelu}, {Kind: ActSigmoid}} {
			b.Run(fmt.Sprintf("%d-%d-%dx%d/act%d", cin, cout, h, w, act.Kind), func(b *testing.B) {
				old := SetMaxThreads(1)
				defer SetMaxThreads(old)
				for i := 0; i < b.N; i++ {
					ConvTranspose2x2(cin, cout, h, w, x, wt, bias, y, act)
				}
			})
		}
	}
}
