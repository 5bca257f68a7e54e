package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// pointwiseActs are the epilogues PointwiseConv fuses, with the parameters the runtime
// passes (Clip as Relu6, HardSigmoid and HardSwish as onnx and torch write them).
var pointwiseActs = []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: 0, Q: 6}, {Kind: ActHardSigmoid, P: 0.2, Q: 0.5},
	{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}, {Kind: ActSiLU}}

// pointwiseCases: m×k×n with row and column tails (m not a multiple of 8, n not of 16 or
// 48), k over one to three k-blocks of 256, m ≤ 8 (no sliver copy), n of the mobile nets,
// last slivers of 49–64 pixels (one four-vector sliver, 6-row tiles) after none or one
// sliver of 48.
func pointwiseCases(r *rand.Rand) [][3]int {
	cs := [][3]int{{1, 1, 1}, {2, 3, 5}, {8, 16, 48}, {9, 17, 49}, {16, 32, 112}, {24, 300, 33}, {7, 600, 100},
		{40, 257, 65}, {3, 5, 1000}, {33, 96, 196}, {20, 300, 49}, {13, 520, 64}, {6, 40, 57}, {23, 70, 112}}
	for i := 0; i < 16; i++ {
		cs = append(cs, [3]int{1 + r.IntN(40), 1 + r.IntN(300), 1 + r.IntN(200)})
	}
	return cs
}

// TestPointwiseConv checks every backend's pointwise kernel against the Go reference (the
// plain GEMM, then bias and activation) on a sub-range of pixels, with guard values
// around the output and NaN left in the columns it must not write. On AVX-512 it must
// also give the same bits as that backend's SGEMM kernel followed by BiasAct (and SiLU).
func TestPointwiseConv(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, bt := range backendsUnderTest() {
		kern := bt.t.pointwise
		if kern == nil {
			continue
		}
		for _, c := range pointwiseCases(r) {
			m, k, n := c[0], c[1], c[2]
			w, x := randF32(r, m*k, 1), randF32(r, k*n, 1)
			var bias []float32
			if r.IntN(4) > 0 {
				bias = randF32(r, m, 1)
			}
			j0, j1 := 0, n // every pixel, and a random range
			if r.IntN(2) == 0 {
				j0 = r.IntN(n)
				j1 = j0 + 1 + r.IntN(n-j0)
			}
			for _, act := range pointwiseActs {
				name := fmt.Sprintf("%s/%dx%dx%d/[%d,%d)/act%d", bt.name, m, k, n, j0, j1, act.Kind)
				want := make([]float32, m*n)
				refPointwise(m, k, n, w, x, bias, want, act)
				full, y := guardedF32(m*n, float32(math.NaN()))
				kern(m, k, n, w, x, bias, y, j0, j1, act)
				checkGuardsF32(t, name, full, m*n)
				// The sums differ from the Go GEMM's by rounding: (k+2)·2⁻²³·Σ|w||x| at
				// most, which every activation here at most keeps (SiLU's slope is < 1.1).
				tol := 1.1 * float64(k+2) * math.Pow(2, -23)
				var same []float32
				if m >= 2 && bt.name == string(BackendAVX512) {
					same = make([]float32, m*n)
					bt.t.sgemm(false, false, m, n, k, 1, w, k, x, n, 0, same, n, nil)
					plain := act
					if act.Kind == ActSiLU {
						plain = Act{Kind: ActNone}
					}
					bt.t.biasAct(same, m, n, bias, plain)
					if act.Kind == ActSiLU {
						bt.t.silu(same, same)
					}
				}
				for i := 0; i < m; i++ {
					var bound float64
					for p := 0; p < k; p++ {
						bound += math.Abs(float64(w[i*k+p]))
					}
					for j := 0; j < n; j++ {
						got := y[i*n+j]
						if j < j0 || j >= j1 {
							if got == got {
								t.Fatalf("%s: y[%d][%d] outside the pixel range written", name, i, j)
							}
							continue
						}
						if d := math.Abs(float64(got - want[i*n+j])); !(d <= tol*bound+1e-30) {
							t.Fatalf("%s: y[%d][%d] = %g, want %g", name, i, j, got, want[i*n+j])
						}
						if same != nil && math.Float32bits(got) != math.Float32bits(same[i*n+j]) {
							t.Fatalf("%s: y[%d][%d] = %g, SGEMM then BiasAct gives %g", name, i, j, got, same[i*n+j])
						}
					}
				}
			}
		}
	}
}

// TestPointwiseConvNaN: NaN reaching the epilogue passes through every activation, as
// in BiasAct.
func TestPointwiseConvNaN(t *testing.T) {
	for _, bt := range backendsUnderTest() {
		if bt.t.pointwise == nil {
			continue
		}
		m, k, n := 9, 3, 20
		w, x := make([]float32, m*k), make([]float32, k*n)
		for i := range w {
			w[i] = 1
		}
		x[5] = float32(math.NaN())
		for _, act := range pointwiseActs {
			y := make([]float32, m*n)
			bt.t.pointwise(m, k, n, w, x, nil, y, 0, n, act)
			for i := 0; i < m; i++ {
				if v := y[i*n+5]; v == v {
					t.Fatalf("%s/act%d: y[%d][5] = %g, want NaN", bt.name, act.Kind, i, v)
				}
			}
		}
	}
}

// TestPointwiseConvOnePixel: one pixel (a squeeze-and-excitation 1×1 convolution) is
// SGEMM's matrix-vector product xᵀ·Wᵀ then BiasAct (and SiLU), bit for bit, within the
// GEMM bound of the reference, and the same bits at 1 and 2 threads.
func TestPointwiseConvOnePixel(t *testing.T) {
	if !HasPointwise() {
		t.Skip("no pointwise kernel on this backend")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range [][2]int{{1, 1}, {9, 17}, {144, 576}, {576, 144}, {1000, 1280}, {40, 3}} {
		m, k := c[0], c[1]
		w, x := randF32(r, m*k, 1), randF32(r, k, 1)
		var bias []float32
		if m%2 == 0 {
			bias = randF32(r, m, 1)
		}
		for _, act := range pointwiseActs {
			want := make([]float32, m)
			refPointwise(m, k, 1, w, x, bias, want, act)
			same := make([]float32, m)
			SGEMM(false, true, 1, m, k, 1, x, k, w, k, 0, same, m)
			plain := act
			if act.Kind == ActSiLU {
				plain = Act{Kind: ActNone}
			}
			BiasAct(same, m, 1, bias, plain)
			if act.Kind == ActSiLU {
				SiLU(same, same)
			}
			var ys [2][]float32
			for th := range ys {
				withThreads(t, th+1, func() {
					full, y := guardedF32(m, float32(math.NaN()))
					if !PointwiseConv(m, k, 1, w, x, bias, y, act) {
						t.Fatal("PointwiseConv refused one pixel")
					}
					checkGuardsF32(t, "PointwiseConv/one-pixel", full, m)
					ys[th] = y
				})
			}
			tol := 1.1 * float64(k+2) * math.Pow(2, -23)
			for i := 0; i < m; i++ {
				var bound float64
				for p := 0; p < k; p++ {
					bound += math.Abs(float64(w[i*k+p]))
				}
				got := ys[0][i]
				if d := math.Abs(float64(got - want[i])); !(d <= tol*bound+1e-30) {
					t.Fatalf("%dx%d act %d: y[%d] = %g, want %g", m, k, act.Kind, i, got, want[i])
				}
				if math.Float32bits(got) != math.Float32bits(same[i]) || math.Float32bits(ys[1][i]) != math.Float32bits(got) {
					t.Fatalf("%dx%d act %d: y[%d] = %g (2 threads %g), SGEMM's xᵀ·Wᵀ then BiasAct %g", m, k, act.Kind, i, got, ys[1][i], same[i])
				}
			}
		}
	}
}

// TestPointwiseConvThreads: the public entry point gives the same bits at 1 and 2
// threads, split by pixels (n > m) and by channels (m > n).
func TestPointwiseConvThreads(t *testing.T) {
	if !HasPointwise() {
		t.Skip("no pointwise kernel on this backend")
	}
	r := rand.New(rand.NewPCG(13, 14))
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	for _, c := range [][3]int{{24, 144, 3136}, {960, 160, 49}} {
		m, k, n := c[0], c[1], c[2]
		w, x, bias := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1)
		y1, y2 := make([]float32, m*n), make([]float32, m*n)
		act := Act{Kind: ActClip, P: 0, Q: 6}
		SetMaxThreads(1)
		PointwiseConv(m, k, n, w, x, bias, y1, act)
		SetMaxThreads(2)
		PointwiseConv(m, k, n, w, x, bias, y2, act)
		for i := range y1 {
			if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
				t.Fatalf("%v: y[%d]: %g at 1 thread, %g at 2", c, i, y1[i], y2[i])
			}
		}
	}
}
