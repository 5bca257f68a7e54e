package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/ir"
)

// externalModel writes m.onnx with its weights in m.onnx.data and returns both paths.
func externalModel(t *testing.T, dir string) (string, string) {
	data := make([]byte, 4*1024)
	for i := range data {
		data[i] = byte(i)
	}
	w, err := ir.NewTensor("w", ir.Float32, []int64{1024}, data)
	require.NoError(t, err)
	m := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Name:         "g",
		Nodes:        []*ir.Node{{OpType: "Add", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1024)}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 1024)}},
		Initializers: []*ir.Tensor{w},
	}}
	path := filepath.Join(dir, "m.onnx")
	res, err := onnx.Write(m, path, onnx.WriteOptions{ExternalData: true})
	require.NoError(t, err)
	require.Equal(t, path+".data", res.ExternalFile)
	return path, res.ExternalFile
}

// weights builds n float32 tensors of 256 bytes each, every byte fill.
func weights(n int, fill byte) *ir.Model {
	m := &ir.Model{Graph: &ir.Graph{}}
	for i := range n {
		data := make([]byte, 256)
		for j := range data {
			data[j] = fill
		}
		t, _ := ir.NewTensor(fmt.Sprintf("layer.%03d", i), ir.Float32, []int64{64}, data)
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	return m
}

func snapshot(t *testing.T, paths ...string) map[string]string {
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[p] = string(b)
	}
	return out
}

func listDir(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// An output that is one of the input's files (its external data, a shard, the index) is
// refused like output == input, and the input stays as it was.
func TestConvertRefusesTheInputsFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model, data := externalModel(t, dir)
	before := snapshot(t, model, data)
	_, err := Convert(ctx, model, data, ConvertOptions{To: "onnx"}, nil)
	require.Error(t, err)
	assert.Equal(t, KindInvalidArgument, KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "input")
	// Writing the model elsewhere with its data file named onto the input's data file.
	other := filepath.Join(dir, "other.onnx")
	_, err = Convert(ctx, model, other, ConvertOptions{ExternalData: true, ExternalDataFile: "m.onnx.data"}, nil)
	assert.Equal(t, KindInvalidArgument, KindOf(err), "%v", err)
	assert.NoFileExists(t, other)
	assert.Equal(t, before, snapshot(t, model, data))

	// A sharded checkpoint: no output may land on a shard or the index, nor remove one.
	ck := filepath.Join(t.TempDir(), "ck")
	require.NoError(t, os.Mkdir(ck, 0o755))
	require.NoError(t, safetensors.Write(weights(8, 1), filepath.Join(ck, "model.safetensors"), safetensors.WriteOptions{MaxShardSize: 512}))
	files := listDir(t, ck)
	require.Len(t, files, 5, "%v", files)
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(ck, f))
	}
	before = snapshot(t, paths...)
	index := filepath.Join(ck, "model"+safetensors.IndexSuffix)
	cases := []struct {
		src, dst string
		opts     ConvertOptions
	}{
		{ck, filepath.Join(ck, "model-00001-of-00004.safetensors"), ConvertOptions{To: "safetensors"}},
		{index, filepath.Join(ck, "model-00002-of-00004.safetensors"), ConvertOptions{To: "gguf"}},
		{ck, index, ConvertOptions{To: "safetensors"}},
		{index, filepath.Join(ck, "model.safetensors"), ConvertOptions{MaxShardSize: "512"}}, // rewrites the shards
		{index, filepath.Join(ck, "model.safetensors"), ConvertOptions{}},                    // removes them as stale
	}
	for _, c := range cases {
		_, err := Convert(ctx, c.src, c.dst, c.opts, nil)
		assert.Equal(t, KindInvalidArgument, KindOf(err), "%s → %s %+v: %v", c.src, c.dst, c.opts, err)
		assert.Equal(t, before, snapshot(t, paths...), "%s → %s", c.src, c.dst)
		assert.Equal(t, files, listDir(t, ck))
	}
}

// A sharded output replaces the whole earlier output: fewer shards leave no stale one, an
// unsharded write removes the index and its shards, and the other way round.
func TestShardedRewriteLeavesNoStaleShards(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "in.safetensors")
	require.NoError(t, safetensors.Write(weights(12, 7), src, safetensors.WriteOptions{}))
	out := t.TempDir()
	dst := filepath.Join(out, "model.safetensors")
	// A file of the user's that only looks related stays.
	require.NoError(t, os.WriteFile(filepath.Join(out, "model-notes.txt"), []byte("mine"), 0o644))

	shards := func(n int) []string {
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n))
		}
		return append(want, "model-notes.txt", "model.safetensors.index.json")
	}
	_, err := Convert(ctx, src, dst, ConvertOptions{MaxShardSize: "256"}, nil)
	require.NoError(t, err)
	assert.Equal(t, shards(12), listDir(t, out))
	_, err = Convert(ctx, src, dst, ConvertOptions{MaxShardSize: "1024"}, nil)
	require.NoError(t, err)
	assert.Equal(t, shards(3), listDir(t, out))
	m, _, err := Read(out)
	require.NoError(t, err)
	assert.Len(t, m.Graph.Initializers, 12)
	m.Close()

	_, err = Convert(ctx, src, dst, ConvertOptions{}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"model-notes.txt", "model.safetensors"}, listDir(t, out))

	_, err = Convert(ctx, src, dst, ConvertOptions{MaxShardSize: "2048"}, nil)
	require.NoError(t, err)
	assert.Equal(t, shards(2), listDir(t, out))
}

// What may stand at an output path: nothing, or a writable regular file (whose mode is
// kept). A FIFO, a symlink, a device or a folder is a usage error; a read-only file an
// I/O error; nothing is written in either case.
func TestConvertOutputPathRules(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.safetensors")
	require.NoError(t, safetensors.Write(weights(2, 3), src, safetensors.WriteOptions{}))

	fifo := filepath.Join(dir, "fifo.safetensors")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	target := filepath.Join(dir, "target.safetensors")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o644))
	link := filepath.Join(dir, "link.safetensors")
	require.NoError(t, os.Symlink(target, link))
	folder := filepath.Join(dir, "folder.safetensors")
	require.NoError(t, os.Mkdir(folder, 0o755))
	ro := filepath.Join(dir, "ro.safetensors")
	require.NoError(t, os.WriteFile(ro, []byte("read-only"), 0o444))
	require.NoError(t, os.Chmod(ro, 0o444))

	cases := []struct {
		dst  string
		kind ErrorKind
		msg  string
	}{
		{fifo, KindInvalidArgument, "FIFO"},
		{link, KindInvalidArgument, "symbolic link"},
		{"/dev/null", KindInvalidArgument, "device"},
		{folder, KindInvalidArgument, "folder"},
		{ro, KindIO, "read-only"},
		{filepath.Join(dir, "missing", "x.safetensors"), KindIO, "does not exist"},
	}
	for _, c := range cases {
		_, err := Convert(ctx, src, c.dst, ConvertOptions{To: "safetensors"}, nil)
		require.Error(t, err, c.dst)
		assert.Equal(t, c.kind, KindOf(err), "%s: %v", c.dst, err)
		assert.Contains(t, err.Error(), c.msg)
	}
	st, err := os.Lstat(fifo)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeNamedPipe)
	st, err = os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSymlink)
	assert.Equal(t, map[string]string{target: "keep", ro: "read-only"}, snapshot(t, target, ro))

	// A writable file is replaced and keeps its mode, as cp keeps the destination's.
	require.NoError(t, os.Chmod(target, 0o640))
	_, err = Convert(ctx, src, target, ConvertOptions{}, nil)
	require.NoError(t, err)
	st, err = os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	m, _, err := Read(target)
	require.NoError(t, err)
	m.Close()
}
