package main

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine"
)

// The status of every error kind is the header's code, and the numbering is the one
// modelc.h documents (the same as engine's kinds and the CLI's exit codes).
func TestStatusOfEveryKind(t *testing.T) {
	runtime.LockOSThread() // the last error is per thread
	defer runtime.UnlockOSThread()
	kinds := []engine.ErrorKind{engine.KindInternal, engine.KindInvalidArgument, engine.KindIO, engine.KindCorrupt,
		engine.KindUnsupported, engine.KindVerifyFailed, engine.KindCancelled}
	if len(statusOf) != len(kinds) {
		t.Fatalf("statusOf has %d entries, engine has %d kinds", len(statusOf), len(kinds))
	}
	for _, k := range kinds {
		got := call(func() error { return engine.Errorf(k, "failure of kind %d", int(k)) })
		if int(got) != int(k) {
			t.Errorf("kind %v: status %d, want %d", k, got, int(k))
		}
		if want := "failure of kind"; !strings.Contains(lastError(), want) {
			t.Errorf("kind %v: last error %q", k, lastError())
		}
	}
	if got := call(func() error { return errors.New("unclassified") }); got != statusInternal {
		t.Errorf("an unclassified error gave status %d, want internal", got)
	}
	if got := call(func() error { return nil }); got != statusOK {
		t.Errorf("success gave status %d", got)
	}
	if lastError() != "unclassified" {
		t.Errorf("a success changed the last error to %q", lastError())
	}
}

// A panic never escapes an export: it becomes MODELC_E_INTERNAL with the panic's value
// and a stack in the message.
func TestPanicIsRecovered(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	got := call(func() error {
		var m map[string]int
		m["x"] = 1 // a real runtime panic, not a hand-made one
		return nil
	})
	if got != statusInternal {
		t.Fatalf("status %d, want internal", got)
	}
	msg := lastError()
	for _, want := range []string{"internal error: panic", "assignment to entry in nil map", "TestPanicIsRecovered"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestHostBytes(t *testing.T) {
	if _, err := hostBytes(nil, 3); engine.KindOf(err) != engine.KindInvalidArgument {
		t.Errorf("NULL with a size: %v", err)
	}
	if b, err := hostBytes(nil, 0); err != nil || b != nil {
		t.Errorf("NULL, 0: %v %v", b, err)
	}
}
