package ir

import (
	"errors"
	"strings"
	"testing"
)

func TestMemoryBudget(t *testing.T) {
	t.Setenv(EnvMaxMemory, "")
	prev := SetMemoryLimit(512 << 20)
	defer SetMemoryLimit(prev)
	if err := Reserve(1<<20, "f", "", "a small block"); err != nil {
		t.Fatal(err)
	}
	err := Reserve(600<<20, "m.pt", `tensor "w"`, "copying it")
	if KindOf(err) != KindCorrupt || !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("got %v", err)
	}
	for _, w := range []string{"m.pt", `tensor "w"`, "copying it needs 600.0 MiB", "memory budget of 512.0 MiB", EnvMaxMemory} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q: %v", w, err)
		}
	}
	if err := Reserve(-1, "f", "", "an overflowed size"); KindOf(err) != KindCorrupt {
		t.Errorf("a negative size: %v", err)
	}
	if b, err := AllocBytes(1000, "f", "", "x"); err != nil || len(b) != 1000 {
		t.Errorf("AllocBytes: %d, %v", len(b), err)
	}

	// The environment wins over the program's setting.
	t.Setenv(EnvMaxMemory, "2MiB")
	if n, src, err := MemoryLimit(); n != 2<<20 || !strings.Contains(src, EnvMaxMemory) || err != nil {
		t.Errorf("MemoryLimit = %d, %q, %v", n, src, err)
	}
	if _, err := AllocBytes(4<<20, "f", "", "x"); !errors.Is(err, ErrMemoryBudget) {
		t.Errorf("4 MiB under a 2 MiB budget: %v", err)
	}
	t.Setenv(EnvMaxMemory, "plenty")
	if err := Reserve(1, "f", "", "x"); KindOf(err) != KindInvalidArgument || !strings.Contains(err.Error(), EnvMaxMemory) {
		t.Errorf("bad setting: %v", err)
	}

	t.Setenv(EnvMaxMemory, "")
	SetMemoryLimit(0)
	n, why := DefaultMemoryLimit()
	if got, _, _ := MemoryLimit(); got != n || n < 64<<20 || why == "" {
		t.Errorf("default %d (%s), MemoryLimit %d", n, why, got)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 60 << 20: "60.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
