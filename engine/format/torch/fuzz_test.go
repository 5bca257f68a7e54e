package torch

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/modelc/modelc/engine/format/internal/bombs"
	"github.com/modelc/modelc/engine/ir"
)

// maxAlloc is the most an input under smallInput bytes may make a reader allocate in
// all (runtime.MemStats.TotalAlloc), whatever the input. The targets run under a memory
// budget of fuzzBudget, smaller, so that inputs the budget lets through stay quick and the
// fuzzer keeps its pace; an allocation the budget does not see still shows in the total.
const (
	maxAlloc   = 256 << 20
	smallInput = 64 << 10
	fuzzBudget = "32MiB"
)

// setFuzzBudget puts the fuzz target under fuzzBudget (in every fuzzing worker too: each
// runs the target's setup).
func setFuzzBudget(f *testing.F) {
	f.Setenv(ir.EnvMaxMemory, fuzzBudget)
}

// checkedRead runs read on an input of n bytes and fails when an input under smallInput
// made it allocate more than fuzzBudget, or when its error is not a corrupt or
// unsupported file.
func checkedRead(t *testing.T, n int, read func() error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := read()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; n < smallInput && got > maxAlloc {
		t.Fatalf("a %d-byte input made the reader allocate %d bytes (err %v)", n, got, err)
	}
	if err != nil {
		if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
			t.Fatalf("error of kind %v: %v", k, err)
		}
	}
}

// bombSeeds are crafted checkpoints under smallInput bytes that ask for far more: a
// protocol-0 pickle, memo references nested 60 levels deep, stride-0 storages that
// expand to 200 × 60 MB, and ten storages sharing one compressed body of 60 MB.
func bombSeeds() [][]byte {
	f4 := string(make([]byte, 16))
	return [][]byte{
		bombs.Checkpoint(bombs.TextPickle(32<<10), "0", f4),
		bombs.Checkpoint(bombs.MemoPickle(60, false), "0", f4),
		bombs.Checkpoint(bombs.MemoPickle(40, true), "0", f4),
		bombs.Checkpoint(bombs.ExpandPickle(200, 15<<20), "0", "\x00\x00\x00\x00"),
		bombs.TorchZipBomb(10, 60<<20, true),
	}
}

// FuzzRead feeds arbitrary bytes to the checkpoint reader (zip and pickle together): it
// must return a model or a classified error, never panic, and a model it accepts must
// write out and read back.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"views.pt", "dtypes.pt", "nested.pt", "evil.pt"} {
		if data, err := os.ReadFile(filepath.Join(fixtures, name)); err == nil {
			f.Add(data)
		}
	}
	for _, b := range bombSeeds() {
		f.Add(b)
	}
	setFuzzBudget(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m *ir.Model
		checkedRead(t, len(data), func() (err error) { m, err = ReadBytes(data, "fuzz.pt"); return err })
		if m == nil {
			return
		}
		var buf bytes.Buffer
		if err := writeZip(&buf, m.Graph.Initializers, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadBytes(buf.Bytes(), "again.pt"); err != nil {
			t.Fatalf("re-reading our own output failed: %v", err)
		}
	})
}

// FuzzUnpickle runs the restricted unpickler on arbitrary pickles inside a well-formed zip,
// so the fuzzer spends its time on the opcode machine rather than on zip framing.
func FuzzUnpickle(f *testing.F) {
	f.Add([]byte(tensorPickle(4, 0, []int64{2, 2}, []int64{1, 2})))
	f.Add(statePickle(everyDType(f).Graph.Initializers))
	f.Add([]byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."))
	f.Add(bombs.TextPickle(16 << 10))
	f.Add(bombs.MemoPickle(60, false))
	f.Add(bombs.MemoPickle(40, true))
	f.Add(bombs.ExpandPickle(100, 15<<20))
	setFuzzBudget(f)
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := zipOf(t, "a/data.pkl", string(pkl), "a/data/0", string(make([]byte, 16)))
		checkedRead(t, len(data), func() error { _, err := ReadBytes(data, "fuzz.pt"); return err })
	})
}
