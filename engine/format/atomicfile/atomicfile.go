// Package atomicfile writes output files so that a failure or a kill leaves either the
// old file or the complete new one, never a partial file.
package atomicfile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// inflight holds the temporary files being written, so AbortAll can remove them when
// the process is told to stop.
var inflight sync.Map // temp file name → struct{}

// File is an output being written to a temporary file beside its final path.
type File struct {
	path string
	tmp  *os.File
	*bufio.Writer
}

// Create starts writing path: the data goes to a temporary file in the same folder,
// which Commit renames over path and Abort removes.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	inflight.Store(tmp.Name(), struct{}{})
	return &File{path: path, tmp: tmp, Writer: bufio.NewWriterSize(tmp, 1<<20)}, nil
}

// AbortAll removes every temporary file still being written. A command-line tool calls
// it when interrupted, just before it exits: the outputs keep their old contents (or stay
// absent) and nothing partial is left beside them.
func AbortAll() {
	inflight.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		inflight.Delete(name)
		return true
	})
}

// Commit flushes, syncs and renames the file into place.
func (f *File) Commit() error {
	err := f.Flush()
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Match what os.Create would have given (CreateTemp makes the file 0600).
		err = os.Chmod(f.tmp.Name(), 0o666&^umask())
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	inflight.Delete(f.tmp.Name())
	if err != nil {
		os.Remove(f.tmp.Name())
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// Abort discards the temporary file. It is safe to call after Commit.
func (f *File) Abort() {
	f.tmp.Close()
	os.Remove(f.tmp.Name())
	inflight.Delete(f.tmp.Name())
}
