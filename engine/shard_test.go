package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseShard(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "")
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	i, n, err := ParseShard("2/4")
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4}, []int{i, n})
	for _, bad := range []string{"0/4", "5/4", "x/4", "2", "2/0", "2/x", "-1/4", "1/70000"} {
		_, _, err := ParseShard(bad)
		assert.Equal(t, KindInvalidArgument, KindOf(err), bad)
	}

	// Kubernetes: JOB_COMPLETION_INDEX is 0-based; it wins over Slurm's.
	t.Setenv("JOB_COMPLETION_INDEX", "3")
	t.Setenv("SLURM_ARRAY_TASK_ID", "1")
	i, n, err = ParseShard("auto/4")
	require.NoError(t, err)
	assert.Equal(t, []int{4, 4}, []int{i, n})
	t.Setenv("JOB_COMPLETION_INDEX", "4")
	_, _, err = ParseShard("auto/4")
	assert.ErrorContains(t, err, "I runs from 1 to N")

	// Slurm: SLURM_ARRAY_TASK_ID as given (an array run as 1-N).
	t.Setenv("JOB_COMPLETION_INDEX", "")
	for _, c := range []struct {
		id   string
		want int
		ok   bool
	}{{"1", 1, true}, {"4", 4, true}, {"0", 0, false}, {"five", 0, false}} {
		t.Setenv("SLURM_ARRAY_TASK_ID", c.id)
		i, _, err := ParseShard("auto/4")
		if c.ok {
			require.NoError(t, err, c.id)
			assert.Equal(t, c.want, i)
		} else {
			assert.Error(t, err, c.id)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	so, ok, err := splitOptions(ConvertOptions{Shard: "2/3"}, "gguf")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 2, so.Only)
	assert.Equal(t, 3, so.Count)
	_, ok, err = splitOptions(ConvertOptions{}, "gguf")
	require.NoError(t, err)
	assert.False(t, ok)
	_, _, err = splitOptions(ConvertOptions{Splits: 2}, "onnx")
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	_, _, err = splitOptions(ConvertOptions{Splits: 2, Shard: "1/3"}, "gguf")
	assert.ErrorContains(t, err, "option splits")
	so, ok, err = splitOptions(ConvertOptions{MaxShardSize: "4GB"}, "gguf")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.EqualValues(t, 4_000_000_000, so.MaxBytes)
}
