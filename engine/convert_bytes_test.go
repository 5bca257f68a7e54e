package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
		{"unknown output format", data, "", "tflite", ConvertOptions{}, KindInvalidArgument},
		{"unknown input format", data, "gguf", "onnx", ConvertOptions{}, KindInvalidArgument},
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
