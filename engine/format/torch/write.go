package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions are the torch writer's settings.
type WriteOptions struct {
	// Written, if set, is called with each tensor's bytes once they are written out; an
	// error from it stops the write.
	Written func([]byte) error
}

// archiveName is the folder inside the zip. torch names it after the file; a fixed name
// keeps modelc's output independent of the output path (torch.load accepts any).
const archiveName = "archive"

// dataAlign is where torch (2.x) starts every record's data: a multiple of 64 bytes,
// so a loader can map storages in place.
const dataAlign = 64

// legacyStorage is the storage class torch.save names for each dtype it has one for;
// newer dtypes are written the way torch 2.x writes them: an UntypedStorage rebuilt with
// _rebuild_tensor_v3 and the dtype.
var legacyStorage = map[ir.DType]string{
	ir.Float64: "DoubleStorage", ir.Float32: "FloatStorage", ir.Float16: "HalfStorage",
	ir.BFloat16: "BFloat16Storage", ir.Int64: "LongStorage", ir.Int32: "IntStorage",
	ir.Int16: "ShortStorage", ir.Int8: "CharStorage", ir.Uint8: "ByteStorage",
	ir.Bool: "BoolStorage", ir.Complex64: "ComplexFloatStorage", ir.Complex128: "ComplexDoubleStorage",
}

// v3DType names the torch dtype of the dtypes that only _rebuild_tensor_v3 can carry.
var v3DType = map[ir.DType]string{
	ir.Uint16: "uint16", ir.Uint32: "uint32", ir.Uint64: "uint64",
	ir.Float8E4M3FN: "float8_e4m3fn", ir.Float8E5M2: "float8_e5m2",
	ir.Float8E4M3FNUZ: "float8_e4m3fnuz", ir.Float8E5M2FNUZ: "float8_e5m2fnuz", ir.Float8E8M0: "float8_e8m0fnu",
}

// Write stores the initializers of m as a state dict (an OrderedDict of name → tensor) in
// a checkpoint torch.load(path, weights_only=True) reads: a zip of stored entries whose
// data starts 64-byte aligned, data.pkl in pickle protocol 2, byteorder "little",
// version "3", one storage per tensor. The file appears atomically.
func Write(m *ir.Model, path string, opts WriteOptions) error {
	tensors, err := stateTensors(m, path)
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := writeZip(f, tensors, opts.Written); err != nil {
		f.Abort()
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := f.Commit(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	return nil
}

// Encode writes the same checkpoint as Write to w; name is what errors call the output.
func Encode(m *ir.Model, w io.Writer, name string, opts WriteOptions) error {
	tensors, err := stateTensors(m, name)
	if err != nil {
		return err
	}
	if err := writeZip(w, tensors, opts.Written); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	return nil
}

// stateTensors checks that every initializer of m fits a state dict and returns them.
func stateTensors(m *ir.Model, path string) ([]*ir.Tensor, error) {
	var tensors []*ir.Tensor
	if m.Graph != nil {
		if len(m.Graph.SparseInitializers) > 0 {
			return nil, ir.Errorf(ir.KindUnsupported, path, "a state dict cannot hold sparse initializers (%d in the model)", len(m.Graph.SparseInitializers))
		}
		tensors = m.Graph.Initializers
	}
	seen := map[string]bool{}
	for _, t := range tensors {
		_, legacy := legacyStorage[t.DType]
		_, v3 := v3DType[t.DType]
		if !legacy && !v3 {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: path, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf("dtype %v has no PyTorch equivalent", t.DType)}
		}
		if seen[t.Name] {
			return nil, &ir.Error{Kind: ir.KindInvalidArgument, File: path, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf("two tensors have this name")}
		}
		seen[t.Name] = true
	}
	return tensors, nil
}

// countWriter counts the bytes that reach the file, so each entry's data offset is known.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeZip(w io.Writer, tensors []*ir.Tensor, written func([]byte) error) error {
	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	prefix := archiveName + "/"
	if err := addEntry(zw, cw, prefix+"data.pkl", statePickle(tensors)); err != nil {
		return err
	}
	if err := addEntry(zw, cw, prefix+"byteorder", []byte("little")); err != nil {
		return err
	}
	for i, t := range tensors {
		data, _ := tensorBytes(t)
		if err := addEntry(zw, cw, prefix+"data/"+strconv.Itoa(i), data); err != nil {
			return err
		}
		if written != nil && len(data) > 0 {
			if err := written(data); err != nil {
				return err
			}
		}
	}
	if err := addEntry(zw, cw, prefix+"version", []byte("3\n")); err != nil {
		return err
	}
	return zw.Close()
}

// tensorBytes returns t's bytes; owned is true when they were computed into a buffer of
// their own (dropped after writing) rather than aliasing the source.
func tensorBytes(t *ir.Tensor) (data []byte, owned bool) {
	if t.Computed() {
		buf := make([]byte, t.ByteSize())
		t.FillBytes(buf)
		return buf, true
	}
	return t.Bytes(), false
}

// addEntry writes one stored (uncompressed) entry whose data starts at a multiple of
// dataAlign, padding the local header with an extra field as torch does ("FB" + 'Z's).
func addEntry(zw *zip.Writer, cw *countWriter, name string, data []byte) error {
	if err := zw.Flush(); err != nil { // make cw.n the offset of the next local header
		return err
	}
	const localHeader = 30
	end := cw.n + localHeader + int64(len(name))
	pad := (dataAlign - end%dataAlign) % dataAlign
	if pad > 0 && pad < 4 { // an extra field needs 4 bytes of its own header
		pad += dataAlign
	}
	var extra []byte
	if pad > 0 {
		extra = make([]byte, pad)
		binary.LittleEndian.PutUint16(extra, 0x4246) // "FB"
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad-4))
		for i := 4; i < len(extra); i++ {
			extra[i] = 'Z'
		}
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	}
	ew, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	_, err = ew.Write(data)
	return err
}

// statePickle encodes the state dict in pickle protocol 2, as torch.save lays it out:
//
//	OrderedDict() with, for each tensor, name →
//	  torch._utils._rebuild_tensor_v2(persistent_id(('storage', torch.FloatStorage, '0', 'cpu', numel)),
//	                                  0, size, stride, False, OrderedDict())
//
// (_rebuild_tensor_v3 with an UntypedStorage and the dtype for the newer dtypes).
func statePickle(tensors []*ir.Tensor) []byte {
	p := &pickler{memo: map[string]byte{}}
	p.b.WriteString("\x80\x02") // PROTO 2
	p.global("collections", "OrderedDict")
	p.b.WriteString(")R") // EMPTY_TUPLE, REDUCE
	if len(tensors) > 0 {
		p.b.WriteByte('(') // MARK
		for i, t := range tensors {
			p.str(t.Name)
			storage, legacy := legacyStorage[t.DType]
			numel := t.NumElements()
			if legacy {
				p.global("torch._utils", "_rebuild_tensor_v2")
			} else {
				p.global("torch._utils", "_rebuild_tensor_v3")
				storage = "UntypedStorage"
				numel = t.ByteSize() // an untyped storage counts bytes
			}
			p.b.WriteByte('(') // MARK: the arguments
			p.b.WriteByte('(') // MARK: the persistent id
			p.str("storage")
			p.global("torch", storage)
			p.str(strconv.Itoa(i))
			p.str("cpu")
			p.int(numel)
			p.b.WriteString("tQ") // TUPLE, BINPERSID
			p.int(0)              // storage offset
			p.tuple(t.Shape)
			p.tuple(rowMajorStrides(t.Shape))
			p.b.WriteByte(0x89) // NEWFALSE: requires_grad
			p.global("collections", "OrderedDict")
			p.b.WriteString(")R") // backward_hooks: OrderedDict()
			if !legacy {
				p.global("torch", v3DType[t.DType])
			}
			p.b.WriteString("tR") // TUPLE, REDUCE
		}
		p.b.WriteByte('u') // SETITEMS
	}
	p.b.WriteByte('.') // STOP
	return p.b.Bytes()
}

func rowMajorStrides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// pickler writes the few opcodes statePickle needs. Globals are memoised (BINPUT) the
// first time and fetched (BINGET) after, as Python's pickler does.
type pickler struct {
	b    bytes.Buffer
	memo map[string]byte
	next int
}

func (p *pickler) global(module, name string) {
	key := module + "\n" + name + "\n"
	if i, ok := p.memo[key]; ok {
		p.b.WriteByte('h') // BINGET
		p.b.WriteByte(i)
		return
	}
	p.b.WriteByte('c')
	p.b.WriteString(key)
	if p.next < 256 { // BINPUT indexes are one byte; later globals are simply repeated
		p.memo[key] = byte(p.next)
		p.b.WriteByte('q')
		p.b.WriteByte(byte(p.next))
		p.next++
	}
}

func (p *pickler) str(s string) {
	p.b.WriteByte('X') // BINUNICODE
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.b.Write(n[:])
	p.b.WriteString(s)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b.WriteByte('K')
		p.b.WriteByte(byte(v))
	case v >= 0 && v < 1<<16:
		p.b.WriteByte('M')
		p.b.WriteByte(byte(v))
		p.b.WriteByte(byte(v >> 8))
	case v >= -1<<31 && v < 1<<31:
		p.b.WriteByte('J')
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
		p.b.Write(n[:])
	default: // LONG1: 8 bytes of two's complement, enough for any int64
		p.b.WriteString("\x8a\x08")
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(v))
		p.b.Write(n[:])
	}
}

func (p *pickler) tuple(v []int64) {
	switch len(v) {
	case 0:
		p.b.WriteByte(')')
		return
	case 1, 2, 3:
		for _, x := range v {
			p.int(x)
		}
		p.b.WriteByte(byte(0x84 + len(v))) // TUPLE1..3
		return
	}
	p.b.WriteByte('(')
	for _, x := range v {
		p.int(x)
	}
	p.b.WriteByte('t')
}
