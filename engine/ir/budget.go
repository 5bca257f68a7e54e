package ir

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// The memory budget. A crafted file can declare far more data than it holds: a deflated
// zip member inflates up to 1032 times, a stride-0 view of a one-element storage
// "expands" to any size, shared pickle references multiply. Go answers an allocation it
// cannot satisfy with "fatal error: out of memory", which no recover catches and which,
// inside libmodelc.so, kills the host process. So every reader asks the budget before
// it allocates anything whose size comes from the file rather than from the bytes it has
// already read: Reserve (or AllocBytes, which also allocates) fails with a KindCorrupt
// error naming the file, the tensor and the size when the Go heap plus the new block
// would pass the limit.
//
// The limit is process-wide: MODELC_MAX_MEMORY ("2GB", "512MiB", a number of bytes) when
// set, else SetMemoryLimit's value, else DefaultMemoryLimit (derived from the machine).

// EnvMaxMemory names the environment variable that sets the memory budget.
const EnvMaxMemory = "MODELC_MAX_MEMORY"

var (
	limitOverride atomic.Int64 // SetMemoryLimit's value; 0: none
	allocMu       sync.Mutex   // one budgeted allocation at a time, so checks see each other
	defaultOnce   sync.Once
	defaultLimit  int64
	defaultWhy    string
)

// SetMemoryLimit sets the budget in bytes for this process (n <= 0 removes the setting)
// and returns the previous setting. MODELC_MAX_MEMORY, when set, still wins: the
// person running the program has the last word.
func SetMemoryLimit(n int64) int64 {
	if n < 0 {
		n = 0
	}
	return limitOverride.Swap(n)
}

// MemoryLimit returns the budget in bytes and where it comes from; an unreadable
// MODELC_MAX_MEMORY is a KindInvalidArgument error.
func MemoryLimit() (int64, string, error) {
	if s := os.Getenv(EnvMaxMemory); s != "" {
		n, err := ParseSize(s)
		if err != nil {
			return 0, "", &Error{Kind: KindInvalidArgument, Err: fmt.Errorf("%s: %v", EnvMaxMemory, err)}
		}
		return n, EnvMaxMemory + "=" + s, nil
	}
	if n := limitOverride.Load(); n > 0 {
		return n, "set by the program", nil
	}
	n, why := DefaultMemoryLimit()
	return n, why, nil
}

// DefaultMemoryLimit is the budget when nothing sets one: three quarters of the memory
// the process may use (physical RAM, or the cgroup's limit when lower) and half of its
// address-space limit (ulimit -v: the memory maps of the input count there too), with
// 4 GiB where the platform tells nothing. why says which bound decided.
func DefaultMemoryLimit() (n int64, why string) {
	defaultOnce.Do(func() {
		defaultLimit, defaultWhy = 4<<30, "default for an unknown machine"
		first := true
		take := func(v int64, what string) {
			if v > 0 && (first || v < defaultLimit) {
				defaultLimit, defaultWhy, first = v, what, false
			}
		}
		ram, cgroup, as := machineMemory()
		take(ram/4*3, fmt.Sprintf("3/4 of %s of RAM", FormatSize(ram)))
		take(cgroup/4*3, fmt.Sprintf("3/4 of the cgroup's %s", FormatSize(cgroup)))
		take(as/2, fmt.Sprintf("1/2 of the %s address-space limit (ulimit -v)", FormatSize(as)))
		if defaultLimit < 64<<20 {
			defaultLimit = 64 << 20
		}
	})
	return defaultLimit, defaultWhy
}

// heapInUse is the bytes of Go heap objects, live or not yet swept.
func heapInUse() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// ErrMemoryBudget is wrapped by every error Reserve returns.
var ErrMemoryBudget = errors.New("over the memory budget")

type budgetError struct {
	what        string
	n, inUse    int64
	limit       int64
	limitSource string
	hint        string // what the user can do
}

func (e *budgetError) Error() string {
	hint := e.hint
	if hint == "" {
		hint = "raise " + EnvMaxMemory
	}
	return fmt.Sprintf("%s needs %s (%d bytes) of memory, over the memory budget of %s (%s; %s already in use); if the file is genuine, %s",
		e.what, FormatSize(e.n), e.n, FormatSize(e.limit), e.limitSource, FormatSize(e.inUse), hint)
}

func (e *budgetError) Unwrap() error { return ErrMemoryBudget }

// Reserve checks that n more bytes fit in the budget. what says what they are for
// ("inflating zip entry \"a/data/0\""); the error is KindCorrupt about file at where
// (for instance `tensor "w"`), or KindInvalidArgument when MODELC_MAX_MEMORY is unreadable.
// A negative n (an overflowed size) always fails.
func Reserve(n int64, file, where, what string) error {
	allocMu.Lock()
	defer allocMu.Unlock()
	return reserveLocked(n, file, where, what)
}

func reserveLocked(n int64, file, where, what string) error {
	limit, source, err := MemoryLimit()
	if err != nil {
		if e, ok := err.(*Error); ok && e.File == "" {
			e.File, e.Where = file, where
		}
		return err
	}
	if n >= 0 && n <= limit {
		fits := func() bool { return n <= limit-heapInUse() }
		if !fits() {
			// Garbage counts in the heap until a collection frees it: collect, look again.
			runtime.GC()
		}
		if fits() {
			// Under an address-space limit (ulimit -v) the Go runtime's own reservations,
			// thread stacks and malloc arenas take much of it: the block must also fit in
			// what is left, with room for the heap's growth around it.
			left, as, ok := addressSpaceLeft()
			if ok && n > (left-asMargin)/2 {
				return &Error{Kind: KindCorrupt, File: file, Where: where, Err: &budgetError{what: what, n: n, inUse: heapInUse(), limit: max(0, (left-asMargin)/2),
					limitSource: fmt.Sprintf("half the address space left under the process's limit of %s, ulimit -v", FormatSize(as)), hint: "raise the address-space limit (ulimit -v)"}}
			}
			// The default budget also stays within what the machine has free now (other
			// processes use memory too); a budget the user sets is taken as given.
			if avail, ok := memAvailable(); ok && source == defaultWhy && n > avail/4*3 {
				return &Error{Kind: KindCorrupt, File: file, Where: where, Err: &budgetError{what: what, n: n, inUse: heapInUse(), limit: avail / 4 * 3,
					limitSource: fmt.Sprintf("3/4 of the %s of memory available now", FormatSize(avail))}}
			}
			return nil
		}
	}
	return &Error{Kind: KindCorrupt, File: file, Where: where, Err: &budgetError{what: what, n: n, inUse: heapInUse(), limit: limit, limitSource: source}}
}

// asMargin is address space kept free under ulimit -v for the runtime's own needs.
const asMargin = 128 << 20

// AllocBytes returns a zeroed buffer of n bytes once Reserve allows it. Checks and
// allocations are serialised, so concurrent readers cannot each see room for the same
// bytes.
func AllocBytes(n int64, file, where, what string) ([]byte, error) {
	allocMu.Lock()
	defer allocMu.Unlock()
	if err := reserveLocked(n, file, where, what); err != nil {
		return nil, err
	}
	if int64(int(n)) != n {
		return nil, &Error{Kind: KindCorrupt, File: file, Where: where, Err: fmt.Errorf("%s needs %d bytes, more than this platform can address", what, n)}
	}
	return make([]byte, n), nil
}
