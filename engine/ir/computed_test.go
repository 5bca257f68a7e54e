package ir

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestComputedTensor(t *testing.T) {
	calls := 0
	tn, err := NewComputedTensor("c", Float32, []int64{2}, func(dst []byte) {
		calls++
		copy(dst, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}) // 1, 2
	})
	require.NoError(t, err)
	assert.True(t, tn.Computed())
	assert.Equal(t, int64(8), tn.ByteSize())
	buf := make([]byte, 8)
	tn.FillBytes(buf) // streaming: computed, not kept
	assert.Equal(t, 1, calls)
	assert.True(t, tn.Computed())
	f, err := tn.Float32s() // materialised once and kept
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2}, f)
	assert.False(t, tn.Computed())
	assert.Equal(t, buf, tn.Bytes())
	assert.Equal(t, 2, calls)

	_, err = NewComputedTensor("bad", Float32, []int64{-1}, func([]byte) {})
	assert.Error(t, err)
}

func TestMeta(t *testing.T) {
	var kv []MetaKV
	MetaSet(&kv, "a", uint32(1))
	MetaSet(&kv, "b", []string{"x", "y"})
	MetaSet(&kv, "a", uint32(2))
	assert.Equal(t, []MetaKV{{"a", uint32(2)}, {"b", []string{"x", "y"}}}, kv)
	assert.Equal(t, uint32(2), MetaLookup(kv, "a"))
	assert.Nil(t, MetaLookup(kv, "zz"))
	s, ok := MetaString(float32(0.1))
	assert.True(t, ok)
	assert.Equal(t, "0.1", s)
	s, _ = MetaString([]string{"x", "y"})
	assert.Equal(t, "[2 × string]", s)
	assert.True(t, MetaIsArray([]any{[]int32{1}}))
	assert.False(t, MetaIsArray("x"))
	_, ok = MetaString(struct{}{})
	assert.False(t, ok)
}
