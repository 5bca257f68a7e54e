package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions are the safetensors writer's settings.
type WriteOptions struct {
	// MaxShardSize, when positive, splits the tensors over several files of at most this
	// many bytes of tensor data each (a tensor larger than that gets a file of its own),
	// named like Hugging Face's model-00001-of-00003.safetensors, beside an index
	// model.safetensors.index.json. When everything fits one file, one file is written.
	MaxShardSize int64
	// Splits, when positive, cuts the tensors (in model order) into this many shards of
	// about equal bytes, written as MaxShardSize writes them (the index included).
	Splits int
	// Only, from 1, writes only that shard of the Splits (or MaxShardSize) set, byte for
	// byte what the whole write puts there; the last shard's run writes the index too.
	// Count, if set, is the number of shards the caller expects.
	Only, Count int
	// Written, if set, is called with each piece of tensor data (at most WritePiece
	// bytes) once written out; an error from it stops the write.
	Written func([]byte) error
}

// Write stores the initializers of m and its metadata in path, laid out as the reference
// writer does: tensors ordered by dtype alignment (largest first) then by name, the JSON
// header padded with spaces to a multiple of 8 bytes. Nodes are not kept (the format holds
// weights only). All files appear atomically, or none.
func Write(m *ir.Model, path string, opts WriteOptions) error {
	tensors, err := collect(m, path)
	if err != nil {
		return err
	}
	meta := sortedMetadata(m.Metadata)
	groups, err := Groups(tensors, path, opts)
	if err != nil {
		return err
	}
	if opts.Only > 0 {
		return writeOne(m, path, groups, meta, opts)
	}
	// The set of files the output is: checked against the input's files, written under
	// temporary names, renamed with the commit point last, the earlier output's files that
	// the new one does not reuse removed.
	set := atomicfile.NewSet(m.Sources())
	if len(groups) <= 1 && opts.Splits == 0 {
		if err := set.Check(path); err != nil {
			return err
		}
		if err := removeStale(set, path, map[string]bool{filepath.Base(path): true}); err != nil {
			set.Abort()
			return err
		}
		f, err := set.Create(path)
		if err != nil {
			return err
		}
		if err := writeFile(f, tensors, meta, opts.Written); err != nil {
			set.Abort()
			return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
		}
		return set.Commit()
	}
	return writeSharded(set, path, groups, meta, opts)
}

// ShardNames returns the files a sharded write of path in n shards makes: the shards,
// then the index (the commit point). Hugging Face's names: model-00001-of-00003.safetensors
// beside model.safetensors.index.json, after path's stem.
func ShardNames(path string, n int) []string {
	dir := filepath.Dir(path)
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	out := make([]string, 0, n+1)
	for i := range n {
		out = append(out, filepath.Join(dir, fmt.Sprintf("%s-%05d-of-%05d.safetensors", stem, i+1, n)))
	}
	return append(out, filepath.Join(dir, stem+IndexSuffix))
}

// removeStale schedules the removal, once the new output is in place, of the files of an
// earlier output at path that the new one (keep, by file name) does not reuse: the shards
// the old index lists, files named like this output's shards (<stem>-NNNNN-of-NNNNN
// .safetensors, as transformers' save_pretrained cleans up), the old index, and the
// unsharded file. An output is one model whichever way it is stored: leaving the other
// form behind would make a reader of the folder pick the stale one.
func removeStale(set *atomicfile.Set, path string, keep map[string]bool) error {
	dir := filepath.Dir(path)
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	candidates := map[string]bool{filepath.Base(path): true, stem + IndexSuffix: true}
	if idx, err := readIndex(filepath.Join(dir, stem+IndexSuffix)); err == nil {
		for _, shard := range idx.WeightMap {
			if checkShardName(shard) == nil {
				candidates[shard] = true
			}
		}
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if isShardName(e.Name(), stem) {
				candidates[e.Name()] = true
			}
		}
	}
	names := make([]string, 0, len(candidates))
	for name := range candidates {
		if !keep[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := set.RemoveOnCommit(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// isShardName says whether name is <stem>-NNNNN-of-NNNNN.safetensors.
func isShardName(name, stem string) bool {
	rest, ok := strings.CutPrefix(name, stem+"-")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, ".safetensors")
	if !ok || len(rest) != 14 || rest[5:9] != "-of-" {
		return false
	}
	for _, c := range rest[:5] + rest[9:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Encode writes m as one safetensors file to w, laid out as Write lays out an unsharded
// file (the same bytes); opts.MaxShardSize is not used (shards need a folder). name is
// what errors call the output.
func Encode(m *ir.Model, w io.Writer, name string, opts WriteOptions) error {
	tensors, err := collect(m, name)
	if err != nil {
		return err
	}
	if err := writeFile(w, tensors, sortedMetadata(m.Metadata), opts.Written); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	return nil
}

// collect checks that every initializer can be stored and returns them in model order.
func collect(m *ir.Model, path string) ([]*ir.Tensor, error) {
	if m.Graph == nil {
		return nil, nil
	}
	if len(m.Graph.SparseInitializers) > 0 {
		return nil, ir.Errorf(ir.KindUnsupported, path, "safetensors cannot hold sparse initializers (%d in the model); densify them first", len(m.Graph.SparseInitializers))
	}
	seen := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		where := fmt.Sprintf("tensor %q", t.Name)
		if _, ok := specOf(t.DType); !ok {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: path, Where: where, Err: fmt.Errorf("dtype %v has no safetensors equivalent (the format has %s)", t.DType, strings.Join(names(), ", "))}
		}
		if t.Name == metadataKey {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: path, Where: where, Err: fmt.Errorf("the name is reserved for the metadata in safetensors")}
		}
		if seen[t.Name] {
			return nil, &ir.Error{Kind: ir.KindInvalidArgument, File: path, Where: where, Err: fmt.Errorf("two tensors have this name; safetensors keys must be unique")}
		}
		seen[t.Name] = true
		spec, _ := specOf(t.DType)
		if n, ok := spec.byteLength(t.NumElements()); !ok || n != t.ByteSize() {
			return nil, &ir.Error{Kind: ir.KindUnsupported, File: path, Where: where, Err: fmt.Errorf("%v%v does not fill a whole number of bytes, which safetensors requires", t.DType, t.Shape)}
		}
	}
	return m.Graph.Initializers, nil
}

// sortedMetadata orders the metadata by key (the reference keeps it in a hash map, whose
// order varies from run to run; sorting makes modelc's output deterministic). A key
// given twice keeps its last value.
func sortedMetadata(pairs []ir.StringPair) []ir.StringPair {
	last := map[string]string{}
	for _, p := range pairs {
		last[p.Key] = p.Value
	}
	out := make([]ir.StringPair, 0, len(last))
	for k, v := range last {
		out = append(out, ir.StringPair{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// split cuts the tensors, in model order, into groups of at most max bytes, as Hugging
// Face's sharding does: a new shard starts when the next tensor would overflow the
// current one; a tensor larger than max gets a shard of its own.
func split(tensors []*ir.Tensor, max int64) [][]*ir.Tensor {
	if max <= 0 {
		return [][]*ir.Tensor{tensors}
	}
	var groups [][]*ir.Tensor
	var cur []*ir.Tensor
	var size int64
	for _, t := range tensors {
		n := t.ByteSize()
		if len(cur) > 0 && size+n > max {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// layout orders tensors as the reference writer does: by dtype, the most aligned first,
// then by name (byte order, like Rust's String ordering).
func layout(tensors []*ir.Tensor) []*ir.Tensor {
	out := append([]*ir.Tensor(nil), tensors...)
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := specOf(out[i].DType)
		b, _ := specOf(out[j].DType)
		if a.rank != b.rank {
			return a.rank > b.rank
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// encodeHeader builds the length-prefixed JSON header for tensors already in layout order,
// byte for byte what serde_json writes for the reference, padded with spaces to 8 bytes.
func encodeHeader(tensors []*ir.Tensor, meta []ir.StringPair) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		comma()
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, p := range meta {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, p.Key)
			b.WriteByte(':')
			writeJSONString(&b, p.Value)
		}
		b.WriteByte('}')
	}
	var off int64
	for _, t := range tensors {
		comma()
		spec, _ := specOf(t.DType)
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":"`)
		b.WriteString(spec.name)
		b.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(d, 10))
		}
		n := t.ByteSize()
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, off+n)
		off += n
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	out := make([]byte, 8, 8+b.Len())
	binary.LittleEndian.PutUint64(out, uint64(b.Len()))
	return append(out, b.Bytes()...)
}

// writeJSONString quotes s as serde_json does: only '"', '\\' and control characters are
// escaped (\b \t \n \f \r by name, the rest as \u00xx); everything else is kept as UTF-8.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// writeFile writes one safetensors file: header, then each tensor's bytes in layout order.
func writeFile(w io.Writer, tensors []*ir.Tensor, meta []ir.StringPair, written func([]byte) error) error {
	tensors = layout(tensors)
	if _, err := w.Write(encodeHeader(tensors, meta)); err != nil {
		return err
	}
	for _, t := range tensors {
		if err := WriteTensorData(w, t, written); err != nil {
			return err
		}
	}
	return nil
}

// WritePiece is the most WriteTensorData writes between two calls of written.
const WritePiece = 4 << 20

// WriteTensorData writes t's packed bytes to w. A tensor computed on demand is filled into
// a buffer of its own that is dropped afterwards, so a streaming conversion holds one
// tensor at a time; a tensor that aliases its source is written from there. Each piece of
// at most WritePiece bytes is then reported to written (which may release the source's
// pages, report progress, or stop the write with an error).
func WriteTensorData(w io.Writer, t *ir.Tensor, written func([]byte) error) error {
	data := t.Bytes()
	if t.Computed() {
		data = make([]byte, t.ByteSize())
		t.FillBytes(data)
	}
	for len(data) > 0 {
		n := min(len(data), WritePiece)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		if written != nil {
			if err := written(data[:n]); err != nil {
				return err
			}
		}
		data = data[n:]
	}
	return nil
}

// writeSharded writes each group to a shard and then the index (see ShardNames). Nothing
// is renamed into place until every file is complete, and the index goes last.
func writeSharded(set *atomicfile.Set, path string, groups [][]*ir.Tensor, meta []ir.StringPair, opts WriteOptions) error {
	names := ShardNames(path, len(groups))
	keep := map[string]bool{}
	for _, p := range names {
		if err := set.Check(p); err != nil {
			return err
		}
		keep[filepath.Base(p)] = true
	}
	if err := removeStale(set, path, keep); err != nil {
		set.Abort()
		return err
	}
	for i, g := range groups {
		shardPath := names[i]
		f, err := set.Create(shardPath)
		if err != nil {
			return err
		}
		if err := writeFile(f, g, meta, opts.Written); err != nil {
			set.Abort()
			return &ir.Error{Kind: ir.KindIO, File: shardPath, Err: err}
		}
	}
	return writeIndex(set, names[len(groups)], groups, names)
}

// writeIndex adds the index of the shards (groups, named by names) to the set and commits.
func writeIndex(set *atomicfile.Set, indexPath string, groups [][]*ir.Tensor, names []string) error {
	weightMap := map[string]string{}
	var total int64
	for i, g := range groups {
		for _, t := range g {
			weightMap[t.Name] = filepath.Base(names[i])
			total += t.ByteSize()
		}
	}
	f, err := set.Create(indexPath)
	if err != nil {
		return err
	}
	// The layout of transformers' save_pretrained: sorted keys, two-space indent.
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	idx := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": total}, weightMap}
	if err := enc.Encode(idx); err != nil {
		set.Abort()
		return &ir.Error{Kind: ir.KindIO, File: indexPath, Err: err}
	}
	return set.Commit()
}

// Groups is how Write cuts the tensors into shards with these options (one group: one
// file, unless Splits asks for a set of one).
func Groups(tensors []*ir.Tensor, path string, opts WriteOptions) ([][]*ir.Tensor, error) {
	bad := func(format string, args ...any) error {
		return &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: fmt.Errorf(format, args...)}
	}
	var groups [][]*ir.Tensor
	switch {
	case opts.Splits > 0 && opts.MaxShardSize > 0:
		return nil, bad("give either a number of splits or a maximum shard size, not both")
	case opts.Splits > 0:
		if opts.Splits > len(tensors) || opts.Splits > 99999 {
			return nil, bad("%d shards for %d tensors: every shard holds at least one tensor", opts.Splits, len(tensors))
		}
		groups = balance(tensors, opts.Splits)
	case opts.Count > 0 && opts.MaxShardSize == 0:
		if opts.Count > len(tensors) {
			return nil, bad("%d shards for %d tensors: every shard holds at least one tensor", opts.Count, len(tensors))
		}
		groups = balance(tensors, opts.Count)
	default:
		groups = split(tensors, opts.MaxShardSize)
	}
	if opts.Count > 0 && len(groups) != opts.Count {
		return nil, bad("the sharded output has %d files, not %d", len(groups), opts.Count)
	}
	if opts.Only > len(groups) {
		return nil, bad("shard %d of a set of %d files", opts.Only, len(groups))
	}
	return groups, nil
}

// balance cuts the tensors, in order, into k non-empty runs of about equal bytes: run j
// ends at the tensor boundary nearest to (j+1)/k of the total.
func balance(tensors []*ir.Tensor, k int) [][]*ir.Tensor {
	n := len(tensors)
	prefix := make([]int64, n+1)
	for i, t := range tensors {
		prefix[i+1] = prefix[i] + max(1, t.ByteSize())
	}
	total := prefix[n]
	var groups [][]*ir.Tensor
	start := 0
	for j := 1; j <= k; j++ {
		b := n
		if j < k {
			target := total/int64(k)*int64(j) + total%int64(k)*int64(j)/int64(k)
			lo, hi := start+1, n-(k-j)
			b = lo
			for c := lo; c <= hi; c++ {
				if absDiff(prefix[c], target) < absDiff(prefix[b], target) {
					b = c
				}
				if prefix[c] > target {
					break
				}
			}
		}
		groups = append(groups, tensors[start:b])
		start = b
	}
	return groups
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// writeOne writes shard opts.Only of the set (and, for the last shard, the index): one
// worker of a sharded conversion. The other shards are other workers' and left alone.
func writeOne(m *ir.Model, path string, groups [][]*ir.Tensor, meta []ir.StringPair, opts WriteOptions) error {
	names := ShardNames(path, len(groups))
	set := atomicfile.NewSet(m.Sources())
	defer set.Abort()
	i := opts.Only - 1
	f, err := set.Create(names[i])
	if err != nil {
		return err
	}
	if err := writeFile(f, groups[i], meta, opts.Written); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: names[i], Err: err}
	}
	if opts.Only < len(groups) {
		return set.Commit()
	}
	return writeIndex(set, names[len(groups)], groups, names)
}

// Shards is the sharded layout Write(m, path, opts) writes: each shard's tensors (in
// model order) and the file names, the index last.
func Shards(m *ir.Model, path string, opts WriteOptions) ([][]*ir.Tensor, []string, error) {
	tensors, err := collect(m, path)
	if err != nil {
		return nil, nil, err
	}
	groups, err := Groups(tensors, path, opts)
	if err != nil {
		return nil, nil, err
	}
	return groups, ShardNames(path, len(groups)), nil
}

// WriteIndex writes only the index of the sharded layout Write(m, path, opts) writes, the
// same bytes: for a sharded conversion whose workers write the shards.
func WriteIndex(m *ir.Model, path string, opts WriteOptions) (string, error) {
	groups, names, err := Shards(m, path, opts)
	if err != nil {
		return "", err
	}
	set := atomicfile.NewSet(m.Sources())
	defer set.Abort()
	return names[len(groups)], writeIndex(set, names[len(groups)], groups, names)
}
