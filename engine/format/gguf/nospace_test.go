package gguf

import (
	"errors"
	"io"
	"syscall"
	"testing"

	"github.com/modelc/modelc/engine/ir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullDisk accepts limit bytes, then fails as a full disk does.
type fullDisk struct{ limit int }

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) <= d.limit {
		d.limit -= len(p)
		return len(p), nil
	}
	n := d.limit
	d.limit = 0
	return n, &writeError{syscall.ENOSPC}
}

type writeError struct{ errno syscall.Errno }

func (e *writeError) Error() string { return "write /out/.m.gguf.tmp-123: " + e.errno.Error() }
func (e *writeError) Unwrap() error { return e.errno }

// A write that fails part way through a tensor copied in several pieces (a full disk)
// reports that failure, not the bytes it then failed to write ("internal error: tensor
// ... wrote N bytes, planned M").
func TestFullDiskSaysSo(t *testing.T) {
	n := 3 * copyPiece / 4 // three pieces of float32
	tn, err := ir.NewTensor("big", ir.Float32, []int64{int64(n / 32), 32}, make([]byte, 4*n))
	require.NoError(t, err)
	m := &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{tn}}}
	for _, q := range []string{"", "q8_0", "f16"} {
		for _, limit := range []int{0, 100, 1 << 20, copyPiece + 4096} {
			err := Encode(m, &fullDisk{limit: limit}, "m.gguf", WriteOptions{Quantize: q})
			require.Error(t, err, "quantize %q, limit %d", q, limit)
			assert.Equal(t, ir.KindIO, ir.KindOf(err), "quantize %q, limit %d: %v", q, limit, err)
			assert.True(t, errors.Is(err, syscall.ENOSPC), "quantize %q, limit %d: %v", q, limit, err)
			assert.Contains(t, err.Error(), "no space left on device", "quantize %q, limit %d", q, limit)
			assert.NotContains(t, err.Error(), "internal error", "quantize %q, limit %d", q, limit)
		}
	}
	var _ io.Writer = &fullDisk{}
}
