package engine

import (
	"strings"
	"testing"
)

// Recovery after a clip that no quantization follows is refused with the reason; a clip
// followed by quantization (in one step or a later one) recovers.
func TestRecoverableAfterClip(t *testing.T) {
	clip := CompressOptions{Clip: "percentile:99"}
	q := CompressOptions{Quantize: "int8"}
	both := CompressOptions{Clip: "percentile:99", Quantize: "int8"}
	for _, c := range []struct {
		steps []CompressOptions
		ok    bool
	}{
		{[]CompressOptions{clip}, false},
		{[]CompressOptions{q, clip}, false},
		{[]CompressOptions{both}, true},
		{[]CompressOptions{clip, q}, true},
		{[]CompressOptions{{Prune: "2:4"}, q}, true},
	} {
		err := recoverable(c.steps)
		if c.ok != (err == nil) {
			t.Fatalf("%+v: err = %v", c.steps, err)
		}
		if err != nil && !strings.Contains(err.Error(), "clipped") {
			t.Fatalf("err = %v", err)
		}
	}
}
