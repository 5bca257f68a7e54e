package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func f32Tensor(t testing.TB, name string, shape []int64, vals ...float32) *ir.Tensor {
	buf := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		buf = append(buf, le32(v)...)
	}
	tt, err := ir.NewTensor(name, ir.Float32, shape, buf)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func le32(v float32) []byte {
	var b bytes.Buffer
	u := mathFloat32bits(v)
	b.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
	return b.Bytes()
}

func TestRoundTripNPY(t *testing.T) {
	src := f32Tensor(t, "w", []int64{2, 3}, 1, 2, 3, 4, 5, 6)
	var buf bytes.Buffer
	if err := Encode(&buf, src); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%64 != 24 { // 64-byte aligned header + 24 data bytes
		t.Errorf("data does not start on a 64-byte boundary: %d bytes", buf.Len())
	}
	got, err := Decode(buf.Bytes(), "w", "x.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), src.Bytes()) || len(got.Shape) != 2 || got.Shape[1] != 3 {
		t.Errorf("round trip changed the array: %v %v", got.Shape, got.Bytes())
	}
}

func TestHeaders(t *testing.T) {
	data := []byte{1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}
	mk := func(major byte, dict string, body []byte) []byte {
		b := []byte(Magic)
		if major == 1 {
			b = append(b, 1, 0, byte(len(dict)), byte(len(dict)>>8))
		} else {
			b = append(b, major, 0, byte(len(dict)), byte(len(dict)>>8), 0, 0)
		}
		return append(append(b, dict...), body...)
	}
	for _, tc := range []struct {
		name, dict string
		major      byte
		ok         bool
		want       []int16
	}{
		{"v1", "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }\n", 1, true, []int16{1, 2, 3, 4, 5, 6}},
		{"v2", "{'descr': '<i2', 'fortran_order': False, 'shape': (6,), }\n", 2, true, []int16{1, 2, 3, 4, 5, 6}},
		{"v3 double quotes", "{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (3, 2)}\n", 3, true, []int16{1, 2, 3, 4, 5, 6}},
		// Fortran order: column-major [[1,3,5],[2,4,6]] is C-order 1 3 5 2 4 6.
		{"fortran", "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }\n", 1, true, []int16{1, 3, 5, 2, 4, 6}},
		{"big endian", "{'descr': '>i2', 'fortran_order': False, 'shape': (6,), }\n", 1, false, nil},
		{"object", "{'descr': '|O', 'fortran_order': False, 'shape': (6,), }\n", 1, false, nil},
		{"short data", "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }\n", 1, false, nil},
		{"long data", "{'descr': '<i2', 'fortran_order': False, 'shape': (5,), }\n", 1, false, nil},
		{"huge shape", "{'descr': '<i2', 'fortran_order': False, 'shape': (9223372036854775807, 4), }\n", 1, false, nil},
		{"no shape", "{'descr': '<i2', 'fortran_order': False}\n", 1, false, nil},
		{"garbage", "{'descr': '<i2', 'fortran_order': Maybe, 'shape': (6,)}\n", 1, false, nil},
	} {
		tt, err := Decode(mk(tc.major, tc.dict, data), "a", "a.npy")
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err != nil {
			if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
				t.Errorf("%s: error kind %v", tc.name, k)
			}
			continue
		}
		d, _ := tt.Dense()
		got := d.Data().([]int16)
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

func TestNPZFiles(t *testing.T) {
	dir := t.TempDir()
	a := f32Tensor(t, "b", []int64{2}, 1, 2)
	b := f32Tensor(t, "a", []int64{}, 7)
	p := filepath.Join(dir, "x.npz")
	if err := WriteNPZ(p, []*ir.Tensor{a, b}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(p)
	if !Detect(first[:64]) {
		t.Error("Detect does not recognise our own .npz")
	}
	m, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Graph.Initializers) != 2 || m.Graph.Initializers[0].Name != "a" || m.Graph.Initializers[1].Name != "b" {
		t.Fatalf("initializers %v", m.Graph.Initializers)
	}
	// Deterministic bytes.
	p2 := filepath.Join(dir, "y.npz")
	if err := WriteNPZ(p2, []*ir.Tensor{b, a}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(p2)
	if !bytes.Equal(first, second) {
		t.Error("the same arrays gave different archives")
	}
	// A damaged archive is a corrupt-file error, not a panic.
	bad := append([]byte(nil), first...)
	bad[len(bad)/2] ^= 0xFF
	if _, err := Parse(bad, "bad.npz"); err == nil {
		t.Error("a damaged archive was accepted")
	}
	// A model with nodes is refused; nothing is written.
	withNode := &ir.Model{Graph: &ir.Graph{Nodes: []*ir.Node{{OpType: "Relu"}}}}
	if err := Write(withNode, filepath.Join(dir, "z.npz")); ir.KindOf(err) != ir.KindUnsupported {
		t.Errorf("writing nodes: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "z.npz")); err == nil {
		t.Error("a refused write left a file")
	}
}
