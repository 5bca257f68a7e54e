//go:build !linux

package ir

// machineMemory knows nothing of the machine outside Linux: the default budget is then
// a fixed 4 GiB (set MODELC_MAX_MEMORY for more).
func machineMemory() (ram, cgroup, as int64) { return 0, 0, 0 }

// addressSpaceLeft is not known outside Linux.
func addressSpaceLeft() (left, limit int64, ok bool) { return 0, 0, false }

// memAvailable is not known outside Linux.
func memAvailable() (int64, bool) { return 0, false }
