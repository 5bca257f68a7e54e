package tf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
	"google.golang.org/protobuf/encoding/protowire"
)

const fixtures = "../../../testdata/keras"

func ops(m *ir.Model) string {
	var s []string
	for _, n := range m.Graph.Nodes {
		s = append(s, n.OpType)
	}
	return strings.Join(s, " ")
}

// The same model as a .keras archive and a legacy .h5 reads to the same graph and the
// same weights, laid out channels-first once.
func TestKerasArchiveAndH5Agree(t *testing.T) {
	a, err := ReadKeras(filepath.Join(fixtures, "tiny_cnn.keras"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ReadKeras(filepath.Join(fixtures, "tiny_cnn.h5"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := "Transpose Conv Relu BatchNormalization MaxPool Transpose Flatten Gemm Softmax Identity"
	if got := ops(a); got != want {
		t.Errorf(".keras ops: %s, want %s", got, want)
	}
	if ops(a) != ops(b) {
		t.Errorf(".keras and .h5 differ: %s / %s", ops(a), ops(b))
	}
	if len(a.Graph.Initializers) != 8 || len(a.Graph.Initializers) != len(b.Graph.Initializers) {
		t.Fatalf("initializers: %d and %d", len(a.Graph.Initializers), len(b.Graph.Initializers))
	}
	for i, x := range a.Graph.Initializers {
		y := b.Graph.Initializers[i]
		if x.Name != y.Name || !bytes.Equal(x.Bytes(), y.Bytes()) {
			t.Errorf("initializer %d: %s vs %s", i, x.Name, y.Name)
		}
	}
	w := a.Graph.Initializers[0]
	if w.Name != "conv.weight" || len(w.Shape) != 4 || w.Shape[0] != 3 || w.Shape[1] != 2 {
		t.Errorf("conv weight %s %v, want OIHW [3 2 3 3]", w.Name, w.Shape)
	}
	if in := a.Graph.Inputs[0].Type.Shape.Dims; len(in) != 4 || in[3].Value != 2 || in[0].Param != "batch" {
		t.Errorf("input shape %+v", in)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{"Conv2D": "conv2d", "BatchNormalization": "batch_normalization",
		"MaxPooling2D": "max_pooling2d", "PReLU": "p_re_lu", "LSTM": "lstm", "Conv2DTranspose": "conv2d_transpose",
		"MultiHeadAttention": "multi_head_attention", "DepthwiseConv2D": "depthwise_conv2d"} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%s) = %s, want %s", in, got, want)
		}
	}
}

// Every prefix of a Keras file is refused with an error, never a panic.
func TestKerasTruncated(t *testing.T) {
	for _, name := range []string{"tiny_cnn.keras", "tiny_cnn.h5"} {
		data, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(data); n += 97 {
			if _, err := ParseKeras(data[:n], name); err == nil {
				t.Errorf("%s cut to %d bytes: no error", name, n)
			}
		}
	}
}

func TestBundleReadsTensorFlowCheckpoint(t *testing.T) {
	m, err := ReadBundle(filepath.Join(fixtures, "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Graph.Initializers) != 2 {
		t.Fatalf("%d tensors", len(m.Graph.Initializers))
	}
	a := m.Graph.Initializers[0]
	v, _ := a.Float32s()
	if a.Name != "a/.ATTRIBUTES/VARIABLE_VALUE" || a.DType != ir.Float32 || len(v) != 6 || v[5] != 5 {
		t.Errorf("a: %s %v %v", a.Name, a.DType, v)
	}
	b := m.Graph.Initializers[1]
	if b.DType != ir.Int64 || binary.LittleEndian.Uint64(b.Bytes()[24:]) != 3 {
		t.Errorf("b: %v %v", b.DType, b.Bytes())
	}
}

func TestBundleRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var ts []*ir.Tensor
	for i, name := range []string{"z/kernel", "a/bias", "m/big"} {
		n := 3 + 700*i
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(i*1000 + j)
		}
		tt, _ := ir.NewTensor(name, ir.Float32, []int64{int64(n)}, append([]byte{}, ir.Float32Bytes(v)...))
		ts = append(ts, tt)
	}
	m := &ir.Model{Graph: &ir.Graph{Initializers: ts}}
	if err := WriteBundle(m, filepath.Join(dir, "variables.index"), nil); err != nil {
		t.Fatal(err)
	}
	back, err := ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	got := map[string][]byte{}
	for _, x := range back.Graph.Initializers {
		got[x.Name] = x.Bytes()
	}
	for _, x := range ts {
		if !bytes.Equal(got[x.Name], x.Bytes()) {
			t.Errorf("%s differs after the round trip", x.Name)
		}
	}
	// A flipped data byte is caught by the entry's crc32c.
	data := filepath.Join(dir, "variables.data-00000-of-00001")
	raw, _ := os.ReadFile(data)
	raw[5] ^= 1
	os.WriteFile(data, raw, 0o644)
	if _, err := ReadBundle(dir); err == nil || ir.KindOf(err) != ir.KindCorrupt || !strings.Contains(err.Error(), "crc32c") {
		t.Errorf("flipped byte: %v", err)
	}
}

func TestSnappy(t *testing.T) {
	// "abcd" as a literal, then a copy of 8 bytes at offset 4 (tag 1: len 4+4, off 4).
	src := []byte{12, 3 << 2, 'a', 'b', 'c', 'd', 1 | (4 << 2), 4}
	got, err := snappyDecode(src)
	if err != nil || string(got) != "abcdabcdabcd" {
		t.Fatalf("%q %v", got, err)
	}
	// A copy before any data, and a declared length that is not met, are errors.
	if _, err := snappyDecode([]byte{4, 1 | (0 << 2), 1}); err == nil {
		t.Error("copy past the start accepted")
	}
	if _, err := snappyDecode([]byte{9, 3 << 2, 'a', 'b', 'c', 'd'}); err == nil {
		t.Error("short output accepted")
	}
}

// snappyLiterals encodes b as Snappy literals of at most 60 bytes.
func snappyLiterals(b []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(b)))
	for len(b) > 0 {
		n := min(len(b), 60)
		out = append(out, byte(n-1)<<2)
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return out
}

// A Snappy-compressed table (as LevelDB may write) reads like a plain one.
func TestTableSnappyBlock(t *testing.T) {
	tt, _ := ir.NewTensor("w", ir.Float32, []int64{2}, make([]byte, 8))
	kvs := []tableKV{{key: "", value: headerProto()}, {key: "w", value: entryProto(1, tt.Shape, 0, 8, maskCRC(0))}}
	entries, hdr, err := parseIndex(buildTableWith(kvs, snappyLiterals), "t")
	if err != nil || len(entries) != 1 || entries[0].key != "w" || hdr.numShards != 1 {
		t.Fatalf("%+v %+v %v", entries, hdr, err)
	}
}

// The SavedModel Keras exported of the same tiny CNN imports to the same ops as its
// .keras file (BatchNormalization as TensorFlow computes it: Mul/Sub/Add with Rsqrt).
func TestReadSavedModel(t *testing.T) {
	dir := filepath.Join(fixtures, "tiny_cnn_savedmodel")
	if !DetectSavedModelPath(dir) || DetectBundlePath(dir) {
		t.Fatal("the folder is not detected as a SavedModel")
	}
	m, err := ReadSavedModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := ops(m)
	for _, op := range []string{"Conv", "MaxPool", "MatMul", "Softmax", "Reshape"} {
		if !strings.Contains(got, op) {
			t.Errorf("no %s in %s", op, got)
		}
	}
	if n := strings.Count(got, "Transpose"); n != 2 {
		t.Errorf("%d Transposes (one in, one before the flatten): %s", n, got)
	}
	if len(m.Graph.Inputs) != 1 || len(m.Graph.Outputs) != 1 {
		t.Errorf("inputs %d outputs %d", len(m.Graph.Inputs), len(m.Graph.Outputs))
	}
	// A saved_model.pb cut short is an error, not a panic.
	data, _ := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	for n := 0; n < len(data); n += 211 {
		if sm, err := parseSavedModel(data[:n], "x"); err == nil {
			sm.variableKeys()
		}
	}
}

// Keras' LSTM and GRU While loops import as one ONNX LSTM and one GRU, with Keras'
// weights in ONNX's gate order and shapes; no loop is left in the graph.
func TestReadSavedModelRecurrent(t *testing.T) {
	m, err := ReadSavedModel(filepath.Join(fixtures, "tiny_rnn_savedmodel"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := ops(m)
	if strings.Count(got, "LSTM") != 1 || strings.Count(got, "GRU") != 1 || strings.Contains(got, "Loop") {
		t.Fatalf("ops: %s", got)
	}
	shapes := map[string][]int64{}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "LSTM" || n.OpType == "GRU" {
			for i, in := range n.Inputs[1:4] {
				for _, init := range m.Graph.Initializers {
					if init.Name == in {
						shapes[n.OpType+"WRB"[i:i+1]] = init.Shape
					}
				}
			}
		}
	}
	want := map[string][]int64{"LSTMW": {1, 8, 3}, "LSTMR": {1, 8, 2}, "LSTMB": {1, 16}, "GRUW": {1, 6, 2}, "GRUR": {1, 6, 2}, "GRUB": {1, 12}}
	for k, w := range want {
		if !slices.Equal(shapes[k], w) {
			t.Errorf("%s: shape %v, want %v", k, shapes[k], w)
		}
	}
}

// TensorFlow's resize settings map onto Resize's coordinate modes.
func TestReadSavedModelResize(t *testing.T) {
	m, err := ReadSavedModel(filepath.Join(fixtures, "tiny_resize_savedmodel"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var modes []string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Resize" {
			for _, a := range n.Attrs {
				if a.Name == "coordinate_transformation_mode" || a.Name == "nearest_mode" {
					modes = append(modes, string(a.String))
				}
			}
		}
	}
	slices.Sort(modes)
	if want := []string{"align_corners", "half_pixel", "round_prefer_ceil"}; !slices.Equal(modes, want) {
		t.Errorf("modes %v, want %v", modes, want)
	}
}

// A recurrent SavedModel cut short or with flipped bytes imports or fails with an
// error; it never panics, and the errors name the file.
func TestSavedModelRecurrentCorrupt(t *testing.T) {
	t.Setenv(ir.EnvMaxMemory, "64MiB")
	dir := filepath.Join(fixtures, "tiny_rnn_savedmodel")
	data, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := ReadBundle(filepath.Join(dir, "variables"))
	if err != nil {
		t.Fatal(err)
	}
	defer vars.Close()
	byKey := map[string]*ir.Tensor{}
	for _, v := range vars.Graph.Initializers {
		byKey[v.Name] = v
	}
	tryImport := func(pb []byte) {
		sm, err := parseSavedModel(pb, "x")
		if err != nil {
			return
		}
		handles, err := sm.variableKeys()
		if err != nil {
			return
		}
		im := &importer{sm: sm, b: newBuilder("x", nil), vars: byKey, handles: handles, vals: map[string]kval{}, packLen: map[string]int{}}
		im.run()
	}
	for n := 0; n < len(data); n += 997 {
		tryImport(data[:n])
	}
	for i := 0; i < len(data); i += 401 {
		b := append([]byte{}, data...)
		b[i] ^= 0x5a
		tryImport(b)
	}
	// Without its weights the loop is refused, naming the While node.
	sm, err := parseSavedModel(data, "x")
	if err != nil {
		t.Fatal(err)
	}
	handles, _ := sm.variableKeys()
	im := &importer{sm: sm, b: newBuilder("x", nil), vars: map[string]*ir.Tensor{}, handles: handles, vals: map[string]kval{}, packLen: map[string]int{}}
	if err := im.run(); err == nil || !strings.Contains(err.Error(), "While") {
		t.Errorf("no weights: %v", err)
	}
}

// A Conv2D whose input's channel count the SavedModel does not tell (no Placeholder
// shape, no _output_shapes) could be grouped: it is refused, naming the node, rather
// than read as an ungrouped convolution that would be wrong if it is not.
func TestSavedModelConvUnknownChannelsRefused(t *testing.T) {
	dir := filepath.Join(fixtures, "tiny_cnn_savedmodel")
	data, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := ReadBundle(filepath.Join(dir, "variables"))
	if err != nil {
		t.Fatal(err)
	}
	defer vars.Close()
	byKey := map[string]*ir.Tensor{}
	for _, v := range vars.Graph.Initializers {
		byKey[v.Name] = v
	}
	importWith := func(forget bool) error {
		sm, err := parseSavedModel(data, "x")
		if err != nil {
			t.Fatal(err)
		}
		if forget {
			for _, n := range sm.nodes {
				if n.op == "Placeholder" {
					n.attrs["shape"] = unknownShapeAttr(len(shapeAttr(n.attrs["shape"])))
				}
			}
			for _, fn := range sm.functions {
				for _, n := range fn.nodes {
					delete(n.attrs, "_output_shapes")
				}
			}
		}
		handles, err := sm.variableKeys()
		if err != nil {
			t.Fatal(err)
		}
		im := &importer{sm: sm, b: newBuilder("x", nil), vars: byKey, handles: handles, vals: map[string]kval{}, packLen: map[string]int{}}
		return im.run()
	}
	if err := importWith(false); err != nil {
		t.Fatalf("as saved: %v", err)
	}
	err = importWith(true)
	if err == nil || !strings.Contains(err.Error(), "(Conv2D)") || !strings.Contains(err.Error(), "channel count is not known") {
		t.Errorf("unknown channels: %v", err)
	}
}

// unknownShapeAttr is an AttrValue holding a shape of rank dimensions, all unknown (-1).
func unknownShapeAttr(rank int) []byte {
	var dim, shape []byte
	dim = protowire.AppendTag(dim, 1, protowire.VarintType)
	dim = protowire.AppendVarint(dim, ^uint64(0)) // -1, as protobuf encodes a negative int64
	for i := 0; i < rank; i++ {
		shape = protowire.AppendTag(shape, 2, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType), shape)
}
