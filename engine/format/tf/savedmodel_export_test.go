package tf

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// A scalar string tensor is laid out as TensorFlow 2.21 wrote the 211-byte
// _CHECKPOINTABLE_OBJECT_GRAPH of a tf.Module's checkpoint: varint length, then the
// masked crc32c of the length.
func TestStringTensorLayoutMatchesTensorFlow(t *testing.T) {
	b, _ := stringTensorBytes(bytes.Repeat([]byte{'x'}, 211))
	if got := hex.EncodeToString(b[:6]); got != "d301275fb96c" {
		t.Errorf("length prefix %s, want d301275fb96c", got)
	}
	if len(b) != 6+211 {
		t.Errorf("%d bytes, want %d", len(b), 6+211)
	}
}

// FunctionDef inputs spell out each op's output argument; an op the table lacks is an
// error, not a function TensorFlow refuses at load time.
func TestFunctionDefRefs(t *testing.T) {
	nodes := []tfNode{
		{name: "x", op: "Placeholder"},
		{name: "w", op: "VarHandleOp"},
		{name: "w_read", op: "ReadVariableOp", inputs: []string{"w"}},
		{name: "y", op: "MatMul", inputs: []string{"x", "w_read"}},
		{name: "out", op: "Identity", inputs: []string{"y:0"}},
	}
	ins := []sigTensor{{key: "input.1", node: "x", dtype: dtFloat}}
	vars := []tfVar{{node: "w"}}
	fd, err := functionDef("f", nodes, ins, vars, []sigTensor{{key: "o", node: "out", dtype: dtFloat}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"input_1", "w_resource", "w_read:value:0", "y:product:0", "out:output:0"} {
		if !bytes.Contains(fd, []byte(want)) {
			t.Errorf("function lacks %q", want)
		}
	}
	nodes[3].op = "NoSuchOp"
	if _, err := functionDef("f", nodes, ins, vars, []sigTensor{{key: "o", node: "out", dtype: dtFloat}}, "test"); err == nil {
		t.Error("an op with no known output argument was accepted")
	}
}

// Nodes missing the inputs an op reads are refused by name (exit 5), not a panic.
func TestSavedModelExportMissingInputs(t *testing.T) {
	for _, op := range []string{"Slice", "LSTM", "GRU", "Resize", "ConvTranspose", "Range", "Expand", "PRelu", "Shape", "Conv", "Relu", "Add", "Flatten", "Gemm", "BatchNormalization", "Reshape"} {
		g := &ir.Graph{
			Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 2, 3, 4)}},
			Nodes:   []*ir.Node{{Name: "bad", OpType: op, Inputs: []string{"x"}, Outputs: []string{"y"}}},
			Outputs: []*ir.ValueInfo{{Name: "y"}},
		}
		if op == "Shape" || op == "Relu" || op == "Flatten" {
			g.Nodes[0].Inputs = nil
		}
		err := WriteSavedModel(&ir.Model{Graph: g}, t.TempDir(), nil)
		if err == nil || ir.KindOf(err) != ir.KindUnsupported || !strings.Contains(err.Error(), "bad") {
			t.Errorf("%s with missing inputs: %v", op, err)
		}
	}
}
