package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CompressBytes runs Compress's pipeline: for every pass, the same bytes as the file
// output, the same report but for the names, and the host's buffer left as it was.
func TestCompressBytesMatchesCompress(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(digitsCNN)
	require.NoError(t, err)
	before := bytes.Clone(data)
	for i, opts := range []CompressOptions{
		{Quantize: "int8", PerChannel: ptr(true)},
		{Prune: "magnitude", Sparsity: 0.5},
		{Prune: "channels"},
		{Clip: "percentile:99"},
		{Lowrank: "rank:4"},
		{Simplify: true, Quantize: "fp16"},
		{Prune: "2:4", Quantize: "int4", BlockSize: 32},
		{Quantize: "int8", Mode: "static", Calibration: "../testdata/digits/calib.npz"},
	} {
		dst := filepath.Join(dir, "out.onnx")
		wantRep, err := Compress(context.Background(), digitsCNN, dst, opts, nil)
		require.NoError(t, err, "%+v", opts)
		want, err := os.ReadFile(dst)
		require.NoError(t, err)

		var stages []string
		got, rep, err := CompressBytes(context.Background(), data, "", opts, func(s string, f float64) bool {
			stages = append(stages, s)
			return true
		})
		require.NoError(t, err, "%+v", opts)
		assert.Equal(t, want, got, "%d: %+v: the in-memory result differs from the file's", i, opts)
		assert.Equal(t, before, data, "%+v: the input buffer was modified", opts)
		assert.Equal(t, "read", stages[0])
		assert.Equal(t, "done", stages[len(stages)-1])
		require.NotNil(t, rep)
		assert.Equal(t, memoryName, rep.Input)
		assert.Equal(t, outputName, rep.Output)
		assert.Equal(t, int64(len(data)), rep.BytesBefore)
		assert.Equal(t, int64(len(got)), rep.BytesAfter)
		wantRep.Input, wantRep.Output = rep.Input, rep.Output
		assert.Equal(t, wantRep, rep)
	}
}

func TestCompressBytesVerify(t *testing.T) {
	data, err := os.ReadFile(digitsCNN)
	require.NoError(t, err)
	opts := CompressOptions{Quantize: "int8", Verify: true, Inputs: "../testdata/digits/test_inputs.npz", Labels: "../testdata/digits/test_labels.npy"}
	out, rep, err := CompressBytes(context.Background(), data, "onnx", opts, nil)
	require.NoError(t, err)
	require.NotNil(t, rep.Verify)
	assert.True(t, rep.Verify.Pass)
	assert.Equal(t, memoryName, rep.Verify.Reference.Path)
	assert.Equal(t, int64(len(out)), rep.Verify.Candidate.FileBytes)
	assert.Greater(t, rep.Verify.Outputs[0].Cosine, 0.99)

	// A bar the result cannot meet: the output and the report come back with the error.
	out, rep, err = CompressBytes(context.Background(), data, "", CompressOptions{Quantize: "int4", Verify: true, MinCosine: 1}, nil)
	assert.Equal(t, KindVerifyFailed, KindOf(err), "%v", err)
	assert.NotEmpty(t, out)
	require.NotNil(t, rep)
	require.NotNil(t, rep.Verify)
	assert.False(t, rep.Verify.Pass)
	assert.Contains(t, err.Error(), outputName)
}

func TestCompressBytesErrors(t *testing.T) {
	data, err := os.ReadFile(digitsCNN)
	require.NoError(t, err)
	weights, err := ConvertBytes(context.Background(), data, "", "safetensors", ConvertOptions{}, nil)
	require.NoError(t, err)
	int8 := CompressOptions{Quantize: "int8"}
	for _, c := range []struct {
		name string
		data []byte
		from string
		opts CompressOptions
		kind ErrorKind
		msg  string
	}{
		{"nothing to do", data, "", CompressOptions{}, KindInvalidArgument, "nothing to do"},
		{"bad option", data, "", CompressOptions{Quantize: "int3"}, KindInvalidArgument, "int3"},
		{"inputs without verify", data, "", CompressOptions{Quantize: "int8", Inputs: "x.npz"}, KindInvalidArgument, "verify"},
		{"missing calibration file", data, "", CompressOptions{Quantize: "int8", Mode: "static", Calibration: "no/such.npz"}, KindIO, "no/such.npz"},
		{"missing recipe", data, "", CompressOptions{Recipe: "no/such.json"}, KindIO, "no/such.json"},
		{"weights only", weights, "", int8, KindInvalidArgument, "no graph"},
		{"a folder format", data, "hf", int8, KindInvalidArgument, "folder"},
		{"unknown format", data, "coreml", int8, KindInvalidArgument, "coreml"},
		{"not a model", []byte("hello"), "", int8, KindCorrupt, "not a model"},
		{"empty", nil, "", int8, KindCorrupt, "not a model"},
		{"truncated", data[:len(data)/2], "onnx", int8, KindCorrupt, memoryName},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, rep, err := CompressBytes(context.Background(), c.data, c.from, c.opts, nil)
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Nil(t, rep)
			assert.Equal(t, c.kind, KindOf(err), "%v", err)
			assert.True(t, strings.Contains(err.Error(), c.msg), "%v lacks %q", err, c.msg)
		})
	}
}

func TestCompressBytesCancelled(t *testing.T) {
	data, err := os.ReadFile(digitsCNN)
	require.NoError(t, err)
	for _, stage := range []string{"read", "quantize", "write"} {
		var seen []string
		out, rep, err := CompressBytes(context.Background(), data, "", CompressOptions{Quantize: "int8"}, func(s string, f float64) bool {
			seen = append(seen, s)
			return s != stage
		})
		assert.Nil(t, out)
		assert.Nil(t, rep)
		assert.Equal(t, KindCancelled, KindOf(err), "cancel at %s: %v", stage, err)
		assert.Equal(t, stage, seen[len(seen)-1], "went on after the cancel")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = CompressBytes(ctx, data, "", CompressOptions{Quantize: "int8"}, nil)
	assert.Equal(t, KindCancelled, KindOf(err))
}

func ptr[T any](v T) *T { return &v }
