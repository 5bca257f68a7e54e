package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// convRowsCases: the stems of the bench set (3×3/2 on RGB with pad 1, odd and even
// sizes), then random windows: 1–4 channels, kernels 1–7, strides 1–4, pads below the
// kernel, maps down to 1×1, output rows shorter and longer than one 48-wide tile.
func convRowsCases(r *rand.Rand) []convCase {
	stem := func(m, cin, h, k, s int) convCase {
		pad := k / 2
		o := (h+2*pad-k)/s + 1
		return convCase{m, cin, Window2D{H: h, W: h, OH: o, OW: o, KH: k, KW: k, SH: s, SW: s, PH: pad, PW: pad, DH: 1, DW: 1}}
	}
	cs := []convCase{stem(32, 3, 64, 3, 2), stem(16, 3, 33, 3, 2), stem(13, 4, 50, 3, 1), stem(9, 1, 7, 7, 2), stem(24, 2, 98, 5, 4)}
	for i := 0; i < 30; i++ {
		kh, kw := 1+r.IntN(7), 1+r.IntN(7)
		sh, sw, ph, pw := 1+r.IntN(4), 1+r.IntN(4), r.IntN(kh), r.IntN(kw)
		h, w := 1+r.IntN(60), 1+r.IntN(120)
		oh, ow := (h+2*ph-kh)/sh+1, (w+2*pw-kw)/sw+1
		if oh < 1 || ow < 1 {
			continue
		}
		cs = append(cs, convCase{1 + r.IntN(20), 1 + r.IntN(4), Window2D{H: h, W: w, OH: oh, OW: ow, KH: kh, KW: kw, SH: sh, SW: sw, PH: ph, PW: pw, DH: 1, DW: 1}})
	}
	return cs
}

// TestConvRows2D checks every backend's row-direct convolution against the Go reference
// (implicit-GEMM reference, then bias and activation) on a range of output rows, with
// guard values around the output and NaN left in the rows it must not write.
func TestConvRows2D(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, bt := range backendsUnderTest() {
		kern := bt.t.convRows2D
		if kern == nil {
			continue
		}
		for _, c := range convRowsCases(r) {
			p, m, cin := c.p, c.m, c.cg
			k, n := cin*p.KH*p.KW, p.OH*p.OW
			w, x := randF32(r, m*k, 1), randF32(r, cin*p.H*p.W, 1)
			var bias []float32
			if r.IntN(4) > 0 {
				bias = randF32(r, m, 1)
			}
			r0 := r.IntN(p.OH)
			r1 := r0 + 1 + r.IntN(p.OH-r0)
			for _, act := range pointwiseActs {
				name := fmt.Sprintf("%s/m=%d,cin=%d,%+v/rows[%d,%d)/act%d", bt.name, m, cin, p, r0, r1, act.Kind)
				want := make([]float32, m*n)
				refConvRows2D(m, cin, p, w, x, bias, want, act)
				full, y := guardedF32(m*n, float32(math.NaN()))
				kern(m, cin, &p, w, x, bias, y, r0, r1, convRowsLen(p), act)
				checkGuardsF32(t, name, full, m*n)
				tol := 1.1 * float64(k+2) * math.Pow(2, -23)
				for i := 0; i < m; i++ {
					var bound float64
					for q := 0; q < k; q++ {
						bound += math.Abs(float64(w[i*k+q]))
					}
					for j := 0; j < n; j++ {
						got, oy := y[i*n+j], j/p.OW
						if oy < r0 || oy >= r1 {
							if got == got {
								t.Fatalf("%s: y[%d][%d] outside the row range written", name, i, j)
							}
							continue
						}
						if d := math.Abs(float64(got - want[i*n+j])); !(d <= tol*bound+1e-30) {
							t.Fatalf("%s: y[%d][%d] = %g, want %g", name, i, j, got, want[i*n+j])
						}
					}
				}
			}
		}
	}
}

// TestConvRows2DThreads: the public entry point gives the same bits at 1 and 2 threads,
// and declines what it does not take (dilation, too many channels).
func TestConvRows2DThreads(t *testing.T) {
	if !HasConvRows2D() {
		t.Skip("no row-direct convolution on this backend")
	}
	r := rand.New(rand.NewPCG(23, 24))
	p := Window2D{H: 224, W: 224, OH: 112, OW: 112, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}
	m, cin := 32, 3
	w, x, bias := randF32(r, m*cin*9, 1), randF32(r, cin*224*224, 1), randF32(r, m, 1)
	y1, y2 := make([]float32, m*112*112), make([]float32, m*112*112)
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	act := Act{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}
	if !ConvRows2D(m, cin, p, w, x, bias, y1, act) {
		t.Fatal("declined a 3×3/2 RGB stem")
	}
	SetMaxThreads(2)
	ConvRows2D(m, cin, p, w, x, bias, y2, act)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("y[%d]: %g at 1 thread, %g at 2", i, y1[i], y2[i])
		}
	}
	d := p
	d.DH = 2
	if ConvRows2D(m, cin, d, w, x, bias, y1, act) || ConvRows2D(m, ConvRowsMaxChannels+1, p, w, x, bias, y1, act) {
		t.Fatal("took a dilated window or too many channels")
	}
}
