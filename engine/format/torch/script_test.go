package torch

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// smallModel is a graph the writer turns into an archive whose forward is straight-line
// code: Gemm, Relu, Add of a stored bias.
func smallModel(t testing.TB) *ir.Model {
	t.Helper()
	w, _ := ir.NewTensor("fc.weight", ir.Float32, []int64{3, 4}, ir.Float32Bytes([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	b, _ := ir.NewTensor("fc.bias", ir.Float32, []int64{3}, ir.Float32Bytes([]float32{-1, 0, 1}))
	return &ir.Model{
		IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}},
		Graph: &ir.Graph{
			Name:         "small",
			Initializers: []*ir.Tensor{w, b},
			Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 4)}},
			Outputs:      []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 2, 3)}},
			Nodes: []*ir.Node{
				{Name: "g", OpType: "Gemm", Inputs: []string{"x", "fc.weight"}, Outputs: []string{"h"}, Attrs: []*ir.Attribute{attrInt("transB", 1)}},
				{Name: "r", OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"r"}},
				{Name: "a", OpType: "Add", Inputs: []string{"r", "fc.bias"}, Outputs: []string{"y"}},
			},
		},
	}
}

func encodeScript(t testing.TB, m *ir.Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeScript(m, &buf, "small.pt", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestScriptRoundTrip: what the writer writes, the reader reads back: the weights (as
// the module's buffers) and a graph of the same ops.
func TestScriptRoundTrip(t *testing.T) {
	data := encodeScript(t, smallModel(t))
	m, err := ReadScriptBytes(data, "small.pt")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range m.Metadata {
		if kv.Key == MetaGraphError {
			t.Fatalf("graph not read: %s", kv.Value)
		}
	}
	names := map[string]bool{}
	for _, ti := range m.Graph.Initializers {
		names[ti.Name] = true
	}
	if !names["fc.weight"] || !names["fc.bias"] { // restored from extra/modelc.names.json
		t.Fatalf("initializers %v", names)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Constant" {
			ops = append(ops, n.OpType)
		}
	}
	// torch.matmul(x, torch.t(w)) + relu + add (Gemm is written as matmul of the transpose)
	if got := strings.Join(ops, " "); got != "Transpose MatMul Relu Add" {
		t.Fatalf("ops %q", got)
	}
	if len(m.Graph.Inputs) != 1 || len(m.Graph.Outputs) != 1 {
		t.Fatalf("inputs %d outputs %d", len(m.Graph.Inputs), len(m.Graph.Outputs))
	}
}

// rezip rewrites an archive with edit applied to each entry.
func rezip(t testing.TB, data []byte, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		r, _ := f.Open()
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		w.Write(edit(f.Name, b.Bytes()))
	}
	zw.Close()
	return out.Bytes()
}

func TestScriptRefusesForbiddenGlobal(t *testing.T) {
	data := rezip(t, encodeScript(t, smallModel(t)), func(name string, b []byte) []byte {
		if strings.HasSuffix(name, "data.pkl") {
			return bytes.Replace(b, []byte("c__torch__\nModel\n"), []byte("cposix\nsystem\n"), 1)
		}
		return b
	})
	_, err := ReadScriptBytes(data, "evil.pt")
	if err == nil || ir.KindOf(err) != ir.KindUnsupported || !strings.Contains(err.Error(), "posix.system") {
		t.Fatalf("err %v", err)
	}
}

func TestScriptControlFlowIsWeightsOnly(t *testing.T) {
	data := rezip(t, encodeScript(t, smallModel(t)), func(name string, b []byte) []byte {
		if strings.HasSuffix(name, "code/__torch__.py") {
			return bytes.Replace(b, []byte("    return "), []byte("    if True:\n      pass\n    return "), 1)
		}
		return b
	})
	m, err := ReadScriptBytes(data, "cf.pt")
	if err != nil {
		t.Fatal(err)
	}
	if GraphError(m) == nil || !strings.Contains(GraphError(m).Error(), "`if True:`") {
		t.Fatalf("graph error %v", GraphError(m))
	}
	if len(m.Graph.Initializers) != 2 {
		t.Fatalf("%d initializers", len(m.Graph.Initializers))
	}
}

func TestParseTSSubset(t *testing.T) {
	src := `class M(Module):
  __parameters__ = ["w", ]
  w : Tensor
  def forward(self: __torch__.M,
    x: Tensor) -> Tuple[Tensor, Tensor]:
    w = self.w
    a, b, = torch.chunk(torch.add(x, w, alpha=2), 2, -1)
    _0 = [int(torch.size(a, 0)), -1]
    return (torch.view(a, _0), b)
`
	f, err := parseTSFile("code/__torch__.py", src)
	if err != nil {
		t.Fatal(err)
	}
	fn := f.classes["M"].methods["forward"]
	if fn == nil || len(fn.params) != 2 || len(fn.body) != 4 {
		t.Fatalf("%+v", fn)
	}
	if fn.body[1].kind != "unpack" || len(fn.body[1].targets) != 2 {
		t.Fatalf("%+v", fn.body[1])
	}
	if got := fn.body[3].value.String(); got != "(torch.view(a, _0), b)" {
		t.Fatalf("return %s", got)
	}
	for _, bad := range []string{"class A(Module):\n  def f(self, x):\n    y = (x\n", "class A(Module):\n  def f(self, x):\n    y = 'x\n"} {
		if _, err := parseTSFile("bad.py", bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

// FuzzParseCode: the code parser never panics or hangs, whatever the source.
func FuzzParseCode(f *testing.F) {
	f.Add("class M(Module):\n  def forward(self: __torch__.M,\n    x: Tensor) -> Tensor:\n    return torch.relu(x)\n")
	f.Add("def f(x):\n  if x:\n    return [1, (2, 3.5e-1), 'a'][0]\n")
	f.Add("class A(Module):\n  def forward(self, x):\n    a, b, = x.y[0](-1, k=not None)\n")
	f.Add("class Model(Module):\n  __buffers__ = [\"b_fc_weight\", \"b_fc_bias\", ]\n  def forward(self: __torch__.Model, x: Tensor) -> Tensor:\n    _0 = torch.view(x, [int(torch.size(x, 0)), -1])\n    a, b, = torch.chunk(torch.linear(_0, self.b_fc_weight, self.b_fc_bias), 2, -1)\n    return torch.cat([torch.relu(a), torch.hardtanh(b, 0., 6.)], 1)\n")
	seed := encodeScript(f, smallModel(f))
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<16 {
			return
		}
		parseTSFile("code/__torch__.py", src)
		// and interpreted as the forward of an archive with the seed's weights
		data := rezip(t, seed, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "code/__torch__.py") {
				return []byte(src)
			}
			return b
		})
		if _, err := ReadScriptBytes(data, "fuzz.pt"); err != nil && ir.KindOf(err) != ir.KindCorrupt && ir.KindOf(err) != ir.KindUnsupported {
			t.Fatalf("error of kind %v: %v", ir.KindOf(err), err)
		}
	})
}

// FuzzReadScript: the archive reader (pickles, code, graph building) refuses a bad
// archive with a corrupt or unsupported error, within the memory bounds.
func FuzzReadScript(f *testing.F) {
	setFuzzBudget(f)
	f.Add(encodeScript(f, smallModel(f)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkedRead(t, len(data), func() error {
			_, err := ReadScriptBytes(data, "fuzz.pt")
			return err
		})
	})
}
