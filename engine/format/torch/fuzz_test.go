package torch

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// FuzzRead feeds arbitrary bytes to the checkpoint reader (zip and pickle together): it
// must return a model or a classified error, never panic, and a model it accepts must
// write out and read back.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"views.pt", "dtypes.pt", "nested.pt", "evil.pt"} {
		if data, err := os.ReadFile(filepath.Join(fixtures, name)); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadBytes(data, "fuzz.pt")
		if err != nil {
			if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := writeZip(&buf, m.Graph.Initializers, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadBytes(buf.Bytes(), "again.pt"); err != nil {
			t.Fatalf("re-reading our own output failed: %v", err)
		}
	})
}

// FuzzUnpickle runs the restricted unpickler on arbitrary pickles inside a well-formed zip,
// so the fuzzer spends its time on the opcode machine rather than on zip framing.
func FuzzUnpickle(f *testing.F) {
	f.Add([]byte(tensorPickle(4, 0, []int64{2, 2}, []int64{1, 2})))
	f.Add(statePickle(everyDType(f).Graph.Initializers))
	f.Add([]byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."))
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := zipOf(t, "a/data.pkl", string(pkl), "a/data/0", string(make([]byte, 16)))
		if _, err := ReadBytes(data, "fuzz.pt"); err != nil {
			if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
				t.Fatalf("error of kind %v: %v", k, err)
			}
		}
	})
}
