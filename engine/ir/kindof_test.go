package ir

import (
	"fmt"
	"testing"
)

// A cancellation wrapped by a writer's I/O error is still a cancellation.
func TestKindOfKeepsCancellation(t *testing.T) {
	cancelled := &Error{Kind: KindCancelled, Err: fmt.Errorf("cancelled by the caller")}
	wrapped := &Error{Kind: KindIO, File: "out.safetensors", Err: fmt.Errorf("writing: %w", cancelled)}
	if k := KindOf(wrapped); k != KindCancelled {
		t.Fatalf("KindOf = %v, want KindCancelled", k)
	}
	io := &Error{Kind: KindIO, File: "x", Err: &Error{Kind: KindCorrupt, Err: fmt.Errorf("bad")}}
	if k := KindOf(io); k != KindIO {
		t.Fatalf("KindOf = %v, want the outermost kind, KindIO", k)
	}
}
