package engine

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/format/gguf"
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
		if v, ok := os.LookupEnv("JOB_COMPLETION_INDEX"); ok {
			k, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || k < 0 {
				return 0, 0, Errorf(KindInvalidArgument, "option shard: auto: JOB_COMPLETION_INDEX=%q is not a 0-based index", v)
			}
			i = k + 1
		} else if v, ok := os.LookupEnv("SLURM_ARRAY_TASK_ID"); ok {
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
	if out != "gguf" {
		return so, false, Errorf(KindInvalidArgument, "options splits, shard and max_shard_tensors write GGUF split sets; the output is %s", out)
	}
	return so, true, nil
}

// Plan says how Convert with the same arguments cuts the output into a split set: each
// file's tensors, bytes and cost. Nothing is written.
func Plan(ctx context.Context, src, dst string, opts ConvertOptions) (*SplitPlan, error) {
	if err := checkPaths(src, dst); err != nil {
		return nil, err
	}
	in, err := format.ForRead(src)
	if err != nil {
		return nil, err
	}
	out, err := writerFor(dst, opts.To)
	if err != nil {
		return nil, err
	}
	if _, err := writeOptions(opts, out.Name); err != nil {
		return nil, err
	}
	so, ok, err := splitOptions(opts, out.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		if out.Name != "gguf" {
			return nil, Errorf(KindInvalidArgument, "modelc plan plans GGUF split sets; the output is %s", out.Name)
		}
		so.Splits = 1
	}
	m, err := in.Read(src)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	so.Only = 0
	return gguf.PlanSplits(m, dst, gguf.WriteOptions{Quantize: opts.Quantize}, so)
}

// VerifyShards checks that path (a folder, or any file of a set) holds complete and
// consistent GGUF split sets; see gguf.CheckSets.
func VerifyShards(path string) ([]gguf.SetReport, error) {
	return gguf.CheckSets(path)
}
