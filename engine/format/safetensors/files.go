package safetensors

import (
	"fmt"

	"github.com/modelc/modelc/engine/ir"
)

// Files names the files Write(m, path, opts) puts in place: path itself for one file, or
// the shards and then the index (with opts.Only, that shard, and the index after the
// last). It is what a caller reports after the write (path names no file when the model
// is sharded).
func Files(m *ir.Model, path string, opts WriteOptions) []string {
	tensors, err := collect(m, path)
	if err != nil {
		return []string{path}
	}
	groups, err := Groups(tensors, path, opts)
	if err != nil {
		return []string{path}
	}
	n := len(groups)
	if n <= 1 && opts.Splits == 0 && opts.Only == 0 {
		return []string{path}
	}
	names := ShardNames(path, n)
	if opts.Only > 0 {
		if opts.Only == n {
			return []string{names[n-1], names[n]}
		}
		return []string{names[opts.Only-1]}
	}
	return names
}

// shardName is the name of shard i (from 0) of n, as transformers' save_pretrained
// names them: model-00001-of-00003.safetensors.
func shardName(stem string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.safetensors", stem, i+1, n)
}
