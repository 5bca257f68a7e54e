package ir

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes ParseSize accepts, as Hugging Face's max_shard_size does:
// decimal KB/MB/GB/TB and binary KiB/MiB/GiB/TiB (case does not matter), B or none for bytes.
var sizeUnits = []struct {
	suffix string
	scale  float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// ParseSize reads a byte size such as "5GB", "500MB", "1.5GiB" or "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	scale := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, scale = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.scale
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || math.IsNaN(v) || v <= 0 {
		return 0, fmt.Errorf("%q is not a size (write it like 5GB, 500MB, 2GiB or a number of bytes)", s)
	}
	bytes := v * scale
	if bytes >= math.MaxInt64 || bytes < 1 {
		return 0, fmt.Errorf("size %q is out of range", s)
	}
	return int64(bytes), nil
}

// FormatSize writes a byte count for people: "512 B", "60.0 MiB", "1.0 GiB".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
