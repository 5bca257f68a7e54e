package torch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelc/modelc/engine/format/internal/bombs"
	"github.com/modelc/modelc/engine/ir"
)

// withBudget runs the test under a memory budget of n bytes (MODELC_MAX_MEMORY unset).
func withBudget(t *testing.T, n int64) {
	t.Setenv(ir.EnvMaxMemory, "")
	prev := ir.SetMemoryLimit(n)
	t.Cleanup(func() { ir.SetMemoryLimit(prev) })
}

// fast fails the test when f takes longer than limit (the reported cases took minutes
// or never ended; a correct reader takes milliseconds), or slowdown times that under
// the race detector.
func fast(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	limit *= slowdown
	start := time.Now()
	f()
	if d := time.Since(start); d > limit {
		t.Errorf("took %v, more than %v", d, limit)
	}
}

// wantCorrupt checks err is a KindCorrupt error that says each of the words.
func wantCorrupt(t *testing.T, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	if k := ir.KindOf(err); k != ir.KindCorrupt {
		t.Fatalf("error of kind %v, want corrupt: %v", k, err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q: %v", w, err)
		}
	}
}

// A protocol-0 pickle of a megabyte parses in well under a second (it took 85 s when
// each text opcode copied the rest of the pickle to find its newline).
func TestTextOpcodePickleIsLinear(t *testing.T) {
	pkl := bombs.TextPickle(1 << 20)
	data := bombs.Checkpoint(pkl, "0", string(make([]byte, 16)))
	var m *ir.Model
	var err error
	fast(t, time.Second, func() { m, err = ReadBytes(data, "text.pt") })
	if err != nil {
		t.Fatal(err)
	}
	n := len(m.Graph.Initializers)
	if n < 10000 {
		t.Fatalf("%d tensors from a %d-byte pickle", n, len(pkl))
	}
	first := m.Graph.Initializers[0]
	if first.Name != "layer0.weight" || m.Graph.Initializers[1].Name != "layer1.weight" || first.DType != ir.Float32 || len(first.Shape) != 2 {
		t.Errorf("first tensors: %s %v%v, %s", first.Name, first.DType, first.Shape, m.Graph.Initializers[1].Name)
	}
}

func TestTextOpcodes(t *testing.T) {
	for in, want := range map[string]string{
		`S'abc'`: "abc", `S"it's"`: "it's", `S'a\'b'`: "a'b", `S'\x41\n\\'`: "A\n\\", `S'\101'`: "A",
		`Vcaf\u00e9`: "café", `V\U0001F600`: "😀", `Va\b`: `a\b`, "V\xe9": "é",
	} {
		pkl := "\x80\x02}(X\x01\x00\x00\x00k" + in + "\nu."
		u := &unpickler{data: []byte(pkl)}
		v, err := u.run()
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := v.(*pyDict).vals[0]; got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{`S'abc`, `Sabc`, `S'\x4'`, `S'a\'`, `S'`} {
		u := &unpickler{data: []byte("\x80\x02" + in + "\n.")}
		if _, err := u.run(); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

// Memo references nested 60 levels deep (each level holding the one below twice) end at
// once with a clear error: the walk over the object graph is bounded by the pickle's size.
func TestMemoExplosion(t *testing.T) {
	withBudget(t, 256<<20)
	for _, c := range []struct {
		levels int
		tensor bool
	}{{60, false}, {60, true}, {40, true}} {
		data := bombs.Checkpoint(bombs.MemoPickle(c.levels, c.tensor), "0", string(make([]byte, 16)))
		var err error
		fast(t, time.Second, func() { _, err = ReadBytes(data, "laughs.pt") })
		wantCorrupt(t, err, "laughs.pt", "data.pkl", "billion laughs")
	}
	// Deeper than the nesting limit: refused as before, as fast.
	var err error
	fast(t, time.Second, func() {
		_, err = ReadBytes(bombs.Checkpoint(bombs.MemoPickle(200, false), "0", string(make([]byte, 16))), "deep.pt")
	})
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("200 levels: %v", err)
	}
	// A few shared levels are a legitimate (if odd) checkpoint and read in full.
	data := bombs.Checkpoint(bombs.MemoPickle(6, true), "0", string(make([]byte, 16)))
	m, err := ReadBytes(data, "shared.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Initializers) != 1<<6 {
		t.Errorf("%d tensors, want %d", len(m.Graph.Initializers), 1<<6)
	}
}

// Stride-0 views of a one-element storage that expand to 200 × 60 MB stop at the
// memory budget, naming the file, the tensor and the size.
func TestExpandBomb(t *testing.T) {
	withBudget(t, 256<<20)
	data := bombs.Checkpoint(bombs.ExpandPickle(200, 15<<20), "0", string(make([]byte, 4)))
	if len(data) > 32<<10 {
		t.Fatalf("the bomb is %d bytes", len(data))
	}
	var err error
	fast(t, time.Second, func() { _, err = ReadBytes(data, "expand.pt") })
	wantCorrupt(t, err, "expand.pt", `tensor "w`, "60.0 MiB", "memory budget", ir.EnvMaxMemory)
	if !errors.Is(err, ir.ErrMemoryBudget) {
		t.Errorf("does not wrap ErrMemoryBudget: %v", err)
	}
}

// Deflated storages that inflate to 4 × 1 GiB, and 10 members sharing one 64 MiB
// compressed body, stop at the budget before inflating.
func TestZipBombs(t *testing.T) {
	withBudget(t, 256<<20)
	for _, c := range []struct {
		name    string
		data    []byte
		maxSize int
	}{
		{"bomb.pt", bombs.TorchZipBomb(4, 1<<30, false), 5 << 20},
		{"overlap.pt", bombs.TorchZipBomb(10, 60<<20, true), 64 << 10},
	} {
		if len(c.data) > c.maxSize {
			t.Fatalf("%s is %d bytes", c.name, len(c.data))
		}
		var err error
		fast(t, time.Second, func() { _, err = ReadBytes(c.data, c.name) })
		wantCorrupt(t, err, c.name, `tensor "w`, `inflating storage "`, "memory budget")
	}
	// Under a budget that allows it, the overlapping one is read (it is a valid zip).
	withBudget(t, 2<<30)
	m, err := ReadBytes(bombs.TorchZipBomb(3, 8<<20, true), "ok.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Initializers) != 3 || m.Graph.Initializers[2].Shape[0] != 2<<20 {
		t.Errorf("read %d tensors", len(m.Graph.Initializers))
	}
}

// A bad MODELC_MAX_MEMORY is an invalid-argument error, not a silent default.
func TestBadBudgetSetting(t *testing.T) {
	t.Setenv(ir.EnvMaxMemory, "lots")
	_, err := ReadBytes(bombs.Checkpoint(bombs.ExpandPickle(1, 1<<20), "0", "\x00\x00\x00\x00"), "x.pt")
	if ir.KindOf(err) != ir.KindInvalidArgument || !strings.Contains(err.Error(), ir.EnvMaxMemory) {
		t.Fatalf("got %v", err)
	}
}
