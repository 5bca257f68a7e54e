// Package torch reads and writes PyTorch checkpoints in the zip format torch.save has used
// since PyTorch 1.6 (.pt, .pth, .bin): <archive>/data.pkl, a pickle of the state dict whose
// tensors point by persistent id at storages <archive>/data/<key>, beside
// <archive>/byteorder and <archive>/version.
//
// The pickle is read by a restricted unpickler that executes nothing (see pickle.go).
// Storages are used in place in a memory map of the file when their zip entry is stored
// uncompressed, as torch writes them; views (offsets, strides) that are not contiguous
// are copied out.
package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// Detect recognises a torch zip checkpoint: a zip whose first entry is <archive>/data.pkl
// (torch writes it first). Other zips (NumPy .npz) do not match.
func Detect(head []byte) bool {
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	n := int(binary.LittleEndian.Uint16(head[26:]))
	name := head[30:]
	if n > len(name) {
		return false // the name is cut off by the short head: the extension decides
	}
	return strings.HasSuffix(string(name[:n]), "/data.pkl")
}

// IndexSuffix ends the index of a sharded checkpoint (pytorch_model.bin.index.json).
const IndexSuffix = ".bin.index.json"

// DetectPath recognises a sharded checkpoint named by its index or its folder.
func DetectPath(p string) bool {
	if strings.HasSuffix(strings.ToLower(p), IndexSuffix) {
		return true
	}
	idx, _ := findIndex(p)
	return idx != ""
}

func findIndex(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", err
	}
	idx := filepath.Join(dir, "pytorch_model"+IndexSuffix)
	if _, err := os.Stat(idx); err != nil {
		return "", nil
	}
	return idx, nil
}

// Read loads the checkpoint at path (a file, or a sharded checkpoint's index or folder).
func Read(p string) (*ir.Model, error) {
	if idx, _ := findIndex(p); idx != "" {
		return readSharded(idx)
	}
	if strings.HasSuffix(strings.ToLower(p), IndexSuffix) {
		return readSharded(p)
	}
	mf, err := mmap.Open(p)
	if err != nil {
		return nil, ir.IOError(p, err)
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))}}
	m.KeepAlive(mf)
	if err := decodeInto(m, mf.Data, p); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ReadBytes decodes a checkpoint held in memory; tensors may alias data.
func ReadBytes(data []byte, name string) (*ir.Model, error) {
	m := &ir.Model{Graph: &ir.Graph{}}
	if err := decodeInto(m, data, name); err != nil {
		return nil, err
	}
	return m, nil
}

// archive is an opened checkpoint zip.
type archive struct {
	file    string
	data    []byte
	prefix  string // "<archive>/"
	entries map[string]*zip.File
}

func decodeInto(m *ir.Model, data []byte, file string) error {
	_, _, err := decode(m, data, file)
	return err
}

// decode reads the archive's data.pkl into m's initializers and returns the archive and
// the pickle's root value (a TorchScript archive's module object).
func decode(m *ir.Model, data []byte, file string) (*archive, any, error) {
	a, err := openArchive(data, file)
	if err != nil {
		return nil, nil, err
	}
	if bo, ok := a.entries[a.prefix+"byteorder"]; ok {
		b, err := a.entry(bo)
		if err != nil {
			return nil, nil, err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, nil, ir.Errorf(ir.KindUnsupported, file, "byte order %q: only little-endian checkpoints are supported", s)
		}
	}
	root, ts, err := a.load("data.pkl", "data/", "")
	if err != nil {
		return nil, nil, err
	}
	m.Graph.Initializers = append(m.Graph.Initializers, ts...)
	return a, root, nil
}

// load unpickles the archive's pickle name (data.pkl, constants.pkl), whose storages are
// under dir, and materializes its tensors, named by their paths (after prefix).
func (a *archive) load(name, dir, prefix string) (any, []*ir.Tensor, error) {
	file := a.file
	f, ok := a.entries[a.prefix+name]
	if !ok {
		return nil, nil, ir.Errorf(ir.KindCorrupt, file, "the archive has no %s%s", a.prefix, name)
	}
	pkl, err := a.entry(f)
	if err != nil {
		return nil, nil, err
	}
	storages := map[string]*storageRef{}
	u := &unpickler{file: file, data: pkl, script: a.isScript(), persistentLoad: func(pid any) (any, error) { return a.loadStorage(pid, dir, storages) }}
	root, err := u.run()
	if err != nil {
		var pe *pickleError
		if errors.As(err, &pe) {
			return nil, nil, &ir.Error{Kind: pe.kind, File: file, Where: fmt.Sprintf("%s%s offset %d", a.prefix, name, pe.off), Err: pe.err}
		}
		return nil, nil, err
	}
	var found []named
	if err := flatten(root, prefix, 0, map[any]bool{}, &u.work, &found); err != nil {
		kind := ir.KindUnsupported
		if errors.Is(err, errExpansion) {
			kind = ir.KindCorrupt
		}
		return nil, nil, &ir.Error{Kind: kind, File: file, Where: a.prefix + name, Err: err}
	}
	seen := map[string]bool{}
	for _, n := range found {
		if seen[n.name] {
			return nil, nil, &ir.Error{Kind: ir.KindCorrupt, File: file, Where: fmt.Sprintf("tensor %q", n.name), Err: errors.New("two tensors flatten to this name")}
		}
		seen[n.name] = true
	}
	if err := planMemory(found, file); err != nil {
		return nil, nil, err
	}
	var out []*ir.Tensor
	for _, n := range found {
		if st := n.t.storage; st.entry != nil {
			if st.data, err = a.inflate(st.entry, fmt.Sprintf("tensor %q", n.name), fmt.Sprintf("inflating its storage %q", st.key)); err != nil {
				return nil, nil, err
			}
			st.entry = nil
		}
		t, err := materialize(n.name, n.t, len(a.data), file)
		if err != nil {
			var e *ir.Error
			if errors.As(err, &e) && e.File != "" {
				return nil, nil, err
			}
			return nil, nil, &ir.Error{Kind: ir.KindOf(err), File: file, Where: fmt.Sprintf("tensor %q", n.name), Err: err}
		}
		out = append(out, t)
	}
	return root, out, nil
}

// isScript reports whether the archive is a TorchScript module (torch.jit.save): it
// has code/ or constants.pkl beside data.pkl.
func (a *archive) isScript() bool {
	if _, ok := a.entries[a.prefix+"constants.pkl"]; ok {
		return true
	}
	for name := range a.entries {
		if strings.HasPrefix(name, a.prefix+"code/") {
			return true
		}
	}
	return false
}

func openArchive(data []byte, file string) (*archive, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, ir.Errorf(ir.KindCorrupt, file, "not a PyTorch zip checkpoint: %v (checkpoints from before PyTorch 1.6 are not supported: re-save them with torch.save)", err)
	}
	a := &archive{file: file, data: data, entries: map[string]*zip.File{}}
	for _, f := range zr.File {
		name := f.Name
		if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || path.Clean(name) != strings.TrimSuffix(name, "/") || strings.HasPrefix(path.Clean(name), "../") || path.Clean(name) == ".." {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: file, Where: fmt.Sprintf("zip entry %q", name), Err: errors.New("path points outside the archive")}
		}
		if _, dup := a.entries[name]; dup {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: file, Where: fmt.Sprintf("zip entry %q", name), Err: errors.New("appears twice")}
		}
		a.entries[name] = f
		if strings.HasSuffix(name, "/data.pkl") && strings.Count(name, "/") == 1 {
			if a.prefix != "" {
				return nil, ir.Errorf(ir.KindCorrupt, file, "holds two pickles (%sdata.pkl and %s)", a.prefix, name)
			}
			a.prefix = strings.TrimSuffix(name, "data.pkl")
		}
	}
	if a.prefix == "" {
		return nil, ir.Errorf(ir.KindCorrupt, file, "a zip without <archive>/data.pkl: not a PyTorch checkpoint")
	}
	return a, nil
}

// entry returns the bytes of a zip entry: a slice of the file itself when it is stored
// uncompressed (torch's way), otherwise a decompressed copy whose declared size is
// checked against what deflate can possibly produce from the compressed bytes.
func (a *archive) entry(f *zip.File) ([]byte, error) {
	stored, err := a.check(f)
	if err != nil || stored != nil {
		return stored, err
	}
	return a.inflate(f, fmt.Sprintf("zip entry %q", f.Name), "inflating it")
}

// check validates a zip entry's framing without inflating it: it returns the bytes of a
// stored entry, nil for a deflated one whose declared size deflate could produce.
func (a *archive) check(f *zip.File) ([]byte, error) {
	where := fmt.Sprintf("zip entry %q", f.Name)
	off, err := f.DataOffset()
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: a.file, Where: where, Err: err}
	}
	csize := f.CompressedSize64
	if off < 0 || uint64(off) > uint64(len(a.data)) || csize > uint64(len(a.data))-uint64(off) {
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: a.file, Where: where, Err: fmt.Errorf("%d bytes at offset %d run past the end of the file (%d bytes)", csize, off, len(a.data))}
	}
	if f.Method == zip.Store {
		if f.UncompressedSize64 != csize {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: a.file, Where: where, Err: fmt.Errorf("stored entry declares %d bytes but holds %d", f.UncompressedSize64, csize)}
		}
		return a.data[off : uint64(off)+csize : uint64(off)+csize], nil
	}
	// Deflate expands at most 1032:1.
	if f.UncompressedSize64 > 1032*csize+1024 {
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: a.file, Where: where, Err: fmt.Errorf("declares %d bytes uncompressed from %d compressed, more than deflate can produce", f.UncompressedSize64, csize)}
	}
	return nil, nil
}

// inflate decompresses a deflated entry (already checked) into a buffer the memory
// budget allows; where and what are for the budget's error.
func (a *archive) inflate(f *zip.File, where, what string) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindUnsupported, File: a.file, Where: where, Err: err}
	}
	defer r.Close()
	out, err := ir.AllocBytes(int64(f.UncompressedSize64), a.file, where, what)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: a.file, Where: fmt.Sprintf("zip entry %q", f.Name), Err: err}
	}
	return out, nil
}

// loadStorage resolves a persistent id ('storage', storage_type, key, location, numel):
// the bytes of <archive>/data/<key>, checked against numel. Storages shared by several
// tensors are loaded once.
func (a *archive) loadStorage(pid any, dir string, cache map[string]*storageRef) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "persistent id %v is not ('storage', type, key, location, numel)", pid)
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, ir.Errorf(ir.KindUnsupported, "", "persistent id of kind %v is not supported", t[0])
	}
	st, ok := t[1].(storageType)
	if !ok {
		return nil, ir.Errorf(ir.KindUnsupported, "", "storage type %s is not supported (quantized and other special storages are not)", typeName(t[1]))
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int64)
	if !ok1 || !ok2 || numel < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "persistent id %v: bad key or element count", pid)
	}
	if s, ok := cache[key]; ok {
		if s.dtype != st.dtype {
			return nil, ir.Errorf(ir.KindCorrupt, "", "storage %q is used as both %v and %v", key, s.dtype, st.dtype)
		}
		return s, nil
	}
	f, ok := a.entries[a.prefix+dir+key]
	if !ok {
		return nil, ir.Errorf(ir.KindCorrupt, "", "storage %q: the archive has no entry %s%s%s", key, a.prefix, dir, key)
	}
	data, err := a.check(f)
	if err != nil {
		return nil, err
	}
	size := int64(len(data))
	if data == nil { // deflated: inflated once the checkpoint's needs are known
		size = int64(min(f.UncompressedSize64, math.MaxInt64))
	}
	es := int64(st.dtype.ElemBytes())
	if numel > math.MaxInt64/es || size != numel*es {
		return nil, ir.Errorf(ir.KindCorrupt, "", "storage %q declares %d elements of %v but its entry holds %d bytes", key, numel, st.dtype, size)
	}
	s := &storageRef{key: key, dtype: st.dtype, data: data, size: size}
	if data == nil {
		s.entry = f
	}
	cache[key] = s
	return s, nil
}

// planMemory checks, before anything is allocated, that the memory reading needs beyond
// the file's own bytes (deflated storages to inflate, strided views to copy) fits in the
// memory budget: a bomb fails at once, naming the tensor that takes the total over,
// rather than after inflating or copying up to the limit.
func planMemory(found []named, file string) error {
	var total int64
	inflating := map[*storageRef]bool{}
	for _, n := range found {
		var own int64
		var parts []string
		if st := n.t.storage; st.entry != nil && !inflating[st] {
			inflating[st] = true
			own += st.size
			parts = append(parts, fmt.Sprintf("inflating storage %q", st.key))
		}
		if c := copyBytes(n.t); c > 0 {
			own += c
			parts = append(parts, fmt.Sprintf("copying its strided view (size %v, stride %v)", n.t.shape, n.t.stride))
		}
		if own == 0 {
			continue
		}
		if total += own; total < 0 {
			total = math.MaxInt64
		}
		what := fmt.Sprintf("reading it (%s: %s) with the tensors before it", strings.Join(parts, " and "), ir.FormatSize(own))
		if err := ir.Reserve(total, file, fmt.Sprintf("tensor %q", n.name), what); err != nil {
			return err
		}
	}
	return nil
}

// copyBytes is the size of the copy materialize makes of a view that is not contiguous
// (0 for a contiguous one, or one whose size materialize refuses).
func copyBytes(r *tensorRef) int64 {
	es := int64(r.dtype.ElemBytes())
	n := ir.NumElements(r.shape)
	if es == 0 || n <= 0 || n > math.MaxInt64/es || len(r.shape) != len(r.stride) || contiguous(r.shape, r.stride) {
		return 0
	}
	return n * es
}

type named struct {
	name string
	t    *tensorRef
}

// maxDepth bounds the nesting of containers (a forged pickle can make a list contain itself).
const maxDepth = 64

// flatten collects the tensors of v: dict entries named by their keys joined with dots
// ({"model": {"fc.weight": t}} gives "model.fc.weight"), list items by their index.
// Values that are not tensors (an epoch count, a learning rate) are not weights and are
// skipped.
//
// The walk is bounded by the pickle's work budget: each value visited costs one unit
// plus the length of its name, so shared containers (a memo reference costs the pickle
// two bytes) cannot make it exponential.
func flatten(v any, prefix string, depth int, active map[any]bool, work *workBudget, out *[]named) error {
	if depth > maxDepth {
		return fmt.Errorf("containers nested deeper than %d levels", maxDepth)
	}
	if err := work.spend(1 + int64(len(prefix))); err != nil {
		return err
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case *tensorRef:
		name := prefix
		if name == "" {
			name = "tensor" // torch.save(tensor) on its own
		}
		*out = append(*out, named{name, x})
	case *pyDict:
		if active[x] {
			return errors.New("a dict contains itself")
		}
		active[x] = true
		defer delete(active, x)
		for i, k := range x.keys {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case int64:
				ks = strconv.FormatInt(kk, 10)
			default:
				ks = fmt.Sprint(kk)
			}
			if err := flatten(x.vals[i], join(ks), depth+1, active, work, out); err != nil {
				return err
			}
		}
	case *pyObject: // a TorchScript module or object: its attributes, by name
		if active[x] {
			return errors.New("an object contains itself")
		}
		active[x] = true
		defer delete(active, x)
		return flatten(x.state, prefix, depth+1, active, work, out)
	case *pyList:
		if active[x] {
			return errors.New("a list contains itself")
		}
		active[x] = true
		defer delete(active, x)
		for i, it := range x.items {
			if err := flatten(it, join(strconv.Itoa(i)), depth+1, active, work, out); err != nil {
				return err
			}
		}
	case pyTuple:
		for i, it := range x {
			if err := flatten(it, join(strconv.Itoa(i)), depth+1, active, work, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// materialize turns a view of a storage into a tensor: the storage's own bytes when the
// view is contiguous, a gathered copy otherwise. Every index the view can reach is checked
// to lie inside the storage first.
func materialize(name string, r *tensorRef, fileSize int, file string) (*ir.Tensor, error) {
	es := int64(r.dtype.ElemBytes())
	if es == 0 {
		return nil, ir.Errorf(ir.KindUnsupported, "", "dtype %v", r.dtype)
	}
	data := r.storage.data
	if int64(len(data))%es != 0 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "storage %q of %d bytes does not hold whole %v elements", r.storage.key, len(data), r.dtype)
	}
	elems := int64(len(data)) / es
	n := ir.NumElements(r.shape)
	if n < 0 || n > math.MaxInt64/es {
		return nil, ir.Errorf(ir.KindCorrupt, "", "size %v is negative or overflows", r.shape)
	}
	if r.offset < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "negative storage offset %d", r.offset)
	}
	shape := append([]int64{}, r.shape...)
	if n == 0 {
		return ir.NewTensor(name, r.dtype, shape, []byte{})
	}
	// The last element the view reaches: offset + Σ (size-1)·stride.
	last := r.offset
	for i, d := range r.shape {
		s := r.stride[i]
		if s < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, "", "negative stride %v", r.stride)
		}
		if s != 0 && d-1 > (math.MaxInt64-last)/s {
			return nil, ir.Errorf(ir.KindCorrupt, "", "stride %v overflows", r.stride)
		}
		last += (d - 1) * s
	}
	if last >= elems {
		return nil, ir.Errorf(ir.KindCorrupt, "", "view (offset %d, size %v, stride %v) reaches element %d of storage %q, which holds %d", r.offset, r.shape, r.stride, last, r.storage.key, elems)
	}
	if contiguous(r.shape, r.stride) {
		return ir.NewTensor(name, r.dtype, shape, data[r.offset*es:(r.offset+n)*es])
	}
	// A strided view is copied; stride 0 (expand) can make it far larger than the file,
	// so its size is bounded by a generous multiple of the file's.
	if limit := 64*int64(fileSize) + 64<<20; n*es > limit {
		return nil, ir.Errorf(ir.KindCorrupt, "", "strided view of %d bytes from a %d-byte file is too large to materialise", n*es, fileSize)
	}
	out, err := ir.AllocBytes(n*es, file, fmt.Sprintf("tensor %q", name), fmt.Sprintf("copying its strided view (size %v, stride %v) of storage %q", r.shape, r.stride, r.storage.key))
	if err != nil {
		return nil, err
	}
	gather(out, data, r.offset, r.shape, r.stride, es)
	return ir.NewTensor(name, r.dtype, shape, out)
}

// contiguous reports whether stride is the row-major stride of shape (dimensions of size
// 1 may have any stride).
func contiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies the strided view into out in row-major order, a row at a time when the
// innermost dimension is contiguous.
func gather(out, src []byte, offset int64, shape, stride []int64, es int64) {
	rank := len(shape)
	if rank == 0 {
		copy(out, src[offset*es:(offset+1)*es])
		return
	}
	idx := make([]int64, rank-1)
	inner, innerStride := shape[rank-1], stride[rank-1]
	pos := int64(0)
	for {
		base := offset
		for i, k := range idx {
			base += k * stride[i]
		}
		switch innerStride {
		case 1:
			pos += int64(copy(out[pos:], src[base*es:(base+inner)*es]))
		case 0: // expand: one element repeated, copied in doubling runs
			row := out[pos : pos+inner*es]
			copy(row, src[base*es:(base+1)*es])
			for done := es; done < int64(len(row)); done *= 2 {
				copy(row[done:], row[:done])
			}
			pos += inner * es
		default:
			for j := int64(0); j < inner; j++ {
				e := (base + j*innerStride) * es
				pos += int64(copy(out[pos:pos+es], src[e:e+es]))
			}
		}
		// Advance the outer index like an odometer.
		d := rank - 2
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// ---- sharded checkpoints (pytorch_model-0000k-of-0000n.bin) --------------------------

func readSharded(indexPath string) (*ir.Model, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, ir.IOError(indexPath, err)
	}
	shards, err := shardNames(data)
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, indexPath, "%v", err)
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(filepath.Base(indexPath), IndexSuffix)}}
	if st, err := os.Stat(indexPath); err == nil {
		m.KeepAlive(ir.SourceFile{Info: st}) // so no output replaces the index
	}
	seen := map[string]bool{}
	for _, s := range shards {
		p := filepath.Join(filepath.Dir(indexPath), s)
		part, err := readShard(filepath.Dir(indexPath), s)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.KeepAlive(part)
		for _, t := range part.Graph.Initializers {
			if seen[t.Name] {
				m.Close()
				return nil, &ir.Error{Kind: ir.KindCorrupt, File: p, Where: fmt.Sprintf("tensor %q", t.Name), Err: errors.New("also in an earlier shard")}
			}
			seen[t.Name] = true
			m.Graph.Initializers = append(m.Graph.Initializers, t)
		}
	}
	return m, nil
}

// readShard reads the shard name an index in dir lists, opened beneath dir (see
// mmap.Inside for the symlink rule).
func readShard(dir, name string) (*ir.Model, error) {
	p := filepath.Join(dir, name)
	mf, err := mmap.OpenInside(dir, name)
	if err != nil {
		if errors.Is(err, mmap.ErrEscapes) {
			return nil, ir.Errorf(ir.KindCorrupt, p, "shard: %v", err)
		}
		return nil, ir.IOError(p, err)
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(name, filepath.Ext(name))}}
	m.KeepAlive(mf)
	if err := decodeInto(m, mf.Data, p); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// shardNames returns the distinct shard files an index's weight_map names, sorted;
// a name that leaves the index's folder is refused.
func shardNames(data []byte) ([]string, error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("not a checkpoint index: %v", err)
	}
	set := map[string]bool{}
	for name, s := range idx.WeightMap {
		if s == "" || s != filepath.Base(s) || s == ".." || strings.ContainsAny(s, `/\`) {
			return nil, fmt.Errorf("tensor %q: shard %q is not a plain file name in the index's folder", name, s)
		}
		set[s] = true
	}
	if len(set) == 0 {
		return nil, errors.New("the index has no weight_map entries")
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}
