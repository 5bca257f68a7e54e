package runtime

import (
	"unsafe"

	"github.com/modelc/modelc/engine/ir"
)

// The memory plan at run time. compile records after which node each value dies
// (step.free); during a run the values' buffers come from an arena that takes them back
// when their last reader has run and hands them to later nodes, so a model run in a loop
// allocates (almost) nothing once its first run has sized the pool.
//
// Which buffer a value lives in is found by address: a value is counted as a reference
// to the pooled buffer that holds its first element, whoever made it. Views (Reshape,
// Identity, Squeeze, a Split part, an If branch passing an outer value through) are
// therefore counted like the value they alias, and a buffer is reused only when no live
// value points into it. Buffers handed to the caller as outputs leave the pool, unless
// the caller gives them back with Session.Recycle.
//
// Only kernels that ask (opContext.alloc) get pooled memory; everything else is
// garbage-collected as before. Subgraph runs (If, Loop bodies) do not pool: their
// values can be carried from one iteration into the next.

// buffer is one pooled block: 8-byte words, so any numeric storage class fits aligned.
type buffer struct {
	mem    []uint64
	lo, hi uintptr
	refs   int
	// lent counts the times the buffer was handed to a caller as an output that only it
	// holds; the output records the count, so that Recycle takes back only the output
	// the buffer was last lent as (not a stale copy of an older one).
	lent uint64
	out  bool // lent now: Recycle may take it back
}

type arena struct {
	idle  []*buffer // free for reuse
	live  []*buffer // handed out during this run
	fresh []*buffer // handed out during the current node
}

// takeArena gives a run the session's pool (a new one when another run holds it).
func (s *Session) takeArena() *arena {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	a := s.pool
	s.pool = nil
	if a == nil {
		a = &arena{}
	}
	a.idle = append(a.idle, s.recycled...)
	clear(s.recycled)
	s.recycled = s.recycled[:0]
	return a
}

// lend marks each output that is the only value in its pooled buffer as the buffer's
// (Recycle can give the buffer back). Two outputs in one buffer (a value and its Reshape, the parts of a Split) are left
// unmarked: recycling one would overwrite the other.
func (a *arena) lend(outs []*Tensor) {
	holders := make([]int, len(outs))
	for i, t := range outs {
		holders[i] = a.find(t)
	}
	for i, t := range outs {
		b := holders[i]
		if b < 0 {
			continue
		}
		shared := false
		for j, c := range holders {
			if j != i && c == b && outs[j] != t {
				shared = true
			}
		}
		if !shared {
			buf := a.live[b]
			buf.lent++
			buf.out = true
			t.lent, t.lentAs = buf, buf.lent
		}
	}
}

// Recycle gives a run's outputs back to the session: later runs reuse their memory
// instead of allocating it. A loop that runs a model and drops each output (a benchmark,
// a verification pass) then allocates next to nothing per run, and the
// garbage collector, which otherwise starts every few dozen runs of a model with a large
// output, rarely runs: an OCR detector's 120 KB output cost it a quarter of its time.
// Each tensor's Data is set to nil; the caller must keep no other reference to the data.
// Tensors that are not this session's run outputs, or were recycled already, are left
// as they are. Recycle may be called while another run is in progress.
func (s *Session) Recycle(outputs map[string]*Tensor) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	for _, t := range outputs {
		b := t.lent
		if b == nil || !b.out || b.lent != t.lentAs || firstAddr(t.Data) < b.lo || firstAddr(t.Data) >= b.hi {
			continue
		}
		b.out, t.lent, t.Data = false, nil, nil
		if len(s.recycled) < maxRecycled {
			s.recycled = append(s.recycled, b)
		}
	}
}

// maxRecycled bounds the buffers waiting for the next run, for a caller that recycles
// outputs of runs made concurrently.
const maxRecycled = 64

// returnArena keeps the idle buffers for the next run. Buffers still referenced belong
// to the caller now (outs, the run's outputs, lent under the lock that Recycle takes) or
// to a run that failed (outs nil); they are dropped from the pool.
func (s *Session) returnArena(a *arena, outs []*Tensor) {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	a.lend(outs)
	a.live, a.fresh = nil, nil
	if s.pool == nil || len(a.idle) > len(s.pool.idle) {
		s.pool = a
	}
}

// get hands out a buffer of at least n bytes: the smallest idle one that is not
// wastefully large, or a new one.
func (a *arena) get(n int) *buffer {
	best := -1
	for i, b := range a.idle {
		c := len(b.mem) * 8
		if c >= n && c <= 2*n+4096 && (best < 0 || c < len(a.idle[best].mem)*8) {
			best = i
		}
	}
	var b *buffer
	if best >= 0 {
		b = a.idle[best]
		a.idle[best] = a.idle[len(a.idle)-1]
		a.idle = a.idle[:len(a.idle)-1]
	} else {
		mem := make([]uint64, (n+7)/8)
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
		b = &buffer{mem: mem, lo: lo, hi: lo + uintptr(len(mem)*8)}
	}
	b.refs = 0
	a.live = append(a.live, b)
	a.fresh = append(a.fresh, b)
	return b
}

// find returns the live buffer holding the first element of t, or -1.
func (a *arena) find(t *Tensor) int {
	if a == nil || t == nil || len(a.live) == 0 {
		return -1
	}
	p := firstAddr(t.Data)
	if p == 0 {
		return -1
	}
	for i := len(a.live) - 1; i >= 0; i-- {
		if b := a.live[i]; p >= b.lo && p < b.hi {
			return i
		}
	}
	return -1
}

// acquire counts a new reference (a slot now holding t).
func (a *arena) acquire(t *Tensor) {
	if i := a.find(t); i >= 0 {
		a.live[i].refs++
	}
}

// release drops a reference; the buffer becomes idle when none is left.
func (a *arena) release(t *Tensor) {
	i := a.find(t)
	if i < 0 {
		return
	}
	b := a.live[i]
	if b.refs--; b.refs <= 0 {
		a.retire(i)
	}
}

// settle runs after a node's outputs are stored: buffers it took but did not return
// (scratch space) are idle again.
func (a *arena) settle() {
	if a == nil {
		return
	}
	for _, b := range a.fresh {
		if b.refs == 0 {
			for i, l := range a.live {
				if l == b {
					a.retire(i)
					break
				}
			}
		}
	}
	a.fresh = a.fresh[:0]
}

func (a *arena) retire(i int) {
	b := a.live[i]
	a.live[i] = a.live[len(a.live)-1]
	a.live = a.live[:len(a.live)-1]
	a.idle = append(a.idle, b)
}

// firstAddr is the address of a slice's first element (0 for an empty or string slice).
func firstAddr(data any) uintptr {
	var p unsafe.Pointer
	switch d := data.(type) {
	case []float32:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []float64:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []int64:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []int32:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []int16:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []int8:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []uint8:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []uint16:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []uint32:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []uint64:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	case []bool:
		if len(d) > 0 {
			p = unsafe.Pointer(&d[0])
		}
	}
	return uintptr(p)
}

// poolable is the element types the arena may hold: no pointers inside.
type poolable interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~bool
}

// allocRaw returns n elements of T from the run's pool, or from the heap when there is
// no pool. Pooled memory holds old values: use it only for outputs the kernel writes
// completely (allocZero otherwise).
func allocRaw[T poolable](c *opContext, n int) []T {
	if c == nil || c.arena == nil || n == 0 {
		return make([]T, n)
	}
	var z T
	b := c.arena.get(n * int(unsafe.Sizeof(z)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b.mem))), n)
}

// allocZero is allocRaw with the elements set to zero.
func allocZero[T poolable](c *opContext, n int) []T {
	s := allocRaw[T](c, n)
	if c != nil && c.arena != nil {
		clear(s)
	}
	return s
}

// tensorF32 makes a float-class tensor (float32, float16, bfloat16) whose values the
// caller fills completely.
func (c *opContext) tensorF32(d ir.DType, shape []int) *Tensor {
	return &Tensor{DType: d, Shape: shape, Data: allocRaw[float32](c, prod(shape))}
}

// pooledAlloc is alloc (storage for n elements of dtype d) from the run's pool, for a
// kernel that writes every element; strings come from the heap.
func pooledAlloc(c *opContext, d ir.DType, n int) any {
	switch d {
	case ir.Float32, ir.Float16, ir.BFloat16:
		return allocRaw[float32](c, n)
	case ir.Float64:
		return allocRaw[float64](c, n)
	case ir.Int64:
		return allocRaw[int64](c, n)
	case ir.Int32:
		return allocRaw[int32](c, n)
	case ir.Int16:
		return allocRaw[int16](c, n)
	case ir.Int8, ir.Int4:
		return allocRaw[int8](c, n)
	case ir.Uint8, ir.Uint4:
		return allocRaw[uint8](c, n)
	case ir.Uint16:
		return allocRaw[uint16](c, n)
	case ir.Uint32:
		return allocRaw[uint32](c, n)
	case ir.Uint64:
		return allocRaw[uint64](c, n)
	case ir.Bool:
		return allocRaw[bool](c, n)
	}
	return alloc(d, n)
}
