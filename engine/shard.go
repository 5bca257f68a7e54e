package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/format/gguf"
	"github.com/modelc/modelc/engine/format/safetensors"
)

// SplitPlan is the assignment of a model's tensors to the files of a split set.
type SplitPlan = gguf.Plan

// ParseShard reads a --shard value: "I/N" (I from 1), or "auto/N", where I comes from the
// scheduler's index: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job, 0-based) plus one,
// else SLURM_ARRAY_TASK_ID (a Slurm job array, taken as given: run the array as 1-N).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, Errorf(KindInvalidArgument, "option shard: %q is not I/N or auto/N", s)
	}
	n, err = strconv.Atoi(b)
	if err != nil || n < 1 || n > 65535 {
		return 0, 0, Errorf(KindInvalidArgument, "option shard: %q: N must be a whole number from 1 to 65535", s)
	}
	if a == "auto" {
		// An empty variable counts as unset.
		if v := os.Getenv("JOB_COMPLETION_INDEX"); v != "" {
			k, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || k < 0 {
				return 0, 0, Errorf(KindInvalidArgument, "option shard: auto: JOB_COMPLETION_INDEX=%q is not a 0-based index", v)
			}
			i = k + 1
		} else if v := os.Getenv("SLURM_ARRAY_TASK_ID"); v != "" {
			if i, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return 0, 0, Errorf(KindInvalidArgument, "option shard: auto: SLURM_ARRAY_TASK_ID=%q is not a number", v)
			}
		} else {
			return 0, 0, Errorf(KindInvalidArgument, "option shard: auto/%d needs the scheduler's index: neither JOB_COMPLETION_INDEX (Kubernetes) nor SLURM_ARRAY_TASK_ID (Slurm) is set; give I/%d instead", n, n)
		}
	} else if i, err = strconv.Atoi(a); err != nil {
		return 0, 0, Errorf(KindInvalidArgument, "option shard: %q is not I/N or auto/N", s)
	}
	if i < 1 || i > n {
		return 0, 0, Errorf(KindInvalidArgument, "option shard: file %d of %d: I runs from 1 to N (a 0-based scheduler index is taken with auto/N)", i, n)
	}
	return i, n, nil
}

// splitOptions turns the options into a split request for a GGUF output; ok is false
// when the output is one file.
func splitOptions(opts ConvertOptions, out string) (gguf.SplitOptions, bool, error) {
	var so gguf.SplitOptions
	if opts.Splits < 0 || opts.MaxShardTensors < 0 {
		return so, false, Errorf(KindInvalidArgument, "option splits/max_shard_tensors: must not be negative")
	}
	so.Splits, so.MaxTensors = opts.Splits, opts.MaxShardTensors
	if opts.Shard != "" {
		i, n, err := ParseShard(opts.Shard)
		if err != nil {
			return so, false, err
		}
		if so.Splits != 0 && so.Splits != n {
			return so, false, Errorf(KindInvalidArgument, "option shard: %s is a file of a %d-file set, but option splits asks for %d files", opts.Shard, n, so.Splits)
		}
		so.Only, so.Count = i, n
	}
	if out == "gguf" && opts.MaxShardSize != "" {
		size, err := format.ParseSize(opts.MaxShardSize)
		if err != nil {
			return so, false, Errorf(KindInvalidArgument, "option max_shard_size: %v", err)
		}
		so.MaxBytes = size
	}
	if !so.Active() {
		return so, false, nil
	}
	if out == "safetensors" && so.MaxTensors == 0 {
		return so, false, nil // the safetensors writer shards by itself (writeOptions)
	}
	if out != "gguf" {
		return so, false, Errorf(KindInvalidArgument, "options splits, shard and max_shard_tensors write GGUF split sets (and, but for max_shard_tensors, safetensors shards); the output is %s", out)
	}
	return so, true, nil
}

// Plan says how Convert with the same arguments cuts the output into a split set: each
// file's tensors, bytes and cost. Nothing is written.
func Plan(ctx context.Context, src, dst string, opts ConvertOptions) (*SplitPlan, error) {
	in, out, _, err := conversion(src, dst, opts)
	if err != nil {
		return nil, err
	}
	so, ok, err := splitOptions(opts, out.Name)
	if err != nil {
		return nil, err
	}
	if out.Name != "gguf" && out.Name != "safetensors" {
		return nil, Errorf(KindInvalidArgument, "modelc plan plans GGUF split sets and safetensors shards; the output is %s", out.Name)
	}
	if !ok && out.Name == "gguf" {
		so.Splits = 1
	}
	if opts.WriteIndex && out.Name != "safetensors" {
		return nil, Errorf(KindInvalidArgument, "option write_index: a GGUF split set has no index; it applies to safetensors outputs")
	}
	m, err := in.Read(src)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if out.Name == "gguf" {
		so.Only = 0
		return gguf.PlanSplits(m, dst, gguf.WriteOptions{Quantize: opts.Quantize}, so)
	}
	if err := prepareForWrite(m, out.Name, opts); err != nil {
		return nil, err
	}
	sopts := safetensors.WriteOptions{MaxShardSize: 0, Splits: so.Splits, Count: so.Count}
	if opts.MaxShardSize != "" {
		sopts.MaxShardSize, _ = format.ParseSize(opts.MaxShardSize)
	}
	groups, names, err := safetensors.Shards(m, dst, sopts)
	if err != nil {
		return nil, err
	}
	p := &SplitPlan{}
	for i, g := range groups {
		f := gguf.PlannedFile{Path: names[i], Index: i + 1}
		for _, t := range g {
			n := t.ByteSize()
			f.Tensors = append(f.Tensors, gguf.PlannedTensor{Name: t.Name, Type: t.DType.String(), Shape: t.Shape, InBytes: n, OutBytes: n, Cost: max(1, n)})
			f.Bytes += n
			f.Cost += max(1, n)
		}
		p.TotalCost += f.Cost
		p.Files = append(p.Files, f)
	}
	if opts.WriteIndex {
		if p.Index, err = safetensors.WriteIndex(m, dst, sopts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ShardReport is what VerifyShards found for one set of files: a GGUF split set (First
// names its first file) or a sharded safetensors checkpoint (First names its index).
type ShardReport struct {
	Format   string   `json:"format"`
	First    string   `json:"first"`
	Count    int      `json:"count"`
	Present  []int    `json:"present"`
	Missing  []int    `json:"missing"`
	Tensors  int      `json:"tensors"`
	Declared int      `json:"declared"`
	Bytes    int64    `json:"bytes"`
	Problems []string `json:"problems"`
}

// OK says whether the set is complete and consistent.
func (r *ShardReport) OK() bool { return len(r.Problems) == 0 }

// VerifyShards checks that path (a folder, a file of a GGUF split set, or a safetensors
// index) holds complete and consistent sets: every file present and valid, every tensor
// once, the counts the files declare.
func VerifyShards(path string) ([]ShardReport, error) {
	var out []ShardReport
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Kind: KindIO, File: path, Err: err}
	}
	var indexes []string
	if st.IsDir() {
		indexes, _ = filepath.Glob(filepath.Join(path, "*"+safetensors.IndexSuffix))
	} else if strings.HasSuffix(path, safetensors.IndexSuffix) {
		indexes = []string{path}
	}
	var ggufErr error
	if !strings.HasSuffix(path, safetensors.IndexSuffix) {
		sets, err := gguf.CheckSets(path)
		ggufErr = err
		for _, r := range sets {
			out = append(out, ShardReport{Format: "gguf", First: r.First, Count: r.Count, Present: r.Present, Missing: r.Missing,
				Tensors: r.Tensors, Declared: r.Declared, Bytes: r.Bytes, Problems: r.Problems})
		}
	}
	for _, idx := range indexes {
		r, err := safetensors.CheckIndex(idx)
		if err != nil {
			return nil, err
		}
		out = append(out, ShardReport{Format: "safetensors", First: r.Index, Count: r.Count, Present: r.Present, Missing: r.Missing,
			Tensors: r.Tensors, Declared: r.Declared, Bytes: r.Bytes, Problems: r.Problems})
	}
	if len(out) == 0 {
		if ggufErr != nil && !st.IsDir() {
			return nil, ggufErr
		}
		return nil, Errorf(KindInvalidArgument, "%s holds no GGUF split set (NAME-00001-of-0000N.gguf) and no safetensors index (*%s)", path, safetensors.IndexSuffix)
	}
	return out, nil
}
