package tflite

import (
	"bytes"
	"errors"
	"testing"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

func readONNX(t testing.TB, path string) *ir.Model {
	t.Helper()
	m, err := onnx.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func encode(t testing.TB, m *ir.Model, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(m, &buf, "test", opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteDigitsCNN(t *testing.T) {
	m := readONNX(t, "../../../testdata/digits/cnn.onnx")
	var st Stats
	data := encode(t, m, WriteOptions{Stats: &st})
	t.Logf("digits cnn: %d operators, %d TRANSPOSE, %v", st.Operators, st.Transposes, st.Ops)
	if st.Transposes != 0 {
		t.Errorf("TRANSPOSE ops: %d, want 0 (the flatten permutation belongs in the weights)", st.Transposes)
	}
	if !Detect(data) {
		t.Fatal("no TFL3 identifier")
	}
	fm := tfl.GetRootAsModel(data, 0).UnPack()
	if fm.Version != SchemaVersion {
		t.Errorf("version %d", fm.Version)
	}
	if b := fm.Buffers[0]; len(b.Data) != 0 || b.Offset != 0 || b.Size != 0 {
		t.Errorf("buffer 0 is not the empty sentinel: %+v", b)
	}
	for _, oc := range fm.OperatorCodes {
		if oc.BuiltinCode < 127 && int32(oc.DeprecatedBuiltinCode) != int32(oc.BuiltinCode) {
			t.Errorf("%v: deprecated_builtin_code %d", oc.BuiltinCode, oc.DeprecatedBuiltinCode)
		}
	}
	for _, b := range fm.Buffers[1:] {
		if b.Offset%bufferAlign != 0 || b.Offset+b.Size > uint64(len(data)) {
			t.Errorf("buffer at %d+%d in a file of %d bytes", b.Offset, b.Size, len(data))
		}
	}
	if len(fm.SignatureDefs) != 1 || fm.SignatureDefs[0].Inputs[0].Name != "input" || fm.SignatureDefs[0].Outputs[0].Name != "logits" {
		t.Errorf("signature defs: %+v", fm.SignatureDefs)
	}
	// deterministic
	if again := encode(t, m, WriteOptions{}); !bytes.Equal(again, data) {
		t.Error("two encodings differ")
	}
	// read back
	back, err := ReadBytes(data, "cnn.tflite")
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range back.Graph.Nodes {
		ops[n.OpType]++
	}
	if ops["Conv"] != 2 || ops["MatMul"] != 2 || ops["MaxPool"] != 1 {
		t.Errorf("read back: %v", ops)
	}
}

func TestOpVersions(t *testing.T) {
	m := readONNX(t, "../../../testdata/digits/mlp.onnx")
	for _, q := range []string{"", "int8-dynamic", "fp16"} {
		fm := tfl.GetRootAsModel(encode(t, m, WriteOptions{Quantize: q}), 0).UnPack()
		for _, oc := range fm.OperatorCodes {
			if oc.BuiltinCode == tfl.BuiltinOperatorFULLY_CONNECTED {
				want := map[string]int32{"": 1, "fp16": 1, "int8-dynamic": 3}[q]
				if oc.Version != want {
					t.Errorf("quantize %q: FULLY_CONNECTED version %d, want %d", q, oc.Version, want)
				}
			}
			if oc.BuiltinCode == tfl.BuiltinOperatorDEQUANTIZE && oc.Version != 3 {
				t.Errorf("fp16 DEQUANTIZE version %d, want 3", oc.Version)
			}
		}
	}
}

// TestConvVersions: CONV_2D versions as LiteRT's op_version.cc assigns them.
func TestConvVersions(t *testing.T) {
	m := readONNX(t, "../../../testdata/digits/cnn.onnx")
	for q, want := range map[string]int32{"": 1, "fp16": 1, "int8-dynamic": 5} {
		fm := tfl.GetRootAsModel(encode(t, m, WriteOptions{Quantize: q}), 0).UnPack()
		for _, oc := range fm.OperatorCodes {
			if oc.BuiltinCode == tfl.BuiltinOperatorCONV_2D && oc.Version != want {
				t.Errorf("quantize %q: CONV_2D version %d, want %d", q, oc.Version, want)
			}
		}
	}
}

func TestUnsupportedOpNamesNode(t *testing.T) {
	m := &ir.Model{Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 3)}},
		Outputs: []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 2, 3)}},
		Nodes:   []*ir.Node{{Name: "my_topk", OpType: "TopK", Inputs: []string{"x"}, Outputs: []string{"y"}}},
	}}
	var buf bytes.Buffer
	err := Encode(m, &buf, "t", WriteOptions{})
	var e *ir.Error
	if !errors.As(err, &e) || e.Kind != ir.KindUnsupported || !bytes.Contains([]byte(err.Error()), []byte("my_topk")) {
		t.Fatalf("got %v", err)
	}
}

func TestReadRejectsBadFiles(t *testing.T) {
	m := readONNX(t, "../../../testdata/digits/cnn.onnx")
	data := encode(t, m, WriteOptions{})
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": data[:len(data)/2],
		"tiny":      data[:12],
		"root past": append([]byte{0xff, 0xff, 0, 0}, data[4:]...),
	} {
		_, err := ReadBytes(b, name)
		var e *ir.Error
		if !errors.As(err, &e) || e.Kind != ir.KindCorrupt {
			t.Errorf("%s: got %v, want a corrupt-file error", name, err)
		}
	}
	// a buffer offset past the end of the file
	fm := tfl.GetRootAsModel(data, 0).UnPack()
	fm.Buffers[1].Offset = uint64(len(data)) + 100
	fm.Buffers[1].Size = 10
	bad := packWithID(fm)
	if _, err := ReadBytes(bad, "offset"); err == nil {
		t.Error("a buffer past the end was accepted")
	}
}

// A WHILE whose body is the subgraph itself (a cycle) is refused, not followed.
func TestReadRefusesControlFlow(t *testing.T) {
	m := &tfl.ModelT{Version: SchemaVersion, Buffers: []*tfl.BufferT{{}},
		OperatorCodes: []*tfl.OperatorCodeT{{BuiltinCode: tfl.BuiltinOperatorWHILE, DeprecatedBuiltinCode: int8(tfl.BuiltinOperatorWHILE), Version: 1}},
		Subgraphs: []*tfl.SubGraphT{{
			Tensors: []*tfl.TensorT{{Name: "x", Shape: []int32{1}, Type: tfl.TensorTypeFLOAT32}, {Name: "y", Shape: []int32{1}, Type: tfl.TensorTypeFLOAT32}},
			Inputs:  []int32{0}, Outputs: []int32{1},
			Operators: []*tfl.OperatorT{{Inputs: []int32{0}, Outputs: []int32{1}, BuiltinOptions: &tfl.BuiltinOptionsT{
				Type: tfl.BuiltinOptionsWhileOptions, Value: &tfl.WhileOptionsT{CondSubgraphIndex: 0, BodySubgraphIndex: 0}}}},
		}},
	}
	_, err := ReadBytes(packWithID(m), "while.tflite")
	var e *ir.Error
	if !errors.As(err, &e) || e.Kind != ir.KindUnsupported || !bytes.Contains([]byte(err.Error()), []byte("WHILE")) {
		t.Fatalf("got %v", err)
	}
}
