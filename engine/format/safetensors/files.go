package safetensors

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// Files names the files Write(m, path, WriteOptions{MaxShardSize: max}) puts in place:
// path itself for one file, or the shards and then the index. It is what a caller reports
// after the write (path names no file when the model is sharded).
func Files(m *ir.Model, path string, max int64) []string {
	tensors, err := collect(m, path)
	if err != nil {
		return []string{path}
	}
	n := len(split(tensors, max))
	if n <= 1 {
		return []string{path}
	}
	dir := filepath.Dir(path)
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	files := make([]string, 0, n+1)
	for i := range n {
		files = append(files, filepath.Join(dir, shardName(stem, i, n)))
	}
	return append(files, filepath.Join(dir, stem+IndexSuffix))
}

// shardName is the name of shard i (from 0) of n, as transformers' save_pretrained
// names them: model-00001-of-00003.safetensors.
func shardName(stem string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.safetensors", stem, i+1, n)
}
