package gguf

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// Magic is the first four bytes of every GGUF file.
var Magic = []byte("GGUF")

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// Detect recognises a GGUF file by its magic.
func Detect(head []byte) bool { return bytes.HasPrefix(head, Magic) }

// Read maps the GGUF file at path and returns its tensors (aliasing the mapping, no copy)
// and metadata: typed in Model.KV, the text of the scalars in Model.Metadata. GGUF
// dims are listed fastest-varying first; the IR shapes are row-major, so they are
// reversed here.
func Read(path string) (*ir.Model, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	m, err := Parse(f.Data, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.KeepAlive(f)
	// A split set (llama.cpp's gguf-split) is read whole, given its first file.
	no, count, total, ok, err := splitInfo(m, path)
	if err == nil && ok && no != 0 {
		first := fmt.Sprintf("split %d of %d", no+1, count)
		if prefix, _, n, ok := ParseSplitName(path); ok {
			first = SplitName(prefix+".gguf", 1, n)
		}
		err = &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: fmt.Errorf("is split %d of %d of a split set; give its first file, %s, to read the whole set", no+1, count, first)}
	}
	if err == nil && ok {
		_, err = readSplits(m, path, count, total)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Parse decodes a GGUF file held in data (name is used in errors). The tensors alias data.
func Parse(data []byte, name string) (*ir.Model, error) {
	c := &cursor{b: data}
	corrupt := func(format string, args ...any) error {
		return &ir.Error{Kind: ir.KindCorrupt, File: name, Where: fmt.Sprintf("offset %d", c.off), Err: fmt.Errorf(format, args...)}
	}
	if !Detect(data) {
		return nil, corrupt("not a GGUF file (no GGUF magic)")
	}
	c.off = 4
	version, err := c.u32()
	if err != nil {
		return nil, corrupt("header: %v", err)
	}
	if version != 2 && version != 3 {
		return nil, &ir.Error{Kind: ir.KindUnsupported, File: name, Err: fmt.Errorf("GGUF version %d (modelc reads versions 2 and 3)", version)}
	}
	nTensors, err := c.u64()
	if err != nil {
		return nil, corrupt("header: %v", err)
	}
	nKV, err := c.u64()
	if err != nil {
		return nil, corrupt("header: %v", err)
	}
	// A key/value pair takes at least 8+4+1 bytes and a tensor info 8+4+4+8 (+8 per
	// dim): counts beyond what the file can hold are refused before anything is allocated.
	left := uint64(len(data)) - uint64(c.off)
	if nKV > left/13 || nTensors > left/24 {
		return nil, corrupt("header declares %d tensors and %d metadata entries, more than a %d-byte file can hold", nTensors, nKV, len(data))
	}

	m := &ir.Model{Graph: &ir.Graph{}}
	seen := map[string]bool{}
	alignment := uint64(DefaultAlignment)
	for i := uint64(0); i < nKV; i++ {
		start := c.off
		key, err := c.str()
		if err != nil {
			return nil, corrupt("metadata entry %d: key: %v", i, err)
		}
		t, err := c.u32()
		if err != nil {
			return nil, corrupt("metadata %q: %v", key, err)
		}
		v, err := c.value(t, 0)
		if err != nil {
			return nil, corrupt("metadata %q: %v", key, err)
		}
		if seen[key] {
			c.off = start
			return nil, corrupt("metadata key %q appears twice", key)
		}
		seen[key] = true
		if key == "general.alignment" {
			a, ok := v.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				c.off = start
				return nil, corrupt("general.alignment must be a power-of-two uint32, is %v (%T)", v, v)
			}
			alignment = uint64(a)
		}
		m.KV = append(m.KV, ir.MetaKV{Key: key, Value: v})
		if !ir.MetaIsArray(v) {
			s, _ := ir.MetaString(v)
			m.Metadata = append(m.Metadata, ir.StringPair{Key: key, Value: s})
		}
	}

	type info struct {
		name   string
		typ    GGMLType
		shape  []int64
		offset uint64
		size   int64
		at     int64 // where the info starts, for errors
	}
	infos := make([]info, 0, nTensors)
	names := map[string]bool{}
	for i := uint64(0); i < nTensors; i++ {
		in := info{at: c.off}
		if in.name, err = c.str(); err != nil {
			return nil, corrupt("tensor info %d: name: %v", i, err)
		}
		tcorrupt := func(format string, args ...any) error {
			return &ir.Error{Kind: ir.KindCorrupt, File: name, Where: fmt.Sprintf("tensor %q (info at offset %d)", in.name, in.at), Err: fmt.Errorf(format, args...)}
		}
		if names[in.name] {
			return nil, tcorrupt("tensor name appears twice")
		}
		names[in.name] = true
		nd, err := c.u32()
		if err != nil {
			return nil, tcorrupt("%v", err)
		}
		if nd > maxDims {
			return nil, tcorrupt("%d dimensions (ggml allows at most %d)", nd, maxDims)
		}
		ne := make([]int64, nd)
		for d := range ne {
			v, err := c.u64()
			if err != nil {
				return nil, tcorrupt("%v", err)
			}
			if v > math.MaxInt64 {
				return nil, tcorrupt("dimension %d is %d", d, v)
			}
			ne[d] = int64(v)
		}
		tid, err := c.u32()
		if err != nil {
			return nil, tcorrupt("%v", err)
		}
		in.typ = GGMLType(tid)
		ti, ok := types[in.typ]
		if !ok {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: name, Where: fmt.Sprintf("tensor %q", in.name), Err: fmt.Errorf("unknown ggml type id %d", tid)}
		}
		if in.offset, err = c.u64(); err != nil {
			return nil, tcorrupt("%v", err)
		}
		if in.offset%alignment != 0 {
			return nil, tcorrupt("data offset %d is not a multiple of the alignment %d", in.offset, alignment)
		}
		// Row-major shape: GGUF lists the fastest-varying dimension first.
		in.shape = make([]int64, nd)
		for d := range ne {
			in.shape[int(nd)-1-d] = ne[d]
		}
		n := ir.NumElements(in.shape)
		if n < 0 {
			return nil, tcorrupt("shape %v overflows", in.shape)
		}
		if nd > 0 && ne[0]%ti.blockElems != 0 {
			return nil, tcorrupt("row length %d is not a multiple of the %s block size %d", ne[0], ti.name, ti.blockElems)
		}
		size, ok := ti.dtype.ByteSize(n)
		if !ok {
			return nil, tcorrupt("%d elements do not fit %s blocks", n, ti.name)
		}
		in.size = size
		infos = append(infos, in)
	}

	dataStart := (uint64(c.off) + alignment - 1) / alignment * alignment
	if dataStart > uint64(len(data)) && nTensors > 0 {
		return nil, corrupt("data section would start at %d, past the end of the %d-byte file", dataStart, len(data))
	}
	dataLen := uint64(len(data)) - min(dataStart, uint64(len(data)))
	// Every tensor must lie inside the file, and no two may overlap.
	order := make([]int, len(infos))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return infos[order[a]].offset < infos[order[b]].offset })
	end := uint64(0)
	for k, i := range order {
		in := infos[i]
		where := fmt.Sprintf("tensor %q", in.name)
		if in.offset > dataLen || uint64(in.size) > dataLen-in.offset {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: name, Where: where,
				Err: fmt.Errorf("data [%d, +%d) runs past the end of the file (%d bytes)", dataStart+in.offset, in.size, len(data))}
		}
		if k > 0 && in.offset < end {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: name, Where: where,
				Err: fmt.Errorf("data at offset %d overlaps tensor %q", dataStart+in.offset, infos[order[k-1]].name)}
		}
		end = max(end, in.offset+uint64(in.size))
	}
	for _, in := range infos {
		lo := int64(dataStart + in.offset)
		t, err := ir.NewTensor(in.name, types[in.typ].dtype, in.shape, data[lo:lo+in.size])
		if err != nil {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: name, Where: fmt.Sprintf("tensor %q", in.name), Err: err}
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	return m, nil
}
