package torch

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

const fixtures = "../../../testdata/torch"

// TestFixtures reads checkpoints written by a real torch.save and compares every tensor
// with what torch itself said it holds (expected.json, made by make_fixtures.py).
func TestFixtures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtures, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Files map[string]map[string]struct {
			DType  string  `json:"dtype"`
			Shape  []int64 `json:"shape"`
			SHA256 string  `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Files) < 5 {
		t.Fatalf("expected.json lists %d files", len(exp.Files))
	}
	for file, tensors := range exp.Files {
		t.Run(file, func(t *testing.T) {
			m, err := Read(filepath.Join(fixtures, file))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := map[string]*ir.Tensor{}
			for _, x := range m.Graph.Initializers {
				got[x.Name] = x
			}
			if len(got) != len(tensors) {
				t.Errorf("got %d tensors %v, want %d", len(got), keys(got), len(tensors))
			}
			for name, want := range tensors {
				x := got[name]
				if x == nil {
					t.Errorf("tensor %q missing (have %v)", name, keys(got))
					continue
				}
				sum := sha256.Sum256(x.Bytes())
				if x.DType.String() != want.DType || !equal(x.Shape, want.Shape) || hex.EncodeToString(sum[:]) != want.SHA256 {
					t.Errorf("%s: got %v%v sha %x, want %s%v sha %s", name, x.DType, x.Shape, sum[:4], want.DType, want.Shape, want.SHA256[:8])
				}
			}
		})
	}
}

func TestSharedStorageIsNotCopied(t *testing.T) {
	m, err := Read(filepath.Join(fixtures, "state_dict.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var a, b []byte
	for _, x := range m.Graph.Initializers {
		switch x.Name {
		case "0.weight":
			a = x.Bytes()
		case "tied.weight":
			b = x.Bytes()
		}
	}
	if len(a) == 0 || &a[0] != &b[0] {
		t.Error("a tied weight should alias the one storage in the file")
	}
}

func TestEvilPickleIsRefused(t *testing.T) {
	marker := "/tmp/modelc-torch-evil-marker"
	os.Remove(marker)
	_, err := Read(filepath.Join(fixtures, "evil.pt"))
	if err == nil {
		t.Fatal("accepted a pickle that calls os.system")
	}
	if ir.KindOf(err) != ir.KindUnsupported || !strings.Contains(err.Error(), "os.system") || !strings.Contains(err.Error(), "offset 2") {
		t.Errorf("error: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the pickle's command ran")
	}
}

func equal(a, b []int64) bool {
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

func keys(m map[string]*ir.Tensor) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// everyDType holds one tensor of each dtype the writer supports.
func everyDType(t testing.TB) *ir.Model {
	rng := rand.New(rand.NewSource(2))
	m := &ir.Model{Graph: &ir.Graph{}}
	var ds []ir.DType
	for d := range legacyStorage {
		ds = append(ds, d)
	}
	for d := range v3DType {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for i, d := range ds {
		shape := []int64{int64(1 + i%4), 3, 2, 1, 2}[:1+i%5]
		n, _ := d.ByteSize(ir.NumElements(shape))
		data := make([]byte, n)
		rng.Read(data)
		if d == ir.Bool {
			for j := range data {
				data[j] &= 1
			}
		}
		x, err := ir.NewTensor("layer."+d.String(), d, shape, data)
		if err != nil {
			t.Fatal(err)
		}
		m.Graph.Initializers = append(m.Graph.Initializers, x)
	}
	s, _ := ir.NewTensor("scalar", ir.Float64, []int64{}, make([]byte, 8))
	e, _ := ir.NewTensor("empty", ir.Float32, []int64{0, 4}, []byte{})
	m.Graph.Initializers = append(m.Graph.Initializers, s, e)
	return m
}

func TestRoundTripEveryDType(t *testing.T) {
	dir := t.TempDir()
	m := everyDType(t)
	p := filepath.Join(dir, "all.pt")
	if err := Write(m, p, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.Graph.Initializers) != len(m.Graph.Initializers) {
		t.Fatalf("got %d tensors", len(got.Graph.Initializers))
	}
	for i, w := range m.Graph.Initializers {
		g := got.Graph.Initializers[i]
		if g.Name != w.Name || g.DType != w.DType || !equal(g.Shape, w.Shape) || !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Errorf("%s: got %s %v%v", w.Name, g.Name, g.DType, g.Shape)
		}
	}
	// Deterministic, and every record's data is 64-byte aligned as torch lays them out.
	p2 := filepath.Join(dir, "again.pt")
	if err := Write(got, p2, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(p2)
	if !bytes.Equal(a, b) {
		t.Error("rewriting changed the bytes")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		off, _ := f.DataOffset()
		if off%64 != 0 || f.Method != zip.Store {
			t.Errorf("%s: data at %d, method %d", f.Name, off, f.Method)
		}
	}
}

// zipOf builds a checkpoint zip from entries (name → bytes), stored.
func zipOf(t testing.TB, entries ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(entries); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: entries[i], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(entries[i+1]))
	}
	zw.Close()
	return buf.Bytes()
}

// tensorPickle is a state dict {"w": FloatStorage key "0" numel n viewed with offset, size, stride}.
func tensorPickle(numel int64, offset int64, size, stride []int64) string {
	p := &pickler{memo: map[string]byte{}}
	p.b.WriteString("\x80\x02}(")
	p.str("w")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.b.WriteString("((")
	p.str("storage")
	p.global("torch", "FloatStorage")
	p.str("0")
	p.str("cpu")
	p.int(numel)
	p.b.WriteString("tQ")
	p.int(offset)
	p.tuple(size)
	p.tuple(stride)
	p.b.WriteString("\x89}tRu.")
	return p.b.String()
}

func TestBadInput(t *testing.T) {
	good := tensorPickle(4, 0, []int64{2, 2}, []int64{2, 1})
	if _, err := ReadBytes(zipOf(t, "a/data.pkl", good, "a/data/0", string(make([]byte, 16))), "ok.pt"); err != nil {
		t.Fatalf("the well-formed case fails: %v", err)
	}
	cases := map[string]struct {
		data []byte
		kind ir.ErrorKind
		want string
	}{
		"not zip":       {[]byte("hello world, not a zip"), ir.KindCorrupt, "not a PyTorch zip"},
		"no pickle":     {zipOf(t, "a/other", "x"), ir.KindCorrupt, "data.pkl"},
		"escape":        {zipOf(t, "../a/data.pkl", good), ir.KindCorrupt, "outside the archive"},
		"absolute":      {zipOf(t, "/a/data.pkl", good), ir.KindCorrupt, "outside the archive"},
		"truncated":     {zipOf(t, "a/data.pkl", good[:len(good)-5], "a/data/0", string(make([]byte, 16))), ir.KindCorrupt, "truncated"},
		"no storage":    {zipOf(t, "a/data.pkl", good), ir.KindCorrupt, "no entry a/data/0"},
		"storage size":  {zipOf(t, "a/data.pkl", good, "a/data/0", string(make([]byte, 12))), ir.KindCorrupt, "declares 4 elements"},
		"out of bounds": {zipOf(t, "a/data.pkl", tensorPickle(4, 1, []int64{2, 2}, []int64{2, 1}), "a/data/0", string(make([]byte, 16))), ir.KindCorrupt, "reaches element 4"},
		"negative":      {zipOf(t, "a/data.pkl", tensorPickle(4, 0, []int64{2, 2}, []int64{-2, 1}), "a/data/0", string(make([]byte, 16))), ir.KindCorrupt, "negative"},
		"expand bomb":   {zipOf(t, "a/data.pkl", tensorPickle(1, 0, []int64{1 << 40}, []int64{0}), "a/data/0", string(make([]byte, 4))), ir.KindCorrupt, "memory budget"},
		"expand 1 GiB":  {zipOf(t, "a/data.pkl", tensorPickle(1, 0, []int64{1 << 28}, []int64{0}), "a/data/0", string(make([]byte, 4))), ir.KindCorrupt, "too large"},
		"big endian":    {zipOf(t, "a/data.pkl", good, "a/byteorder", "big"), ir.KindUnsupported, "byte order"},
		"builtins.eval": {zipOf(t, "a/data.pkl", "\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R."), ir.KindUnsupported, "builtins.eval"},
		"stack global":  {zipOf(t, "a/data.pkl", "\x80\x04\x8c\x02os\x8c\x06system\x93."), ir.KindUnsupported, "os.system"},
		"inst":          {zipOf(t, "a/data.pkl", "(ios\nsystem\n."), ir.KindUnsupported, "INST"},
		"call a dtype":  {zipOf(t, "a/data.pkl", "\x80\x02ctorch\nfloat32\n)R."), ir.KindUnsupported, "torch.float32"},
		"bad opcode":    {zipOf(t, "a/data.pkl", "\x80\x02\xff."), ir.KindCorrupt, "unknown pickle opcode 0xff"},
		"underflow":     {zipOf(t, "a/data.pkl", "\x80\x02t."), ir.KindCorrupt, "no MARK"},
		"memo":          {zipOf(t, "a/data.pkl", "\x80\x02h\x05."), ir.KindCorrupt, "never stored"},
		"long string":   {zipOf(t, "a/data.pkl", "\x80\x02X\xff\xff\xff\x7f."), ir.KindCorrupt, "past the end"},
		"self list":     {zipOf(t, "a/data.pkl", "\x80\x02]q\x00h\x00a."), ir.KindUnsupported, "contains itself"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBytes(c.data, "bad.pt")
			if err == nil {
				t.Fatal("accepted")
			}
			if ir.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.pt") {
				t.Errorf("got %v (%v), want kind %v saying %q", err, ir.KindOf(err), c.kind, c.want)
			}
		})
	}
}

func TestGatherMatchesNaive(t *testing.T) {
	src := make([]byte, 200*4)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, c := range []struct {
		off          int64
		shape, strid []int64
	}{
		{3, []int64{4, 5}, []int64{1, 4}},
		{0, []int64{2, 3, 4}, []int64{1, 2, 6}},
		{7, []int64{3, 4}, []int64{20, 2}},
		{0, []int64{5, 3}, []int64{0, 1}},
		{9, []int64{}, []int64{}},
	} {
		n := ir.NumElements(c.shape)
		out := make([]byte, n*4)
		gather(out, src, c.off, c.shape, c.strid, 4)
		// Naive: element by element through the strides.
		idx := make([]int64, len(c.shape))
		for e := int64(0); e < n; e++ {
			rem, pos := e, c.off
			for d := len(c.shape) - 1; d >= 0; d-- {
				idx[d] = rem % c.shape[d]
				rem /= c.shape[d]
				pos += idx[d] * c.strid[d]
			}
			if !bytes.Equal(out[e*4:e*4+4], src[pos*4:pos*4+4]) {
				t.Fatalf("%v: element %d differs", c, e)
			}
		}
	}
}

func TestDetect(t *testing.T) {
	a, _ := os.ReadFile(filepath.Join(fixtures, "views.pt"))
	if !Detect(a[:64]) || Detect(zipOf(t, "x.npy", "")[:64]) {
		t.Error("Detect")
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	m := everyDType(t)
	half := len(m.Graph.Initializers) / 2
	parts := [][]*ir.Tensor{m.Graph.Initializers[:half], m.Graph.Initializers[half:]}
	weightMap := map[string]string{}
	for i, p := range parts {
		name := []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}[i]
		if err := Write(&ir.Model{Graph: &ir.Graph{Initializers: p}}, filepath.Join(dir, name), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, x := range p {
			weightMap[x.Name] = name
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]int{"total_size": 0}, "weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin.index.json"), idx, 0o644)
	if !DetectPath(dir) {
		t.Fatal("DetectPath does not recognise the folder")
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.Graph.Initializers) != len(m.Graph.Initializers) {
		t.Fatalf("got %d tensors", len(got.Graph.Initializers))
	}
	for i, w := range m.Graph.Initializers {
		if g := got.Graph.Initializers[i]; g.Name != w.Name || !bytes.Equal(g.Bytes(), w.Bytes()) {
			t.Errorf("%s differs", w.Name)
		}
	}
	weightMap["x"] = "../escape.bin"
	idx, _ = json.Marshal(map[string]any{"weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin.index.json"), idx, 0o644)
	if _, err := Read(dir); err == nil || ir.KindOf(err) != ir.KindCorrupt {
		t.Errorf("an index pointing outside its folder: %v", err)
	}
}
