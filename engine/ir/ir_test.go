package ir

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

func TestFloat16RoundTripsEveryValue(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		back := Float32ToFloat16(f)
		if f != f { // NaN: stays NaN, payload kept
			require.True(t, back&0x7C00 == 0x7C00 && back&0x3FF != 0, "NaN %#04x came back as %#04x", h, back)
			continue
		}
		require.Equal(t, uint16(h), back, "half %#04x → %v → %#04x", h, f, back)
	}
}

func TestFloat32ToFloat16Rounding(t *testing.T) {
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3C00},
		{65504, 0x7BFF},
		{65520, 0x7C00},                  // rounds up to infinity
		{float32(math.Inf(-1)), 0xFC00},  // -inf
		{1 + 1.0/2048, 0x3C00},           // halfway between 1 and next: ties to even (down)
		{1 + 3.0/2048, 0x3C02},           // halfway: ties to even (up)
		{5.960464477539063e-08, 0x0001},  // smallest subnormal
		{2.9802322387695312e-08, 0x0000}, // half of it: ties to even → 0
		{-0.0, 0x0000},                   // -0 is +0 in Go literals; checked below
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Float32ToFloat16(c.in), "%v", c.in)
	}
	assert.Equal(t, uint16(0x8000), Float32ToFloat16(float32(math.Copysign(0, -1))))
}

func TestBFloat16(t *testing.T) {
	assert.Equal(t, uint16(0x3F80), Float32ToBFloat16(1))
	assert.Equal(t, uint16(0x3F80), Float32ToBFloat16(math.Float32frombits(0x3F808000))) // tie → even
	assert.Equal(t, uint16(0x3F82), Float32ToBFloat16(math.Float32frombits(0x3F818000))) // tie → even (up)
	nan := Float32ToBFloat16(float32(math.NaN()))
	assert.True(t, BFloat16ToFloat32(nan) != BFloat16ToFloat32(nan))
	assert.Equal(t, float32(1), BFloat16ToFloat32(0x3F80))
}

func TestMinifloats(t *testing.T) {
	cases := []struct {
		d    DType
		bits uint32
		want float64
	}{
		{Float8E4M3FN, 0x7E, 448},
		{Float8E4M3FN, 0x01, math.Ldexp(1, -9)},
		{Float8E4M3FN, 0xB8, -1},
		{Float8E5M2, 0x7B, 57344},
		{Float8E5M2, 0x7C, math.Inf(1)},
		{Float8E4M3FNUZ, 0x7F, 240},
		{Float8E5M2FNUZ, 0x7F, 57344},
		{Float8E8M0, 127, 1},
		{Float4E2M1, 0x7, 6},
		{Float4E2M1, 0x9, -0.5},
		{Float6E2M3, 0x1F, 7.5},
		{Float6E3M2, 0x1F, 28},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, minifloat(c.d, c.bits), "%v %#x", c.d, c.bits)
	}
	for _, c := range []struct {
		d    DType
		bits uint32
	}{{Float8E4M3FN, 0x7F}, {Float8E4M3FN, 0xFF}, {Float8E5M2, 0x7D}, {Float8E4M3FNUZ, 0x80}, {Float8E8M0, 0xFF}} {
		assert.True(t, math.IsNaN(minifloat(c.d, c.bits)), "%v %#x", c.d, c.bits)
	}
}

func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		d    DType
		n    int64
		want int64
	}{{Float32, 3, 12}, {Int4, 3, 2}, {Uint2, 5, 2}, {Float6E2M3, 5, 6}, {Bool, 0, 0}, {Complex128, 2, 32}} {
		got, ok := c.d.ByteSize(c.n)
		assert.True(t, ok)
		assert.Equal(t, c.want, got, "%v×%d", c.d, c.n)
	}
	_, ok := String.ByteSize(1)
	assert.False(t, ok)
}

func TestSubByteElements(t *testing.T) {
	int4, err := NewTensor("q", Int4, []int64{3}, []byte{0x8F, 0x07})
	require.NoError(t, err)
	got, err := int4.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{-1, -8, 7}, got)

	f6 := make([]byte, 3)
	for i, v := range []uint32{0x1F, 0x01, 0x20, 0x3F} {
		SetSextet(f6, int64(i), v)
	}
	for i, v := range []uint32{0x1F, 0x01, 0x20, 0x3F} {
		assert.Equal(t, v, Sextet(f6, int64(i)))
	}
}

func TestDenseSharesMemory(t *testing.T) {
	raw := make([]byte, 4*6)
	for i := 0; i < 6; i++ {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)))
	}
	tt, err := NewTensor("w", Float32, []int64{2, 3}, raw)
	require.NoError(t, err)
	d, err := tt.Dense()
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{2, 3}, d.Shape())
	v, err := d.At(1, 2)
	require.NoError(t, err)
	assert.Equal(t, float32(5), v)
	d.Data().([]float32)[0] = 42 // a view, not a copy
	assert.Equal(t, float32(42), math.Float32frombits(binary.LittleEndian.Uint32(raw)))

	back, err := FromDense("w2", d)
	require.NoError(t, err)
	assert.Equal(t, Float32, back.DType)
	assert.Equal(t, []int64{2, 3}, back.Shape)
	assert.Equal(t, raw, back.Bytes())

	scalar, err := NewTensor("s", Int64, []int64{}, []byte{7, 0, 0, 0, 0, 0, 0, 0})
	require.NoError(t, err)
	ds, err := scalar.Dense()
	require.NoError(t, err)
	assert.Equal(t, int64(7), ds.ScalarValue())

	_, err = NewTensor("bad", Float32, []int64{2}, []byte{1, 2, 3})
	assert.ErrorContains(t, err, "needs 8 bytes")

	h, err := NewTensor("h", Float16, []int64{1}, []byte{0x00, 0x3C})
	require.NoError(t, err)
	_, err = h.Dense()
	assert.Error(t, err)
	hf, err := h.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1}, hf)
}

func TestErrorKinds(t *testing.T) {
	err := Errorf(KindCorrupt, "m.onnx", "bad %s", "thing")
	assert.Equal(t, "m.onnx: bad thing", err.Error())
	assert.Equal(t, KindCorrupt, KindOf(err))
	assert.Equal(t, KindInternal, KindOf(assert.AnError))
}
