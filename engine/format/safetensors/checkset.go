package safetensors

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// SetReport is what CheckIndex found for one sharded checkpoint.
type SetReport struct {
	Index    string
	Count    int   // shards the index names
	Present  []int // shard numbers found, from 1
	Missing  []int
	Tensors  int   // found in the shards present
	Declared int   // entries in the weight map
	Bytes    int64 // the shards' sizes
	Problems []string
}

var shardRE = regexp.MustCompile(`-(\d{5})-of-(\d{5})\.safetensors$`)

// CheckIndex checks a sharded checkpoint given its index: every shard the index names is
// there and valid, holds exactly the tensors the index says, no tensor twice, the shards
// numbered 1..N without a gap, and total_size (if given) is the data's size.
func CheckIndex(indexPath string) (SetReport, error) {
	r := SetReport{Index: indexPath, Present: []int{}, Missing: []int{}, Problems: []string{}}
	idx, err := readIndex(indexPath)
	if err != nil {
		return r, err
	}
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	dir := filepath.Dir(indexPath)
	want := map[string][]string{} // shard → tensors
	for name, shard := range idx.WeightMap {
		if err := checkShardName(shard); err != nil {
			return r, &ir.Error{Kind: ir.KindCorrupt, File: indexPath, Err: err}
		}
		want[shard] = append(want[shard], name)
	}
	r.Declared = len(idx.WeightMap)
	shards := make([]string, 0, len(want))
	for s := range want {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	r.Count = len(shards)
	// Shards numbered NAME-0000I-of-0000N: all of 1..N must be listed.
	if m := shardRE.FindStringSubmatch(shards[0]); m != nil {
		n, _ := strconv.Atoi(m[2])
		prefix := strings.TrimSuffix(shards[0], m[0])
		r.Count = n
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("%s-%05d-of-%05d.safetensors", prefix, i, n)
			if _, ok := want[name]; !ok {
				problem("the index lists no tensor in %s (shard %d of %d)", name, i, n)
			}
		}
	}
	var total int64
	seen := map[string]string{}
	for k, s := range shards {
		num := k + 1
		if m := shardRE.FindStringSubmatch(s); m != nil {
			num, _ = strconv.Atoi(m[1])
		}
		path := filepath.Join(dir, s)
		if _, err := os.Stat(path); err != nil {
			r.Missing = append(r.Missing, num)
			continue
		}
		r.Present = append(r.Present, num)
		m, err := Read(path)
		if err != nil {
			problem("%v", err)
			continue
		}
		if fi, err := os.Stat(path); err == nil {
			r.Bytes += fi.Size()
		}
		listed := map[string]bool{}
		for _, n := range want[s] {
			listed[n] = true
		}
		for _, t := range m.Graph.Initializers {
			r.Tensors++
			total += t.ByteSize()
			if other, dup := seen[t.Name]; dup {
				problem("tensor %q is in %s and in %s", t.Name, other, s)
			}
			seen[t.Name] = s
			if !listed[t.Name] {
				problem("%s holds tensor %q, which the index places in %q", s, t.Name, idx.WeightMap[t.Name])
			}
			delete(listed, t.Name)
		}
		for n := range listed {
			problem("the index places tensor %q in %s, which does not hold it", n, s)
		}
		m.Close()
	}
	sort.Ints(r.Missing)
	if len(r.Missing) > 0 {
		problem("missing %d of %d shards: %v (re-run those indexes: --shard I/%d)", len(r.Missing), r.Count, r.Missing, r.Count)
	} else if ts, ok := idx.Metadata["total_size"].(float64); ok && int64(ts) != total {
		problem("total_size in the index is %d; the shards hold %d bytes of tensor data", int64(ts), total)
	}
	sort.Strings(r.Problems)
	return r, nil
}
