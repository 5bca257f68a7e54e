package gguf

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// SetReport is what CheckSets found for one split set.
type SetReport struct {
	First    string   `json:"first"` // the path of file 1, whether present or not
	Count    int      `json:"count"`
	Present  []int    `json:"present"` // file numbers found, from 1
	Missing  []int    `json:"missing"`
	Tensors  int      `json:"tensors"`  // found over the files present
	Declared int      `json:"declared"` // split.tensors.count
	Bytes    int64    `json:"bytes"`    // the files' sizes
	Problems []string `json:"problems"` // empty: complete and consistent
}

// OK says whether the set is complete and consistent.
func (r *SetReport) OK() bool { return len(r.Problems) == 0 }

// CheckSets checks the GGUF split sets at path: a folder (every set in it), or one file of
// a set. Each must have all its files, each a valid GGUF whose split keys agree with its
// name and with the others, the model's metadata in the first, every tensor exactly once
// and as many as split.tensors.count says. Leftover temporary files of a killed worker
// are not part of a set. The error is for a path that cannot be listed or holds no set.
func CheckSets(path string) ([]SetReport, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	type key struct {
		prefix string
		n      int
	}
	sets := map[key]map[int]bool{}
	add := func(p string) bool {
		prefix, i, n, ok := ParseSplitName(p)
		if !ok {
			return false
		}
		k := key{prefix, n}
		if sets[k] == nil {
			sets[k] = map[int]bool{}
		}
		sets[k][i] = true
		return true
	}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, ir.IOError(path, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				add(filepath.Join(path, e.Name()))
			}
		}
	} else if !add(path) {
		return nil, ir.Errorf(ir.KindInvalidArgument, path, "is not named like a file of a split set (NAME-00001-of-00004.gguf)")
	} else {
		// One file named: look for its companions.
		prefix, _, n, _ := ParseSplitName(path)
		for i := 1; i <= n; i++ {
			if fi, err := os.Stat(fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i, n)); err == nil && fi.Mode().IsRegular() {
				add(fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i, n))
			}
		}
	}
	if len(sets) == 0 {
		return nil, ir.Errorf(ir.KindInvalidArgument, path, "holds no GGUF split set (files named NAME-00001-of-0000N.gguf)")
	}
	keys := make([]key, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].prefix != keys[b].prefix {
			return keys[a].prefix < keys[b].prefix
		}
		return keys[a].n < keys[b].n
	})
	var reports []SetReport
	for _, k := range keys {
		reports = append(reports, checkSet(k.prefix, k.n, sets[k]))
	}
	return reports, nil
}

func checkSet(prefix string, n int, present map[int]bool) SetReport {
	name := func(i int) string { return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i, n) }
	r := SetReport{First: name(1), Count: n, Present: []int{}, Missing: []int{}, Problems: []string{}, Declared: -1}
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	seen := map[string]int{}
	for i := 1; i <= n; i++ {
		if !present[i] {
			r.Missing = append(r.Missing, i)
			continue
		}
		r.Present = append(r.Present, i)
		f, err := mmap.Open(name(i))
		if err != nil {
			problem("%s: %v", name(i), err)
			continue
		}
		r.Bytes += int64(len(f.Data))
		m, err := Parse(f.Data, name(i))
		if err != nil {
			problem("%v", err)
			f.Close()
			continue
		}
		no, count, total, ok, err := splitInfo(m, name(i))
		switch {
		case err != nil:
			problem("%v", err)
		case !ok:
			problem("%s: has no split keys (split.no, split.count, split.tensors.count)", name(i))
		default:
			if no != i-1 || count != n {
				problem("%s: split.no %d and split.count %d disagree with its name (file %d of %d)", name(i), no, count, i, n)
			}
			if r.Declared < 0 {
				r.Declared = total
			} else if total != r.Declared {
				problem("%s: split.tensors.count %d, another file says %d", name(i), total, r.Declared)
			}
		}
		if i == 1 {
			if _, ok := ir.MetaLookup(m.KV, "general.architecture").(string); !ok {
				problem("%s: the first file has no general.architecture (the model's metadata belongs there)", name(i))
			}
		}
		for _, t := range m.Graph.Initializers {
			if j, dup := seen[t.Name]; dup {
				problem("tensor %q is in file %d and in file %d", t.Name, j, i)
			}
			seen[t.Name] = i
			r.Tensors++
		}
		f.Close()
	}
	if len(r.Missing) > 0 {
		problem("missing %d of %d files: %v (re-run those indexes: --shard I/%d)", len(r.Missing), n, r.Missing, n)
	} else if r.Declared >= 0 && r.Tensors != r.Declared {
		problem("the files hold %d tensors; split.tensors.count says %d", r.Tensors, r.Declared)
	}
	return r
}
