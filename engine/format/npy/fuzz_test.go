package npy

import (
	"bytes"
	"math"
	"runtime"
	"testing"

	"github.com/modelc/modelc/engine/format/internal/bombs"
	"github.com/modelc/modelc/engine/ir"
)

// An input under smallInput bytes may not make the parser allocate more than maxAlloc
// bytes in all. The target runs under a smaller memory budget, so that inputs it lets
// through stay quick; an allocation the budget does not see still shows in the total.
const (
	maxAlloc   = 256 << 20
	smallInput = 64 << 10
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
	// Zip bombs: ten members sharing one compressed body that inflates to 60 MB; one
	// member of 30 MB; a Fortran-order array whose transposed copy the budget must allow.
	f.Add(bombs.NPZBomb(10, 60<<20, true))
	f.Add(bombs.NPZBomb(1, 30<<20, false))
	f.Add(bombs.NPZBomb(2, 8<<20, true))
	f.Add(bombs.NPZBomb(2, 1<<20, false))
	f.Setenv(ir.EnvMaxMemory, "32MiB")
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ts, err := Parse(data, "fuzz.npz")
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; len(data) < smallInput && got > maxAlloc {
			t.Fatalf("a %d-byte input made the parser allocate %d bytes (err %v)", len(data), got, err)
		}
		if err != nil {
			if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
				t.Fatalf("error of kind %v: %v", k, err)
			}
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
