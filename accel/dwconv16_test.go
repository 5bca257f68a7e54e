package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// avx512Table is the AVX-512 kernel table, nil where the CPU has none.
func avx512Table() *table {
	for _, bt := range backendsUnderTest() {
		if bt.name == string(BackendAVX512) {
			return bt.t
		}
	}
	return nil
}

func TestDW16Transpose(t *testing.T) {
	if avx512Table() == nil || dw16Transpose == nil {
		t.Skip("no AVX-512")
	}
	m := make([]float32, 256)
	for i := range m {
		m[i] = float32(i)
	}
	dw16Transpose(m)
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			if m[i*16+j] != float32(j*16+i) {
				t.Fatalf("m[%d][%d] = %g, want %d", i, j, m[i*16+j], j*16+i)
			}
		}
	}
}

// The sixteen-channel AVX-512 kernel (and the per-channel one it falls back to) against
// the Go reference on random geometries: strides 1–3, dilations 1–2, filters 1×1 to 7×7,
// planes from 1×1 to wider than a vector, channel counts around multiples of 16, with
// guards around y. Fused multiply-adds: within a few ulps of Σ|w·x|.
func TestDepthwiseConv16(t *testing.T) {
	avx512 := avx512Table()
	if avx512 == nil {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for trial := 0; trial < 400; trial++ {
		p := Window2D{H: 1 + r.IntN(30), W: 1 + r.IntN(70), KH: 1 + r.IntN(7), KW: 1 + r.IntN(7), SH: 1 + r.IntN(3), SW: 1 + r.IntN(3),
			DH: 1 + r.IntN(2), DW: 1 + r.IntN(2)}
		switch trial % 5 {
		case 0: // MobileNet-like
			p.KH, p.KW, p.DH, p.DW = 3, 3, 1, 1
		case 1: // 1-wide or 1-high planes
			if r.IntN(2) == 0 {
				p.W = 1
			} else {
				p.H = 1
			}
		case 2: // beyond the 16-channel kernel: rows too wide for its buffer, a 9×9 filter
			if r.IntN(2) == 0 {
				p.W, p.KH, p.DH = 2000+r.IntN(100), 3, 1
			} else {
				p.KH, p.KW = 9, 9
			}
		}
		p.PH, p.PW = r.IntN(p.KH+1), r.IntN(p.KW+1)
		eh, ew := (p.KH-1)*p.DH+1, (p.KW-1)*p.DW+1
		th, tw := r.IntN(p.KH+1), r.IntN(p.KW+1)
		if p.H+p.PH+th < eh || p.W+p.PW+tw < ew {
			continue
		}
		p.OH, p.OW = (p.H+p.PH+th-eh)/p.SH+1, (p.W+p.PW+tw-ew)/p.SW+1
		ch := []int{1, 3, 15, 16, 17, 31, 32, 37, 48, 72}[r.IntN(10)]
		x := randF32(r, ch*p.H*p.W, 1)
		w := randF32(r, ch*p.KH*p.KW, 1)
		var bias []float32
		if trial%4 != 0 {
			bias = randF32(r, ch, 1)
		}
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refDWConv2D(&p, x, w, bias, want, ch)
		scale := absDW(p, x, w, bias, ch)
		for _, k := range []struct {
			name string
			fn   func(p *Window2D, x, w, bias, y []float32, channels int)
		}{{"avx512", avx512.dwconv2d}, {"avx512-prev", prevDWConv2DAVX512}} {
			full, got := guardedF32(n, 0)
			k.fn(&p, x, w, bias, got, ch)
			checkGuardsF32(t, k.name+"/dwconv2d", full, n)
			for i := range got {
				if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= float64(p.KH*p.KW+2)*1.2e-7*(1+scale[i])) {
					t.Fatalf("%s %+v ch %d: y[%d] = %g, reference %g", k.name, p, ch, i, got[i], want[i])
				}
			}
		}
	}
}

// DepthwiseConv2D with each activation on every backend (the fused AVX-512 kernel, the
// others' pass after the kernel, the per-channel fallback of wide rows) against the
// reference followed by refEpilogue.
func TestDepthwiseConv2DAct(t *testing.T) {
	defer Use(Active())
	r := rand.New(rand.NewPCG(33, 34))
	acts := []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: -0.5, Q: 0.6}, {Kind: ActHardSigmoid, P: 0.2, Q: 0.5},
		{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}, {Kind: ActSiLU}}
	for _, be := range Available() {
		if err := Use(be); err != nil {
			t.Fatal(err)
		}
		for trial := 0; trial < 60; trial++ {
			p := Window2D{H: 1 + r.IntN(20), W: 1 + r.IntN(40), KH: 3, KW: 3, SH: 1 + r.IntN(2), SW: 1 + r.IntN(2), PH: 1, PW: 1, DH: 1, DW: 1}
			if trial%10 == 0 {
				p.W = 2100 // the per-channel fallback
			}
			p.OH, p.OW = (p.H+2-3)/p.SH+1, (p.W+2-3)/p.SW+1
			ch := 1 + r.IntN(40)
			act := acts[trial%len(acts)]
			x, w, bias := randF32(r, ch*p.H*p.W, 2), randF32(r, ch*9, 1), randF32(r, ch, 1)
			n := ch * p.OH * p.OW
			want := make([]float32, n)
			refDWConv2D(&p, x, w, bias, want, ch)
			refEpilogue(want, ch, p.OH*p.OW, nil, act)
			full, got := guardedF32(n, 0)
			DepthwiseConv2D(p, x, w, bias, got, ch, act, nil)
			checkGuardsF32(t, string(be)+"/DepthwiseConv2D", full, n)
			for i := range got {
				if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= 2e-5*(1+math.Abs(float64(want[i])))) {
					t.Fatalf("%s %+v ch %d %+v: y[%d] = %g, reference %g", be, p, ch, act, i, got[i], want[i])
				}
			}
		}
	}
}

// absDW is Σ|w·x| + |bias| for each output: the scale of the rounding error of its sum.
func absDW(p Window2D, x, w, bias []float32, channels int) []float64 {
	ax, aw := make([]float32, len(x)), make([]float32, len(w))
	for i, v := range x {
		ax[i] = float32(math.Abs(float64(v)))
	}
	for i, v := range w {
		aw[i] = float32(math.Abs(float64(v)))
	}
	var ab []float32
	if bias != nil {
		ab = make([]float32, len(bias))
		for i, v := range bias {
			ab[i] = float32(math.Abs(float64(v)))
		}
	}
	return naiveDW(p, ax, aw, ab, channels)
}

func BenchmarkDepthwiseConv2DStride1(b *testing.B) {
	// MobileNetV2's first depthwise layer: 32 channels, 112², 3×3, stride 1.
	benchDW(b, Window2D{H: 112, W: 112, OH: 112, OW: 112, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}, 32)
}

func BenchmarkDepthwiseConv2D5x5(b *testing.B) {
	// EfficientNet-B0's 5×5 stride-2 layer: 144 channels, 56² → 28².
	benchDW(b, Window2D{H: 56, W: 56, OH: 28, OW: 28, KH: 5, KW: 5, SH: 2, SW: 2, PH: 2, PW: 2, DH: 1, DW: 1}, 144)
}

// The AVX-512 kernel on a range of output rows writes exactly those rows, with the bits
// of the whole planes; and DepthwiseConv2D, which splits few-channel layers by rows at
// two and more threads, gives the bits of one thread.
func TestDepthwiseConv2DRows(t *testing.T) {
	avx512 := avx512Table()
	if avx512 == nil || avx512.dwconv2dRows == nil {
		t.Skip("no row-range depthwise kernel")
	}
	r := rand.New(rand.NewPCG(35, 36))
	for trial := 0; trial < 200; trial++ {
		k := []int{3, 5, 7}[r.IntN(3)]
		p := Window2D{H: 1 + r.IntN(60), W: 1 + r.IntN(60), KH: k, KW: k, SH: 1 + r.IntN(2), SW: 1 + r.IntN(2), PH: k / 2, PW: k / 2, DH: 1, DW: 1}
		p.OH, p.OW = (p.H+2*p.PH-k)/p.SH+1, (p.W+2*p.PW-k)/p.SW+1
		if p.OH <= 0 || p.OW <= 0 {
			continue
		}
		ch := []int{1, 7, 16, 24, 40}[r.IntN(5)]
		act := Act{Kind: ActKind(r.IntN(int(ActSiLU) + 1)), P: 0.2, Q: 0.5}
		if act.Kind == ActClip {
			act.P, act.Q = -0.5, 0.7
		}
		x, w, bias := randF32(r, ch*p.H*p.W, 2), randF32(r, ch*k*k, 1), randF32(r, ch, 1)
		n, out := ch*p.OH*p.OW, p.OH*p.OW
		whole := make([]float32, n)
		avx512.dwconv2dAct(&p, x, w, bias, whole, ch, act)
		r0 := r.IntN(p.OH)
		r1 := r0 + 1 + r.IntN(p.OH-r0)
		nan := float32(math.NaN())
		full, got := guardedF32(n, nan)
		if !avx512.dwconv2dRows(&p, x, w, bias, got, ch, act, r0, r1) {
			t.Fatalf("%+v: the kernel refused a geometry it fits", p)
		}
		checkGuardsF32(t, "dwconv2dRows", full, n)
		for i, v := range got {
			row := i % out / p.OW
			if row < r0 || row >= r1 {
				if v == v {
					t.Fatalf("%+v rows [%d, %d): y[%d] (row %d) written", p, r0, r1, i, row)
				}
			} else if math.Float32bits(v) != math.Float32bits(whole[i]) {
				t.Fatalf("%+v ch %d rows [%d, %d): y[%d] = %g, whole planes give %g", p, ch, r0, r1, i, v, whole[i])
			}
		}
		// The public entry point at 1, 2 and 3 threads.
		var one []float32
		for _, th := range []int{1, 2, 3} {
			y := make([]float32, n)
			withThreads(t, th, func() { DepthwiseConv2D(p, x, w, bias, y, ch, act, nil) })
			if th == 1 {
				one = y
				continue
			}
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(one[i]) {
					t.Fatalf("%+v ch %d act %+v: %d threads y[%d] = %g, one thread %g", p, ch, act, th, i, y[i], one[i])
				}
			}
		}
	}
	// A split does happen: a 16-channel layer at two threads.
	p := Window2D{H: 112, W: 112, OH: 56, OW: 56, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}
	per := (max(1, dwTaskWork/(56*56*9)) + 15) &^ 15
	withThreads(t, 2, func() {
		if bands, _ := dwBands(&p, avx512, 16, per, false); bands < 2 {
			t.Errorf("16 channels 112² → 56² at two threads: %d band(s), want a split", bands)
		}
	})
}

// BenchmarkDepthwiseConv2DBands: DepthwiseConv2D at two threads on layers with fewer
// channel blocks than two per thread, split by output rows ("bands") against the
// channel-only split it replaced (a no-op post pass keeps whole planes).
func BenchmarkDepthwiseConv2DBands(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Window2D
		ch   int
	}{
		{"mv3-16x112²-s2", Window2D{H: 112, W: 112, OH: 56, OW: 56, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}, 16},
		{"mv2-32x112²", Window2D{H: 112, W: 112, OH: 112, OW: 112, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}, 32},
		{"ocr-24x24x80", Window2D{H: 24, W: 80, OH: 24, OW: 80, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}, 24},
		{"mv3-96x14²-5x5", Window2D{H: 14, W: 14, OH: 14, OW: 14, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2, DH: 1, DW: 1}, 96},
	} {
		r := rand.New(rand.NewPCG(1, 2))
		x, w, bias := randF32(r, c.ch*c.p.H*c.p.W, 1), randF32(r, c.ch*c.p.KH*c.p.KW, 1), randF32(r, c.ch, 1)
		y := make([]float32, c.ch*c.p.OH*c.p.OW)
		act := Act{Kind: ActRelu}
		for _, split := range []string{"bands", "channels"} {
			var post func(int, int, []float32)
			if split == "channels" {
				post = func(int, int, []float32) {}
			}
			b.Run(c.name+"/"+split, func(b *testing.B) {
				withThreads(b, 2, func() {
					for i := 0; i < b.N; i++ {
						DepthwiseConv2D(c.p, x, w, bias, y, c.ch, act, post)
					}
				})
			})
		}
	}
}
