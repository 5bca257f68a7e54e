package safetensors

import (
	"bytes"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return a model or an error, never
// panic, and any model it accepts must write out and read back to the same tensors.
func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	writeFile(&buf, everyDType(f).Graph.Initializers, []ir.StringPair{{Key: "k", Value: "v"}}, nil)
	f.Add(buf.Bytes())
	f.Add(file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}))
	f.Add(file(`{"__metadata__":null}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadBytes(data, "fuzz.safetensors")
		if err != nil {
			if ir.KindOf(err) != ir.KindCorrupt {
				t.Fatalf("error of kind %v: %v", ir.KindOf(err), err)
			}
			return
		}
		var out bytes.Buffer
		if err := writeFile(&out, m.Graph.Initializers, sortedMetadata(m.Metadata), nil); err != nil {
			t.Fatal(err)
		}
		again, err := ReadBytes(out.Bytes(), "again.safetensors")
		if err != nil {
			t.Fatalf("re-reading our own output failed: %v", err)
		}
		if len(again.Graph.Initializers) != len(m.Graph.Initializers) {
			t.Fatal("tensor count changed")
		}
	})
}
