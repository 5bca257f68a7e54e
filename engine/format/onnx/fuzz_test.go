package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	opsetconv "github.com/modelc/modelc/engine/ir/opset"
	"github.com/modelc/modelc/engine/ir/schema"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return a model or an error,
// never panic or hang, and any model it returns must encode and read back. What every
// command then does with a model it read — the schema check, and the opset converter
// that compression uses — must not panic on it either.
func FuzzRead(f *testing.F) {
	f.Add(encode(f, richModel(f)))
	f.Add(externalModel("x.bin", "16"))
	f.Add([]byte{8, 8, 0x3a, 0})
	// Real graphs (an LSTM, a Loop, a transformer), so mutations reach the checker and
	// the converter with plausible nodes.
	seeds, _ := filepath.Glob("../../../testdata/onnx/*.onnx")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadBytes(data, "fuzz.onnx", "")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Encode(m, &buf); err != nil {
			t.Fatalf("read succeeded but encode failed: %v", err)
		}
		if _, err := ReadBytes(buf.Bytes(), "again.onnx", ""); err != nil {
			t.Fatalf("re-reading our own output failed: %v", err)
		}
		_ = schema.Problems(m)
		for _, target := range []int64{11, 21} {
			if again, err := ReadBytes(buf.Bytes(), "again.onnx", ""); err == nil {
				_ = opsetconv.Convert(again, target)
			}
		}
	})
}
