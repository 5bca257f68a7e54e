// Package mmap maps files into memory for the format readers, so tensor data can be used
// in place instead of being read and copied.
package mmap

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// File is a file mapped into memory. The mapping is private and writable: pages are
// shared with the page cache until written, and a write (some tensor ops work in place)
// copies the page instead of faulting or changing the file.
type File struct {
	Data []byte
	Size int64
}

// Open maps the whole of path. An empty file gives an empty Data.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
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
		return &File{Data: []byte{}}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: too large to map (%d bytes)", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &File{Data: data, Size: size}, nil
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
