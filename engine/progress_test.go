package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/ir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigWeights writes a safetensors file of one 96 MiB float32 tensor and a small one.
func bigWeights(t *testing.T, dir string) string {
	big, err := ir.NewTensor("big", ir.Float32, []int64{24 << 10, 1 << 10}, make([]byte, 96<<20))
	require.NoError(t, err)
	small, err := ir.NewTensor("small", ir.Float32, []int64{4}, make([]byte, 16))
	require.NoError(t, err)
	path := filepath.Join(dir, "in.safetensors")
	require.NoError(t, safetensors.Write(&ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{big, small}}}, path, safetensors.WriteOptions{}))
	return path
}

// A write reports progress (and so can be cancelled) inside a large tensor, at least
// every 1% of the work or 64 MiB, not once per stage; a cancel during the write stops
// it at once and leaves no output.
func TestWriteProgressIsFine(t *testing.T) {
	dir := t.TempDir()
	src := bigWeights(t, dir)
	for _, out := range []string{"out.safetensors", "out.onnx", "out.gguf"} {
		var fractions []float64
		_, err := Convert(context.Background(), src, filepath.Join(dir, out), ConvertOptions{}, func(stage string, f float64) bool {
			if stage == "write" {
				fractions = append(fractions, f)
			}
			return true
		})
		require.NoError(t, err, out)
		// 96 MiB in pieces of at most 8 MiB: a dozen reports, none more than 1/8 apart.
		assert.GreaterOrEqual(t, len(fractions), 12, out)
		for i := 1; i < len(fractions); i++ {
			assert.GreaterOrEqual(t, fractions[i], fractions[i-1], out)
			assert.LessOrEqual(t, fractions[i]-fractions[i-1], 0.5/8+1e-9, out)
		}
		assert.InDelta(t, 1.0, fractions[len(fractions)-1], 1e-3, out)

		// Cancel at the third report: the write stops there and nothing is left.
		calls := 0
		dst := filepath.Join(dir, "cancelled-"+out)
		_, err = Convert(context.Background(), src, dst, ConvertOptions{}, func(stage string, f float64) bool {
			if stage == "write" {
				calls++
				return calls < 3
			}
			return true
		})
		require.Error(t, err, out)
		assert.Equal(t, KindCancelled, KindOf(err), "%s: %v", out, err)
		assert.Equal(t, 3, calls, out)
		assert.NoFileExists(t, dst)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp", "left behind")
	}

	// A context cancelled during the write stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	dst := filepath.Join(dir, "ctx.safetensors")
	_, err := Convert(ctx, src, dst, ConvertOptions{}, func(stage string, f float64) bool {
		if stage == "write" {
			cancel()
		}
		return true
	})
	assert.Equal(t, KindCancelled, KindOf(err), "%v", err)
	assert.NoFileExists(t, dst)
}

// The reports come every 1% of a large write, or every 64 MiB, whichever is less.
func TestWriteTrackerSpacing(t *testing.T) {
	for _, total := range []int64{1 << 20, 100 << 20, 100 << 30} {
		w := &writeTracker{ctx: context.Background(), lo: 0, hi: 1, total: total}
		var reports int
		w.progress = func(string, float64) bool { reports++; return true }
		piece := make([]byte, 1<<16)
		var steps int64
		for done := int64(0); done < min(total, 1<<30); done += int64(len(piece)) {
			require.NoError(t, w.written(piece))
			steps++
		}
		every := min(max(total/100, 1), reportEvery)
		want := min(total, 1<<30) / max(every, int64(len(piece)))
		assert.InDelta(t, want, reports, 1, "total %d", total)
	}
}
