package accel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// QuantDequantU8 against QuantizeU8 then DequantizeU8, bit for bit: every backend's
// one-pass kernel against its own two kernels, and the public entry (pieces and chunks
// of a long input, in place too) against the reference's, with ties, saturation at both
// ends, NaN and infinities among the values.
func TestQuantDequantU8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 15, 16, 17, 100, 4097, 200_003} {
		src := randF32(r, n, 4)
		for i := 0; i < n; i += 37 {
			src[i] = float32(r.IntN(40)-20) * 0.05 // on the grid and on ties
		}
		src[0] = 1e9
		if n > 3 {
			src[1], src[2], src[3] = -1e9, float32(math.NaN()), float32(math.Inf(-1))
		}
		scale, zp := float32(0.05), uint8(100)
		q := make([]uint8, n)
		want := make([]float32, n)
		refQuantU8(q, src, 0, n, 1, []float32{scale}, []uint8{zp})
		refDequantU8(want, q, 0, n, 1, []float32{scale}, []uint8{zp})
		same := func(what string, got []float32) {
			t.Helper()
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s n=%d: dst[%d] = %g (src %g), want %g", what, n, i, got[i], src[i], want[i])
				}
			}
		}
		for _, bt := range backendsUnderTest() {
			if bt.t.qdqU8 == nil {
				continue
			}
			full, got := guardedF32(n, 0)
			bt.t.qdqU8(got, src, scale, zp)
			checkGuardsF32(t, bt.name+"/quant_dequant_u8", full, n)
			same(bt.name, got)
		}
		got := make([]float32, n)
		QuantDequantU8(got, src, scale, zp)
		same("QuantDequantU8", got)
		inPlace := append([]float32(nil), src...)
		QuantDequantU8(inPlace, inPlace, scale, zp)
		same("QuantDequantU8 in place", inPlace)
	}
}

// QuantizeScaledU8Rows against the products (float32, as a Mul rounds them) quantized by
// the reference, bit for bit, for every backend's kernel and the public entry, with
// negative, zero and huge multipliers; and MinMaxNaNRows against the reference per row.
func TestQuantizeScaledU8Rows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][2]int{{1, 1}, {3, 17}, {7, 100}, {40, 3136}, {5, 0}} {
		rows, cols := sh[0], sh[1]
		src := randF32(r, rows*cols, 3)
		mul := randF32(r, rows, 2)
		mul[0] = 0
		if rows > 2 {
			mul[1], mul[2] = -1.5, 1e30
		}
		scale, zp := float32(0.03), uint8(77)
		want := make([]uint8, rows*cols)
		prod := make([]float32, cols)
		for i := 0; i < rows; i++ {
			for j := range prod {
				prod[j] = src[i*cols+j] * mul[i]
			}
			refQuantU8(want[i*cols:(i+1)*cols], prod, 0, cols+1, 1, []float32{scale}, []uint8{zp})
		}
		check := func(what string, got []uint8) {
			t.Helper()
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s %v: dst[%d] = %d, want %d", what, sh, i, got[i], want[i])
				}
			}
		}
		for _, bt := range backendsUnderTest() {
			if bt.t.quantScaledU8 != nil {
				got := make([]uint8, rows*cols)
				bt.t.quantScaledU8(got, src, rows, cols, mul, scale, zp)
				check(bt.name, got)
			}
		}
		got := make([]uint8, rows*cols)
		QuantizeScaledU8Rows(got, src, rows, cols, mul, scale, zp)
		check("QuantizeScaledU8Rows", got)

		if cols > 5 {
			src[cols+3] = float32(math.NaN())
		}
		mn, mx := make([]float32, rows), make([]float32, rows)
		wmn, wmx := make([]float32, rows), make([]float32, rows)
		MinMaxNaNRows(src, rows, cols, mn, mx)
		refMinMaxNaNRows(src, rows, cols, cols, wmn, wmx)
		for i := range mn {
			if !(mn[i] == wmn[i] || mn[i] != mn[i] && wmn[i] != wmn[i]) || !(mx[i] == wmx[i] || mx[i] != mx[i] && wmx[i] != wmx[i]) {
				t.Fatalf("%v row %d: min, max %g, %g, want %g, %g", sh, i, mn[i], mx[i], wmn[i], wmx[i])
			}
		}
	}
}

// BenchmarkQuantDequantU8: MobileNetV2's 96×112² activation, the one-pass kernel against
// QuantizeU8 then DequantizeU8 and the pure-Go reference.
func BenchmarkQuantDequantU8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src := randF32(r, 96*112*112, 3)
	dst, q := make([]float32, len(src)), make([]uint8, len(src))
	b.Run("fused", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for b.Loop() {
			QuantDequantU8(dst, src, 0.05, 100)
		}
	})
	b.Run("two-passes", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for b.Loop() {
			QuantizeU8(q, src, 0.05, 100)
			DequantizeU8(dst, q, 0.05, 100)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.SetBytes(int64(8 * len(src)))
		for b.Loop() {
			refQuantU8(q, src, 0, len(src), 1, []float32{0.05}, []uint8{100})
			refDequantU8(dst, q, 0, len(src), 1, []float32{0.05}, []uint8{100})
		}
	})
}
