package npy

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// Detect recognises a .npy file, or a zip whose first member is a .npy (an .npz). Other
// zips (PyTorch checkpoints) are left to their own readers.
func Detect(head []byte) bool {
	if bytes.HasPrefix(head, []byte(Magic)) {
		return true
	}
	// Zip local file header: "PK\3\4", name length at 26, name at 30.
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	nl := int(head[26]) | int(head[27])<<8
	if 30+nl > len(head) {
		return false
	}
	return strings.HasSuffix(string(head[30:30+nl]), ".npy")
}

// Read loads a .npy file (one initializer named after the file) or an .npz archive (one
// initializer per array, named by its key) as a weight-only model. Stored arrays alias a
// memory map of the file; compressed ones are inflated into memory.
func Read(path string) (*ir.Model, error) {
	mf, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	ts, err := Parse(mf.Data, path)
	if err != nil {
		mf.Close()
		return nil, err
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Initializers: ts}}
	m.KeepAlive(mf)
	return m, nil
}

// ReadTensors reads the arrays of a .npy or .npz file into memory the caller owns (no
// memory map stays open).
func ReadTensors(path string) ([]*ir.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	return Parse(data, path)
}

// Parse decodes the bytes of a .npy or .npz file; the tensors may alias data. A .npy
// array is named after the file's base name without extension.
func Parse(data []byte, path string) ([]*ir.Tensor, error) {
	if bytes.HasPrefix(data, []byte(Magic)) {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t, err := Decode(data, name, path)
		if err != nil {
			return nil, err
		}
		return []*ir.Tensor{t}, nil
	}
	if bytes.HasPrefix(data, []byte("PK")) {
		return parseNPZ(data, path)
	}
	return nil, ir.Errorf(ir.KindCorrupt, path, "neither a .npy file nor an .npz archive")
}

// maxInflate bounds the ratio of inflated to compressed size that a member may declare:
// deflate cannot do better than about 1032:1, so a larger claim is a lie.
const maxInflate = 1032

func parseNPZ(data []byte, path string) ([]*ir.Tensor, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, path, "not a valid .npz (zip) archive: %v", err)
	}
	// Every member is an array to read: check what the deflated ones inflate to, all
	// together, against the memory budget before inflating any.
	var total int64
	for _, f := range zr.File {
		if f.Method != zip.Deflate || f.UncompressedSize64 > maxInflate*f.CompressedSize64+1024 {
			continue // stored (aliases the file), or refused below
		}
		if total += int64(min(f.UncompressedSize64, math.MaxInt64/2)); total < 0 {
			total = math.MaxInt64
		}
		what := fmt.Sprintf("inflating member %q (%s) with the members before it", f.Name, ir.FormatSize(int64(f.UncompressedSize64)))
		if err := ir.Reserve(total, path, fmt.Sprintf("array %q", strings.TrimSuffix(f.Name, ".npy")), what); err != nil {
			return nil, err
		}
	}
	var out []*ir.Tensor
	seen := map[string]bool{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a folder entry
		}
		if !strings.HasSuffix(f.Name, ".npy") {
			return nil, ir.Errorf(ir.KindCorrupt, path, "member %q is not a .npy array", f.Name)
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if seen[name] {
			return nil, ir.Errorf(ir.KindCorrupt, path, "array %q appears twice", name)
		}
		seen[name] = true
		body, err := memberBytes(f, data, path)
		if err != nil {
			if e, ok := err.(*ir.Error); ok {
				return nil, e // over the memory budget: already says where
			}
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: path, Where: fmt.Sprintf("member %q", f.Name), Err: err}
		}
		t, err := Decode(body, name, path)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// memberBytes returns a member's uncompressed bytes: a slice of data for a stored member
// (checked against its CRC), a new buffer for a deflated one, allocated only when the
// memory budget has room for it (path is what the budget's error names).
func memberBytes(f *zip.File, data []byte, path string) ([]byte, error) {
	switch f.Method {
	case zip.Store:
		off, err := f.DataOffset()
		if err != nil {
			return nil, err
		}
		if f.CompressedSize64 != f.UncompressedSize64 || off < 0 || uint64(off) > uint64(len(data)) || f.UncompressedSize64 > uint64(len(data))-uint64(off) {
			return nil, fmt.Errorf("declared size %d does not fit in the archive", f.UncompressedSize64)
		}
		b := data[off : uint64(off)+f.UncompressedSize64]
		if crc32.ChecksumIEEE(b) != f.CRC32 {
			return nil, fmt.Errorf("checksum mismatch: the archive is damaged")
		}
		return b, nil
	case zip.Deflate:
		if f.CompressedSize64 > uint64(len(data)) || f.UncompressedSize64 > maxInflate*f.CompressedSize64+1024 {
			return nil, fmt.Errorf("declared sizes (%d compressed, %d inflated) are impossible for this archive", f.CompressedSize64, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		buf, err := ir.AllocBytes(int64(f.UncompressedSize64), path, fmt.Sprintf("array %q", strings.TrimSuffix(f.Name, ".npy")), fmt.Sprintf("inflating member %q", f.Name))
		if err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("inflating: %v", err)
		}
		// Reading to the end makes archive/zip check the length and the CRC.
		if n, err := io.Copy(io.Discard, io.LimitReader(rc, 1)); err != nil || n != 0 {
			if err == nil {
				err = errors.New("more data than declared")
			}
			return nil, fmt.Errorf("inflating: %v", err)
		}
		return buf, nil
	}
	return nil, fmt.Errorf("compression method %d is not supported (only stored and deflated)", f.Method)
}

// Write saves the model's initializers: to a .npy file when path ends in .npy (the model
// must hold exactly one), otherwise to an .npz archive (stored, sorted by name, fixed
// timestamps, so the bytes are deterministic). Graph nodes are not representable and are
// refused.
func Write(m *ir.Model, path string) error {
	if m.Graph == nil {
		return ir.Errorf(ir.KindInvalidArgument, path, "the model has no graph")
	}
	if n := len(m.Graph.Nodes); n > 0 {
		return ir.Errorf(ir.KindUnsupported, path, "NumPy files hold weights only; this model has %d nodes (write it as .onnx)", n)
	}
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		if len(m.Graph.Initializers) != 1 {
			return ir.Errorf(ir.KindInvalidArgument, path, "a .npy file holds one array; the model has %d (write an .npz)", len(m.Graph.Initializers))
		}
		return WriteNPY(path, m.Graph.Initializers[0])
	}
	return WriteNPZ(path, m.Graph.Initializers)
}

// WriteNPY saves one tensor as a .npy file, atomically.
func WriteNPY(path string, t *ir.Tensor) error {
	return writeAtomic(path, func(w io.Writer) error { return Encode(w, t) })
}

// WriteNPZ saves tensors as an uncompressed .npz archive (as numpy.savez does), atomically,
// in name order with fixed timestamps so the same tensors give the same bytes.
func WriteNPZ(path string, ts []*ir.Tensor) error {
	sorted, err := npzTensors(path, ts)
	if err != nil {
		return err
	}
	return writeAtomic(path, func(w io.Writer) error { return writeNPZ(w, sorted) })
}

// MemoryArrayName names the array of a .npy file read from memory, which has no file
// name to take it from (numpy.savez's name for a positional array).
const MemoryArrayName = "arr_0"

// ReadBytes decodes a .npy file or an .npz archive held in memory as a weight-only model;
// the tensors may alias data. A .npy array is called MemoryArrayName; name is what
// errors call the input.
func ReadBytes(data []byte, name string) (*ir.Model, error) {
	var ts []*ir.Tensor
	var err error
	if bytes.HasPrefix(data, []byte(Magic)) {
		var t *ir.Tensor
		if t, err = Decode(data, MemoryArrayName, name); err == nil {
			ts = []*ir.Tensor{t}
		}
	} else {
		ts, err = Parse(data, name)
	}
	if err != nil {
		return nil, err
	}
	return &ir.Model{Graph: &ir.Graph{Initializers: ts}}, nil
}

// EncodeModel writes the model's initializers to w as an .npz archive, the same bytes
// WriteNPZ writes (in memory there is no extension to ask for a .npy; numpy.load reads
// either). name is what errors call the output.
func EncodeModel(m *ir.Model, w io.Writer, name string) error {
	if m.Graph == nil {
		return ir.Errorf(ir.KindInvalidArgument, name, "the model has no graph")
	}
	if n := len(m.Graph.Nodes); n > 0 {
		return ir.Errorf(ir.KindUnsupported, name, "NumPy files hold weights only; this model has %d nodes (write it as onnx)", n)
	}
	sorted, err := npzTensors(name, m.Graph.Initializers)
	if err != nil {
		return err
	}
	if err := writeNPZ(w, sorted); err != nil {
		if e, ok := err.(*ir.Error); ok {
			return e
		}
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	return nil
}

// npzTensors checks that ts can be stored in an .npz and returns them in name order.
func npzTensors(path string, ts []*ir.Tensor) ([]*ir.Tensor, error) {
	sorted := append([]*ir.Tensor(nil), ts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Name == sorted[i-1].Name {
			return nil, ir.Errorf(ir.KindInvalidArgument, path, "two arrays are called %q", sorted[i].Name)
		}
	}
	for _, t := range sorted {
		if _, ok := descrOf(t.DType); !ok {
			return nil, ir.Errorf(ir.KindUnsupported, path, "tensor %q: %v has no NumPy equivalent", t.Name, t.DType)
		}
	}
	return sorted, nil
}

func writeNPZ(w io.Writer, sorted []*ir.Tensor) error {
	zw := zip.NewWriter(w)
	for _, t := range sorted {
		hdr := &zip.FileHeader{Name: t.Name + ".npy", Method: zip.Store, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
		mw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if err := Encode(mw, t); err != nil {
			return err
		}
	}
	return zw.Close()
}

func writeAtomic(path string, fill func(io.Writer) error) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return ir.IOError(path, err)
	}
	if err := fill(f); err != nil {
		f.Abort()
		if e, ok := err.(*ir.Error); ok {
			if e.File == "" {
				e.File = path
			}
			return e
		}
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := f.Commit(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	return nil
}
