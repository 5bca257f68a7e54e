package gguf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// The keys llama.cpp's gguf-split writes into every file of a split set (LLM_KV_SPLIT_*).
const (
	KeySplitNo     = "split.no"            // u16, 0-based
	KeySplitCount  = "split.count"         // u16
	KeySplitTensor = "split.tensors.count" // i32, over all files
)

// maxSplits is the most files a set can have: split.count is a u16, and the names have
// five digits.
const maxSplits = 65535

// SplitOptions say how Write cuts a model into a split set. At most one of Splits,
// MaxBytes and MaxTensors chooses the cut (MaxBytes and MaxTensors may be combined).
type SplitOptions struct {
	// Splits is the number of files: the tensors, in order, are cut into this many
	// contiguous runs of about equal cost (see Cost).
	Splits int
	// MaxBytes starts a new file before a tensor that would take the current one past
	// this many bytes of tensor data, each tensor's padded to the alignment (as gguf-split
	// --split-max-size counts); a larger tensor gets a file of its own.
	MaxBytes int64
	// MaxTensors starts a new file after this many tensors (gguf-split --split-max-tensors).
	MaxTensors int
	// Only, from 1, writes that file of the set and no other; 0 writes them all.
	Only int
	// Count, if set, is the number of files the caller expects (a --shard I/N): a plan
	// with another count is an error.
	Count int
}

// Active says whether the options ask for a split set.
func (o SplitOptions) Active() bool {
	return o.Splits > 0 || o.MaxBytes > 0 || o.MaxTensors > 0 || o.Only > 0
}

// SplitName is file i (from 1) of n of the set named by path: model.gguf →
// model-00001-of-00004.gguf. A path that already names a split file keeps its prefix.
func SplitName(path string, i, n int) string {
	prefix := strings.TrimSuffix(path, filepath.Ext(path))
	if p, _, _, ok := ParseSplitName(path); ok {
		prefix = p
	}
	return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i, n)
}

var splitRE = regexp.MustCompile(`^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// ParseSplitName takes apart a split file's path: its prefix, its number (from 1) and the
// number of files in the set.
func ParseSplitName(path string) (prefix string, i, n int, ok bool) {
	s := splitRE.FindStringSubmatch(path)
	if s == nil {
		return "", 0, 0, false
	}
	i, _ = strconv.Atoi(s[2])
	n, _ = strconv.Atoi(s[3])
	if i < 1 || n < 1 || i > n {
		return "", 0, 0, false
	}
	return s[1], i, n, true
}

// PlannedTensor is one tensor of a split plan.
type PlannedTensor struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`  // in the output
	Shape    []int64 `json:"shape"` // row-major
	InBytes  int64   `json:"in_bytes"`
	OutBytes int64   `json:"out_bytes"`
	Cost     int64   `json:"cost"`
}

// PlannedFile is one file of a split plan.
type PlannedFile struct {
	Path     string          `json:"path"`
	Index    int             `json:"index"` // from 1
	Bytes    int64           `json:"bytes"` // of tensor data, as written
	Cost     int64           `json:"cost"`
	Tensors  []PlannedTensor `json:"tensors"`
	encoding *encoding
}

// Plan is the assignment of a model's tensors to the files of a split set.
type Plan struct {
	Files []PlannedFile `json:"files"`
	// TotalCost is the sum of the files' costs: what one process does, and what N
	// workers do together.
	TotalCost int64 `json:"total_cost"`
	// Index is the safetensors index modelc plan --write-index wrote, if any.
	Index string `json:"index,omitempty"`
}

// costPerByte is the relative work of turning one input byte into type dst: a copy
// costs 1; a float conversion, a legacy block type and a K-quant (with its search over
// candidate scales) cost more. The weights are rough ratios, used only to balance files.
func costPerByte(src, dst GGMLType) int64 {
	if src == dst {
		return 1
	}
	switch dst {
	case F32, F16, BF16:
		return 2
	case Q4_K, Q5_K:
		return 24
	case Q6_K:
		return 12
	}
	return 4
}

// Cost is the work of writing one tensor: its input bytes × the output type's cost per byte.
func (it item) cost() int64 { return max(1, it.t.ByteSize()) * costPerByte(it.src, it.dst) }

// PlanSplits decides which tensors go to which file of the split set path names, with
// the types opts asks for; Write with the same options writes exactly these files.
func PlanSplits(m *ir.Model, path string, opts WriteOptions, so SplitOptions) (*Plan, error) {
	e, err := prepare(m, path, opts)
	if err != nil {
		return nil, err
	}
	return planSplits(e, path, so)
}

func planSplits(e *encoding, path string, so SplitOptions) (*Plan, error) {
	bad := func(format string, args ...any) error {
		return &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: fmt.Errorf(format, args...)}
	}
	if so.Splits < 0 || so.MaxBytes < 0 || so.MaxTensors < 0 || so.Only < 0 {
		return nil, bad("negative split options")
	}
	if so.Splits > 0 && (so.MaxBytes > 0 || so.MaxTensors > 0) {
		return nil, bad("give either a number of splits or a maximum split size/tensor count, not both")
	}
	n := len(e.items)
	var cuts []int // the index of each file's first tensor
	switch {
	case so.MaxBytes > 0 || so.MaxTensors > 0:
		cuts = []int{0}
		var bytes int64
		count := 0
		for i, it := range e.items {
			// As gguf-split counts: each tensor's size padded to the alignment.
			padded := alignUp(it.size, e.alignment)
			if count > 0 && ((so.MaxTensors > 0 && count >= so.MaxTensors) || (so.MaxBytes > 0 && bytes+padded > so.MaxBytes)) {
				cuts = append(cuts, i)
				bytes, count = 0, 0
			}
			bytes += padded
			count++
		}
	default:
		k := so.Splits
		if k == 0 {
			k = so.Count
		}
		if k == 0 {
			k = 1
		}
		if k > n && n > 0 || k > maxSplits {
			return nil, bad("%d splits for %d tensors: every file holds at least one tensor, and a set has at most %d files", k, n, maxSplits)
		}
		cuts = balance(e.items, k)
	}
	if len(cuts) > maxSplits {
		return nil, bad("the split set would have %d files; at most %d", len(cuts), maxSplits)
	}
	if so.Count > 0 && len(cuts) != so.Count {
		return nil, bad("the split set has %d files, not %d", len(cuts), so.Count)
	}
	if so.Only > len(cuts) {
		return nil, bad("split %d of a set of %d files", so.Only, len(cuts))
	}
	p := &Plan{}
	for f := range cuts {
		end := n
		if f+1 < len(cuts) {
			end = cuts[f+1]
		}
		pf := PlannedFile{Path: SplitName(path, f+1, len(cuts)), Index: f + 1}
		sub := &encoding{alignment: e.alignment}
		var offset int64
		for _, it := range e.items[cuts[f]:end] {
			it.offset = offset
			offset = alignUp(offset+it.size, e.alignment)
			sub.items = append(sub.items, it)
			c := it.cost()
			pf.Bytes += it.size
			pf.Cost += c
			pf.Tensors = append(pf.Tensors, PlannedTensor{Name: it.t.Name, Type: types[it.dst].name, Shape: it.t.Shape,
				InBytes: it.t.ByteSize(), OutBytes: it.size, Cost: c})
		}
		// The model's metadata goes in the first file only, as gguf-split writes it;
		// every file says where it stands in the set. A file after the first keeps a
		// non-default alignment, which its offsets depend on.
		if f == 0 {
			sub.kv = append([]ir.MetaKV(nil), e.kv...)
		} else if e.alignment != DefaultAlignment {
			sub.kv = []ir.MetaKV{{Key: "general.alignment", Value: uint32(e.alignment)}}
		}
		ir.MetaSet(&sub.kv, KeySplitNo, uint16(f))
		ir.MetaSet(&sub.kv, KeySplitCount, uint16(len(cuts)))
		ir.MetaSet(&sub.kv, KeySplitTensor, int32(n))
		pf.encoding = sub
		p.TotalCost += pf.Cost
		p.Files = append(p.Files, pf)
	}
	return p, nil
}

// balance cuts the items, in order, into k non-empty runs of about equal cost: run j
// ends at the tensor boundary nearest to (j+1)/k of the total cost. Deterministic.
func balance(items []item, k int) []int {
	n := len(items)
	prefix := make([]int64, n+1)
	for i, it := range items {
		prefix[i+1] = prefix[i] + it.cost()
	}
	total := prefix[n]
	cuts := []int{0}
	start := 0
	for j := 1; j < k; j++ {
		target := total / int64(k) * int64(j)
		target += total % int64(k) * int64(j) / int64(k)
		lo, hi := start+1, n-(k-j) // the run takes ≥1 tensor and leaves ≥1 for each later run
		b := lo
		for c := lo; c <= hi; c++ {
			if abs64(prefix[c]-target) < abs64(prefix[b]-target) {
				b = c
			}
			if prefix[c] > target {
				break
			}
		}
		cuts = append(cuts, b)
		start = b
	}
	return cuts
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// WriteSplits writes the split set path names (or, with so.Only, one file of it) and
// returns the files written. Each file is complete or absent: a whole set is committed
// together, one file of a set on its own (a worker of a sharded conversion).
func WriteSplits(m *ir.Model, path string, opts WriteOptions, so SplitOptions) ([]string, error) {
	p, err := PlanSplits(m, path, opts, so)
	if err != nil {
		return nil, err
	}
	set := atomicfile.NewSet(m.Sources())
	defer set.Abort()
	if so.Only == 0 && len(p.Files) > 0 {
		// A whole set replaces an earlier set of another size at the same name: its files
		// go once the new set is in place, so a folder never holds two sets of one model.
		if err := removeOtherSets(set, p.Files[0].Path, len(p.Files), m.Sources()); err != nil {
			return nil, err
		}
	}
	var written []string
	for _, f := range p.Files {
		if so.Only > 0 && f.Index != so.Only {
			continue
		}
		out, err := set.Create(f.Path)
		if err != nil {
			return nil, err
		}
		if err := f.encoding.writeTo(out.Writer, f.Path, opts); err != nil {
			return nil, err
		}
		written = append(written, f.Path)
	}
	if err := set.Commit(); err != nil {
		return nil, err
	}
	return written, nil
}

// splitInfo reads where a parsed file stands in a split set; ok is false for a file that
// is not part of one.
func splitInfo(m *ir.Model, name string) (no, count, tensors int, ok bool, err error) {
	vno, vcount, vt := ir.MetaLookup(m.KV, KeySplitNo), ir.MetaLookup(m.KV, KeySplitCount), ir.MetaLookup(m.KV, KeySplitTensor)
	if vno == nil && vcount == nil && vt == nil {
		return 0, 0, 0, false, nil
	}
	a, ok1 := vno.(uint16)
	b, ok2 := vcount.(uint16)
	c, ok3 := vt.(int32)
	if ok2 && b == 0 {
		// gguf-split --merge writes split.count 0 into the merged file: one file, not a set.
		return 0, 0, 0, false, nil
	}
	if !ok1 || !ok2 || !ok3 || b == 0 || a >= b || c < 0 {
		return 0, 0, 0, false, &ir.Error{Kind: ir.KindCorrupt, File: name,
			Err: fmt.Errorf("split keys %s=%v (%T), %s=%v (%T), %s=%v (%T): want u16 split.no < u16 split.count and an i32 total", KeySplitNo, vno, vno, KeySplitCount, vcount, vcount, KeySplitTensor, vt, vt)}
	}
	return int(a), int(b), int(c), true, nil
}

// stripSplitKeys removes the split keys from a model's metadata.
func stripSplitKeys(m *ir.Model) {
	isSplit := func(k string) bool { return k == KeySplitNo || k == KeySplitCount || k == KeySplitTensor }
	kv := m.KV[:0]
	for _, e := range m.KV {
		if !isSplit(e.Key) {
			kv = append(kv, e)
		}
	}
	m.KV = kv
	md := m.Metadata[:0]
	for _, e := range m.Metadata {
		if !isSplit(e.Key) {
			md = append(md, e)
		}
	}
	m.Metadata = md
}

// readSplits completes a model read from the first file of a split set with the tensors
// of the others, found beside it by name, checking that they form one set.
func readSplits(first *ir.Model, path string, count, total int) (*ir.Model, error) {
	prefix, i, n, ok := ParseSplitName(path)
	if !ok || i != 1 || n != count {
		if count == 1 {
			stripSplitKeys(first)
			return first, nil
		}
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: path,
			Err: fmt.Errorf("is the first file of a %d-file split set, but its name does not say so (NAME-00001-of-%05d.gguf); the other files are found by that name", count, count)}
	}
	for k := 2; k <= count; k++ {
		name := fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, k, count)
		f, err := mmap.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, &ir.Error{Kind: ir.KindIO, File: name, Err: fmt.Errorf("split %d of %d is missing (the set is incomplete; `modelc verify-shards` lists what is there)", k, count)}
			}
			return nil, ir.IOError(name, err)
		}
		first.KeepAlive(f)
		m, err := Parse(f.Data, name)
		if err != nil {
			return nil, err
		}
		no, c, t, ok, err := splitInfo(m, name)
		if err != nil {
			return nil, err
		}
		if !ok || no != k-1 || c != count || t != total {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: name,
				Err: fmt.Errorf("does not belong to the set of %s: split.no %d, split.count %d, split.tensors.count %d (want %d, %d, %d)", path, no, c, t, k-1, count, total)}
		}
		first.Graph.Initializers = append(first.Graph.Initializers, m.Graph.Initializers...)
	}
	if got := len(first.Graph.Initializers); got != total {
		return nil, &ir.Error{Kind: ir.KindCorrupt, File: path, Err: fmt.Errorf("the split set holds %d tensors; split.tensors.count says %d", got, total)}
	}
	seen := map[string]bool{}
	for _, t := range first.Graph.Initializers {
		if seen[t.Name] {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: path, Where: fmt.Sprintf("tensor %q", t.Name), Err: errors.New("appears in two files of the split set")}
		}
		seen[t.Name] = true
	}
	stripSplitKeys(first)
	return first, nil
}

// removeOtherSets schedules the removal, on commit, of the files beside first named like a
// split set of the same prefix with another number of files. The input's own files stay
// (re-splitting a set beside itself keeps the original).
func removeOtherSets(set *atomicfile.Set, first string, n int, inputs []os.FileInfo) error {
	prefix, _, _, _ := ParseSplitName(first)
	entries, err := os.ReadDir(filepath.Dir(first))
	if err != nil {
		return nil // the write itself will report an unusable folder
	}
	for _, e := range entries {
		p := filepath.Join(filepath.Dir(first), e.Name())
		q, _, k, ok := ParseSplitName(p)
		if !ok || q != prefix || k == n || !e.Type().IsRegular() {
			continue
		}
		if fi, err := os.Stat(p); err == nil && slices.ContainsFunc(inputs, func(in os.FileInfo) bool { return os.SameFile(in, fi) }) {
			continue
		}
		if err := set.RemoveOnCommit(p); err != nil {
			return err
		}
	}
	return nil
}
