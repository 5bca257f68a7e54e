package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/ir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConvertBytesMatchesConvert(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, "out.onnx")
	_, err = Convert(context.Background(), src, dst, ConvertOptions{}, nil)
	require.NoError(t, err)
	want, err := os.ReadFile(dst)
	require.NoError(t, err)

	var stages []string
	got, err := ConvertBytes(context.Background(), data, "", "onnx", ConvertOptions{}, func(s string, f float64) bool {
		stages = append(stages, s)
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, want, got, "in-memory and file conversion must give the same bytes")
	assert.Equal(t, []string{"read", "write", "done"}, stages)

	// The output format may come from the options instead, and the input is not modified.
	before := append([]byte(nil), data...)
	got2, err := ConvertBytes(context.Background(), data, "onnx", "", ConvertOptions{To: "onnx"}, nil)
	require.NoError(t, err)
	assert.Equal(t, want, got2)
	assert.Equal(t, before, data)
}

func TestConvertBytesErrors(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(smallModel(t, dir))
	require.NoError(t, err)
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		data     []byte
		from, to string
		opts     ConvertOptions
		kind     ErrorKind
	}{
		{"no output format", data, "", "", ConvertOptions{}, KindInvalidArgument},
		{"unknown output format", data, "", "coreml", ConvertOptions{}, KindInvalidArgument},
		{"unknown input format", data, "coreml", "onnx", ConvertOptions{}, KindInvalidArgument},
		{"ONNX bytes said to be GGUF", data, "gguf", "onnx", ConvertOptions{}, KindCorrupt},
		{"a folder format in", data, "hf", "onnx", ConvertOptions{}, KindInvalidArgument},
		{"a folder format out", data, "", "hf", ConvertOptions{}, KindInvalidArgument},
		{"shards in memory", data, "", "safetensors", ConvertOptions{MaxShardSize: "1KB"}, KindInvalidArgument},
		{"quantize a non-GGUF output", data, "", "safetensors", ConvertOptions{Quantize: "q8_0"}, KindInvalidArgument},
		{"unknown ggml type", data, "", "gguf", ConvertOptions{Quantize: "q3_z"}, KindInvalidArgument},
		{"nodes to NumPy", data, "", "npy", ConvertOptions{}, KindUnsupported},
		{"two different output formats", data, "", "onnx", ConvertOptions{To: "gguf"}, KindInvalidArgument},
		{"external data in memory", data, "", "onnx", ConvertOptions{ExternalData: true}, KindInvalidArgument},
		{"not a model", []byte("hello, world"), "", "onnx", ConvertOptions{}, KindCorrupt},
		{"empty", nil, "", "onnx", ConvertOptions{}, KindCorrupt},
		{"truncated", data[:len(data)/2], "onnx", "onnx", ConvertOptions{}, KindCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := ConvertBytes(ctx, c.data, c.from, c.to, c.opts, nil)
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Equal(t, c.kind, KindOf(err), "%v", err)
		})
	}
}

func TestConvertBytesCancelled(t *testing.T) {
	data, err := os.ReadFile(smallModel(t, t.TempDir()))
	require.NoError(t, err)
	for _, stage := range []string{"read", "write"} {
		out, err := ConvertBytes(context.Background(), data, "", "onnx", ConvertOptions{}, func(s string, f float64) bool { return s != stage })
		assert.Nil(t, out)
		assert.Equal(t, KindCancelled, KindOf(err), "cancel at %s: %v", stage, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ConvertBytes(ctx, data, "", "onnx", ConvertOptions{}, nil)
	assert.Equal(t, KindCancelled, KindOf(err))
}

// A cancel request at "done" comes after the output is complete: Convert reports success
// and the output exists, rather than a "cancelled" that left a file behind.
func TestConvertCancelAtDoneIsTooLate(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	dst := filepath.Join(dir, "out.onnx")
	_, err := Convert(context.Background(), src, dst, ConvertOptions{}, func(s string, f float64) bool { return s != "done" })
	require.NoError(t, err)
	assert.FileExists(t, dst)
}

// Every pair of in-memory formats gives the bytes the file conversion writes: the readers
// and writers are the same, only the files are missing.
func TestConvertBytesEveryFormatMatchesConvert(t *testing.T) {
	dir := t.TempDir()
	w, err := ir.NewTensor("blk.0.ffn_up.weight", ir.Float32, []int64{2, 32}, make([]byte, 2*32*4))
	require.NoError(t, err)
	for i := 0; i < len(w.Bytes()); i += 4 {
		// finite values q8_0 can hold (a byte pattern made floats up to 1e37, whose
		// block scale overflows f16: the GGUF writer refuses such blocks, as llama.cpp)
		binary.LittleEndian.PutUint32(w.Bytes()[i:], math.Float32bits(float32(i%52-26)*0.37))
	}
	b, err := ir.NewTensor("blk.0.ffn_up.bias", ir.Int64, []int64{3}, make([]byte, 3*8))
	require.NoError(t, err)
	b.Bytes()[8] = 5
	weights := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{Name: "w", Initializers: []*ir.Tensor{w, b}}}
	src := filepath.Join(dir, "w.onnx")
	_, err = onnx.Write(weights, src, onnx.WriteOptions{})
	require.NoError(t, err)

	ext := map[string]string{"onnx": ".onnx", "safetensors": ".safetensors", "gguf": ".gguf", "torch": ".pt", "npy": ".npz"}
	// torchscript and tflite are in memory too, but write graphs, not weights-only models
	// (their in-memory round trips are in tests/interop/test_torchscript.py and test_tflite.py)
	require.ElementsMatch(t, []string{"gguf", "npy", "onnx", "safetensors", "tflite", "torch", "torchscript"}, format.InMemory())
	// One file per format, written by Convert from the ONNX model.
	files := map[string]string{}
	for name, e := range ext {
		files[name] = filepath.Join(dir, "src"+e)
		if name == "onnx" {
			files[name] = src
			continue
		}
		_, err := Convert(context.Background(), src, files[name], ConvertOptions{}, nil)
		require.NoError(t, err, name)
	}
	for from, in := range files {
		data, err := os.ReadFile(in)
		require.NoError(t, err)
		for to, e := range ext {
			t.Run(from+"→"+to, func(t *testing.T) {
				dst := filepath.Join(dir, from+"-to-"+to+e)
				_, err := Convert(context.Background(), in, dst, ConvertOptions{}, nil)
				require.NoError(t, err)
				want, err := os.ReadFile(dst)
				require.NoError(t, err)
				for _, named := range []string{"", from} { // detected, and named
					got, err := ConvertBytes(context.Background(), data, named, to, ConvertOptions{}, nil)
					require.NoError(t, err)
					if to == "onnx" && from != "onnx" && from != "gguf" {
						// A weights file read from a path names the ONNX graph after
						// the file; memory has no name, so the writer's default is used.
						// Nothing else differs.
						m, err := onnx.ReadBytes(got, "got", "")
						require.NoError(t, err)
						assert.Equal(t, "weights", m.Graph.Name)
						m.Graph.Name = "src"
						var buf bytes.Buffer
						require.NoError(t, onnx.Encode(m, &buf))
						got = buf.Bytes()
					}
					assert.Equal(t, want, got, "from %q", named)
				}
			})
		}
	}

	// GGUF quantization in memory, with the writer's progress per tensor.
	dst := filepath.Join(dir, "q8.gguf")
	_, err = Convert(context.Background(), src, dst, ConvertOptions{Quantize: "q8_0"}, nil)
	require.NoError(t, err)
	want, err := os.ReadFile(dst)
	require.NoError(t, err)
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	var fractions []float64
	got, err := ConvertBytes(context.Background(), data, "", "gguf", ConvertOptions{Quantize: "q8_0"}, func(s string, f float64) bool {
		fractions = append(fractions, f)
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, []float64{0, 0.5}, fractions[:2])
	assert.Greater(t, len(fractions), 3, "the GGUF writer reports each tensor")
	// Cancelled from the writer's own progress: no output.
	out, err := ConvertBytes(context.Background(), data, "", "gguf", ConvertOptions{Quantize: "q8_0"}, func(s string, f float64) bool { return f <= 0.5 })
	assert.Nil(t, out)
	assert.Equal(t, KindCancelled, KindOf(err), "%v", err)
}

// A .npy in memory has no file name: its array is called arr_0.
func TestConvertBytesNPYArrayName(t *testing.T) {
	dir := t.TempDir()
	tn, err := ir.NewTensor("x", ir.Float32, []int64{2}, []byte{0, 0, 128, 63, 0, 0, 0, 64})
	require.NoError(t, err)
	path := filepath.Join(dir, "x.npy")
	require.NoError(t, npy.WriteNPY(path, tn))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out, err := ConvertBytes(context.Background(), data, "", "safetensors", ConvertOptions{}, nil)
	require.NoError(t, err)
	m, err := safetensors.ReadBytes(out, "out")
	require.NoError(t, err)
	require.Len(t, m.Graph.Initializers, 1)
	assert.Equal(t, npy.MemoryArrayName, m.Graph.Initializers[0].Name)
	assert.Equal(t, tn.Bytes(), m.Graph.Initializers[0].Bytes())
}
