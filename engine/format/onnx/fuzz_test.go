package onnx

import (
	"bytes"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return a model or an error,
// never panic or hang, and any model it returns must encode and read back.
func FuzzRead(f *testing.F) {
	f.Add(encode(f, richModel(f)))
	f.Add(externalModel("x.bin", "16"))
	f.Add([]byte{8, 8, 0x3a, 0})
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
	})
}
