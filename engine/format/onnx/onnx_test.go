package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/ir"
)

func mustTensor(t testing.TB, name string, dt ir.DType, shape []int64, data []byte) *ir.Tensor {
	tt, err := ir.NewTensor(name, dt, shape, data)
	require.NoError(t, err)
	return tt
}

// richModel uses every part of the IR the ONNX format has: all attribute kinds, nested
// graphs, sparse initializers, functions, metadata, symbolic shapes and odd dtypes.
func richModel(t testing.TB) *ir.Model {
	w := mustTensor(t, "w", ir.Float32, []int64{2, 2}, []byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64})
	w.DocString = "weights"
	w.Metadata = []ir.StringPair{{Key: "k", Value: "v"}}
	i4 := mustTensor(t, "i4", ir.Int4, []int64{3}, []byte{0x21, 0x0F})
	f16 := mustTensor(t, "h", ir.Float16, []int64{}, []byte{0x00, 0x3C})
	strs, err := ir.NewStringTensor("s", []int64{2}, [][]byte{[]byte("a"), {}})
	require.NoError(t, err)
	empty := mustTensor(t, "e", ir.Float32, []int64{0, 3}, []byte{})
	sub := &ir.Graph{
		Name:    "then",
		Nodes:   []*ir.Node{{OpType: "Identity", Inputs: []string{"w"}, Outputs: []string{"t"}}},
		Outputs: []*ir.ValueInfo{{Name: "t", Type: ir.TensorType(ir.Float32, 2, 2)}},
	}
	sparse := &ir.SparseTensor{
		Values:  mustTensor(t, "sp", ir.Float32, []int64{1}, []byte{0, 0, 128, 63}),
		Indices: mustTensor(t, "sp_idx", ir.Int64, []int64{1}, []byte{3, 0, 0, 0, 0, 0, 0, 0}),
		Dims:    []int64{2, 2},
	}
	seq := &ir.Type{Kind: ir.TypeSequence, Elem: ir.TensorType(ir.Float32)}
	attrs := []*ir.Attribute{
		{Name: "f", Type: ir.AttrFloat, Float: 0},
		{Name: "i", Type: ir.AttrInt, Int: -3},
		{Name: "s", Type: ir.AttrString, String: []byte("x"), DocString: "doc"},
		{Name: "t", Type: ir.AttrTensor, Tensor: i4},
		{Name: "g", Type: ir.AttrGraph, Graph: sub},
		{Name: "fs", Type: ir.AttrFloats, Floats: []float32{1.5, -2}},
		{Name: "is", Type: ir.AttrInts, Ints: []int64{1, -1, 1 << 40}},
		{Name: "ss", Type: ir.AttrStrings, Strings: [][]byte{[]byte("p"), []byte("q")}},
		{Name: "ts", Type: ir.AttrTensors, Tensors: []*ir.Tensor{f16, strs}},
		{Name: "gs", Type: ir.AttrGraphs, Graphs: []*ir.Graph{sub}},
		{Name: "sp", Type: ir.AttrSparseTensor, SparseTensor: sparse},
		{Name: "sps", Type: ir.AttrSparseTensors, SparseTensors: []*ir.SparseTensor{sparse}},
		{Name: "tp", Type: ir.AttrTypeProto, TypeProto: seq},
		{Name: "tps", Type: ir.AttrTypeProtos, TypeProtos: []*ir.Type{seq, {Kind: ir.TypeMap, ElemType: ir.Int64, Elem: ir.TensorType(ir.Float32)}}},
	}
	x := &ir.ValueInfo{Name: "x", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: &ir.Shape{Dims: []ir.Dim{{Param: "N"}, {}, {Value: 2, HasValue: true, Denotation: "FEATURE"}}}}, DocString: "input"}
	return &ir.Model{
		IRVersion: 10, ProducerName: "modelc-test", ProducerVersion: "1", Domain: "d", ModelVersion: 7, DocString: "doc",
		Opsets:   []ir.OpsetImport{{Domain: "", Version: 21}, {Domain: "local", Version: 1}},
		Metadata: []ir.StringPair{{Key: "author", Value: "me"}},
		Graph: &ir.Graph{
			Name: "main", DocString: "g",
			Nodes: []*ir.Node{
				{Name: "n0", OpType: "Custom", Domain: "local", Inputs: []string{"x", "", "w"}, Outputs: []string{"y"}, Attrs: attrs, Metadata: []ir.StringPair{{Key: "a", Value: "b"}}},
				{Name: "n1", OpType: "If", Inputs: []string{"c"}, Outputs: []string{"z"}, Attrs: []*ir.Attribute{{Name: "then_branch", Type: ir.AttrGraph, Graph: sub}, {Name: "else_branch", Type: ir.AttrGraph, Graph: sub}}},
			},
			Inputs:                 []*ir.ValueInfo{x, {Name: "c", Type: ir.TensorType(ir.Bool)}},
			Outputs:                []*ir.ValueInfo{{Name: "y", Type: seq}, {Name: "z"}},
			ValueInfos:             []*ir.ValueInfo{{Name: "v", Type: &ir.Type{Kind: ir.TypeOptional, Elem: ir.TensorType(ir.Int8, 1)}}},
			Initializers:           []*ir.Tensor{w, empty, strs},
			SparseInitializers:     []*ir.SparseTensor{sparse},
			QuantizationAnnotation: []*ir.TensorAnnotation{{TensorName: "w", QuantParams: []ir.StringPair{{Key: "SCALE_TENSOR", Value: "s"}}}},
			Metadata:               []ir.StringPair{{Key: "gk", Value: "gv"}},
		},
		Functions: []*ir.Function{{
			Name: "Custom", Domain: "local", Inputs: []string{"a", "b", "c"}, Outputs: []string{"o"}, Attributes: []string{"i"},
			AttrProtos: []*ir.Attribute{{Name: "f", Type: ir.AttrFloat, Float: 1}},
			Nodes:      []*ir.Node{{OpType: "Add", Inputs: []string{"a", "c"}, Outputs: []string{"o"}, Attrs: []*ir.Attribute{{Name: "alpha", Type: ir.AttrFloat, RefAttrName: "f"}}}},
			Opsets:     []ir.OpsetImport{{Version: 21}},
		}},
		TrainingInfo: []*ir.TrainingInfo{{Algorithm: &ir.Graph{Name: "train"}, UpdateBinding: []ir.StringPair{{Key: "w", Value: "w2"}}}},
	}
}

func encode(t testing.TB, m *ir.Model) []byte {
	var buf bytes.Buffer
	require.NoError(t, Encode(m, &buf))
	return buf.Bytes()
}

func TestRoundTripEverything(t *testing.T) {
	m := richModel(t)
	first := encode(t, m)
	back, err := ReadBytes(first, "mem.onnx", "")
	require.NoError(t, err)
	assert.Equal(t, m, back, "the model read back differs from the one written")
	second := encode(t, back)
	assert.Equal(t, first, second, "encoding is not stable across a round trip")
	assert.Equal(t, first, encode(t, m), "encoding is not deterministic")
}

func TestTypedFieldsAreDecoded(t *testing.T) {
	// A TensorProto with its values in the typed fields rather than raw_data.
	tensorMsg := func(dt ir.DType, dims []int64, fields func(b []byte) []byte) []byte {
		var b []byte
		for _, d := range dims {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(d))
		}
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(dt))
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendString(b, "t")
		return fields(b)
	}
	packedVarints := func(num protowire.Number, vs ...uint64) func([]byte) []byte {
		return func(b []byte) []byte {
			var p []byte
			for _, v := range vs {
				p = protowire.AppendVarint(p, v)
			}
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return protowire.AppendBytes(b, p)
		}
	}
	cases := []struct {
		name  string
		dt    ir.DType
		dims  []int64
		field func([]byte) []byte
		want  []byte
	}{
		{"float16 in int32_data", ir.Float16, []int64{2}, packedVarints(5, 0x3C00, 0xC000), []byte{0x00, 0x3C, 0x00, 0xC0}},
		{"int4 packed in int32_data", ir.Int4, []int64{3}, packedVarints(5, 0x21, 0x0F), []byte{0x21, 0x0F}},
		{"bool in int32_data", ir.Bool, []int64{2}, packedVarints(5, 1, 0), []byte{1, 0}},
		{"int8 negative in int32_data", ir.Int8, []int64{1}, packedVarints(5, uint64(0xFFFFFFFFFFFFFFFF)), []byte{0xFF}},
		{"int64_data", ir.Int64, []int64{1}, packedVarints(7, 5), []byte{5, 0, 0, 0, 0, 0, 0, 0}},
		{"uint32 in uint64_data", ir.Uint32, []int64{1}, packedVarints(11, 0xDEADBEEF), []byte{0xEF, 0xBE, 0xAD, 0xDE}},
		{"float_data unpacked", ir.Float32, []int64{1}, func(b []byte) []byte {
			b = protowire.AppendTag(b, 4, protowire.Fixed32Type)
			return protowire.AppendFixed32(b, 0x3F800000)
		}, []byte{0, 0, 0x80, 0x3F}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := tensorMsg(c.dt, c.dims, c.field)
			g := protowire.AppendTag(nil, 5, protowire.BytesType)
			g = protowire.AppendBytes(g, tm)
			model := protowire.AppendTag(nil, 1, protowire.VarintType)
			model = protowire.AppendVarint(model, 8)
			model = protowire.AppendTag(model, 7, protowire.BytesType)
			model = protowire.AppendBytes(model, g)
			m, err := ReadBytes(model, "typed.onnx", "")
			require.NoError(t, err)
			assert.Equal(t, c.want, m.Graph.Initializers[0].Bytes())
		})
	}
}

func writeFile(t *testing.T, m *ir.Model, opts WriteOptions) string {
	path := filepath.Join(t.TempDir(), "model.onnx")
	_, err := Write(m, path, opts)
	require.NoError(t, err)
	return path
}

func TestExternalData(t *testing.T) {
	m := richModel(t)
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	m.Graph.Initializers = append(m.Graph.Initializers, mustTensor(t, "big", ir.Uint8, []int64{int64(len(big))}, big))
	path := writeFile(t, m, WriteOptions{ExternalData: true, SizeThreshold: 16})
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, st.Size(), int64(1<<20), "the big tensor stayed inside the model")
	back, err := Read(path)
	require.NoError(t, err)
	defer back.Close()
	assert.Equal(t, big, back.Graph.Initializer("big").Bytes())
	assert.Equal(t, m.Graph.Initializer("w").Bytes(), back.Graph.Initializer("w").Bytes())
	// No temporary files are left beside the outputs.
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"model.onnx", "model.onnx.data"}, names)
}

// externalModel is a model with one initializer stored at location.
func externalModel(location string, length string) []byte {
	kv := func(k, v string) []byte {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, v)
		b := protowire.AppendTag(nil, 13, protowire.BytesType)
		return protowire.AppendBytes(b, e)
	}
	var tm []byte
	tm = protowire.AppendTag(tm, 1, protowire.VarintType)
	tm = protowire.AppendVarint(tm, 4)
	tm = protowire.AppendTag(tm, 2, protowire.VarintType)
	tm = protowire.AppendVarint(tm, uint64(ir.Float32))
	tm = protowire.AppendTag(tm, 8, protowire.BytesType)
	tm = protowire.AppendString(tm, "w")
	tm = append(tm, kv("location", location)...)
	tm = append(tm, kv("length", length)...)
	tm = protowire.AppendTag(tm, 14, protowire.VarintType)
	tm = protowire.AppendVarint(tm, 1)
	g := protowire.AppendTag(nil, 5, protowire.BytesType)
	g = protowire.AppendBytes(g, tm)
	model := protowire.AppendTag(nil, 1, protowire.VarintType)
	model = protowire.AppendVarint(model, 8)
	model = protowire.AppendTag(model, 7, protowire.BytesType)
	return protowire.AppendBytes(model, g)
}

func TestExternalDataBadLocations(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	require.NoError(t, os.Mkdir(dir, 0o755))
	outside := filepath.Join(root, "secret.bin")
	require.NoError(t, os.WriteFile(outside, make([]byte, 16), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link.bin")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ok.bin"), make([]byte, 16), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "short.bin"), make([]byte, 8), 0o644))

	cases := []struct {
		location, length string
		kind             ir.ErrorKind
		msg              string
	}{
		{"ok.bin", "16", 0, ""},
		{"../secret.bin", "16", ir.KindCorrupt, "escapes the model's folder"},
		{outside, "16", ir.KindCorrupt, "relative"},
		{"link.bin", "16", ir.KindCorrupt, "symlink"},
		{"missing.bin", "16", ir.KindIO, "missing.bin"},
		{"short.bin", "16", ir.KindCorrupt, "past the end"},
		{"ok.bin", "12", ir.KindCorrupt, "does not match"},
	}
	for _, c := range cases {
		t.Run(c.location, func(t *testing.T) {
			path := filepath.Join(dir, "m.onnx")
			require.NoError(t, os.WriteFile(path, externalModel(c.location, c.length), 0o644))
			m, err := Read(path)
			if c.msg == "" {
				require.NoError(t, err)
				m.Close()
				return
			}
			require.Error(t, err)
			assert.Equal(t, c.kind, ir.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), c.msg)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), `tensor "w"`)
		})
	}
}

func TestCorruptInputs(t *testing.T) {
	good := encode(t, richModel(t))
	// raw_data of 3 bytes for a float32[2] tensor.
	var tm []byte
	tm = protowire.AppendTag(tm, 1, protowire.VarintType)
	tm = protowire.AppendVarint(tm, 2)
	tm = protowire.AppendTag(tm, 2, protowire.VarintType)
	tm = protowire.AppendVarint(tm, 1)
	tm = protowire.AppendTag(tm, 8, protowire.BytesType)
	tm = protowire.AppendString(tm, "w")
	tm = protowire.AppendTag(tm, 9, protowire.BytesType)
	tm = protowire.AppendBytes(tm, []byte{1, 2, 3})
	g := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), tm)
	sizeMismatch := protowire.AppendBytes(protowire.AppendTag([]byte{8, 8}, 7, protowire.BytesType), g)
	// A graph field whose declared length runs past the end of the file.
	pastEnd := protowire.AppendVarint(protowire.AppendTag([]byte{8, 8}, 7, protowire.BytesType), 1000)

	cases := map[string]struct {
		data []byte
		msg  string
	}{
		"empty":           {nil, "empty file"},
		"truncated":       {good[:len(good)/2], "offset"},
		"length past end": {append(pastEnd, 1, 2, 3), "past the end"},
		"raw size":        {sizeMismatch, `tensor "w"`},
		"no graph":        {[]byte{8, 8}, "no graph"},
		"garbage":         {[]byte("this is not a model at all"), "offset"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBytes(c.data, "bad.onnx", "")
			require.Error(t, err)
			assert.Equal(t, ir.KindCorrupt, ir.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), "bad.onnx")
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestDetect(t *testing.T) {
	assert.True(t, Detect(encode(t, richModel(t))))
	assert.False(t, Detect([]byte("GGUF\x03\x00\x00\x00")))
	assert.False(t, Detect(nil))
}

func TestWeightOnlyModelGetsVersions(t *testing.T) {
	w := mustTensor(t, "w", ir.Float32, []int64{1}, []byte{0, 0, 128, 63})
	m := &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{w}}}
	back, err := ReadBytes(encode(t, m), "weights.onnx", "")
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultIRVersion), back.IRVersion)
	assert.Equal(t, []ir.OpsetImport{{Version: DefaultOpset}}, back.Opsets)
	assert.Equal(t, "weights", back.Graph.Name)
	assert.Equal(t, "", m.Graph.Name, "the writer must not change the model it writes")
}
