package accel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool: a fixed number of goroutines (one per CPU), started on first use,
// shared by every kernel call in the process. A call offers its job to up to
// MaxThreads()-1 workers (fewer where workers engaged in other jobs leave fewer of
// GOMAXPROCS: a call nested in a task on a full machine adds no thread) and does work
// itself too; offers that no worker has taken when the caller runs out of work are
// withdrawn, so nested or concurrent calls never deadlock and never run more than
// NumCPU helpers at once.
//
// Why not a channel of jobs: waking a parked goroutine through the scheduler cost about
// 68 µs per parallel region on the benchmark machine, longer than many of the ops being
// split (a mobile network runs a few hundred of them in a few milliseconds). Here each
// worker has its own slot that a caller fills with one compare-and-swap, and a worker
// spins on its slot for spinFor after its last job before it parks, so back-to-back
// parallel regions hand off in about a microsecond and an idle process still sleeps.
// The spins do not call runtime.Gosched: a goroutine that yields goes to the global run
// queue without waking an idle P, so caller and helper would take turns on one P. A spin
// holds its P for at most spinFor.
//
// Why workers (and sessions, through Pacer) call runtime.Gosched every yieldEvery: the
// runtime's monitor thread treats a goroutine that has run for 10 ms without passing
// through the scheduler as hogging its P. One that is inside a cgo call cannot be
// preempted, so from then on the monitor takes its P away at every tick (20 µs): it
// wakes a spare thread that finds nothing to do, and every kernel call returns through
// the slow path to get a P back. A worker that is never idle long enough to park, and
// a caller running kernels back to back, fall into this after 10 ms. Measured on a
// 320×49×960 pointwise convolution called in a loop at two threads: 218–246 → 153 µs
// per call, the monitor thread's 11 % of a CPU → under 1 %.

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

// spinFor is how long an idle worker (and a caller waiting for its helpers) polls before
// sleeping: long enough to cover the gap between two ops of a model, short enough that
// an idle process gives its CPUs back at once.
const spinFor = 100 * time.Microsecond

// yieldEvery is how often a goroutine that never blocks passes through the scheduler:
// under the runtime's 10 ms preemption limit (a step that runs longer than the
// difference can still meet it), and rare, because a yield is dearer than its 0.1 µs on
// the goroutine: Gosched wakes a thread for an idle P (runtime.wakep), a futex wake that
// cost this VM about 50 µs of CPU. At 2 ms that was 3 % of MobileNetV3-Small's time at
// one thread (pprof: goschedImpl → wakep → startm). A goroutine locked to its thread (a
// call into libmodelc.so from a C or Python thread) pays a hand-off between threads of
// 10–35 µs per yield: under 1 % of its time.
const yieldEvery = 5 * time.Millisecond

// Pacer lets a goroutine that calls kernels back to back (a session's run loop) pass
// through the scheduler every yieldEvery; see the package comment above on why. The
// zero Pacer yields at its first Tick.
type Pacer struct {
	last    time.Duration // monoNow at the last yield
	started bool          // last is set
}

// monoNow is the time since the package started, from the monotonic clock alone:
// time.Now reads the wall clock too, which cost this VM about 150 ns a call. The pacer
// ticks once per node of a run and the pool's spins start once per parallel region:
// with time.Now, a chain of tiny nodes took 490–590 ns a node, with monoNow 360–410
// (BenchmarkNodeOverhead in engine/runtime).
func monoNow() time.Duration { return time.Since(monoBase) }

var monoBase = time.Now()

// Tick calls runtime.Gosched when yieldEvery has passed since the last yield.
func (p *Pacer) Tick() {
	if p.due(monoNow()) {
		runtime.Gosched()
	}
}

// due reports whether yieldEvery has passed since the last yield (at now, a monoNow
// reading) and, if so, starts the next interval at now.
func (p *Pacer) due(now time.Duration) bool {
	if p.started && now-p.last < yieldEvery || unpaced.Load() {
		return false
	}
	p.last, p.started = now, true
	return true
}

// unpaced turns every pacer off, for BenchmarkPacedKernelLoop's comparison only.
var unpaced atomic.Bool

// Skip starts the pacer's interval now without yielding.
func (p *Pacer) Skip() { p.last, p.started = monoNow(), true }

// job is one parallel region: tasks [0, tasks) handed out one at a time by next.
type job struct {
	fn    func(i int)
	tasks int64
	next  atomic.Int64
	// pending counts the workers offered the job that were neither withdrawn nor have
	// finished, plus waitBit once the caller sleeps on done (one word, so the last
	// worker out knows whether to wake the caller and touches the job no more if not).
	pending atomic.Int64
	done    chan struct{}
	mu      sync.Mutex
	panic   any // the first panic of a worker, raised again on the caller
}

const waitBit = 1 << 40

// work runs tasks until none is left; a panic stops it and is kept for the caller.
func (j *job) work() {
	defer func() {
		if p := recover(); p != nil {
			j.next.Store(j.tasks) // the others stop after their current task
			j.mu.Lock()
			if j.panic == nil {
				j.panic = p
			}
			j.mu.Unlock()
		}
	}()
	for {
		i := j.next.Add(1) - 1
		if i >= j.tasks {
			return
		}
		j.fn(int(i))
	}
}

type worker struct {
	slot   atomic.Pointer[job] // a job offered to this worker and not yet taken
	busy   atomic.Bool         // running a job: callers offer to idle workers first
	parked atomic.Bool         // asleep on wake
	wake   chan struct{}
	pace   Pacer    // a worker that gets a job before it parks never blocks
	_      [64]byte // keep workers on separate cache lines
}

func (w *worker) loop() {
	for {
		w.pace.Tick()
		j := w.take()
		j.work()
		w.busy.Store(false)
		engaged.Add(-1)
		if j.pending.Add(-1) == waitBit {
			j.done <- struct{}{}
		}
	}
}

// take returns the next job offered to w, spinning for spinFor before it parks.
func (w *worker) take() *job {
	start := monoNow()
	for i := 1; ; i++ {
		if j := w.slot.Load(); j != nil && w.slot.CompareAndSwap(j, nil) {
			w.busy.Store(true)
			return j
		}
		if i%32 != 0 {
			continue
		}
		if monoNow()-start < spinFor {
			continue
		}
		// Park. An offer made after parked is set sees it and sends a wake-up; one
		// made before is seen by the second look at the slot.
		w.parked.Store(true)
		if w.slot.Load() == nil {
			<-w.wake
		}
		w.parked.Store(false)
		w.pace.Skip() // parking went through the scheduler
		start = monoNow()
	}
}

// offer gives j to w unless w already has an offer; it wakes w if w is parked.
func (w *worker) offer(j *job) bool {
	if !w.slot.CompareAndSwap(nil, j) {
		return false
	}
	engaged.Add(1)
	if w.parked.Load() {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true
}

// engaged counts the workers holding an offer or running a job.
var engaged atomic.Int32

var (
	poolOnce sync.Once
	workers  []worker
	jobs     = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}
)

func startPool() {
	workers = make([]worker, runtime.NumCPU())
	for i := range workers {
		w := &workers[i]
		w.wake = make(chan struct{}, 1)
		go w.loop()
	}
}

// parallel runs fn(0) … fn(tasks−1), each exactly once, on up to MaxThreads() threads.
// A panic in fn reaches the caller once every thread has stopped.
func parallel(tasks int, fn func(i int)) {
	// Workers offered or running other jobs take CPUs from those the Go runtime runs
	// on: a region started inside a task (a bidirectional RNN's directions each running
	// their input projection) at two threads on two CPUs would otherwise wake a parked
	// worker that then waits for a CPU the two threads already hold, and the caller
	// pays the wake-up. ocr_rec (two bidirectional LSTMs) at two threads, the two
	// versions alternating in one process: 0.66 → 0.55 ms.
	t := min(MaxThreads(), tasks, runtime.GOMAXPROCS(0)-int(engaged.Load()))
	if t <= 1 {
		for i := 0; i < tasks; i++ {
			fn(i)
		}
		return
	}
	poolOnce.Do(startPool)
	j := jobs.Get().(*job)
	j.fn, j.tasks = fn, int64(tasks)
	j.next.Store(0)

	// Offer to idle workers first, then to busy ones (which take it if they finish
	// before the caller does).
	want, last := t-1, -1
	for pass := 0; pass < 2 && want > 0; pass++ {
		for i := range workers {
			w := &workers[i]
			if want == 0 {
				break
			}
			if (pass == 0) == w.busy.Load() || w.slot.Load() != nil {
				continue
			}
			j.pending.Add(1)
			if w.offer(j) {
				want--
				last = max(last, i)
			} else {
				j.pending.Add(-1)
			}
		}
	}

	j.work()

	for i := 0; i <= last; i++ {
		if w := &workers[i]; w.slot.Load() == j && w.slot.CompareAndSwap(j, nil) {
			j.pending.Add(-1) // withdrawn: never started
			engaged.Add(-1)
		}
	}
	j.wait()

	p := j.panic
	j.fn, j.panic = nil, nil
	jobs.Put(j)
	if p != nil {
		panic(p)
	}
}

// wait returns when every worker that took j has finished it: it spins for spinFor
// (the helpers are on their last task), then sleeps until the last one wakes it.
func (j *job) wait() {
	start := monoNow()
	for i := 1; j.pending.Load() != 0; i++ {
		if i%32 != 0 {
			continue
		}
		if monoNow()-start < spinFor {
			continue
		}
		if n := j.pending.Load(); n != 0 && j.pending.CompareAndSwap(n, n|waitBit) {
			<-j.done
			j.pending.Store(0)
			return
		}
	}
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
