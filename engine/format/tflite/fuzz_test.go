package tflite

import (
	"bytes"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// tinyCNN is a small conv net (Conv, Relu, MaxPool, Flatten, Gemm, Softmax) whose encoding
// is a few KiB: seeds of that size keep the fuzzer's mutation and minimisation quick.
func tinyCNN() *ir.Model {
	w := make([]float32, 2*1*3*3)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	fc := make([]float32, 3*2)
	for i := range fc {
		fc[i] = float32(i) / 4
	}
	wt, _ := ir.NewTensor("w", ir.Float32, []int64{2, 1, 3, 3}, ir.Float32Bytes(w))
	ft, _ := ir.NewTensor("fc", ir.Float32, []int64{3, 2}, ir.Float32Bytes(fc))
	ints := func(name string, v ...int64) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
	}
	return &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 1, 1, 4, 4)}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 1, 3)}},
		Initializers: []*ir.Tensor{wt, ft},
		Nodes: []*ir.Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}, Attrs: []*ir.Attribute{ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"r"}},
			{Name: "pool", OpType: "MaxPool", Inputs: []string{"r"}, Outputs: []string{"p"}, Attrs: []*ir.Attribute{ints("kernel_shape", 4, 4), ints("strides", 4, 4)}},
			{Name: "flat", OpType: "Flatten", Inputs: []string{"p"}, Outputs: []string{"f"}},
			{Name: "gemm", OpType: "Gemm", Inputs: []string{"f", "fc"}, Outputs: []string{"g"}},
			{Name: "softmax", OpType: "Softmax", Inputs: []string{"g"}, Outputs: []string{"y"}},
		},
	}}
}

// FuzzRead feeds arbitrary bytes to the TFLite reader: a model or an error, never a panic
// or a runaway allocation. The seeds are modelc's encodings of a tiny CNN (float, fp16,
// dynamic int8) and pieces of them.
func FuzzRead(f *testing.F) {
	m := tinyCNN()
	for _, q := range []string{"", "fp16", "int8-dynamic"} {
		var buf bytes.Buffer
		if err := Encode(m, &buf, "tiny", WriteOptions{Quantize: q}); err != nil {
			f.Fatal(err)
		}
		b := buf.Bytes()
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("\x10\x00\x00\x00TFL3\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadBytes(data, "fuzz.tflite")
		if err == nil && m.Graph == nil {
			t.Fatal("a model without a graph")
		}
	})
}
