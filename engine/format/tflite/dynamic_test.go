package tflite

import (
	"encoding/binary"
	"testing"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// seqModel is x[N, S, 4] → Reshape(x, [0, -1]) → y, and with pos an Add of a constant
// [1, 3, 4] (whose size fixes S).
func seqModel(pos bool) *ir.Model {
	dims := []ir.Dim{{Param: "N"}, {Param: "S"}, {Value: 4, HasValue: true}}
	in := &ir.ValueInfo{Name: "x", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: &ir.Shape{Dims: dims}}}
	sd := make([]byte, 16)
	binary.LittleEndian.PutUint64(sd, 0)
	binary.LittleEndian.PutUint64(sd[8:], ^uint64(0))
	st, _ := ir.NewTensor("shape", ir.Int64, []int64{2}, sd)
	g := &ir.Graph{Inputs: []*ir.ValueInfo{in}, Outputs: []*ir.ValueInfo{{Name: "y"}}, Initializers: []*ir.Tensor{st}}
	x := "x"
	if pos {
		pt, _ := ir.NewTensor("pos", ir.Float32, []int64{1, 3, 4}, make([]byte, 48))
		g.Initializers = append(g.Initializers, pt)
		g.Nodes = append(g.Nodes, &ir.Node{Name: "add", OpType: "Add", Inputs: []string{"x", "pos"}, Outputs: []string{"xp"}})
		x = "xp"
	}
	g.Nodes = append(g.Nodes, &ir.Node{Name: "reshape", OpType: "Reshape", Inputs: []string{x, "shape"}, Outputs: []string{"y"}})
	return &ir.Model{IRVersion: 9, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
}

func TestDynamicSequence(t *testing.T) {
	fm := tfl.GetRootAsModel(encode(t, seqModel(false), WriteOptions{}), 0).UnPack()
	sg := fm.Subgraphs[0]
	if sig := sg.Tensors[sg.Inputs[0]].ShapeSignature; len(sig) != 3 || sig[0] != -1 || sig[1] != -1 || sig[2] != 4 {
		t.Errorf("input signature %v, want [-1 -1 4]", sig)
	}
	var ops []tfl.BuiltinOperator
	for _, o := range sg.Operators {
		ops = append(ops, fm.OperatorCodes[o.OpcodeIndex].BuiltinCode)
	}
	// [N, S·4]: N from SHAPE at run time, the product as -1
	want := []tfl.BuiltinOperator{tfl.BuiltinOperatorSHAPE, tfl.BuiltinOperatorCONCATENATION, tfl.BuiltinOperatorGATHER, tfl.BuiltinOperatorRESHAPE}
	if len(ops) != len(want) {
		t.Fatalf("ops %v, want %v", ops, want)
	}
	for i := range ops {
		if ops[i] != want[i] {
			t.Fatalf("ops %v, want %v", ops, want)
		}
	}
	// a constant sized by S: the sizes are fixed at 1, with a static signature, as before
	// (the writer does not check broadcasting: the Add makes [1, 3, 4] of x[1, 1, 4])
	fm = tfl.GetRootAsModel(encode(t, seqModel(true), WriteOptions{}), 0).UnPack()
	sg = fm.Subgraphs[0]
	if sig := sg.Tensors[sg.Inputs[0]].ShapeSignature; len(sig) != 3 || sig[0] != 1 || sig[1] != 1 || sig[2] != 4 {
		t.Errorf("input signature %v with a size-dependent constant, want [1 1 4]", sig)
	}
}
