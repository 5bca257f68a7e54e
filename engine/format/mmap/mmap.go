// Package mmap maps files into memory for the format readers, so tensor data can be used
// in place instead of being read and copied.
package mmap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// File is a file mapped into memory. The mapping is private and writable: pages are
// shared with the page cache until written, and a write (some tensor ops work in place)
// copies the page instead of faulting or changing the file.
type File struct {
	Data []byte
	Size int64
	info os.FileInfo
}

// SourceInfo describes the mapped file (ir.Model.Sources lists it).
func (f *File) SourceInfo() os.FileInfo { return f.info }

// Open maps the whole of path. An empty file gives an empty Data.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return mapFile(f, path)
}

// OpenInside maps the file name, which a model file in folder dir refers to (ONNX
// external data, a shard an index lists), without leaving dir: see Inside.
func OpenInside(dir, name string) (*File, error) {
	f, err := Inside(dir, name)
	if err != nil {
		return nil, err
	}
	return mapFile(f, filepath.Join(dir, name))
}

func mapFile(f *os.File, path string) (*File, error) {
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	size := st.Size()
	if size == 0 {
		return &File{Data: []byte{}, info: st}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: too large to map (%d bytes)", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &File{Data: data, Size: size, info: st}, nil
}

// DropUnmodified releases the memory behind the whole pages of b (which must lie in this
// mapping): the kernel re-reads them from the file when they are next touched. The page
// cache maps large files in folios of up to 2 MiB, so touching a tensor's header maps its
// neighbourhood too; dropping what a reader or writer has finished with keeps the
// resident set small. Pages written since the mapping was made would lose the writes, so
// call it only on data nobody has modified: the readers while parsing, and the writers
// when the model comes straight from a reader (as in a conversion).
func (f *File) DropUnmodified(b []byte) {
	if len(b) == 0 || len(f.Data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(&f.Data[0]))
	start := uintptr(unsafe.Pointer(&b[0]))
	if start < base || start+uintptr(len(b)) > base+uintptr(len(f.Data)) {
		return // not ours
	}
	page := uintptr(os.Getpagesize())
	lo := (start - base + page - 1) / page * page
	hi := (start - base + uintptr(len(b))) / page * page
	if hi > lo {
		syscall.Madvise(f.Data[lo:hi], syscall.MADV_DONTNEED)
	}
}

// Close unmaps the file; its Data must not be used afterwards.
func (f *File) Close() error {
	if len(f.Data) == 0 {
		return nil
	}
	err := syscall.Munmap(f.Data)
	f.Data = nil
	return err
}

// ErrEscapes says a file a model refers to lies outside the folder it may be read from.
var ErrEscapes = errors.New("leads out of the model's folder through a symlink")

// Inside opens the file name (relative, as a model file's reference to another file is),
// which must stay inside the folder dir, race-free: the folder is opened once and the
// name resolved beneath it (os.Root), so a folder swapped for a symlink while modelc reads
// cannot redirect it. The rule for symlinks, for every file a model refers to (ONNX
// external data; the shards of a sharded safetensors or PyTorch checkpoint):
//
//   - a symlink is followed while it stays inside dir (absolute links are refused);
//   - in a Hugging Face cache (dir lies under <repo>/snapshots/<revision>/ and <repo>
//     holds blobs/), the bound is <repo> instead, so the cache's relative links to
//     ../../blobs/<hash> are followed, and nothing outside that repository's folder;
//   - anything else is ErrEscapes.
//
// The path the user names (the model file, the checkpoint's folder or index) is opened
// as given, symlinks and all.
func Inside(dir, name string) (*os.File, error) {
	root, rel := boundOf(dir)
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(filepath.Join(rel, name))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
			return nil, ErrEscapes
		}
		return nil, err
	}
	return f, nil
}

// boundOf returns the folder a model in dir may read beneath, and dir relative to it.
func boundOf(dir string) (root, rel string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir, "."
	}
	for d := abs; ; {
		parent := filepath.Dir(d)
		if parent == d {
			return dir, "."
		}
		if filepath.Base(d) == "snapshots" {
			if st, err := os.Stat(filepath.Join(parent, "blobs")); err == nil && st.IsDir() {
				if r, err := filepath.Rel(parent, abs); err == nil {
					return parent, r
				}
			}
		}
		d = parent
	}
}
