package accel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// withThreads runs f with MaxThreads set to n and restores the previous bound.
func withThreads(t testing.TB, n int, f func()) {
	t.Helper()
	prev := SetMaxThreads(n)
	defer SetMaxThreads(prev)
	f()
}

// checkCover runs ParallelFor over n items and checks that every item is visited once
// and that the pieces are the fixed grain-sized ones.
func checkCover(t *testing.T, n, grain int) {
	t.Helper()
	seen := make([]atomic.Int32, n)
	var bad atomic.Int32
	ParallelFor(n, grain, func(lo, hi int) {
		if lo%grain != 0 || hi != min(n, lo+grain) {
			bad.Add(1)
		}
		for i := lo; i < hi; i++ {
			seen[i].Add(1)
		}
	})
	if bad.Load() != 0 {
		t.Fatalf("n=%d grain=%d: %d pieces off the fixed grid", n, grain, bad.Load())
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("n=%d grain=%d: item %d visited %d times", n, grain, i, seen[i].Load())
		}
	}
}

func TestParallelForCoversEachItemOnce(t *testing.T) {
	for _, th := range []int{1, 2, 3, 8} {
		withThreads(t, th, func() {
			for _, n := range []int{0, 1, 2, 7, 64, 1000, 4097} {
				for _, grain := range []int{1, 3, 64, 5000} {
					checkCover(t, n, grain)
				}
			}
		})
	}
}

// More threads than CPUs and a bound that changes between calls (and while other
// goroutines are inside ParallelFor) still cover every item once.
func TestParallelForSetMaxThreadsChanges(t *testing.T) {
	prev := SetMaxThreads(0)
	defer SetMaxThreads(prev)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			SetMaxThreads([]int{1, 2, 4 * runtime.NumCPU(), 0}[i%4])
			time.Sleep(50 * time.Microsecond)
		}
	}()
	for i := 0; i < 300; i++ {
		checkCover(t, 100+i, 1+i%7)
	}
	close(stop)
	wg.Wait()
}

// Calls from inside a task and from many goroutines at once neither deadlock nor lose
// or repeat work, even when there are more callers than workers.
func TestParallelForNestedAndConcurrent(t *testing.T) {
	withThreads(t, 4, func() {
		var wg sync.WaitGroup
		var total atomic.Int64
		callers := 3*runtime.NumCPU() + 1
		for g := 0; g < callers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rep := 0; rep < 20; rep++ {
					ParallelFor(6, 1, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							ParallelFor(50, 7, func(a, b int) { total.Add(int64(b - a)) })
						}
					})
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("nested and concurrent ParallelFor calls did not finish (deadlock?)")
		}
		if want := int64(callers * 20 * 6 * 50); total.Load() != want {
			t.Fatalf("items done = %d, want %d", total.Load(), want)
		}
	})
}

// Workers that have parked (after spinFor without work) wake up for the next call.
func TestParallelForAfterIdle(t *testing.T) {
	withThreads(t, 2, func() {
		for i := 0; i < 3; i++ {
			time.Sleep(3 * spinFor)
			checkCover(t, 1000, 10)
		}
	})
}

// A panic in a task, on a worker or the caller, reaches the caller after the others stop.
func TestParallelForPanicReachesCaller(t *testing.T) {
	withThreads(t, 2, func() {
		for _, at := range []int{0, 5, 99} {
			var ran atomic.Int32
			func() {
				defer func() {
					p := recover()
					if p == nil || !strings.Contains(fmt.Sprint(p), "task boom") {
						t.Fatalf("panic at task %d: recovered %v", at, p)
					}
				}()
				ParallelFor(100, 1, func(lo, hi int) {
					ran.Add(1)
					if lo == at {
						panic("task boom")
					}
					time.Sleep(10 * time.Microsecond)
				})
			}()
			if ran.Load() == 0 {
				t.Fatal("no task ran")
			}
		}
		checkCover(t, 1000, 3) // the pool still works
	})
}

// prevParallel is the previous pool (a shared channel of jobs, every hand-off a
// goroutine wake-up), kept for BenchmarkParallelForEmpty.
var (
	prevPoolOnce sync.Once
	prevPoolJobs chan *prevHelper
)

type prevHelper struct {
	state atomic.Int32 // 0 queued, 1 running, 2 withdrawn
	work  func()
	wg    *sync.WaitGroup
}

func prevParallel(tasks int, fn func(i int)) {
	t := min(MaxThreads(), tasks)
	if t <= 1 {
		for i := 0; i < tasks; i++ {
			fn(i)
		}
		return
	}
	prevPoolOnce.Do(func() {
		prevPoolJobs = make(chan *prevHelper, 4*runtime.NumCPU())
		for i := 0; i < runtime.NumCPU(); i++ {
			go func() {
				for h := range prevPoolJobs {
					if h.state.CompareAndSwap(0, 1) {
						h.work()
						h.wg.Done()
					}
				}
			}()
		}
	})
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < tasks; i = int(next.Add(1) - 1) {
			fn(i)
		}
	}
	var wg sync.WaitGroup
	hs := make([]prevHelper, t-1)
	for i := range hs {
		h := &hs[i]
		h.work, h.wg = work, &wg
		wg.Add(1)
		select {
		case prevPoolJobs <- h:
		default:
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

// BenchmarkParallelForEmpty is the cost of one parallel region of two tiny tasks at two
// threads (go test -bench ParallelForEmpty ./accel): the hand-off, not the work.
func BenchmarkParallelForEmpty(b *testing.B) {
	var sink [2]atomic.Int64
	task := func(i int) { sink[i].Add(1) }
	for _, impl := range []struct {
		name string
		run  func(int, func(int))
	}{{"slots", parallel}, {"prev-channel", prevParallel}} {
		b.Run(impl.name, func(b *testing.B) {
			withThreads(b, 2, func() {
				impl.run(2, task) // start the pool
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					impl.run(2, task)
				}
			})
		})
	}
}

// BenchmarkParallelForTwoTasks runs two 20 µs tasks at two threads: 20 µs when the
// helper joins at once, up to 40 µs when the caller does both while the helper wakes
// (on a quiet machine).
func BenchmarkParallelForTwoTasks(b *testing.B) {
	task := func(int) {
		for t0 := time.Now(); time.Since(t0) < 20*time.Microsecond; {
		}
	}
	for _, impl := range []struct {
		name string
		run  func(int, func(int))
	}{{"slots", parallel}, {"prev-channel", prevParallel}} {
		b.Run(impl.name, func(b *testing.B) {
			withThreads(b, 2, func() {
				impl.run(2, task)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					impl.run(2, task)
				}
			})
		})
	}
}

// TestPacerYieldsEveryInterval: a zero Pacer is due at once, then not again until
// yieldEvery has passed; Skip starts the interval without a yield.
func TestPacerYieldsEveryInterval(t *testing.T) {
	for _, t0 := range []time.Duration{0, monoNow()} { // 0: the process's first instant
		var p Pacer
		if !p.due(t0) {
			t.Fatal("a zero pacer is not due at its first tick")
		}
		if p.due(t0 + yieldEvery/2) {
			t.Fatal("a pacer is due half an interval after its last yield")
		}
		if !p.due(t0 + yieldEvery) {
			t.Fatal("a pacer is not due an interval after its last yield")
		}
	}
	var q Pacer
	q.Skip()
	if q.due(q.last + yieldEvery - time.Microsecond) {
		t.Fatal("a pacer is due within an interval of Skip")
	}
}

// BenchmarkPacedKernelLoop calls a 320×49×960 pointwise convolution (MobileNetV2's
// last projection, about 100 µs at two threads) back to back at two threads, the way a
// session runs a model, with the caller and the workers passing through the scheduler
// every yieldEvery (paced) and never (unpaced). Unpaced, once the loop has run 10 ms
// the runtime's monitor takes the P of each goroutine in a cgo call at every tick.
// The figure is the mean, not the best: the cost is in the calls that hit a retake.
func BenchmarkPacedKernelLoop(b *testing.B) {
	if !HasPointwise() {
		b.Skip("no pointwise kernel on this backend")
	}
	r := rand.New(rand.NewPCG(1, 2))
	m, n, k := 320, 49, 960
	w, x, bias, y := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1), make([]float32, m*n)
	for _, paced := range []bool{true, false} {
		b.Run(map[bool]string{true: "paced", false: "unpaced"}[paced], func(b *testing.B) {
			defer unpaced.Store(unpaced.Load())
			unpaced.Store(!paced)
			withThreads(b, 2, func() {
				var pace Pacer
				for i := 0; i < b.N; i++ {
					pace.Tick()
					PointwiseConv(m, k, n, w, x, bias, y, Act{Kind: ActClip, Q: 6})
				}
			})
		})
	}
}

// TestNestedRegionStaysWithinThreads: at two threads on two Go CPUs, a parallel region
// started inside a task of another (each direction of a bidirectional RNN running its
// own product) runs on the threads already at work: no more than one worker is engaged
// at once (offered a job or running one) besides the caller, and every inner task
// still runs once.
func TestNestedRegionStaysWithinThreads(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one worker: nothing to oversubscribe")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	withThreads(t, 2, func() {
		var peak, runs atomic.Int32
		for rep := 0; rep < 20; rep++ {
			ParallelFor(2, 1, func(int, int) {
				ParallelFor(8, 1, func(int, int) {
					if b := engaged.Load(); b > peak.Load() {
						peak.Store(b)
					}
					runs.Add(1)
					time.Sleep(50 * time.Microsecond) // long enough for a woken worker to join
				})
			})
		}
		if runs.Load() != 20*2*8 {
			t.Fatalf("%d inner tasks ran, want %d", runs.Load(), 20*2*8)
		}
		if peak.Load() > 1 {
			t.Fatalf("%d workers engaged at once under a bound of two threads (the caller and one worker)", peak.Load())
		}
	})
}
