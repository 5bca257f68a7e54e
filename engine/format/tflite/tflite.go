// Package tflite reads and writes TensorFlow Lite (LiteRT) models: the FlatBuffer of
// schema version 3 with file identifier "TFL3".
//
// The FlatBuffer accessors in schema/tfl are generated from LiteRT's schema.fbs by
// scripts/gen_tflite_schema.sh (see there for the one edit flatc 2.0.8 needs).
//
// Writing lowers an ONNX-semantics graph to TFLite builtin operators. TFLite is
// channels-last: the writer decides the layout of every value once, for the whole graph
// (see layout.go), so that a convolutional network keeps its activations in NHWC from the
// first convolution to the last and folds the permutations into its weights and
// constants; a TRANSPOSE appears only where a value must change layout (at most one at each
// edge of a pure CNN). Reading maps the builtin operators back to ONNX ops on NHWC values,
// with Transpose nodes around the channels-first ONNX convolutions and pools, and
// quantized tensors as DequantizeLinear/QuantizeLinear pairs (QDQ form).
package tflite

import (
	"bytes"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
)

// Identifier is the FlatBuffer file identifier of TFLite models (bytes 4 to 8).
const Identifier = "TFL3"

// SchemaVersion is the schema version the writer stamps and the reader accepts.
const SchemaVersion = 3

// Detect recognises a TFLite FlatBuffer by its file identifier.
func Detect(head []byte) bool {
	return len(head) >= 8 && bytes.Equal(head[4:8], []byte(Identifier))
}

var opNames = func() map[tfl.BuiltinOperator]string {
	m := map[tfl.BuiltinOperator]string{}
	for k, v := range tfl.EnumNamesBuiltinOperator {
		m[k] = v
	}
	return m
}()

func opName(c tfl.BuiltinOperator) string {
	if n, ok := opNames[c]; ok {
		return n
	}
	return "builtin operator " + itoa(int64(c))
}

func itoa(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	var b [24]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
