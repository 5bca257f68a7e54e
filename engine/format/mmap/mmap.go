// Package mmap maps files into memory for the format readers, so tensor data can be used
// in place instead of being read and copied.
package mmap

import (
	"fmt"
	"os"
	"syscall"
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

// Close unmaps the file; its Data must not be used afterwards.
func (f *File) Close() error {
	if len(f.Data) == 0 {
		return nil
	}
	err := syscall.Munmap(f.Data)
	f.Data = nil
	return err
}
