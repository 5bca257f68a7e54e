package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

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

const digitsCNN = "../testdata/digits/cnn.onnx"

// cOptions makes a C options string for an export's options_json (freed by the caller).
func cOptions(t *testing.T, s string) *cChar {
	t.Helper()
	p, err := cBytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return (*cChar)(p)
}

func freeOptions(p *cChar) { takeString(p) }

// modelc_compress_bytes as a host calls it: the result is engine.CompressBytes's, handed
// out in C memory; failures leave every out-pointer NULL except on a failed verification.
func TestCompressBytesExport(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data, err := os.ReadFile(digitsCNN)
	if err != nil {
		t.Fatal(err)
	}
	size := cSizeT(len(data))
	yes := true
	want, _, err := engine.CompressBytes(context.Background(), data, "", engine.CompressOptions{Quantize: "int8", PerChannel: &yes}, nil)
	if err != nil {
		t.Fatal(err)
	}

	opts := cOptions(t, `{"quantize": "int8", "per_channel": true}`)
	defer freeOptions(opts)
	var out unsafe.Pointer
	var outSize cSizeT
	var report *cChar
	if st := modelc_compress_bytes(unsafe.Pointer(&data[0]), size, nil, opts, nil, nil, &out, &outSize, &report); st != statusOK {
		t.Fatalf("status %d: %s", st, lastError())
	}
	if got := takeBytes(out, outSize); !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, engine.CompressBytes %d (or they differ)", len(got), len(want))
	}
	var rep engine.CompressReport
	text, ok := takeString(report)
	if !ok || json.Unmarshal([]byte(text), &rep) != nil || rep.BytesBefore != int64(len(data)) || rep.BytesAfter != int64(len(want)) || rep.Input != "<memory>" {
		t.Errorf("report %q", text)
	}
	// report_json may be NULL.
	if st := modelc_compress_bytes(unsafe.Pointer(&data[0]), size, nil, opts, nil, nil, &out, &outSize, nil); st != statusOK || outSize != cSizeT(len(want)) {
		t.Errorf("without a report: status %d, %d bytes", st, outSize)
	}
	takeBytes(out, outSize)

	// A failed verification hands out the output and the report with its status.
	strict := cOptions(t, `{"quantize": "int4", "verify": true, "min_cosine": 1}`)
	defer freeOptions(strict)
	st := modelc_compress_bytes(unsafe.Pointer(&data[0]), size, nil, strict, nil, nil, &out, &outSize, &report)
	got := takeBytes(out, outSize)
	text, ok = takeString(report)
	if int(st) != int(engine.KindVerifyFailed) || len(got) == 0 || !ok || !strings.Contains(text, `"pass":false`) {
		t.Errorf("verify failure: status %d, %d bytes, report %q", st, len(got), text)
	}

	onnxFmt := cOptions(t, "onnx")
	defer freeOptions(onnxFmt)
	hf := cOptions(t, "hf")
	defer freeOptions(hf)
	bogus := cOptions(t, `{"bogus_key": 1}`)
	defer freeOptions(bogus)
	garbage := []byte("not a model at all")
	for _, c := range []struct {
		name   string
		data   unsafe.Pointer
		size   cSizeT
		from   *cChar
		opts   *cChar
		nilOut bool
		kind   engine.ErrorKind
		msg    string
	}{
		{"NULL data", nil, 10, nil, opts, false, engine.KindInvalidArgument, "data is NULL"},
		{"NULL out", unsafe.Pointer(&data[0]), size, nil, opts, true, engine.KindInvalidArgument, "out and out_size"},
		{"unknown key", unsafe.Pointer(&data[0]), size, nil, bogus, false, engine.KindInvalidArgument, "bogus_key"},
		{"no options", unsafe.Pointer(&data[0]), size, nil, nil, false, engine.KindInvalidArgument, "nothing to do"},
		{"a folder format", unsafe.Pointer(&data[0]), size, hf, opts, false, engine.KindInvalidArgument, "folder"},
		{"not a model", unsafe.Pointer(&garbage[0]), cSizeT(len(garbage)), nil, opts, false, engine.KindCorrupt, "not a model"},
		{"truncated", unsafe.Pointer(&data[0]), size / 2, onnxFmt, opts, false, engine.KindCorrupt, "<memory>"},
	} {
		out, outSize = unsafe.Pointer(&garbage[0]), 7 // a failure must reset them
		report = (*cChar)(unsafe.Pointer(&garbage[0]))
		var st cInt
		if c.nilOut {
			st = modelc_compress_bytes(c.data, c.size, c.from, c.opts, nil, nil, nil, &outSize, &report)
		} else {
			st = modelc_compress_bytes(c.data, c.size, c.from, c.opts, nil, nil, &out, &outSize, &report)
			if out != nil || outSize != 0 {
				t.Errorf("%s: out %p, size %d after a failure", c.name, out, outSize)
			}
		}
		if int(st) != int(c.kind) || !strings.Contains(lastError(), c.msg) {
			t.Errorf("%s: status %d, last error %q; want %d mentioning %q", c.name, st, lastError(), c.kind, c.msg)
		}
		if report != nil {
			t.Errorf("%s: *report_json not NULL after a failure", c.name)
		}
	}
}

// modelc_convert_bytes reaches every in-memory format.
func TestConvertBytesExportFormats(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data, err := os.ReadFile(digitsCNN)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"safetensors", "gguf", "torch", "onnx"} {
		want, err := engine.ConvertBytes(context.Background(), data, "", to, engine.ConvertOptions{}, nil)
		if err != nil {
			t.Fatal(to, err)
		}
		toC := cOptions(t, to)
		var out unsafe.Pointer
		var outSize cSizeT
		st := modelc_convert_bytes(unsafe.Pointer(&data[0]), cSizeT(len(data)), nil, toC, nil, nil, nil, &out, &outSize)
		freeOptions(toC)
		if got := takeBytes(out, outSize); st != statusOK || !bytes.Equal(got, want) {
			t.Errorf("%s: status %d (%s), %d bytes, want %d", to, st, lastError(), len(got), len(want))
		}
	}
}
