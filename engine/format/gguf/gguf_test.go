package gguf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/ir"
)

func f32Bytes(x []float32) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))...)
}

func randomRows(r *rand.Rand, rows, cols int) []float32 {
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	// awkward blocks: zeros, a constant, a ramp, an outlier
	copy(x[:32], make([]float32, 32))
	for i := 32; i < 64 && i < len(x); i++ {
		x[i] = 0.5
	}
	if len(x) > 300 {
		x[300] = 1000
	}
	return x
}

// TestKQuantsMatchGgml checks the K-quants against blocks made by ggml's own
// quantize_row_q{4,5,6}_K_ref (testdata/gguf/README.md says how).
func TestKQuantsMatchGgml(t *testing.T) {
	dir := "../../../testdata/gguf"
	raw, err := os.ReadFile(filepath.Join(dir, "kquant_input.f32"))
	require.NoError(t, err)
	x := make([]float32, len(raw)/4)
	for i := range x {
		x[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
	}
	for _, c := range []struct {
		file string
		t    GGMLType
	}{{"q4_k.bin", Q4_K}, {"q5_k.bin", Q5_K}, {"q6_k.bin", Q6_K}} {
		want, err := os.ReadFile(filepath.Join(dir, c.file))
		require.NoError(t, err)
		got := make([]byte, len(x)/qkK*int(types[c.t].blockBytes))
		codecs[c.t].quantize(got, x)
		require.Equal(t, len(want), len(got), c.file)
		for b := 0; b < len(got)/int(types[c.t].blockBytes); b++ {
			n := int(types[c.t].blockBytes)
			assert.Equal(t, want[b*n:(b+1)*n], got[b*n:(b+1)*n], "%s block %d", c.t, b)
		}
	}
}

// absmaxRMSE is the error of plain symmetric absmax rounding with the same number of
// bits and the given group size: the baseline the K-quants' search should beat.
func absmaxRMSE(x []float32, bits, group int) float64 {
	levels := float64(int(1)<<(bits-1) - 1)
	var se float64
	for g := 0; g < len(x); g += group {
		var amax float64
		for _, v := range x[g : g+group] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := amax / levels
		for _, v := range x[g : g+group] {
			q := 0.0
			if d > 0 {
				q = math.Round(float64(v)/d) * d
			}
			se += (q - float64(v)) * (q - float64(v))
		}
	}
	return math.Sqrt(se / float64(len(x)))
}

func TestKQuantsBeatAbsmaxRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 256*256)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, c := range []struct {
		t           GGMLType
		bits, group int
	}{{Q4_K, 4, 32}, {Q5_K, 5, 32}, {Q6_K, 6, 16}} {
		q := make([]byte, len(x)/qkK*int(types[c.t].blockBytes))
		codecs[c.t].quantize(q, x)
		y := make([]float32, len(x))
		codecs[c.t].dequantize(y, q)
		var se float64
		for i := range x {
			se += float64((y[i] - x[i]) * (y[i] - x[i]))
		}
		rmse, base := math.Sqrt(se/float64(len(x))), absmaxRMSE(x, c.bits, c.group)
		t.Logf("%s: RMSE %.5f, absmax rounding (%d bits, groups of %d, f32 scales) %.5f", c.t, rmse, c.bits, c.group, base)
		assert.Less(t, rmse, base, c.t.String())
	}
}

// TestAccelMatchesReference: the accel kernels used for Q8_0 and Q4_0 give the bytes of
// the ports of ggml's reference quantizers here.
func TestAccelMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{32, 64, 32 * 33, 32 * 4096} {
		x := randomRows(r, 1, n)
		for _, c := range []struct {
			t         GGMLType
			ref       func([]byte, []float32)
			deq, ref2 func([]float32, []byte)
		}{{Q8_0, refQuantizeQ8_0, dequantizeQ8_0, refDequantizeQ8_0}, {Q4_0, refQuantizeQ4_0, dequantizeQ4_0, refDequantizeQ4_0}} {
			size := n / 32 * int(types[c.t].blockBytes)
			a, b := make([]byte, size), make([]byte, size)
			codecs[c.t].quantize(a, x)
			c.ref(b, x)
			require.Equal(t, b, a, "%s n=%d", c.t, n)
			ya, yb := make([]float32, n), make([]float32, n)
			c.deq(ya, a)
			c.ref2(yb, a)
			require.Equal(t, yb, ya, "%s dequantize n=%d", c.t, n)
		}
	}
}

func TestFP16MatchesIR(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1_000_000; i++ {
		f := math.Float32frombits(r.Uint32())
		if f != f {
			assert.Equal(t, uint16(0x7E00)|uint16(math.Float32bits(f)>>16)&0x8000, fp16(f))
			continue
		}
		if fp16(f) != ir.Float32ToFloat16(f) {
			t.Fatalf("fp16(%g) = %#x, ir gives %#x", f, fp16(f), ir.Float32ToFloat16(f))
		}
		h := uint16(r.Uint32())
		if a, b := halfToF32(h), ir.Float16ToFloat32(h); math.Float32bits(a) != math.Float32bits(b) {
			t.Fatalf("halfToF32(%#x) = %g, ir gives %g", h, a, b)
		}
	}
}

// testModel has every metadata value type and tensors of several types.
func testModel(t *testing.T) *ir.Model {
	r := rand.New(rand.NewPCG(7, 8))
	m := &ir.Model{Graph: &ir.Graph{}}
	m.KV = []ir.MetaKV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "u8", Value: uint8(7)}, {Key: "i8", Value: int8(-7)}, {Key: "u16", Value: uint16(700)},
		{Key: "i16", Value: int16(-700)}, {Key: "u32", Value: uint32(70000)}, {Key: "i32", Value: int32(-70000)},
		{Key: "f32", Value: float32(0.25)}, {Key: "bool", Value: true}, {Key: "str", Value: "ünï"},
		{Key: "u64", Value: uint64(1 << 60)}, {Key: "i64", Value: int64(-1 << 60)}, {Key: "f64", Value: 1e300},
		{Key: "a.str", Value: []string{"x", "", "yz"}}, {Key: "a.f32", Value: []float32{1, 2}},
		{Key: "a.i32", Value: []int32{-1, 2}}, {Key: "a.bool", Value: []bool{true, false}},
		{Key: "a.u8", Value: []uint8{1, 2, 3}}, {Key: "a.nested", Value: []any{[]int32{1}, []string{"a"}, []any{[]uint64{}}}},
	}
	add := func(name string, d ir.DType, shape []int64, data []byte) {
		tn, err := ir.NewTensor(name, d, shape, data)
		require.NoError(t, err)
		m.Graph.Initializers = append(m.Graph.Initializers, tn)
	}
	x := randomRows(r, 8, 512)
	add("blk.0.ffn_up.weight", ir.Float32, []int64{8, 512}, f32Bytes(x))
	add("blk.0.attn_norm.weight", ir.Float32, []int64{512}, f32Bytes(x[:512]))
	h := make([]byte, 2*96*64)
	for i := 0; i < len(h); i += 2 {
		le.PutUint16(h[i:], ir.Float32ToFloat16(float32(r.NormFloat64())))
	}
	add("blk.0.ffn_down.weight", ir.Float16, []int64{96, 64}, h)
	add("ids", ir.Int32, []int64{2, 3}, make([]byte, 24))
	add("scalar", ir.Float32, []int64{}, f32Bytes([]float32{3}))
	return m
}

func TestRoundTrip(t *testing.T) {
	m := testModel(t)
	path := filepath.Join(t.TempDir(), "m.gguf")
	require.NoError(t, Write(m, path, WriteOptions{}))
	back, err := Read(path)
	require.NoError(t, err)
	defer back.Close()
	require.Equal(t, m.KV, back.KV)
	require.Len(t, back.Graph.Initializers, len(m.Graph.Initializers))
	for i, want := range m.Graph.Initializers {
		got := back.Graph.Initializers[i]
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.DType, got.DType)
		if len(want.Shape) == 0 {
			assert.Equal(t, []int64{1}, got.Shape) // GGUF has no scalars
		} else {
			assert.Equal(t, want.Shape, got.Shape)
		}
		assert.Equal(t, want.Bytes(), got.Bytes(), want.Name)
	}
	// the string view of the scalars, for string-only formats and `modelc info`
	assert.Contains(t, back.Metadata, ir.StringPair{Key: "u64", Value: "1152921504606846976"})
}

func TestQuantizedOutputIndependentOfThreads(t *testing.T) {
	for _, q := range QuantizeNames() {
		var outs [][]byte
		for _, threads := range []int{1, 3} {
			path := filepath.Join(t.TempDir(), "q.gguf")
			require.NoError(t, Write(testModel(t), path, WriteOptions{Quantize: q, Threads: threads}))
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			outs = append(outs, b)
		}
		require.True(t, bytes.Equal(outs[0], outs[1]), q)
		m, err := Parse(outs[0], q)
		require.NoError(t, err)
		want, _ := ResolveQuantize(testModel(t), q)
		got := map[string]ir.DType{}
		for _, tn := range m.Graph.Initializers {
			got[tn.Name] = tn.DType
		}
		wantD, _ := want.DType()
		assert.Equal(t, wantD, got["blk.0.ffn_up.weight"], q)
		assert.Equal(t, ir.Float32, got["blk.0.attn_norm.weight"], q)
		assert.Equal(t, ir.Int32, got["ids"], q)
		if types[want].blockElems > 1 {
			assert.Equal(t, uint32(2), ir.MetaLookup(m.KV, "general.quantization_version"), q)
		}
	}
}

func TestQuantizeFallback(t *testing.T) {
	cases := []struct {
		ne      []int64
		q, want GGMLType
		name    string
	}{
		{[]int64{256, 4}, Q4_K, Q4_K, "blk.0.attn_q.weight"},
		{[]int64{64, 4}, Q4_K, Q5_0, "blk.0.attn_q.weight"},
		{[]int64{64, 4}, Q5_K, Q5_1, "blk.0.attn_q.weight"},
		{[]int64{96, 4}, Q6_K, Q8_0, "blk.0.attn_q.weight"},
		{[]int64{48, 4}, Q6_K, F16, "blk.0.attn_q.weight"},
		{[]int64{48, 4}, Q8_0, F16, "blk.0.attn_q.weight"},
		{[]int64{256}, Q4_K, F32, "blk.0.attn_q.bias"},
		{[]int64{256, 1}, Q4_K, F32, "blk.0.x.weight"},
		{[]int64{256, 4}, Q4_K, F32, "blk.0.attn_norm.weight"},
		{[]int64{256, 4}, Q4_K, F16, "blk.0.ffn_gate_inp.weight"},
		{[]int64{256, 4}, Q4_K, F16, "position_embd.weight"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, chooseType(c.name, c.ne, F16, c.q), "%s %v → %s", c.name, c.ne, c.q)
	}
}

func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gguf")
	one := func(name string, d ir.DType, shape []int64, size int) *ir.Model {
		tn, err := ir.NewTensor(name, d, shape, make([]byte, size))
		require.NoError(t, err)
		return &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}
	}
	cases := []struct {
		m    *ir.Model
		opts WriteOptions
		kind ir.ErrorKind
		msg  string
	}{
		{one("b", ir.Bool, []int64{4}, 4), WriteOptions{}, ir.KindUnsupported, "no type for bool"},
		{one("five", ir.Float32, []int64{1, 1, 1, 1, 2}, 8), WriteOptions{}, ir.KindUnsupported, "5 dimensions"},
		{one(string(make([]byte, 64)), ir.Float32, []int64{1}, 4), WriteOptions{}, ir.KindUnsupported, "at most 63"},
		{one("w", ir.Float32, []int64{1}, 4), WriteOptions{Quantize: "q3_k"}, ir.KindInvalidArgument, "unknown GGUF quantization"},
	}
	for _, c := range cases {
		err := Write(c.m, path, c.opts)
		require.Error(t, err, c.msg)
		assert.Equal(t, c.kind, ir.KindOf(err), err.Error())
		assert.Contains(t, err.Error(), c.msg)
		assert.NoFileExists(t, path)
	}
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "no temporary file left behind")
}

// TestProgressCancels: an error from the progress callback stops the write and leaves
// nothing behind.
func TestProgressCancels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gguf")
	calls := 0
	err := Write(testModel(t), path, WriteOptions{Quantize: "q8_0", Progress: func(string, int64, int64) error {
		calls++
		return &ir.Error{Kind: ir.KindCancelled, Err: os.ErrDeadlineExceeded}
	}})
	require.Error(t, err)
	assert.Equal(t, ir.KindCancelled, ir.KindOf(err))
	assert.Equal(t, 1, calls)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// TestTruncatedFiles: every prefix of a valid file is an error, never a panic.
func TestTruncatedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	require.NoError(t, Write(testModel(t), path, WriteOptions{Quantize: "q4_k"}))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = Parse(data, "m.gguf")
	require.NoError(t, err)
	for n := 0; n < len(data)-1; n += 1 + n/64 {
		_, err := Parse(data[:n], "m.gguf")
		require.Error(t, err, "prefix %d", n)
		assert.Equal(t, ir.KindCorrupt, ir.KindOf(err), "prefix %d: %v", n, err)
	}
}

func TestDequantizeBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	src := testModel(t)
	require.NoError(t, Write(src, path, WriteOptions{Quantize: "q6_k"}))
	m, err := Read(path)
	require.NoError(t, err)
	defer m.Close()
	q := m.Graph.Initializers[0]
	require.Equal(t, "q6_k", q.DType.String())
	want, err := q.Float32s()
	require.NoError(t, err)
	require.NoError(t, DequantizeBlocks(m))
	f := m.Graph.Initializers[0]
	assert.Equal(t, ir.Float32, f.DType)
	assert.True(t, f.Computed())
	got, err := f.Float32s()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	orig, _ := src.Graph.Initializers[0].Float32s()
	var se, ss float64
	for i := range orig {
		se += float64((got[i] - orig[i]) * (got[i] - orig[i]))
		ss += float64(orig[i] * orig[i])
	}
	assert.Less(t, math.Sqrt(se/ss), 0.05) // 6-bit: a few percent of the signal
}

// TestLargeTensorCopiedInPieces: a tensor larger than one copy piece comes back whole.
func TestLargeTensorCopiedInPieces(t *testing.T) {
	n := copyPiece/4 + 12345*32
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	tn, err := ir.NewTensor("big", ir.Float32, []int64{int64(n / 32), 32}, f32Bytes(x))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "big.gguf")
	var written int
	require.NoError(t, Write(&ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}, path,
		WriteOptions{Written: func(b []byte) error { written += len(b); return nil }}))
	m, err := Read(path)
	require.NoError(t, err)
	defer m.Close()
	assert.True(t, bytes.Equal(tn.Bytes(), m.Graph.Initializers[0].Bytes()))
	assert.Equal(t, 4*n, written)
}
