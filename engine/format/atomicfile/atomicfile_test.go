package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func write(t *testing.T, f *File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// leftovers lists the temporary and backup files left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestRefusesSpecialTargets(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	cases := []struct {
		path string
		kind ir.ErrorKind
		msg  string
	}{
		{fifo, ir.KindInvalidArgument, "FIFO"},
		{link, ir.KindInvalidArgument, "symbolic link"},
		{sub, ir.KindInvalidArgument, "folder"},
		{"/dev/null", ir.KindInvalidArgument, "device"},
		{filepath.Join(dir, "missing", "x"), ir.KindIO, "does not exist"},
	}
	for _, c := range cases {
		if _, err := CheckTarget(c.path, nil); ir.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckTarget(%s) = %v, want kind %v and %q", c.path, err, c.kind, c.msg)
		}
		f, err := Create(c.path)
		if err == nil {
			f.Abort()
			t.Errorf("Create(%s) succeeded", c.path)
		} else if ir.KindOf(err) != c.kind {
			t.Errorf("Create(%s) = %v, want kind %v", c.path, err, c.kind)
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", st, err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", st, err)
	}
	if got := content(t, outside); got != "keep" {
		t.Errorf("the link's target was written: %q", got)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

func TestModes(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	os.WriteFile(ro, []byte("old"), 0o444)
	os.Chmod(ro, 0o444)
	if _, err := Create(ro); ir.KindOf(err) != ir.KindIO || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a 0444 target: %v, want an I/O error saying read-only", err)
	}
	if got := content(t, ro); got != "old" {
		t.Errorf("the read-only file changed: %q", got)
	}

	kept := filepath.Join(dir, "kept")
	os.WriteFile(kept, []byte("old"), 0o640)
	os.Chmod(kept, 0o640)
	f, err := Create(kept)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(kept); st.Mode().Perm() != 0o640 || content(t, kept) != "new" {
		t.Errorf("replaced file: mode %v, %q; want 0640, new", st.Mode().Perm(), content(t, kept))
	}

	fresh := filepath.Join(dir, "fresh")
	f, err = Create(fresh)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "x")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o666&^umask() {
		t.Errorf("new file mode %v, want %v", st.Mode().Perm(), 0o666&^umask())
	}
}

func TestRefusesTheInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.data")
	os.WriteFile(in, []byte("input"), 0o644)
	st, _ := os.Stat(in)
	alias := filepath.Join(dir, "alias.data") // a hard link is the same file
	if err := os.Link(in, alias); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{in, alias} {
		s := NewSet([]os.FileInfo{st})
		if err := s.Check(p); ir.KindOf(err) != ir.KindInvalidArgument || !strings.Contains(err.Error(), "input") {
			t.Errorf("Check(%s) = %v", p, err)
		}
		s = NewSet([]os.FileInfo{st})
		if err := s.RemoveOnCommit(p); ir.KindOf(err) != ir.KindInvalidArgument {
			t.Errorf("RemoveOnCommit(%s) = %v", p, err)
		}
		s.Abort()
	}
	if content(t, in) != "input" {
		t.Error("input changed")
	}
}

// A set whose rename fails half-way puts back what it had replaced.
func TestSetRollsBack(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	os.WriteFile(a, []byte("old a"), 0o644)
	stale := filepath.Join(dir, "stale")
	os.WriteFile(stale, []byte("old stale"), 0o644)
	s := NewSet(nil)
	for _, p := range []string{a, b, c} {
		f, err := s.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		write(t, f, "new "+filepath.Base(p))
	}
	if err := s.RemoveOnCommit(stale); err != nil {
		t.Fatal(err)
	}
	// c's rename will fail: a non-empty folder took its place after Create.
	os.MkdirAll(filepath.Join(c, "x"), 0o755)
	if err := s.Commit(); err == nil {
		t.Fatal("Commit succeeded onto a folder")
	}
	if got := content(t, a); got != "old a" {
		t.Errorf("a = %q after a failed commit, want the old file back", got)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("b, new in the failed set, exists: %v", err)
	}
	if got := content(t, stale); got != "old stale" {
		t.Errorf("stale file touched by a failed commit: %q", got)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}

	// The same set, committed: every file new, the stale one gone, no backups left.
	os.RemoveAll(c)
	s = NewSet(nil)
	for _, p := range []string{a, b, c} {
		f, err := s.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		write(t, f, "new "+filepath.Base(p))
	}
	s.RemoveOnCommit(stale)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a, b, c} {
		if got := content(t, p); got != "new "+filepath.Base(p) {
			t.Errorf("%s = %q", p, got)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale file kept: %v", err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// The output folder is held from Create on: a folder swapped for a symlink during the
// write does not redirect it.
func TestFolderSwapDoesNotRedirect(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	elsewhere := filepath.Join(root, "elsewhere")
	os.Mkdir(out, 0o755)
	os.Mkdir(elsewhere, 0o755)
	f, err := Create(filepath.Join(out, "model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "data")
	if err := os.Rename(out, out+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, out); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(out+".moved", "model.bin")); got != "data" {
		t.Errorf("the output is not in the folder opened: %q", got)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the write was redirected through the symlink: %v", entries)
	}
}

// AbortAll removes what is being written and refuses anything new.
func TestAbortAll(t *testing.T) {
	defer func() { mu.Lock(); aborted = false; mu.Unlock() }()
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	os.WriteFile(old, []byte("old"), 0o644)
	s := NewSet(nil)
	f, err := s.Create(old)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "new")
	f.Flush()
	g, _ := s.Create(filepath.Join(dir, "index"))
	write(t, g, "index")
	if l := leftovers(t, dir); len(l) != 2 {
		t.Fatalf("temporary files: %v", l)
	}
	AbortAll()
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("left behind after AbortAll: %v", l)
	}
	if err := s.Commit(); ir.KindOf(err) != ir.KindCancelled && err == nil {
		t.Errorf("Commit after AbortAll: %v", err)
	}
	if content(t, old) != "old" {
		t.Error("old file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "index")); !os.IsNotExist(err) {
		t.Error("index appeared")
	}
	if _, err := Create(filepath.Join(dir, "later")); ir.KindOf(err) != ir.KindCancelled {
		t.Errorf("Create after AbortAll: %v", err)
	}
}

// AbortAll while a set is between its writes and its commit: Commit reports a cancel
// (and returns), nothing appears.
func TestAbortAllBeforeCommit(t *testing.T) {
	defer func() { mu.Lock(); aborted = false; mu.Unlock() }()
	if err := NewSet(nil).Commit(); err != nil {
		t.Errorf("empty set: %v", err)
	}
	dir := t.TempDir()
	s := NewSet(nil)
	f, err := s.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "data")
	mu.Lock()
	aborted = true // as AbortAll does, without ending the set yet
	mu.Unlock()
	if err := s.Commit(); ir.KindOf(err) != ir.KindCancelled {
		t.Errorf("Commit = %v, want cancelled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left: %v", entries)
	}
}
