package mmap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The symlink rule for files a model names: followed inside the model's folder, or inside
// a Hugging Face cache repository's folder when the model lies in one of its snapshots;
// refused anywhere else.
func TestInsideSymlinkRule(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// models--org--name/{blobs/<hash>, snapshots/<rev>/model.safetensors -> ../../blobs/<hash>}
	repo := filepath.Join(root, "hub", "models--org--name")
	snap := filepath.Join(repo, "snapshots", "abc123")
	must(os.MkdirAll(filepath.Join(repo, "blobs"), 0o755))
	must(os.MkdirAll(filepath.Join(snap, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(repo, "blobs", "h1"), []byte("blob"), 0o644))
	must(os.Symlink("../../blobs/h1", filepath.Join(snap, "shard.safetensors")))
	must(os.Symlink("../../../blobs/h1", filepath.Join(snap, "sub", "deep.bin")))
	secret := filepath.Join(root, "secret")
	must(os.WriteFile(secret, []byte("secret"), 0o644))
	must(os.Symlink("../../../../secret", filepath.Join(snap, "escape.bin")))
	must(os.Symlink(secret, filepath.Join(snap, "absolute.bin")))

	// A plain model folder: links inside it are followed, links out are not.
	plain := filepath.Join(root, "plain")
	must(os.MkdirAll(filepath.Join(plain, "data"), 0o755))
	must(os.WriteFile(filepath.Join(plain, "data", "w.bin"), []byte("inside"), 0o644))
	must(os.Symlink("data/w.bin", filepath.Join(plain, "in.bin")))
	must(os.Symlink("../secret", filepath.Join(plain, "out.bin")))
	// A snapshot-like folder without blobs/ beside it is a plain folder.
	fake := filepath.Join(root, "fake", "snapshots", "r")
	must(os.MkdirAll(fake, 0o755))
	must(os.Symlink("../../../secret", filepath.Join(fake, "x.bin")))

	cases := []struct {
		dir, name, want string
		escapes         bool
	}{
		{snap, "shard.safetensors", "blob", false},
		{filepath.Join(snap, "sub"), "deep.bin", "blob", false},
		{snap, "sub/deep.bin", "blob", false},
		{snap, "escape.bin", "", true},
		{snap, "absolute.bin", "", true},
		{plain, "in.bin", "inside", false},
		{plain, "out.bin", "", true},
		{fake, "x.bin", "", true},
	}
	for _, c := range cases {
		f, err := OpenInside(c.dir, c.name)
		if c.escapes {
			if !errors.Is(err, ErrEscapes) {
				t.Errorf("%s/%s: %v, want ErrEscapes", c.dir, c.name, err)
			}
			if err == nil {
				f.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s: %v", c.dir, c.name, err)
			continue
		}
		if string(f.Data) != c.want {
			t.Errorf("%s/%s = %q, want %q", c.dir, c.name, f.Data, c.want)
		}
		if f.SourceInfo() == nil {
			t.Errorf("%s/%s: no source info", c.dir, c.name)
		}
		f.Close()
	}
}

// The folder is opened once: a component swapped for a symlink to the outside is not
// followed (os.Root resolves each component beneath it).
func TestInsideComponentSwap(t *testing.T) {
	root := t.TempDir()
	model := filepath.Join(root, "model")
	os.MkdirAll(filepath.Join(model, "data"), 0o755)
	os.WriteFile(filepath.Join(model, "data", "w.bin"), []byte("inside"), 0o644)
	outside := filepath.Join(root, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "w.bin"), []byte("secret"), 0o644)
	os.Rename(filepath.Join(model, "data"), filepath.Join(model, "data.old"))
	os.Symlink(outside, filepath.Join(model, "data"))
	if f, err := OpenInside(model, "data/w.bin"); !errors.Is(err, ErrEscapes) {
		if err == nil {
			t.Errorf("read %q through a swapped folder", f.Data)
			f.Close()
		} else {
			t.Errorf("got %v, want ErrEscapes", err)
		}
	}
}
