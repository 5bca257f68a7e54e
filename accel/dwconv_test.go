package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveDW is the textbook depthwise convolution in float64, for checking the reference.
func naiveDW(p Window2D, x, w, bias []float32, channels int) []float64 {
	y := make([]float64, channels*p.OH*p.OW)
	for c := 0; c < channels; c++ {
		for r := 0; r < p.OH; r++ {
			for o := 0; o < p.OW; o++ {
				var s float64
				if bias != nil {
					s = float64(bias[c])
				}
				for i := 0; i < p.KH; i++ {
					for j := 0; j < p.KW; j++ {
						ih, iw := r*p.SH+i*p.DH-p.PH, o*p.SW+j*p.DW-p.PW
						if ih >= 0 && ih < p.H && iw >= 0 && iw < p.W {
							s += float64(w[(c*p.KH+i)*p.KW+j]) * float64(x[(c*p.H+ih)*p.W+iw])
						}
					}
				}
				y[(c*p.OH+r)*p.OW+o] = s
			}
		}
	}
	return y
}

func randomDW(r *rand.Rand) Window2D {
	p := Window2D{H: 1 + r.IntN(19), W: 1 + r.IntN(37), KH: 1 + r.IntN(5), KW: 1 + r.IntN(5), SH: 1 + r.IntN(2), SW: 1 + r.IntN(3),
		DH: 1 + r.IntN(2), DW: 1 + r.IntN(2)}
	p.PH, p.PW = r.IntN(p.KH+1), r.IntN(p.KW+1)
	eh, ew := (p.KH-1)*p.DH+1, (p.KW-1)*p.DW+1
	// Trailing padding up to the kernel's extent.
	th, tw := r.IntN(p.KH+1), r.IntN(p.KW+1)
	p.OH = max(0, (p.H+p.PH+th-eh)/p.SH+1)
	p.OW = max(0, (p.W+p.PW+tw-ew)/p.SW+1)
	if p.H+p.PH+th < eh {
		p.OH = 0
	}
	if p.W+p.PW+tw < ew {
		p.OW = 0
	}
	return p
}

// Every backend against the Go reference (the same sum in the same order, fused or not:
// within a few ulps of Σ|w·x|), the reference against float64, guards around y.
func TestDepthwiseConv2D(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 300; trial++ {
		p := randomDW(r)
		ch := 1 + r.IntN(9)
		x := randF32(r, ch*p.H*p.W, 1)
		w := randF32(r, ch*p.KH*p.KW, 1)
		var bias []float32
		if r.IntN(2) == 0 {
			bias = randF32(r, ch, 1)
		}
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refDWConv2D(&p, x, w, bias, want, ch)
		exact := naiveDW(p, x, w, bias, ch)
		scale := absDW(p, x, w, bias, ch)
		for i := range want {
			if d := math.Abs(float64(want[i]) - exact[i]); d > float64(p.KH*p.KW+2)*1e-6*(1+math.Abs(exact[i])) {
				t.Fatalf("ref %+v ch %d: y[%d] = %g, want %g", p, ch, i, want[i], exact[i])
			}
		}
		for _, bt := range backendsUnderTest() {
			full, got := guardedF32(n, 0)
			bt.t.dwconv2d(&p, x, w, bias, got, ch)
			checkGuardsF32(t, bt.name+"/dwconv2d", full, n)
			for i := range got {
				if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= float64(p.KH*p.KW+2)*1.2e-7*(1+scale[i])) { // fused or not: within Σ|w·x|'s rounding
					t.Fatalf("%s %+v ch %d: y[%d] = %g, want %g", bt.name, p, ch, i, got[i], want[i])
				}
			}
		}
	}
}

// The public entry point gives the same bits at every thread count and calls post once
// per channel.
func TestDepthwiseConv2DThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	p := Window2D{H: 57, W: 61, OH: 29, OW: 31, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}
	ch := 37
	x, w, b := randF32(r, ch*p.H*p.W, 1), randF32(r, ch*9, 1), randF32(r, ch, 1)
	var first []float32
	for _, th := range []int{1, 2, 3, 8} {
		prev := SetMaxThreads(th)
		y := make([]float32, ch*p.OH*p.OW)
		seen := make([]int32, ch)
		DepthwiseConv2D(p, x, w, b, y, ch, Act{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}, func(c0, c1 int, planes []float32) {
			for c := c0; c < c1; c++ {
				seen[c]++
			}
			for i := range planes {
				planes[i] = max(planes[i], 0)
			}
		})
		SetMaxThreads(prev)
		for c, s := range seen {
			if s != 1 {
				t.Fatalf("threads %d: post called %d times for channel %d", th, s, c)
			}
		}
		if first == nil {
			first = y
			continue
		}
		for i := range y {
			if math.Float32bits(y[i]) != math.Float32bits(first[i]) {
				t.Fatalf("threads %d: y[%d] = %g, 1 thread gave %g", th, i, y[i], first[i])
			}
		}
	}
}

func BenchmarkDepthwiseConv2D(b *testing.B) {
	// MobileNetV2's second depthwise layer: 96 channels, 112² → 56², 3×3, stride 2.
	benchDW(b, Window2D{H: 112, W: 112, OH: 56, OW: 56, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}, 96)
}

func BenchmarkDepthwiseConv2DSmall(b *testing.B) {
	// MobileNetV3-Small's late layers: 576 channels, 7², 5×5, stride 1.
	benchDW(b, Window2D{H: 7, W: 7, OH: 7, OW: 7, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2, DH: 1, DW: 1}, 576)
}

func benchDW(b *testing.B, p Window2D, ch int) {
	r := rand.New(rand.NewPCG(1, 2))
	x, w, bias := randF32(r, ch*p.H*p.W, 1), randF32(r, ch*p.KH*p.KW, 1), randF32(r, ch, 1)
	y := make([]float32, ch*p.OH*p.OW)
	for _, bt := range backendsUnderTest() {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.dwconv2d(&p, x, w, bias, y, ch)
			}
		})
		if bt.name == string(BackendAVX512) && prevDWConv2DAVX512 != nil {
			b.Run("avx512-prev", func(b *testing.B) { // the per-channel kernel it replaced
				for i := 0; i < b.N; i++ {
					prevDWConv2DAVX512(&p, x, w, bias, y, ch)
				}
			})
		}
	}
}

// Max pooling: every backend bit for bit against the Go reference, NaN and ±Inf
// included, random geometries (windows partly or wholly in the padding).
func TestMaxPool2D(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for trial := 0; trial < 300; trial++ {
		p := randomDW(r)
		ch := 1 + r.IntN(5)
		x := randSpecial(r, ch*p.H*p.W)
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refMaxPool2D(&p, x, want, ch)
		for _, bt := range backendsUnderTest() {
			full, got := guardedF32(n, 0)
			bt.t.maxPool2D(&p, x, got, ch)
			checkGuardsF32(t, bt.name+"/maxpool2d", full, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s %+v ch %d: y[%d] = %g, want %g", bt.name, p, ch, i, got[i], want[i])
				}
			}
		}
	}
}

// Max pooling on rows wide enough for several full vectors of whole windows (strides 1
// and 2 take them in registers on AVX-512): every backend and the previous row-by-row
// kernel bit for bit against the Go reference, NaN and ±Inf included.
func TestMaxPool2DWideRows(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for trial := 0; trial < 200; trial++ {
		p := randomDW(r)
		p.W = 30 + r.IntN(120)
		p.H = 1 + r.IntN(7)
		ew := (p.KW-1)*p.DW + 1
		p.OW = max(0, (p.W+p.PW+r.IntN(p.KW+1)-ew)/p.SW+1)
		p.OH = max(0, (p.H+p.PH+r.IntN(p.KH+1)-((p.KH-1)*p.DH+1))/p.SH+1)
		ch := 1 + r.IntN(3)
		x := randSpecial(r, ch*p.H*p.W)
		n := ch * p.OH * p.OW
		want := make([]float32, n)
		refMaxPool2D(&p, x, want, ch)
		kernels := map[string]func(*Window2D, []float32, []float32, int){}
		for _, bt := range backendsUnderTest() {
			kernels[bt.name] = bt.t.maxPool2D
		}
		if prevMaxPool2DAVX512 != nil {
			kernels["avx512-rows"] = prevMaxPool2DAVX512
		}
		for name, kern := range kernels {
			full, got := guardedF32(n, 0)
			kern(&p, x, got, ch)
			checkGuardsF32(t, name+"/maxpool2d", full, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
					t.Fatalf("%s %+v ch %d: y[%d] = %g, want %g", name, p, ch, i, got[i], want[i])
				}
			}
		}
	}
}

func BenchmarkMaxPool2D(b *testing.B) {
	// SqueezeNet's first pool: 64 planes, 111² → 55², 3×3, stride 2.
	p := Window2D{H: 111, W: 111, OH: 55, OW: 55, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1}
	r := rand.New(rand.NewPCG(1, 2))
	x, y := randF32(r, 64*p.H*p.W, 1), make([]float32, 64*p.OH*p.OW)
	for _, bt := range backendsUnderTest() {
		b.Run(bt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bt.t.maxPool2D(&p, x, y, 64)
			}
		})
		if bt.name == string(BackendAVX512) && prevMaxPool2DAVX512 != nil {
			b.Run("avx512-rows", func(b *testing.B) { // the previous kernel
				for i := 0; i < b.N; i++ {
					prevMaxPool2DAVX512(&p, x, y, 64)
				}
			})
		}
	}
}
