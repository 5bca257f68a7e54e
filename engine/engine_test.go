package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

func smallModel(t *testing.T, dir string) string {
	w, err := ir.NewTensor("w", ir.Float32, []int64{2}, make([]byte, 8))
	require.NoError(t, err)
	m := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}, {Domain: "my", Version: 1}}, Graph: &ir.Graph{
		Name:         "g",
		Nodes:        []*ir.Node{{OpType: "Add", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}, {OpType: "Custom", Domain: "my", Inputs: []string{"y"}, Outputs: []string{"z"}}},
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2)}},
		Outputs:      []*ir.ValueInfo{{Name: "z", Type: ir.TensorType(ir.Float32, 2)}},
		Initializers: []*ir.Tensor{w},
	}}
	path := filepath.Join(dir, "m.onnx")
	_, err = onnx.Write(m, path, onnx.WriteOptions{})
	require.NoError(t, err)
	return path
}

func TestConvertRefusesItsInput(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	before, _ := os.ReadFile(src)
	_, err := Convert(context.Background(), src, src, ConvertOptions{}, nil)
	require.Error(t, err)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	require.NoError(t, os.Symlink(src, filepath.Join(dir, "alias.onnx")))
	_, err = Convert(context.Background(), src, filepath.Join(dir, "alias.onnx"), ConvertOptions{}, nil)
	assert.Equal(t, KindInvalidArgument, KindOf(err), "%v", err)
	after, _ := os.ReadFile(src)
	assert.Equal(t, before, after)
}

func TestConvertCancelled(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	dst := filepath.Join(dir, "out.onnx")
	_, err := Convert(context.Background(), src, dst, ConvertOptions{}, func(string, float64) bool { return false })
	assert.Equal(t, KindCancelled, KindOf(err))
	assert.NoFileExists(t, dst)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Convert(ctx, src, dst, ConvertOptions{}, nil)
	assert.Equal(t, KindCancelled, KindOf(err))
}

func TestConvertAndInspect(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	dst := filepath.Join(dir, "out.onnx")
	var stages []string
	res, err := Convert(context.Background(), src, dst, ConvertOptions{ExternalData: true, SizeThreshold: 1}, func(s string, f float64) bool {
		if len(stages) == 0 || stages[len(stages)-1] != s { // "write" comes once per piece
			stages = append(stages, s)
		}
		return true
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"read", "write", "done"}, stages)
	assert.FileExists(t, res.ExternalFile)
	info, err := Inspect(dst)
	require.NoError(t, err)
	assert.Equal(t, "onnx", info.Format)
	assert.Equal(t, map[string]int{"Add": 1, "my:Custom": 1}, info.OpHistogram)
	assert.Equal(t, int64(2), info.ParameterCount)
	assert.Equal(t, map[string]int64{"float32": 8}, info.BytesPerDType)
	assert.Equal(t, []any{int64(2)}, info.Inputs[0].Shape)
}

func TestParseOptions(t *testing.T) {
	var o ConvertOptions
	require.NoError(t, ParseOptions([]byte(`{"external_data": true, "size_threshold": 10}`), &o))
	assert.True(t, o.ExternalData)
	assert.Equal(t, int64(10), o.SizeThreshold)
	require.NoError(t, ParseOptions(nil, &o))

	err := ParseOptions([]byte(`{"external_dat": true}`), &o)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	assert.ErrorContains(t, err, `"external_dat"`)
	err = ParseOptions([]byte(`{"size_threshold": "big"}`), &o)
	assert.ErrorContains(t, err, "size_threshold")
	err = ParseOptions([]byte(`{"to": "onnx"} trailing`), &o)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
}

func TestUnknownFormats(t *testing.T) {
	dir := t.TempDir()
	src := smallModel(t, dir)
	_, err := Convert(context.Background(), src, filepath.Join(dir, "out.xyz"), ConvertOptions{}, nil)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	junk := filepath.Join(dir, "junk.bin")
	require.NoError(t, os.WriteFile(junk, []byte("\xff\xfe not a model"), 0o644))
	_, err = Inspect(junk)
	assert.Equal(t, KindCorrupt, KindOf(err))
	_, err = Inspect(filepath.Join(dir, "missing.onnx"))
	assert.Equal(t, KindIO, KindOf(err))
}
