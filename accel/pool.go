package accel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The worker pool: a fixed number of goroutines (one per CPU), started on first use,
// shared by every kernel call in the process. A call asks for up to MaxThreads()-1
// helpers and does work itself too; helpers that have not started when the caller runs
// out of work are withdrawn, so nested or concurrent calls never deadlock and never run
// more than NumCPU helpers at once.

var threads atomic.Int32

// SetMaxThreads bounds the number of threads one kernel call uses (the caller's
// included) and returns the previous bound. n ≤ 0 restores the default, GOMAXPROCS.
// Results do not depend on it: work is split into chunks of fixed size.
func SetMaxThreads(n int) int {
	prev := MaxThreads()
	if n <= 0 {
		n = 0
	}
	threads.Store(int32(n))
	return prev
}

// MaxThreads returns the bound set by SetMaxThreads (default GOMAXPROCS).
func MaxThreads() int {
	if n := threads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

type helper struct {
	state atomic.Int32 // 0 queued, 1 running, 2 withdrawn
	work  func()
	wg    *sync.WaitGroup
}

func (h *helper) run() {
	if h.state.CompareAndSwap(0, 1) {
		h.work()
		h.wg.Done()
	}
}

var (
	poolOnce sync.Once
	poolJobs chan *helper
)

func startPool() {
	n := runtime.NumCPU()
	poolJobs = make(chan *helper, 4*n)
	for i := 0; i < n; i++ {
		go func() {
			for h := range poolJobs {
				h.run()
			}
		}()
	}
}

// parallel runs fn(0) … fn(tasks−1), each exactly once, on up to MaxThreads() threads.
func parallel(tasks int, fn func(i int)) {
	t := min(MaxThreads(), tasks)
	if t <= 1 {
		for i := 0; i < tasks; i++ {
			fn(i)
		}
		return
	}
	poolOnce.Do(startPool)
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= tasks {
				return
			}
			fn(i)
		}
	}
	var wg sync.WaitGroup
	hs := make([]helper, t-1)
	for i := range hs {
		h := &hs[i]
		h.work, h.wg = work, &wg
		wg.Add(1)
		select {
		case poolJobs <- h:
		default: // pool saturated: do without this helper
			h.state.Store(2)
			wg.Done()
		}
	}
	work()
	for i := range hs {
		if hs[i].state.CompareAndSwap(0, 2) {
			wg.Done()
		}
	}
	wg.Wait()
}

// chunks splits n items into pieces of size step and runs fn(lo, hi) over them in parallel.
func chunks(n, step int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	tasks := (n + step - 1) / step
	parallel(tasks, func(i int) {
		lo := i * step
		fn(lo, min(n, lo+step))
	})
}

// ParallelFor runs fn over [0, n) in pieces of grain items (the last may be shorter) on
// up to MaxThreads() threads, the caller's included, and returns when all are done.
// The pieces are the same whatever the thread count, so a fn that writes only its own
// piece's results gives the same bits at every thread count.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	check(grain > 0, "ParallelFor", "grain %d must be positive", grain)
	chunks(n, grain, fn)
}
