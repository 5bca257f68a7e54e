package npy

import (
	"strings"
	"testing"
	"time"

	"github.com/modelc/modelc/engine/format/internal/bombs"
	"github.com/modelc/modelc/engine/ir"
)

func withBudget(t testing.TB, n int64) {
	t.Setenv(ir.EnvMaxMemory, "")
	prev := ir.SetMemoryLimit(n)
	t.Cleanup(func() { ir.SetMemoryLimit(prev) })
}

// An .npz whose deflated members inflate to 4 × 1 GiB, and one whose 10 members share
// one compressed body, stop at the memory budget at once, naming the file and array.
func TestZipBombs(t *testing.T) {
	withBudget(t, 256<<20)
	for _, c := range []struct {
		name    string
		data    []byte
		maxSize int
	}{
		{"bomb.npz", bombs.NPZBomb(4, 1<<30, false), 5 << 20},
		{"overlap.npz", bombs.NPZBomb(10, 60<<20, true), 64 << 10},
	} {
		if len(c.data) > c.maxSize {
			t.Fatalf("%s is %d bytes", c.name, len(c.data))
		}
		start := time.Now()
		_, err := Parse(c.data, c.name)
		if d := time.Since(start); d > time.Second*slowdown {
			t.Errorf("%s: took %v", c.name, d)
		}
		if ir.KindOf(err) != ir.KindCorrupt {
			t.Fatalf("%s: got %v", c.name, err)
		}
		for _, w := range []string{c.name, `array "a`, "inflating member", "memory budget"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %q: %v", c.name, w, err)
			}
		}
	}
	// The same construction, small enough for the budget, is a valid archive.
	ts, err := Parse(bombs.NPZBomb(3, 4<<20, true), "ok.npz")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[2].Shape[0] != 1<<20 {
		t.Fatalf("read %d arrays", len(ts))
	}
}

// A Fortran-order array is copied to C order only when the budget has room for it.
func TestFortranCopyIsBudgeted(t *testing.T) {
	withBudget(t, 64<<20)
	hdr := "{'descr': '<f4', 'fortran_order': True, 'shape': (4096, 8192), }"
	hdr += strings.Repeat(" ", 64-(10+len(hdr)+1)%64) + "\n"
	data := append([]byte(Magic+"\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	data = append(append(data, hdr...), make([]byte, 4096*8192*4)...)
	_, err := Decode(data, "f", "fortran.npy")
	if ir.KindOf(err) != ir.KindCorrupt || !strings.Contains(err.Error(), "transposing") || !strings.Contains(err.Error(), `array "f"`) {
		t.Fatalf("got %v", err)
	}
}
