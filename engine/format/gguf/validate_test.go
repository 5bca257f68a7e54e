package gguf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/ir"
)

// TestValidateRowsRefuses: values whose block scale or minimum overflows f16 are
// refused for every type modelc quantizes to, as llama.cpp's ggml_validate_row_data
// refuses them (ggml/src/ggml-quants.c: validate_fp16 on d, and on m / dmin for
// Q4_1, Q5_1, Q4_K, Q5_K), naming the tensor, the block and its row; nothing is left
// behind. The same values in a type that holds them (bf16, f32) are written.
func TestValidateRowsRefuses(t *testing.T) {
	const rows, cols = 2, 512
	cases := []struct {
		q     string
		fill  func(x []float32) // row 1 from value 256: block 24 of 32 values, super-block 3 of 256
		field string
	}{
		// d = amax/127 overflows past 65504·127
		{"q8_0", func(x []float32) { x[8] = 1e7 }, "q8_0 scale overflows"},
		// d = max/-8
		{"q4_0", func(x []float32) { x[8] = -6e5 }, "q4_0 scale overflows"},
		{"q5_0", func(x []float32) { x[8] = 2e6 }, "q5_0 scale overflows"},
		// m = min: a block of values around 7e4 has a finite d and an infinite m
		{"q4_1", func(x []float32) {
			for i := range x[:32] {
				x[i] = 7e4 + float32(i)
			}
		}, "q4_1 minimum overflows"},
		{"q5_1", func(x []float32) {
			for i := range x[:32] {
				x[i] = -7e4 - float32(i)
			}
		}, "q5_1 minimum overflows"},
		{"q4_k", func(x []float32) { x[8] = 1e8 }, "q4_k super-block scale overflows"},
		{"q5_k", func(x []float32) {
			for i := range x[:32] {
				x[i] = -1e8
			}
			x[0] = 0
		}, "overflows"},
		{"q6_k", func(x []float32) { x[8] = 1e9 }, "q6_k super-block scale overflows"},
		{"f16", func(x []float32) { x[8] = 1e5 }, "F16 cannot hold"},
		{"q8_0", func(x []float32) { x[31] = float32(math.NaN()) }, "q8_0 scale is NaN"},
	}
	for _, c := range cases {
		x := randomRows(rand.New(rand.NewPCG(3, 4)), rows, cols)
		c.fill(x[cols+256:])
		tn, err := ir.NewTensor("blk.0.ffn_up.weight", ir.Float32, []int64{rows, cols}, f32Bytes(x))
		require.NoError(t, err)
		m := &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}
		dir := t.TempDir()
		path := filepath.Join(dir, "x.gguf")
		err = Write(m, path, WriteOptions{Quantize: c.q})
		require.Error(t, err, c.q)
		assert.Equal(t, ir.KindUnsupported, ir.KindOf(err), err.Error())
		msg := err.Error()
		assert.Contains(t, msg, `tensor "blk.0.ffn_up.weight"`, c.q)
		assert.Contains(t, msg, "x.gguf", c.q)
		assert.Contains(t, msg, "row 1", c.q)
		assert.Contains(t, msg, "ggml_validate_row_data", c.q)
		if c.q == "f16" {
			assert.Contains(t, msg, "value 776 (row 1, column 264)", c.q)
		} else if q, _ := TypeByName(c.q); types[q].blockElems == 32 {
			assert.Contains(t, msg, "block 24 (row 1, values 256 to 287", c.q)
		} else {
			assert.Contains(t, msg, "block 3 (row 1, values 256 to 511", c.q)
		}
		assert.Contains(t, strings.ToLower(msg), strings.ToLower(c.field), c.q)
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries, "%s: nothing left behind", c.q)

		// a type that holds the values writes them
		if !strings.Contains(c.field, "NaN") {
			require.NoError(t, Write(m, path, WriteOptions{Quantize: "bf16"}), c.q)
		}
	}
}

// TestValidateRowsAcceptsLargeFinite: the largest values that still fit are written.
func TestValidateRowsAcceptsLargeFinite(t *testing.T) {
	x := make([]float32, 256)
	for i := range x {
		x[i] = 6e4 // Q4_1 / Q5_1 minimum 6e4 fits f16
	}
	x[0] = 65504 * 127 // Q8_0 scale exactly 65504
	tn, err := ir.NewTensor("w.weight", ir.Float32, []int64{1, 256}, f32Bytes(x))
	require.NoError(t, err)
	m := &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}
	path := filepath.Join(t.TempDir(), "x.gguf")
	require.NoError(t, Write(m, path, WriteOptions{Quantize: "q8_0"}))
	x[0] = 6e4
	tn, err = ir.NewTensor("w.weight", ir.Float32, []int64{1, 256}, f32Bytes(x))
	require.NoError(t, err)
	m = &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}
	for _, q := range []string{"q4_1", "q5_1", "q4_0", "q4_k", "q6_k", "f16"} {
		require.NoError(t, Write(m, path, WriteOptions{Quantize: q}), q)
	}
}

// TestAutoQuantize: auto is llama.cpp's `--outtype auto`: the first matrix that is BF16
// or F16 decides, else F16 (an F32 model's matrices become F16; 1-D tensors F32).
func TestAutoQuantize(t *testing.T) {
	mk := func(dtypes ...ir.DType) *ir.Model {
		m := &ir.Model{Graph: &ir.Graph{}}
		for i, d := range dtypes {
			shape := []int64{4, 32}
			if i == 0 {
				shape = []int64{32} // a 1-D tensor first: never decides
			}
			tn, err := ir.NewTensor(fmt.Sprintf("blk.%d.ffn_up.weight", i), d, shape, make([]byte, int(ir.NumElements(shape))*d.ElemBytes()))
			require.NoError(t, err)
			m.Graph.Initializers = append(m.Graph.Initializers, tn)
		}
		return m
	}
	for _, c := range []struct {
		m    *ir.Model
		want GGMLType
	}{
		{mk(ir.BFloat16, ir.Float32, ir.Float32), F16},
		{mk(ir.Float32, ir.Float32, ir.BFloat16, ir.Float16), BF16},
		{mk(ir.Float32, ir.Float16, ir.BFloat16), F16},
	} {
		got, err := ResolveQuantize(c.m, "auto")
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
		path := filepath.Join(t.TempDir(), "a.gguf")
		require.NoError(t, Write(c.m, path, WriteOptions{Quantize: "AUTO"}))
		back, err := Read(path)
		require.NoError(t, err)
		wantD, _ := c.want.DType()
		for i, tn := range back.Graph.Initializers {
			if i == 0 {
				assert.Equal(t, ir.Float32, tn.DType, tn.Name)
			} else {
				assert.Equal(t, wantD, tn.DType, tn.Name)
			}
		}
		assert.Equal(t, map[GGMLType]uint32{F16: 1, BF16: 32}[c.want], ir.MetaLookup(back.KV, "general.file_type"))
		back.Close()
	}
	assert.NoError(t, CheckQuantize("auto"))
	assert.Error(t, CheckQuantize("q3_k"))
}

// TestAnyExponentAllOnes: the word-at-a-time test agrees with a value-at-a-time one for
// an infinity or NaN at every position, odd lengths included.
func TestAnyExponentAllOnes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		mask uint64
		bad  func(uint16) bool
	}{{0x7C00, halfNotFinite}, {0x7F80, bf16NotFinite}} {
		for n := 0; n < 45; n++ {
			for at := -1; at < n; at++ {
				b := make([]byte, 2*n)
				for i := 0; i < n; i++ {
					h := uint16(r.Uint32())
					for c.bad(h) {
						h = uint16(r.Uint32())
					}
					le.PutUint16(b[2*i:], h)
				}
				if at >= 0 {
					le.PutUint16(b[2*at:], uint16(c.mask)|uint16(r.Uint32())&^uint16(c.mask))
				}
				require.Equal(t, at >= 0, anyExponentAllOnes(b, c.mask*0x0001_0001_0001_0001), "mask %#x n %d at %d", c.mask, n, at)
			}
		}
	}
}
