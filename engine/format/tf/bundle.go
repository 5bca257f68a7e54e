package tf

// TensorFlow checkpoint bundles (tensorflow/core/util/tensor_bundle): PREFIX.index, a
// LevelDB-format table (tensorflow/core/lib/io/table) mapping each tensor's key to a
// BundleEntryProto, the key "" to the BundleHeaderProto; and PREFIX.data-NNNNN-of-MMMMM,
// the tensors' raw little-endian bytes at the entries' offsets, each with a masked
// crc32c in its entry.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

const tableMagic = 0xdb4775248b80fb57

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func maskCRC(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }

// tfDTypes maps TensorFlow DataType numbers to IR dtypes.
var tfDTypes = map[uint64]ir.DType{
	1: ir.Float32, 2: ir.Float64, 3: ir.Int32, 4: ir.Uint8, 5: ir.Int16, 6: ir.Int8,
	9: ir.Int64, 10: ir.Bool, 14: ir.BFloat16, 17: ir.Uint16, 19: ir.Float16, 22: ir.Uint32, 23: ir.Uint64,
}

const tfString = 7

func tfDType(d ir.DType) (uint64, bool) {
	for k, v := range tfDTypes {
		if v == d {
			return k, true
		}
	}
	return 0, false
}

// BundlePrefix returns the checkpoint prefix path names: a PREFIX.index file, a folder
// holding one (variables/ of a SavedModel, or a checkpoint folder), or a SavedModel
// folder. ok is false when path is none of these.
func BundlePrefix(path string) (prefix string, ok bool) {
	if strings.HasSuffix(path, ".index") {
		return strings.TrimSuffix(path, ".index"), true
	}
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return "", false
	}
	for _, p := range []string{filepath.Join(path, "variables"), filepath.Join(path, "variables", "variables")} {
		if fi, err := os.Stat(p + ".index"); err == nil && fi.Mode().IsRegular() {
			return p, true
		}
	}
	m, _ := filepath.Glob(filepath.Join(path, "*.index"))
	if len(m) == 1 {
		return strings.TrimSuffix(m[0], ".index"), true
	}
	return "", false
}

// DetectBundlePath recognises a checkpoint bundle by its path.
// A SavedModel folder is the savedmodel format's.
func DetectBundlePath(path string) bool {
	if DetectSavedModelPath(path) {
		return false
	}
	_, ok := BundlePrefix(path)
	return ok
}

// ReadBundle reads the tensors of a checkpoint bundle into a weights-only model. String
// tensors (the object graph Keras and tf.train.Checkpoint keep) are left out and counted
// in the metadata.
func ReadBundle(path string) (m *ir.Model, err error) {
	prefix, ok := BundlePrefix(path)
	if !ok {
		return nil, ir.Errorf(ir.KindInvalidArgument, path, "not a TensorFlow checkpoint (no PREFIX.index)")
	}
	index := prefix + ".index"
	if _, err := os.Stat(filepath.Join(path, "saved_model.pb")); err == nil {
		return nil, ir.Errorf(ir.KindUnsupported, path, "is a SavedModel folder (read as a graph by the savedmodel format); its weights alone are in %s", filepath.Dir(prefix))
	}
	idx, err := mmap.Open(index)
	if err != nil {
		return nil, ir.IOError(index, err)
	}
	model := &ir.Model{Graph: &ir.Graph{Name: filepath.Base(prefix)}}
	m = model
	m.KeepAlive(idx)
	defer func() {
		if err != nil {
			model.Close()
		}
	}()
	entries, header, err := parseIndex(idx.Data, index)
	if err != nil {
		return nil, err
	}
	shards := map[int64]*mmap.File{}
	strs := 0
	for _, e := range entries {
		if e.dtype == tfString {
			strs++
			continue
		}
		if e.shard < 0 || e.shard >= header.numShards {
			return nil, ir.Errorf(ir.KindCorrupt, index, "tensor %q: shard %d of %d", e.key, e.shard, header.numShards)
		}
		sf := shards[e.shard]
		if sf == nil {
			name := fmt.Sprintf("%s.data-%05d-of-%05d", prefix, e.shard, header.numShards)
			if sf, err = mmap.Open(name); err != nil {
				return nil, ir.Errorf(ir.KindCorrupt, name, "missing data shard of %s: %v", index, err)
			}
			shards[e.shard] = sf
			m.KeepAlive(sf)
		}
		t, err := e.tensor(sf.Data, fmt.Sprintf("%s.data-%05d-of-%05d", prefix, e.shard, header.numShards))
		if err != nil {
			return nil, err
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	if strs > 0 {
		m.Metadata = append(m.Metadata, ir.StringPair{Key: "tf.string_tensors_skipped", Value: fmt.Sprint(strs)})
	}
	return m, nil
}

type bundleHeader struct {
	numShards  int64
	endianness uint64
}

type bundleEntry struct {
	key          string
	dtype        uint64
	shape        []int64
	shard        int64
	offset, size int64
	crc          uint32
	hasCRC       bool
	sliced       bool
	unknownRank  bool
}

func (e *bundleEntry) tensor(data []byte, file string) (*ir.Tensor, error) {
	dt, ok := tfDTypes[e.dtype]
	if !ok {
		return nil, ir.Errorf(ir.KindUnsupported, file, "tensor %q: TensorFlow dtype %d", e.key, e.dtype)
	}
	if e.sliced || e.unknownRank {
		return nil, ir.Errorf(ir.KindUnsupported, file, "tensor %q: partitioned (sliced) variables are not supported", e.key)
	}
	n := ir.NumElements(e.shape)
	want, ok := dt.ByteSize(n)
	if n < 0 || !ok || want != e.size {
		return nil, ir.Errorf(ir.KindCorrupt, file, "tensor %q: %v%v needs %d bytes, the index says %d", e.key, dt, e.shape, want, e.size)
	}
	if e.offset < 0 || e.size < 0 || e.offset > int64(len(data)) || e.size > int64(len(data))-e.offset {
		return nil, ir.Errorf(ir.KindCorrupt, file, "tensor %q: bytes %d..%d are past the end of the data file (%d bytes)", e.key, e.offset, e.offset+e.size, len(data))
	}
	b := data[e.offset : e.offset+e.size]
	if e.hasCRC {
		if got := maskCRC(crc32.Checksum(b, castagnoli)); got != e.crc {
			return nil, ir.Errorf(ir.KindCorrupt, file, "tensor %q: crc32c mismatch (stored %08x, data gives %08x)", e.key, e.crc, got)
		}
	}
	return ir.NewTensor(e.key, dt, e.shape, b)
}

// parseIndex reads the .index table: its entries in key order and the header.
func parseIndex(data []byte, file string) ([]bundleEntry, bundleHeader, error) {
	var hdr bundleHeader
	kvs, err := readTable(data, file)
	if err != nil {
		return nil, hdr, err
	}
	var out []bundleEntry
	sawHeader := false
	for _, kv := range kvs {
		if kv.key == "" {
			if err := parseHeader(kv.value, &hdr); err != nil {
				return nil, hdr, ir.Errorf(ir.KindCorrupt, file, "bundle header: %v", err)
			}
			sawHeader = true
			continue
		}
		e, err := parseEntry(kv.key, kv.value)
		if err != nil {
			return nil, hdr, ir.Errorf(ir.KindCorrupt, file, "entry %q: %v", kv.key, err)
		}
		out = append(out, e)
	}
	if !sawHeader {
		return nil, hdr, ir.Errorf(ir.KindCorrupt, file, "no bundle header (key \"\")")
	}
	if hdr.endianness != 0 {
		return nil, hdr, ir.Errorf(ir.KindUnsupported, file, "big-endian checkpoint")
	}
	if hdr.numShards <= 0 || hdr.numShards > 1<<20 {
		return nil, hdr, ir.Errorf(ir.KindCorrupt, file, "bundle header: %d shards", hdr.numShards)
	}
	return out, hdr, nil
}

// fields calls fn for each field of a protobuf message.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, raw); err != nil {
			return err
		}
	}
	return nil
}

func parseHeader(b []byte, h *bundleHeader) error {
	return fields(b, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
		switch num {
		case 1:
			h.numShards = int64(int32(v))
		case 2:
			h.endianness = v
		}
		return nil
	})
}

func parseEntry(key string, b []byte) (bundleEntry, error) {
	e := bundleEntry{key: key}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		switch num {
		case 1:
			e.dtype = v
		case 2:
			return fields(raw, func(num protowire.Number, _ protowire.Type, v uint64, raw []byte) error {
				switch num {
				case 2:
					var size int64
					err := fields(raw, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if num == 1 {
							size = int64(v)
						}
						return nil
					})
					if size < 0 || len(e.shape) >= 64 {
						return fmt.Errorf("bad shape")
					}
					e.shape = append(e.shape, size)
					return err
				case 3:
					e.unknownRank = v != 0
				}
				return nil
			})
		case 3:
			e.shard = int64(int32(v))
		case 4:
			e.offset = int64(v)
		case 5:
			e.size = int64(v)
		case 6:
			if typ != protowire.Fixed32Type {
				return fmt.Errorf("crc32c field of wire type %d", typ)
			}
			e.crc, e.hasCRC = uint32(v), true
		case 7:
			e.sliced = true
		}
		return nil
	})
	if e.shape == nil {
		e.shape = []int64{}
	}
	return e, err
}

type tableKV struct {
	key   string
	value []byte
}

// readTable reads every key/value of a LevelDB-format table.
func readTable(data []byte, file string) ([]tableKV, error) {
	if len(data) < 48 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "index table of %d bytes is too short for its footer", len(data))
	}
	foot := data[len(data)-48:]
	if binary.LittleEndian.Uint64(foot[40:]) != tableMagic {
		return nil, ir.Errorf(ir.KindCorrupt, file, "not a checkpoint index (bad table magic)")
	}
	_, n1 := blockHandle(foot)
	if n1 < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "bad footer")
	}
	ih, n2 := blockHandle(foot[n1:])
	if n2 < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "bad footer")
	}
	index, err := readBlock(data, ih, file)
	if err != nil {
		return nil, err
	}
	handles, err := blockEntries(index, file)
	if err != nil {
		return nil, err
	}
	var out []tableKV
	for _, h := range handles {
		bh, n := blockHandle(h.value)
		if n < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, file, "bad block handle in the table index")
		}
		blk, err := readBlock(data, bh, file)
		if err != nil {
			return nil, err
		}
		kvs, err := blockEntries(blk, file)
		if err != nil {
			return nil, err
		}
		out = append(out, kvs...)
	}
	return out, nil
}

type handle struct{ offset, size uint64 }

func blockHandle(b []byte) (handle, int) {
	o, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return handle{}, -1
	}
	s, m := protowire.ConsumeVarint(b[n:])
	if m < 0 {
		return handle{}, -1
	}
	return handle{o, s}, n + m
}

// readBlock returns a block's contents, its checksum checked and Snappy undone.
func readBlock(data []byte, h handle, file string) ([]byte, error) {
	if h.offset > uint64(len(data)) || h.size > uint64(len(data))-h.offset || uint64(len(data))-h.offset-h.size < 5 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "table block at %d (%d bytes) is past the end of the file", h.offset, h.size)
	}
	blk := data[h.offset : h.offset+h.size]
	trailer := data[h.offset+h.size : h.offset+h.size+5]
	c := crc32.Update(crc32.Checksum(blk, castagnoli), castagnoli, trailer[:1])
	if stored := binary.LittleEndian.Uint32(trailer[1:]); maskCRC(c) != stored {
		return nil, ir.Errorf(ir.KindCorrupt, file, "table block at %d: crc32c mismatch", h.offset)
	}
	switch trailer[0] {
	case 0:
		return blk, nil
	case 1:
		out, err := snappyDecode(blk)
		if err != nil {
			return nil, ir.Errorf(ir.KindCorrupt, file, "table block at %d: snappy: %v", h.offset, err)
		}
		return out, nil
	}
	return nil, ir.Errorf(ir.KindUnsupported, file, "table block at %d: compression type %d", h.offset, trailer[0])
}

// blockEntries decodes a block's prefix-compressed entries.
func blockEntries(blk []byte, file string) ([]tableKV, error) {
	if len(blk) < 4 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "table block too short")
	}
	nr := uint64(binary.LittleEndian.Uint32(blk[len(blk)-4:]))
	if nr*4+4 > uint64(len(blk)) {
		return nil, ir.Errorf(ir.KindCorrupt, file, "table block: %d restart points", nr)
	}
	body := blk[:uint64(len(blk))-4-nr*4]
	var out []tableKV
	var last []byte
	for len(body) > 0 {
		shared, n1 := protowire.ConsumeVarint(body)
		if n1 < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, file, "table entry")
		}
		unshared, n2 := protowire.ConsumeVarint(body[n1:])
		if n2 < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, file, "table entry")
		}
		vlen, n3 := protowire.ConsumeVarint(body[n1+n2:])
		if n3 < 0 {
			return nil, ir.Errorf(ir.KindCorrupt, file, "table entry")
		}
		body = body[n1+n2+n3:]
		if shared > uint64(len(last)) || unshared > uint64(len(body)) || vlen > uint64(len(body))-unshared {
			return nil, ir.Errorf(ir.KindCorrupt, file, "table entry runs past its block")
		}
		key := append(append([]byte{}, last[:shared]...), body[:unshared]...)
		out = append(out, tableKV{key: string(key), value: body[unshared : unshared+vlen]})
		last = key
		body = body[unshared+vlen:]
	}
	return out, nil
}

// snappyDecode decodes a Snappy block (the raw format, not the framed one).
func snappyDecode(src []byte) ([]byte, error) {
	n, k := protowire.ConsumeVarint(src)
	if k < 0 || n > 1<<32 || n > uint64(len(src))*256 {
		return nil, fmt.Errorf("bad length")
	}
	src = src[k:]
	dst := make([]byte, 0, n)
	for len(src) > 0 {
		tag := src[0]
		switch tag & 3 {
		case 0:
			l := uint64(tag >> 2)
			src = src[1:]
			if l >= 60 {
				nb := int(l - 59)
				if len(src) < nb {
					return nil, fmt.Errorf("literal length cut short")
				}
				l = 0
				for i := nb - 1; i >= 0; i-- {
					l = l<<8 | uint64(src[i])
				}
				src = src[nb:]
			}
			l++
			if l > uint64(len(src)) || uint64(len(dst))+l > n {
				return nil, fmt.Errorf("literal past the end")
			}
			dst = append(dst, src[:l]...)
			src = src[l:]
			continue
		case 1:
			if len(src) < 2 {
				return nil, fmt.Errorf("copy cut short")
			}
			l := 4 + int(tag>>2)&7
			off := int(tag>>5)<<8 | int(src[1])
			src = src[2:]
			if err := snappyCopy(&dst, off, l, n); err != nil {
				return nil, err
			}
		case 2:
			if len(src) < 3 {
				return nil, fmt.Errorf("copy cut short")
			}
			l := 1 + int(tag>>2)
			off := int(binary.LittleEndian.Uint16(src[1:]))
			src = src[3:]
			if err := snappyCopy(&dst, off, l, n); err != nil {
				return nil, err
			}
		case 3:
			if len(src) < 5 {
				return nil, fmt.Errorf("copy cut short")
			}
			l := 1 + int(tag>>2)
			off := int(binary.LittleEndian.Uint32(src[1:]))
			src = src[5:]
			if err := snappyCopy(&dst, off, l, n); err != nil {
				return nil, err
			}
		}
	}
	if uint64(len(dst)) != n {
		return nil, fmt.Errorf("%d bytes decoded, %d declared", len(dst), n)
	}
	return dst, nil
}

func snappyCopy(dst *[]byte, off, l int, n uint64) error {
	d := *dst
	if off <= 0 || off > len(d) || uint64(len(d)+l) > n {
		return fmt.Errorf("bad copy (offset %d, length %d)", off, l)
	}
	for i := 0; i < l; i++ {
		d = append(d, d[len(d)-off])
	}
	*dst = d
	return nil
}

// WriteBundle writes the model's initializers as a checkpoint bundle: path is
// PREFIX.index (or PREFIX), and PREFIX.data-00000-of-00001 is written beside it. Both
// appear together or not at all.
func WriteBundle(m *ir.Model, path string, written func([]byte) error) error {
	return writeBundle(m, path, written, nil)
}

// writeBundle is WriteBundle with scalar string tensors added (a SavedModel's
// _CHECKPOINTABLE_OBJECT_GRAPH), keyed by name.
func writeBundle(m *ir.Model, path string, written func([]byte) error, strs map[string][]byte) error {
	prefix := strings.TrimSuffix(path, ".index")
	ts := append([]*ir.Tensor{}, m.Graph.Initializers...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	set := atomicfile.NewSet(m.Sources())
	dataPath := prefix + ".data-00000-of-00001"
	df, err := set.Create(dataPath)
	if err != nil {
		return err
	}
	kvs := []tableKV{{key: "", value: headerProto()}}
	var off int64
	for _, key := range slices.Sorted(maps.Keys(strs)) {
		b, crc := stringTensorBytes(strs[key])
		if _, err := df.Write(b); err != nil {
			set.Abort()
			return ir.IOError(dataPath, err)
		}
		kvs = append(kvs, tableKV{key: key, value: entryProto(tfString, []int64{}, off, int64(len(b)), crc)})
		off += int64(len(b))
	}
	for i, t := range ts {
		if i > 0 && t.Name == ts[i-1].Name || strs[t.Name] != nil {
			set.Abort()
			return ir.Errorf(ir.KindInvalidArgument, path, "two tensors named %q", t.Name)
		}
		dt, ok := tfDType(t.DType)
		if !ok {
			set.Abort()
			return ir.Errorf(ir.KindUnsupported, path, "tensor %q: %v has no TensorFlow dtype", t.Name, t.DType)
		}
		b := t.Bytes()
		if _, err := df.Write(b); err != nil {
			set.Abort()
			return ir.IOError(dataPath, err)
		}
		if written != nil {
			if err := written(b); err != nil {
				set.Abort()
				return err
			}
		}
		kvs = append(kvs, tableKV{key: t.Name, value: entryProto(dt, t.Shape, off, int64(len(b)), maskCRC(crc32.Checksum(b, castagnoli)))})
		off += int64(len(b))
	}
	// The table's keys must be sorted; the string entries were written first.
	sort.SliceStable(kvs, func(i, j int) bool { return kvs[i].key < kvs[j].key })
	xf, err := set.Create(prefix + ".index")
	if err != nil {
		return err
	}
	if _, err := xf.Write(buildTable(kvs)); err != nil {
		set.Abort()
		return ir.IOError(prefix+".index", err)
	}
	return set.Commit()
}

// stringTensorBytes lays out a scalar string tensor as TensorFlow's bundle writer does:
// the length as a varint, a masked crc32c of the lengths (each as a little-endian
// uint32, as older checkpoints stored them), then the bytes; and returns the masked
// crc32c of all of it for the entry.
func stringTensorBytes(s []byte) ([]byte, uint32) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	crc := crc32.Update(0, castagnoli, n[:])
	b := protowire.AppendVarint(nil, uint64(len(s)))
	b = binary.LittleEndian.AppendUint32(b, maskCRC(crc))
	crc = crc32.Update(crc, castagnoli, b[len(b)-4:])
	b = append(b, s...)
	crc = crc32.Update(crc, castagnoli, s)
	return b, maskCRC(crc)
}

func headerProto() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	// version { producer: 1 }
	var v []byte
	v = protowire.AppendTag(v, 1, protowire.VarintType)
	v = protowire.AppendVarint(v, 1)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func entryProto(dtype uint64, shape []int64, off, size int64, crc uint32) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, dtype)
	var s []byte
	for _, d := range shape {
		var dim []byte
		dim = protowire.AppendTag(dim, 1, protowire.VarintType)
		dim = protowire.AppendVarint(dim, uint64(d))
		s = protowire.AppendTag(s, 2, protowire.BytesType)
		s = protowire.AppendBytes(s, dim)
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, s)
	if off != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(off))
	}
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, 6, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, crc)
}

// buildTable lays out a LevelDB-format table of sorted keys: data blocks of about 4 KiB
// (a restart point at every entry), an empty metaindex block, the index block, the footer.
func buildTable(kvs []tableKV) []byte { return buildTableWith(kvs, nil) }

// buildTableWith is buildTable with the data blocks passed through compress (Snappy,
// type 1) when it is set; tests use it.
func buildTableWith(kvs []tableKV, compress func([]byte) []byte) []byte {
	var out []byte
	addBlock := func(entries []tableKV, compress func([]byte) []byte) handle {
		var blk []byte
		var restarts []uint32
		for _, kv := range entries {
			restarts = append(restarts, uint32(len(blk)))
			blk = protowire.AppendVarint(blk, 0)
			blk = protowire.AppendVarint(blk, uint64(len(kv.key)))
			blk = protowire.AppendVarint(blk, uint64(len(kv.value)))
			blk = append(blk, kv.key...)
			blk = append(blk, kv.value...)
		}
		if len(restarts) == 0 {
			restarts = []uint32{0}
		}
		for _, r := range restarts {
			blk = binary.LittleEndian.AppendUint32(blk, r)
		}
		blk = binary.LittleEndian.AppendUint32(blk, uint32(len(restarts)))
		typ := byte(0)
		if compress != nil {
			blk, typ = compress(blk), 1
		}
		h := handle{uint64(len(out)), uint64(len(blk))}
		out = append(out, blk...)
		c := crc32.Update(crc32.Checksum(blk, castagnoli), castagnoli, []byte{typ})
		out = append(out, typ)
		out = binary.LittleEndian.AppendUint32(out, maskCRC(c))
		return h
	}
	encode := func(h handle) []byte {
		return protowire.AppendVarint(protowire.AppendVarint(nil, h.offset), h.size)
	}
	var index []tableKV
	for start := 0; start < len(kvs); {
		end, size := start, 0
		for end < len(kvs) && (end == start || size < 4096) {
			size += len(kvs[end].key) + len(kvs[end].value) + 8
			end++
		}
		h := addBlock(kvs[start:end], compress)
		index = append(index, tableKV{key: kvs[end-1].key, value: encode(h)})
		start = end
	}
	meta := addBlock(nil, nil)
	ih := addBlock(index, nil)
	foot := append(encode(meta), encode(ih)...)
	foot = append(foot, make([]byte, 40-len(foot))...)
	foot = binary.LittleEndian.AppendUint64(foot, tableMagic)
	return append(out, foot...)
}
