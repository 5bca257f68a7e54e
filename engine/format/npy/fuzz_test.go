package npy

import (
	"bytes"
	"math"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func mathFloat32bits(f float32) uint32 { return math.Float32bits(f) }

// FuzzParse feeds arbitrary bytes to the .npy/.npz parser: it must return arrays or an
// error, never panic, and any array it returns must encode and decode to the same bytes.
func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	tt, _ := ir.NewTensor("x", ir.Int16, []int64{2, 2}, []byte{1, 0, 2, 0, 3, 0, 4, 0})
	Encode(&buf, tt)
	f.Add(buf.Bytes())
	f.Add([]byte(Magic + "\x01\x00\x10\x00{'descr': '<f4'}"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := Parse(data, "fuzz.npz")
		if err != nil {
			return
		}
		for _, x := range ts {
			var out bytes.Buffer
			if err := Encode(&out, x); err != nil {
				t.Fatalf("decoded %q but cannot encode it: %v", x.Name, err)
			}
			y, err := Decode(out.Bytes(), x.Name, "again.npy")
			if err != nil {
				t.Fatalf("re-reading our own output: %v", err)
			}
			if !bytes.Equal(x.Bytes(), y.Bytes()) {
				t.Fatalf("round trip changed %q", x.Name)
			}
		}
	})
}
