package engine

import (
	"context"

	"github.com/modelc/modelc/engine/ir"
)

// reportEvery is the most work between two progress reports while writing: 1% of the
// bytes, and never more than 64 MiB, so that a caller can cancel a large write promptly.
const reportEvery = 64 << 20

// writeTracker follows a writer through the tensor data it writes: it releases the
// input's pages behind it, checks for cancellation after every piece (a few MiB), and
// reports the stage "write" from lo to hi at least every 1% or 64 MiB.
type writeTracker struct {
	ctx      context.Context
	progress Progress
	drop     func([]byte) // releases the input's pages; nil when the input was not mapped
	lo, hi   float64
	total    int64 // bytes of tensor data to write
	done     int64
	reported int64
}

// newWriteTracker tracks the writing of m's tensors (those of subgraphs too).
func newWriteTracker(ctx context.Context, progress Progress, m *ir.Model, lo, hi float64) *writeTracker {
	if ctx == nil {
		ctx = context.Background()
	}
	w := &writeTracker{ctx: ctx, progress: progress, lo: lo, hi: hi}
	if m.Graph != nil {
		ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
			for _, t := range g.Initializers {
				w.total += t.ByteSize()
			}
		})
	}
	return w
}

// written is a format.WriteOptions.Written: called with each piece once it is written.
func (w *writeTracker) written(b []byte) error {
	if w.drop != nil {
		w.drop(b)
	}
	w.done += int64(len(b))
	if err := w.ctx.Err(); err != nil {
		return &Error{Kind: KindCancelled, Err: err}
	}
	every := min(max(w.total/100, 1), reportEvery)
	if w.progress == nil || w.done-w.reported < every {
		return nil
	}
	w.reported = w.done
	f := min(float64(w.done)/float64(max(w.total, 1)), 1)
	if !w.progress("write", w.lo+(w.hi-w.lo)*f) {
		return Errorf(KindCancelled, "cancelled by the caller during write")
	}
	return nil
}
