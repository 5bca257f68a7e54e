package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Option errors name the flag on the command line (the engine, the C ABI and Python name
// the JSON key); a recipe file's keys keep their JSON names.
func TestOptionErrorsNameFlags(t *testing.T) {
	src := "../../testdata/onnx/cnn.onnx"
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	require.NoError(t, os.WriteFile(recipe, []byte(`[{"quantize":"int4","block_size":7}]`), 0o644))
	cases := []struct {
		args     []string
		want     string
		unwanted string
	}{
		{[]string{"compress", src, filepath.Join(dir, "a.onnx"), "--quantize", "int4", "--block-size", "7"}, "--block-size", "block_size"},
		{[]string{"compress", src, filepath.Join(dir, "a.onnx"), "--quantize", "int8", "--labels", "x.npy"}, "--labels", "min_cosine"},
		{[]string{"compress", src, filepath.Join(dir, "a.onnx"), "--quantize", "int8", "--verify", "--min-cosine", "2"}, "--min-cosine", "min_cosine"},
		{[]string{"convert", src, filepath.Join(dir, "a.safetensors"), "--max-shard-size", "5XB"}, "--max-shard-size", "max_shard_size"},
		{[]string{"convert", src, filepath.Join(dir, "a.safetensors"), "--quantize", "q8_0"}, "--quantize", "option quantize"},
		{[]string{"compress", src, filepath.Join(dir, "a.onnx"), "--recipe", recipe}, "block_size", "--block-size"},
	}
	for _, c := range cases {
		code, _, stderr := modelc(c.args...)
		assert.Equal(t, exitUsage, code, "modelc %v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "modelc %v", c.args)
		assert.NotContains(t, stderr, c.unwanted, "modelc %v", c.args)
	}
}
