package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/ir"
)

func TestSplitNames(t *testing.T) {
	assert.Equal(t, "d/m-00002-of-00004.gguf", SplitName("d/m.gguf", 2, 4))
	assert.Equal(t, "d/m-00001-of-00003.gguf", SplitName("d/m-00002-of-00004.gguf", 1, 3))
	p, i, n, ok := ParseSplitName("x/y-00003-of-00012.gguf")
	assert.True(t, ok)
	assert.Equal(t, []any{"x/y", 3, 12}, []any{p, i, n})
	for _, bad := range []string{"y.gguf", "y-3-of-12.gguf", "y-00013-of-00012.gguf", "y-00000-of-00002.gguf", "y-00001-of-00002.gguf.tmp"} {
		_, _, _, ok := ParseSplitName(bad)
		assert.False(t, ok, bad)
	}
}

// TestSplitRoundTrip writes sets of 1 to 5 files and reads each back as the model; every
// single-file run (--shard I/N) is byte-identical to that file of the whole set, and the
// merged model writes the bytes of the unsplit file.
func TestSplitRoundTrip(t *testing.T) {
	for _, q := range []string{"", "q4_k", "q8_0"} {
		m := testModel(t)
		dir := t.TempDir()
		var one bytes.Buffer
		require.NoError(t, Encode(m, &one, "one", WriteOptions{Quantize: q}))
		for n := 1; n <= 5; n++ {
			path := filepath.Join(dir, "s.gguf")
			files, err := WriteSplits(m, path, WriteOptions{Quantize: q}, SplitOptions{Splits: n})
			require.NoError(t, err)
			require.Len(t, files, n)
			for i, f := range files {
				assert.Equal(t, SplitName(path, i+1, n), f)
				alone := filepath.Join(t.TempDir(), "s.gguf")
				got, err := WriteSplits(m, alone, WriteOptions{Quantize: q}, SplitOptions{Only: i + 1, Count: n})
				require.NoError(t, err)
				require.Equal(t, []string{SplitName(alone, i+1, n)}, got)
				a, _ := os.ReadFile(f)
				b, _ := os.ReadFile(got[0])
				require.True(t, bytes.Equal(a, b), "q=%q n=%d file %d differs", q, n, i+1)
			}
			back, err := Read(files[0])
			require.NoError(t, err)
			var merged bytes.Buffer
			require.NoError(t, Encode(back, &merged, "merged", WriteOptions{}))
			back.Close()
			require.True(t, bytes.Equal(one.Bytes(), merged.Bytes()), "q=%q n=%d: merged differs from unsplit", q, n)
			reports, err := CheckSets(dir)
			require.NoError(t, err)
			require.Len(t, reports, 1)
			assert.True(t, reports[0].OK(), "%v", reports[0].Problems)
			for _, f := range files {
				require.NoError(t, os.Remove(f))
			}
		}
	}
}

func TestSplitByLimits(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	files, err := WriteSplits(m, filepath.Join(dir, "t.gguf"), WriteOptions{}, SplitOptions{MaxTensors: 2})
	require.NoError(t, err)
	assert.Len(t, files, 3) // 5 tensors, 2 per file
	p, err := PlanSplits(m, filepath.Join(dir, "t.gguf"), WriteOptions{}, SplitOptions{MaxBytes: 1})
	require.NoError(t, err)
	assert.Len(t, p.Files, 5) // a tensor larger than the limit gets a file of its own
	_, err = PlanSplits(m, "t.gguf", WriteOptions{}, SplitOptions{Splits: 6})
	assert.Equal(t, ir.KindInvalidArgument, ir.KindOf(err))
	_, err = PlanSplits(m, "t.gguf", WriteOptions{}, SplitOptions{MaxTensors: 2, Count: 2})
	assert.Equal(t, ir.KindInvalidArgument, ir.KindOf(err))
}

func TestBalanceByCost(t *testing.T) {
	var items []item
	for _, c := range []int64{10, 10, 10, 10, 100, 10, 10, 10, 10, 10} {
		tn, err := ir.NewTensor("t", ir.Float32, []int64{c / 2}, make([]byte, 4*(c/2)))
		require.NoError(t, err)
		items = append(items, item{t: tn, src: F32, dst: F32})
	}
	cuts := balance(items, 3)
	assert.Equal(t, []int{0, 4, 5}, cuts) // the big tensor alone in the middle file
	for k := 1; k <= len(items); k++ {
		c := balance(items, k)
		require.Len(t, c, k)
		for j := 1; j < k; j++ {
			assert.Greater(t, c[j], c[j-1], "k=%d: empty file", k)
		}
	}
}

func TestSplitSetErrors(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	files, err := WriteSplits(m, filepath.Join(dir, "e.gguf"), WriteOptions{}, SplitOptions{Splits: 3})
	require.NoError(t, err)
	_, err = Read(files[1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "e-00001-of-00003.gguf")
	require.NoError(t, os.Remove(files[2]))
	_, err = Read(files[0])
	assert.Equal(t, ir.KindIO, ir.KindOf(err))
	assert.Contains(t, err.Error(), "split 3 of 3 is missing")
	reports, err := CheckSets(files[0])
	require.NoError(t, err)
	require.Len(t, reports, 1)
	assert.Equal(t, []int{3}, reports[0].Missing)
	assert.False(t, reports[0].OK())
	// a file of another set with the same name pattern is refused
	other, err := WriteSplits(m, filepath.Join(t.TempDir(), "e.gguf"), WriteOptions{}, SplitOptions{Splits: 3, Only: 3, Count: 3})
	require.NoError(t, err)
	data, _ := os.ReadFile(other[0])
	require.NoError(t, os.WriteFile(files[2], data, 0o644))
	back, err := Read(files[0])
	require.NoError(t, err)
	back.Close()
	// a duplicated tensor is found
	dup, err := WriteSplits(m, filepath.Join(t.TempDir(), "e.gguf"), WriteOptions{}, SplitOptions{Splits: 3, Only: 2, Count: 3})
	require.NoError(t, err)
	data, _ = os.ReadFile(dup[0])
	// file 2 copied over file 3: its split.no does not match, its tensors repeat
	require.NoError(t, os.WriteFile(files[2], data, 0o644))
	_, err = Read(files[0])
	assert.Error(t, err)
	reports, err = CheckSets(dir)
	require.NoError(t, err)
	assert.False(t, reports[0].OK())
}

// TestGGUFSplitMergedFile reads a file as gguf-split --merge leaves it: the split keys
// kept, split.count 0. It is one file, read as it is.
func TestGGUFSplitMergedFile(t *testing.T) {
	m := testModel(t)
	m.KV = append(m.KV, ir.MetaKV{Key: KeySplitNo, Value: uint16(0)}, ir.MetaKV{Key: KeySplitCount, Value: uint16(0)},
		ir.MetaKV{Key: KeySplitTensor, Value: int32(len(m.Graph.Initializers))})
	path := filepath.Join(t.TempDir(), "merged.gguf")
	require.NoError(t, Write(m, path, WriteOptions{}))
	back, err := Read(path)
	require.NoError(t, err)
	defer back.Close()
	assert.Equal(t, m.KV, back.KV)
	assert.Len(t, back.Graph.Initializers, len(m.Graph.Initializers))
}

func TestSplitReplacesOtherSets(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "r.gguf")
	_, err := WriteSplits(m, path, WriteOptions{}, SplitOptions{Splits: 4})
	require.NoError(t, err)
	other := filepath.Join(dir, "other-00001-of-00002.gguf")
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o644))
	files, err := WriteSplits(m, path, WriteOptions{}, SplitOptions{Splits: 2})
	require.NoError(t, err)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"r-00001-of-00002.gguf", "r-00002-of-00002.gguf", "other-00001-of-00002.gguf"}, names)
	assert.Len(t, files, 2)
	// a worker's file leaves the rest alone
	_, err = WriteSplits(m, path, WriteOptions{}, SplitOptions{Only: 1, Count: 3})
	require.NoError(t, err)
	_, err = os.Stat(files[1])
	assert.NoError(t, err)
}

func TestResplitBesideItself(t *testing.T) {
	m := testModel(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.gguf")
	four, err := WriteSplits(m, path, WriteOptions{}, SplitOptions{Splits: 4})
	require.NoError(t, err)
	in, err := Read(four[0])
	require.NoError(t, err)
	defer in.Close()
	two, err := WriteSplits(in, path, WriteOptions{}, SplitOptions{Splits: 2})
	require.NoError(t, err)
	for _, f := range append(four, two...) {
		_, err := os.Stat(f)
		assert.NoError(t, err, f) // the input set is kept
	}
}
