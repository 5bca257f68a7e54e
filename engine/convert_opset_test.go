package engine

import (
	"context"
	"os"
	"testing"

	"github.com/modelc/modelc/engine/ir/schema"
)

// The opset option converts ONNX outputs, in files and in memory; the result passes the
// checker; other formats and out-of-range targets are invalid arguments.
func TestConvertOpsetOption(t *testing.T) {
	for _, fixture := range []string{"cnn", "lstm", "loop", "transformer"} {
		data, err := os.ReadFile("../testdata/onnx/" + fixture + ".onnx")
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []int64{11, 13, 18, 21} {
			out, err := ConvertBytes(context.Background(), data, "onnx", "onnx", ConvertOptions{Opset: target}, nil)
			if err != nil {
				t.Errorf("%s → opset %d: %v", fixture, target, err)
				continue
			}
			m, _, err := readBytes(out, "onnx")
			if err != nil {
				t.Fatal(err)
			}
			if got := m.OpsetVersion(""); got != target {
				t.Errorf("%s → opset %d: the output imports opset %d", fixture, target, got)
			}
			if err := schema.Check(m); err != nil {
				t.Errorf("%s → opset %d: %v", fixture, target, err)
			}
		}
	}
	data, _ := os.ReadFile("../testdata/onnx/cnn.onnx")
	for _, o := range []ConvertOptions{{Opset: 6}, {Opset: 24}} {
		if _, err := ConvertBytes(context.Background(), data, "onnx", "onnx", o, nil); KindOf(err) != KindInvalidArgument {
			t.Errorf("opset %d: %v, want an invalid-argument error", o.Opset, err)
		}
	}
	if _, err := ConvertBytes(context.Background(), data, "onnx", "safetensors", ConvertOptions{Opset: 13}, nil); KindOf(err) != KindInvalidArgument {
		t.Errorf("opset with a safetensors output: %v, want an invalid-argument error", err)
	}
	var o ConvertOptions
	if err := ParseOptions([]byte(`{"opset": 13}`), &o); err != nil || o.Opset != 13 {
		t.Errorf(`{"opset": 13}: %v, %+v`, err, o)
	}
	if err := ParseOptions([]byte(`{"opset": "13"}`), &o); KindOf(err) != KindInvalidArgument {
		t.Errorf(`{"opset": "13"}: %v, want an invalid-argument error`, err)
	}
}
