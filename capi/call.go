package main

/*
#include <stdlib.h>
#include "support.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/modelc/modelc/engine"
)

// call runs the body of an export: it turns the returned error, or a panic, into a status
// code and the calling thread's last error. Every export that can fail goes through it.
func call(body func() error) (status C.int) {
	defer func() {
		if r := recover(); r != nil {
			setLastError(fmt.Sprintf("internal error: panic: %v (a bug in modelc; please report it with this message)\n%s", r, debug.Stack()))
			status = statusInternal
		}
	}()
	err := body()
	if err == nil {
		return statusOK
	}
	setLastError(err.Error())
	if s, ok := statusOf[engine.KindOf(err)]; ok {
		return s
	}
	return statusInternal
}

// setLastError stores msg as the calling thread's last error. The export runs on the
// host's thread for its whole duration, so C thread-local storage is the host thread's.
func setLastError(msg string) {
	if msg == "" {
		msg = "unknown error"
	}
	// Copied into C memory here and handed over, so C never reads Go memory.
	p, err := cBytes([]byte(msg))
	if err != nil {
		p = nil
	}
	C.modelc__set_last_error((*C.char)(p))
}

// lastError reads the calling thread's last error, as a host would (the tests use it).
func lastError() string { return C.GoString(C.modelc_last_error()) }

// Go names of C types of the exports' parameters, for Go code that cannot use cgo
// itself (the tests, which call the exports as a host would).
type (
	cChar  = C.char
	cSizeT = C.size_t
	cInt   = C.int
)

// takeBytes copies a buffer the library handed out and frees it, as a host would (the
// tests use it). NULL gives nil.
func takeBytes(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	defer C.free(p)
	return C.GoBytes(p, C.int(n))
}

// takeString is takeBytes for a NUL-terminated string.
func takeString(p *C.char) (string, bool) {
	if p == nil {
		return "", false
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p), true
}

func invalid(format string, args ...any) error {
	return engine.Errorf(engine.KindInvalidArgument, format, args...)
}

// needString copies a required C string argument into Go.
func needString(p *C.char, name string) (string, error) {
	if p == nil {
		return "", invalid("%s is NULL", name)
	}
	s := C.GoString(p)
	if s == "" {
		return "", invalid("%s is empty", name)
	}
	return s, nil
}

// optString copies an optional C string argument (NULL reads as "").
func optString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// parseOptions decodes options_json (NULL or "" is no options) into opts.
func parseOptions(p *C.char, opts any) error {
	return engine.ParseOptions([]byte(optString(p)), opts)
}

// cBytes copies b into a new C buffer (released by modelc_free), with a NUL after the
// last byte so a text result can be used as a C string.
func cBytes(b []byte) (unsafe.Pointer, error) {
	p := C.modelc__alloc(C.size_t(len(b)) + 1)
	if p == nil {
		return nil, engine.Errorf(engine.KindInternal, "out of memory: cannot allocate %d bytes for the result", len(b)+1)
	}
	dst := unsafe.Slice((*byte)(p), len(b)+1)
	copy(dst, b)
	dst[len(b)] = 0
	return p, nil
}

// returnJSON marshals v into a new C string and stores it in *out. NaN and ±Inf are
// written as null (engine.MarshalJSON), so a report about a model that computes NaN
// still comes back.
func returnJSON(v any, out **C.char) error {
	b, err := engine.MarshalJSON(v, false)
	if err != nil {
		return engine.Errorf(engine.KindInternal, "encoding the result as JSON: %v", err)
	}
	p, err := cBytes(b)
	if err != nil {
		return err
	}
	*out = (*C.char)(p)
	return nil
}

// progressFunc wraps a host callback as an engine.Progress. nil stays nil. Go cannot call
// a C function pointer, so the call goes through the trampoline in support.c; the mutex
// keeps the promise that the callback never runs concurrently with itself.
func progressFunc(fn C.modelc_progress_fn, user unsafe.Pointer) engine.Progress {
	if fn == nil {
		return nil
	}
	var mu sync.Mutex
	return func(stage string, fraction float64) bool {
		mu.Lock()
		defer mu.Unlock()
		cs := C.CString(stage)
		defer C.free(unsafe.Pointer(cs))
		return C.modelc__call_progress(fn, user, cs, C.double(fraction)) == 0
	}
}

// hostBytes views a host buffer of size bytes. The view is used only during the call.
func hostBytes(data unsafe.Pointer, size C.size_t) ([]byte, error) {
	switch {
	case data == nil && size > 0:
		return nil, invalid("data is NULL but size is %d", uint64(size))
	case uint64(size) > math.MaxInt:
		return nil, invalid("size %d is too large", uint64(size))
	case data == nil:
		return nil, nil
	}
	return unsafe.Slice((*byte)(data), int(size)), nil
}
