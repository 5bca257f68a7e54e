// Package atomicfile writes output files so that a failure or a kill leaves either the
// old output or the complete new one, never a partial or mixed one.
//
// The rules every output obeys (README "Paths and outputs"):
//
//   - The output's folder is opened once, when the write starts (symlinks in the folder's
//     own path are followed then, as the user named it); every later step (the temporary
//     file, the check of what is at the output path, the rename, the removal of stale
//     files) happens relative to that held handle, so swapping a folder for a symlink
//     during a conversion cannot redirect the write.
//   - What is at the output path must be a regular file, or nothing: a symlink, a folder,
//     a FIFO, a device or a socket there is refused (ir.KindInvalidArgument). A symlink
//     is not written through: modelc replaces outputs by renaming, and name the link's
//     target if that is the file meant.
//   - A file without its owner's write permission (chmod a-w) is refused
//     (ir.KindIO), as cp and the shell's > refuse it; a writable file that is replaced
//     keeps its permission bits; a new file gets 0666 less the umask.
//   - An output that is one of the input's files (by identity: the model file, its
//     external data, a shard, an index) is refused (ir.KindInvalidArgument).
//
// Several files that belong together (the shards and index of a sharded checkpoint, an
// ONNX model and its external data) form a Set: all are written under temporary names,
// then renamed in order with the last one (the index, the model) as the commit point. A
// failure before that point puts back every file the set had replaced; AbortAll (the
// command-line tool's SIGTERM/Ctrl-C handler) waits for a commit in progress to finish,
// so a signal sees the old files or the complete new set, never a mix.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/modelc/modelc/engine/ir"
)

// mu orders commits against AbortAll: a set's renames happen under it, and AbortAll takes
// it, so a signal never lands between the first and the last rename of a set.
var (
	mu        sync.Mutex
	inflight  = map[*Set]struct{}{}
	aborted   bool // AbortAll ran: the process is exiting, nothing new may start
	committed int  // sets committed in this process
)

// Set is a group of output files that appear together, or not at all.
type Set struct {
	protect map[fileID]bool
	roots   map[string]*os.Root // output folder → its held handle
	files   []*File
	stale   []staleFile
	done    bool // committed or aborted: the handles are closed
}

type staleFile struct {
	root *os.Root
	name string
}

type fileID struct{ dev, ino uint64 }

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// NewSet starts a group of outputs. protect lists the input's files (ir.Model.Sources):
// an output or a stale file that is one of them is refused before anything is written.
func NewSet(protect []os.FileInfo) *Set {
	s := &Set{protect: map[fileID]bool{}, roots: map[string]*os.Root{}}
	for _, fi := range protect {
		if id, ok := idOf(fi); ok {
			s.protect[id] = true
		}
	}
	return s
}

// File is one output being written to a temporary file beside its final path.
type File struct {
	set    *Set
	root   *os.Root
	path   string // as the caller named it, for messages
	name   string // relative to root
	tmp    string // relative to root
	f      *os.File
	mode   os.FileMode
	backup string // the replaced file, hard-linked while the set commits
	*bufio.Writer
}

// Create starts writing path alone: Commit renames it into place, Abort discards it.
func Create(path string) (*File, error) { return NewSet(nil).Create(path) }

// Path is the output's final path.
func (f *File) Path() string { return f.path }

// root returns the held handle of path's folder, opening it on first use.
func (s *Set) root(path string) (*os.Root, string, error) {
	clean := filepath.Clean(path)
	dir, name := filepath.Dir(clean), filepath.Base(clean)
	if name == "." || name == ".." || name == string(filepath.Separator) {
		return nil, "", ir.Errorf(ir.KindInvalidArgument, path, "is not a file name")
	}
	if r := s.roots[dir]; r != nil {
		return r, name, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, "", ir.Errorf(ir.KindIO, path, "the output folder %s does not exist", dir)
		case errors.Is(err, syscall.ENOTDIR):
			return nil, "", ir.Errorf(ir.KindIO, path, "%s is not a folder", dir)
		}
		return nil, "", ir.IOError(path, err)
	}
	s.roots[dir] = r
	return r, name, nil
}

// CheckTarget says whether path may be replaced by an output: nothing there, or a regular
// file that is writable and not one of protect. It returns the permission bits the new
// file should get. The engine calls it before a long conversion starts, for an early
// answer; writers check again, race-free, when they create the file.
func CheckTarget(path string, protect []os.FileInfo) (os.FileMode, error) {
	s := NewSet(protect)
	defer s.close()
	r, name, err := s.root(path)
	if err != nil {
		return 0, err
	}
	return s.check(r, name, path)
}

func (s *Set) check(r *os.Root, name, path string) (os.FileMode, error) {
	fi, err := r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0o666 &^ umask(), nil
	}
	if err != nil {
		return 0, ir.IOError(path, err)
	}
	if err := refuseSpecial(fi, path); err != nil {
		return 0, err
	}
	if id, ok := idOf(fi); ok && s.protect[id] {
		return 0, &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: errors.New("is one of the input's files (the model, its external data, a shard or the index); modelc never overwrites its input")}
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return 0, &ir.Error{Kind: ir.KindIO, File: path, Err: fmt.Errorf("is read-only (mode %04o); modelc does not replace write-protected files: chmod u+w it or remove it first", fi.Mode().Perm())}
	}
	return fi.Mode().Perm(), nil
}

// refuseSpecial refuses anything at an output path but a regular file.
func refuseSpecial(fi os.FileInfo, path string) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		what = "a symbolic link; modelc replaces outputs by renaming and does not write through links: name the link's target instead"
	case m.IsDir():
		what = "a folder; name a file inside it"
	case m&fs.ModeNamedPipe != 0:
		what = "a FIFO (named pipe); modelc writes only regular files"
	case m&fs.ModeDevice != 0:
		what = "a device; modelc writes only regular files"
	case m&fs.ModeSocket != 0:
		what = "a socket; modelc writes only regular files"
	default:
		what = "not a regular file; modelc writes only regular files"
	}
	return &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: errors.New("is " + what)}
}

// Check says, before anything is written, whether path may be one of the set's outputs
// (see CheckTarget). Create checks again.
func (s *Set) Check(path string) error {
	mu.Lock()
	defer mu.Unlock()
	if aborted {
		return &ir.Error{Kind: ir.KindCancelled, File: path, Err: errors.New("interrupted: the process is stopping; no output was written")}
	}
	r, name, err := s.root(path)
	if err == nil {
		_, err = s.check(r, name, path)
	}
	if err != nil {
		s.abortLocked()
	}
	return err
}

// Create starts writing path as a member of the set.
func (s *Set) Create(path string) (*File, error) {
	mu.Lock()
	defer mu.Unlock()
	if aborted {
		return nil, &ir.Error{Kind: ir.KindCancelled, File: path, Err: errors.New("interrupted: the process is stopping; no output was written")}
	}
	if s.done {
		return nil, ir.Errorf(ir.KindInternal, path, "output set already committed or aborted")
	}
	r, name, err := s.root(path)
	if err != nil {
		s.abortLocked()
		return nil, err
	}
	mode, err := s.check(r, name, path)
	if err != nil {
		s.abortLocked()
		return nil, err
	}
	dir, base := filepath.Split(name)
	var tmp string
	var f *os.File
	for range 100 {
		tmp = dir + "." + base + ".tmp-" + strconv.FormatUint(rand.Uint64()%1e10, 10)
		f, err = r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		s.abortLocked()
		return nil, ir.IOError(path, err)
	}
	file := &File{set: s, root: r, path: path, name: name, tmp: tmp, f: f, mode: mode, Writer: bufio.NewWriterSize(f, 1<<20)}
	s.files = append(s.files, file)
	inflight[s] = struct{}{}
	return file, nil
}

// RemoveOnCommit names a file of an earlier output that the new set replaces (a shard
// the new index no longer lists): Commit removes it after the commit point. A file that is
// one of the input's files is refused now. Folders and missing files are left alone.
func (s *Set) RemoveOnCommit(path string) error {
	mu.Lock()
	defer mu.Unlock()
	if aborted || s.done {
		return &ir.Error{Kind: ir.KindCancelled, File: path, Err: errors.New("interrupted: the process is stopping; no output was written")}
	}
	r, name, err := s.root(path)
	if err != nil {
		return err
	}
	fi, err := r.Lstat(name)
	if err != nil || fi.IsDir() {
		return nil
	}
	if id, ok := idOf(fi); ok && s.protect[id] {
		return &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: errors.New("the output would replace this file, one of the input's files; modelc never overwrites its input: write to another folder or name")}
	}
	s.stale = append(s.stale, staleFile{r, name})
	return nil
}

// Commit flushes and syncs every file, then renames them into place in the order they
// were created, the last one being the commit point, and removes the stale files. On
// failure nothing of the set remains and the replaced files are back.
func (f *File) Commit() error { return f.set.Commit() }

// Abort discards the whole set the file belongs to. It is safe to call after Commit.
func (f *File) Abort() { f.set.Abort() }

// Commit makes the set's files appear; see File.Commit.
func (s *Set) Commit() error {
	if s.done {
		return s.stopped()
	}
	for _, f := range s.files {
		err := f.Flush()
		if err == nil {
			err = f.f.Sync()
		}
		if err == nil {
			err = f.f.Chmod(f.mode)
		}
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.Abort()
			if err := s.stopped(); ir.KindOf(err) == ir.KindCancelled {
				return err
			}
			return &ir.Error{Kind: ir.KindIO, File: f.path, Err: err}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if aborted || s.done {
		s.abortLocked()
		return s.stoppedLocked()
	}
	last := len(s.files) - 1
	if last < 0 {
		s.closeLocked()
		return nil
	}
	for i, f := range s.files {
		if i < last {
			// Keep the file this one replaces until the commit point, to put it back
			// should a later rename fail. Without hard links, go on without.
			if fi, err := f.root.Lstat(f.name); err == nil && fi.Mode().IsRegular() {
				b := f.tmp + ".old"
				if f.root.Link(f.name, b) == nil {
					f.backup = b
				}
			}
		}
		if err := f.root.Rename(f.tmp, f.name); err != nil {
			s.rollbackLocked(i)
			return &ir.Error{Kind: ir.KindIO, File: f.path, Err: err}
		}
	}
	// The set is complete: what it replaced can go.
	for _, f := range s.files {
		if f.backup != "" {
			f.root.Remove(f.backup)
		}
	}
	for _, st := range s.stale {
		st.root.Remove(st.name)
	}
	committed++
	var err error
	for _, r := range s.roots {
		if d, oerr := r.Open("."); oerr == nil {
			if serr := d.Sync(); serr != nil && err == nil && !errors.Is(serr, syscall.EINVAL) {
				err = serr
			}
			d.Close()
		}
	}
	s.closeLocked()
	if err != nil {
		return ir.IOError(s.files[last].path, err)
	}
	return nil
}

// stopped is the error of a set that AbortAll (or an earlier Abort or Commit) ended.
func (s *Set) stopped() error {
	mu.Lock()
	defer mu.Unlock()
	return s.stoppedLocked()
}

func (s *Set) stoppedLocked() error {
	if aborted || len(s.files) == 0 {
		return &ir.Error{Kind: ir.KindCancelled, Err: errors.New("interrupted: the process is stopping; no output was written")}
	}
	return ir.Errorf(ir.KindInternal, s.files[0].path, "output set already committed or aborted")
}

// rollbackLocked undoes the renames of files [0, n) and removes every temporary file.
func (s *Set) rollbackLocked(n int) {
	for i := n - 1; i >= 0; i-- {
		f := s.files[i]
		if f.backup != "" {
			f.root.Rename(f.backup, f.name)
			f.backup = ""
		} else {
			f.root.Remove(f.name)
		}
	}
	s.abortLocked()
}

// Abort discards every file of the set not yet committed.
func (s *Set) Abort() {
	mu.Lock()
	defer mu.Unlock()
	s.abortLocked()
}

func (s *Set) abortLocked() { s.discardLocked(true) }

// discardLocked removes the set's temporary files. AbortAll leaves the files open
// (closeFiles false): the goroutine writing them may be in the middle of a write, which
// then goes on into an unlinked file, harmlessly, until its Commit fails.
func (s *Set) discardLocked(closeFiles bool) {
	if s.done {
		return
	}
	for _, f := range s.files {
		if closeFiles {
			f.f.Close()
		}
		f.root.Remove(f.tmp)
		if f.backup != "" {
			f.root.Remove(f.backup)
		}
	}
	s.closeLocked()
}

func (s *Set) close() {
	mu.Lock()
	defer mu.Unlock()
	s.closeLocked()
}

func (s *Set) closeLocked() {
	for _, r := range s.roots {
		r.Close()
	}
	s.roots = map[string]*os.Root{}
	s.done = true
	delete(inflight, s)
}

// AbortAll removes the temporary files of every output still being written, and makes
// every later write fail. A command-line tool calls it when interrupted, just before it
// exits: outputs keep their old contents (or stay absent) and nothing partial is left. A
// set in the middle of its renames finishes first (a few milliseconds). It reports
// whether an output was committed in this process, so the caller can say so.
func AbortAll() (committedAny bool) {
	mu.Lock()
	defer mu.Unlock()
	aborted = true
	for s := range inflight {
		s.discardLocked(false)
	}
	return committed > 0
}
