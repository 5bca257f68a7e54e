package format

import "github.com/modelc/modelc/engine/ir"

// ParseSize reads a byte size such as "5GB", "500MB", "1.5GiB" or "1048576": decimal
// KB/MB/GB/TB and binary KiB/MiB/GiB/TiB, as Hugging Face's max_shard_size does. It is
// ir.ParseSize, which the memory budget (MODELC_MAX_MEMORY) shares.
func ParseSize(s string) (int64, error) { return ir.ParseSize(s) }
