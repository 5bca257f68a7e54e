package safetensors

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// everyDType builds one tensor of each safetensors dtype with seeded random bytes.
func everyDType(t testing.TB) *ir.Model {
	rng := rand.New(rand.NewSource(1))
	m := &ir.Model{Graph: &ir.Graph{}, Metadata: []ir.StringPair{{Key: "format", Value: "pt"}, {Key: "a", Value: "b\"c\n"}}}
	for i, s := range dtypes {
		shape := []int64{2, int64(3 + i%3), 4}
		n, _ := s.byteLength(ir.NumElements(shape))
		data := make([]byte, n)
		rng.Read(data)
		if s.dtype == ir.Bool {
			for j := range data {
				data[j] &= 1
			}
		}
		tn, err := ir.NewTensor("t."+strings.ToLower(s.name), s.dtype, shape, data)
		if err != nil {
			t.Fatal(err)
		}
		m.Graph.Initializers = append(m.Graph.Initializers, tn)
	}
	scalar, _ := ir.NewTensor("scalar", ir.Float32, []int64{}, []byte{0, 0, 128, 63})
	empty, _ := ir.NewTensor("empty", ir.Int64, []int64{0, 5}, []byte{})
	m.Graph.Initializers = append(m.Graph.Initializers, scalar, empty)
	return m
}

func sameTensors(t *testing.T, want, got *ir.Model) {
	t.Helper()
	byName := map[string]*ir.Tensor{}
	for _, x := range got.Graph.Initializers {
		byName[x.Name] = x
	}
	if len(byName) != len(want.Graph.Initializers) {
		t.Fatalf("got %d tensors, want %d", len(byName), len(want.Graph.Initializers))
	}
	for _, w := range want.Graph.Initializers {
		g := byName[w.Name]
		if g == nil {
			t.Fatalf("tensor %q missing", w.Name)
		}
		if g.DType != w.DType || !equalShape(g.Shape, w.Shape) || !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Errorf("tensor %q: got %v%v (%d bytes), want %v%v (%d bytes)", w.Name, g.DType, g.Shape, len(g.Bytes()), w.DType, w.Shape, len(w.Bytes()))
		}
	}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoundTripEveryDType(t *testing.T) {
	dir := t.TempDir()
	m := everyDType(t)
	path := filepath.Join(dir, "all.safetensors")
	if err := Write(m, path, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	sameTensors(t, m, got)
	meta := map[string]string{}
	for _, p := range got.Metadata {
		meta[p.Key] = p.Value
	}
	if meta["format"] != "pt" || meta["a"] != "b\"c\n" || len(meta) != 2 {
		t.Errorf("metadata %v", got.Metadata)
	}
	// Writing what was read gives the same bytes (deterministic, layout-stable).
	again := filepath.Join(dir, "again.safetensors")
	if err := Write(got, again, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("rewriting a file modelc wrote changed its bytes")
	}
	if binary.LittleEndian.Uint64(a)%8 != 0 {
		t.Error("header length is not a multiple of 8")
	}
}

// The expected bytes are the reference implementation's own unit tests
// (safetensors/src/tensor.rs: test_serialization, test_empty).
func TestMatchesReferenceBytes(t *testing.T) {
	data := []byte{0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}
	tn, _ := ir.NewTensor("attn.0", ir.Float32, []int64{1, 2, 3}, data)
	var buf bytes.Buffer
	if err := writeFile(&buf, []*ir.Tensor{tn}, nil, nil); err != nil {
		t.Fatal(err)
	}
	want := append([]byte{64, 0, 0, 0, 0, 0, 0, 0}, []byte(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`)...)
	want = append(want, data...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), want)
	}

	buf.Reset()
	writeFile(&buf, nil, []ir.StringPair{{Key: "framework", Value: "pt"}}, nil)
	want = append([]byte{40, 0, 0, 0, 0, 0, 0, 0}, []byte(`{"__metadata__":{"framework":"pt"}}     `)...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got %q want %q", buf.Bytes(), want)
	}
}

func TestLayoutOrder(t *testing.T) {
	mk := func(name string, d ir.DType) *ir.Tensor {
		n, _ := d.ByteSize(2)
		x, _ := ir.NewTensor(name, d, []int64{2}, make([]byte, n))
		return x
	}
	got := layout([]*ir.Tensor{mk("b", ir.Uint8), mk("z", ir.Float16), mk("a", ir.Float16), mk("c", ir.Float32), mk("d", ir.Bool), mk("e", ir.Int64)})
	var order []string
	for _, x := range got {
		order = append(order, x.Name)
	}
	// I64 > F32 > F16 (a, z by name) > U8 > BOOL, the reference's Dtype enum order reversed.
	if strings.Join(order, ",") != "e,c,a,z,b,d" {
		t.Errorf("layout %v", order)
	}
}

func TestJSONEscaping(t *testing.T) {
	var b bytes.Buffer
	writeJSONString(&b, "a\"\\\b\t\n\f\r\x01\x1f/<>&é\x7f")
	if got, want := b.String(), `"a\"\\\b\t\n\f\r\u0001\u001f/<>&é`+"\x7f"+`"`; got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

// file builds a safetensors file from a raw header and data buffer.
func file(header string, data []byte) []byte {
	out := make([]byte, 8)
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	return append(append(out, header...), data...)
}

func TestBadInput(t *testing.T) {
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, MaxHeaderSize+1)
	past := make([]byte, 16)
	binary.LittleEndian.PutUint64(past, 1000)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"short":        {[]byte{1, 2, 3}, "too short"},
		"huge header":  {huge, "exceeds the format's limit"},
		"past EOF":     {past, "runs past the end"},
		"no brace":     {file(` {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), "does not start with '{'"},
		"bad json":     {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}`, []byte{0}), "JSON ends early"},
		"trailing":     {file(`{}x`, nil), "unexpected data after"},
		"not utf8":     {file("{\"\xff\":1}", nil), "UTF-8"},
		"hole":         {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{0, 0}), "hole"},
		"overlap":      {file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, []byte{0, 0, 0}), "overlaps"},
		"reversed":     {file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0],"data_offsets":[2,0]}}`, nil), "ends before it begins"},
		"past data":    {file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, []byte{0}), "past the end"},
		"short buffer": {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0, 0}), "cover it exactly"},
		"size":         {file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, []byte{0, 0, 0, 0}), "needs 8 bytes"},
		"duplicate":    {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{0, 0}), "appears twice"},
		"dtype":        {file(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), "unknown dtype"},
		"negative":     {file(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}`, []byte{0}), "non-negative"},
		"float dim":    {file(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, []byte{0}), "non-negative"},
		"overflow":     {file(`{"a":{"dtype":"U64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, make([]byte, 8)), "overflows"},
		"half byte":    {file(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, []byte{0, 0}), "whole number of bytes"},
		"no offsets":   {file(`{"a":{"dtype":"U8","shape":[1]}}`, []byte{0}), "no data_offsets"},
		"meta type":    {file(`{"__metadata__":{"a":1}}`, nil), "expected a string"},
		"three offs":   {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, []byte{0}), "want [begin, end]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBytes(c.data, "bad.safetensors")
			if err == nil {
				t.Fatal("accepted")
			}
			if ir.KindOf(err) != ir.KindCorrupt {
				t.Errorf("kind %v: %v", ir.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("error %q does not say %q and name the file", err, c.want)
			}
		})
	}
}

func TestWriteRefusesWhatItCannotHold(t *testing.T) {
	dir := t.TempDir()
	s, _ := ir.NewStringTensor("s", []int64{1}, [][]byte{[]byte("x")})
	i4, _ := ir.NewTensor("i4", ir.Int4, []int64{2}, []byte{0})
	dup, _ := ir.NewTensor("d", ir.Uint8, []int64{1}, []byte{0})
	for name, ts := range map[string][]*ir.Tensor{"string": {s}, "int4": {i4}, "duplicate": {dup, dup}} {
		path := filepath.Join(dir, name+".safetensors")
		err := Write(&ir.Model{Graph: &ir.Graph{Initializers: ts}}, path, WriteOptions{})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Errorf("%s: left an output behind", name)
		}
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	m := everyDType(t)
	// 24 tensors of 24..320 bytes: shards of at most 400 bytes.
	path := filepath.Join(dir, "model.safetensors")
	if err := Write(m, path, WriteOptions{MaxShardSize: 400}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a sharded write also wrote the single file")
	}
	shards, _ := filepath.Glob(filepath.Join(dir, "model-*-of-*.safetensors"))
	if len(shards) < 3 {
		t.Fatalf("only %d shards: %v", len(shards), shards)
	}
	for _, s := range shards {
		st, _ := os.Stat(s)
		data, _ := os.ReadFile(s)
		hdr := int64(8 + binary.LittleEndian.Uint64(data))
		if st.Size()-hdr > 400 {
			// Only a single tensor larger than the limit may exceed it; none here is.
			t.Errorf("%s holds %d bytes of data", s, st.Size()-hdr)
		}
	}
	if !DetectPath(dir) || !DetectPath(filepath.Join(dir, "model.safetensors.index.json")) {
		t.Error("DetectPath does not recognise the folder or the index")
	}
	for _, from := range []string{dir, filepath.Join(dir, "model.safetensors.index.json")} {
		got, err := Read(from)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, m, got)
		if len(got.Metadata) != 2 {
			t.Errorf("metadata %v", got.Metadata)
		}
		got.Close()
	}
	// Everything fits: one plain file, no index.
	one := filepath.Join(dir, "one", "model.safetensors")
	os.Mkdir(filepath.Dir(one), 0o755)
	if err := Write(m, one, WriteOptions{MaxShardSize: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(one)); len(ents) != 1 {
		t.Errorf("want one file, got %v", ents)
	}
}

func TestShardedBadIndex(t *testing.T) {
	dir := t.TempDir()
	m := everyDType(t)
	if err := Write(m, filepath.Join(dir, "model.safetensors"), WriteOptions{MaxShardSize: 400}); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "model.safetensors.index.json")
	orig, _ := os.ReadFile(idx)
	for name, edit := range map[string]func(string) string{
		"escape": func(s string) string { return strings.Replace(s, `"model-00001`, `"../model-00001`, 1) },
		"missing": func(s string) string {
			return strings.Replace(s, `"t.bool": "model-00001-of`, `"t.bool": "model-00002-of`, 1)
		},
		"json": func(s string) string { return s[:len(s)/2] },
	} {
		os.WriteFile(idx, []byte(edit(string(orig))), 0o644)
		_, err := Read(dir)
		if err == nil || ir.KindOf(err) != ir.KindCorrupt {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDetect(t *testing.T) {
	if !Detect(file(`{}`, nil)) || Detect([]byte("PK\x03\x04")) || Detect(file(`[]`, nil)) {
		t.Error("Detect")
	}
}
