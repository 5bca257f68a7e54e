package ir

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// machineMemory returns the physical RAM, the memory cgroup's limit and the
// address-space rlimit in bytes; 0 for each that is unknown or unlimited.
func machineMemory() (ram, cgroup, as int64) {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		ram = int64(si.Totalram) * int64(si.Unit)
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < 1<<60 {
				cgroup = v
				break
			}
		}
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur != ^uint64(0) && rl.Cur < 1<<62 {
		as = int64(rl.Cur)
	}
	return ram, cgroup, as
}

// addressSpaceLeft returns the bytes of address space this process may still map under
// its RLIMIT_AS (ulimit -v), and that limit; ok is false when there is no limit.
func addressSpaceLeft() (left, limit int64, ok bool) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) != nil || rl.Cur == ^uint64(0) || rl.Cur >= 1<<62 {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, 0, false
	}
	pages, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return int64(rl.Cur) - pages*int64(os.Getpagesize()), int64(rl.Cur), true
}

// memAvailable is the kernel's estimate of the memory available to new allocations
// without swapping (MemAvailable in /proc/meminfo), in bytes; ok is false when unknown.
func memAvailable() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(line, "MemAvailable:"); found {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v << 10, true
				}
			}
		}
	}
	return 0, false
}
