package main

/*
#include <stdlib.h>
#include "support.h"
*/
import "C"

import (
	"context"
	"sync"
	"unsafe"

	"github.com/modelc/modelc/engine"
)

// The exported functions, in the order of include/modelc.h. cgo declares them with
// non-const parameters and int returns; the header's const and enum forms are the same
// ABI. modelc_last_error, modelc_status_string and modelc_free are in support.c.

// versionC is allocated once and never freed: modelc_version returns a static string.
var versionC = sync.OnceValue(func() *C.char { return C.CString(Version) })

//export modelc_version
func modelc_version() *C.char { return versionC() }

//export modelc_abi_version
func modelc_abi_version() C.int { return abiVersion }

//export modelc_convert
func modelc_convert(src, dst, optionsJSON *C.char, progress C.modelc_progress_fn, user unsafe.Pointer) C.int {
	return call(func() error {
		in, err := needString(src, "src")
		if err != nil {
			return err
		}
		out, err := needString(dst, "dst")
		if err != nil {
			return err
		}
		var opts engine.ConvertOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		_, err = engine.Convert(context.Background(), in, out, opts, progressFunc(progress, user))
		return err
	})
}

//export modelc_convert_bytes
func modelc_convert_bytes(data unsafe.Pointer, size C.size_t, fromFormat, toFormat, optionsJSON *C.char,
	progress C.modelc_progress_fn, user unsafe.Pointer, out *unsafe.Pointer, outSize *C.size_t) C.int {
	return call(func() error {
		if out == nil || outSize == nil {
			return invalid("out and out_size must not be NULL")
		}
		*out, *outSize = nil, 0
		in, err := hostBytes(data, size)
		if err != nil {
			return err
		}
		var opts engine.ConvertOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		b, err := engine.ConvertBytes(context.Background(), in, optString(fromFormat), optString(toFormat), opts, progressFunc(progress, user))
		if err != nil {
			return err
		}
		p, err := cBytes(b)
		if err != nil {
			return err
		}
		*out, *outSize = p, C.size_t(len(b))
		return nil
	})
}

//export modelc_inspect
func modelc_inspect(path *C.char, infoJSON **C.char) C.int {
	return call(func() error {
		if infoJSON == nil {
			return invalid("info_json must not be NULL")
		}
		*infoJSON = nil
		p, err := needString(path, "path")
		if err != nil {
			return err
		}
		info, err := engine.Inspect(p)
		if err != nil {
			return err
		}
		return returnJSON(info, infoJSON)
	})
}

//export modelc_backends
func modelc_backends(json **C.char) C.int {
	return call(func() error {
		if json == nil {
			return invalid("json must not be NULL")
		}
		*json = nil
		// An unusable MODELC_ACCEL is an error; the report comes back beside it, and the
		// message says what is wrong, which is what a host can act on.
		r, err := engine.Backends()
		if err != nil {
			return err
		}
		return returnJSON(r, json)
	})
}

// withReport stores the report of an operation that may fail with KindVerifyFailed yet
// still have a report to show (which outputs differ, by how much). Other failures return
// no report. reportJSON may be NULL: the caller does not want it.
func withReport(report any, err error, reportJSON **C.char) error {
	if reportJSON != nil && (err == nil || engine.KindOf(err) == engine.KindVerifyFailed) {
		if jerr := returnJSON(report, reportJSON); jerr != nil {
			return jerr
		}
	}
	return err
}

//export modelc_compress
func modelc_compress(src, dst, optionsJSON *C.char, progress C.modelc_progress_fn, user unsafe.Pointer, reportJSON **C.char) C.int {
	return call(func() error {
		if reportJSON != nil {
			*reportJSON = nil
		}
		in, err := needString(src, "src")
		if err != nil {
			return err
		}
		out, err := needString(dst, "dst")
		if err != nil {
			return err
		}
		var opts engine.CompressOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		rep, err := engine.Compress(context.Background(), in, out, opts, progressFunc(progress, user))
		if rep == nil {
			return err
		}
		return withReport(rep, err, reportJSON)
	})
}

//export modelc_distill
func modelc_distill(teacher, student, dst, optionsJSON *C.char, progress C.modelc_progress_fn, user unsafe.Pointer, reportJSON **C.char) C.int {
	return call(func() error {
		if reportJSON != nil {
			*reportJSON = nil
		}
		t, err := needString(teacher, "teacher")
		if err != nil {
			return err
		}
		s, err := needString(student, "student")
		if err != nil {
			return err
		}
		out, err := needString(dst, "dst")
		if err != nil {
			return err
		}
		var opts engine.DistillOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		rep, err := engine.Distill(context.Background(), t, s, out, opts, progressFunc(progress, user))
		if err != nil {
			return err
		}
		return withReport(rep, nil, reportJSON)
	})
}

//export modelc_compress_bytes
func modelc_compress_bytes(data unsafe.Pointer, size C.size_t, fromFormat, optionsJSON *C.char,
	progress C.modelc_progress_fn, user unsafe.Pointer, out *unsafe.Pointer, outSize *C.size_t, reportJSON **C.char) C.int {
	return call(func() error {
		if reportJSON != nil {
			*reportJSON = nil
		}
		if out == nil || outSize == nil {
			return invalid("out and out_size must not be NULL")
		}
		*out, *outSize = nil, 0
		in, err := hostBytes(data, size)
		if err != nil {
			return err
		}
		var opts engine.CompressOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		b, rep, err := engine.CompressBytes(context.Background(), in, optString(fromFormat), opts, progressFunc(progress, user))
		if b == nil {
			return err
		}
		// The result is handed out on success and, as modelc_compress keeps its output
		// file, with a failed verification.
		p, cerr := cBytes(b)
		if cerr != nil {
			return cerr
		}
		if rerr := withReport(rep, err, reportJSON); rerr != nil && engine.KindOf(rerr) != engine.KindVerifyFailed {
			C.free(p)
			return rerr
		}
		*out, *outSize = p, C.size_t(len(b))
		return err
	})
}

//export modelc_verify
func modelc_verify(ref, cand, optionsJSON *C.char, progress C.modelc_progress_fn, user unsafe.Pointer, reportJSON **C.char) C.int {
	return call(func() error {
		if reportJSON != nil {
			*reportJSON = nil
		}
		r, err := needString(ref, "ref")
		if err != nil {
			return err
		}
		c, err := needString(cand, "cand")
		if err != nil {
			return err
		}
		var opts engine.VerifyOptions
		if err := parseOptions(optionsJSON, &opts); err != nil {
			return err
		}
		rep, err := engine.Verify(context.Background(), r, c, opts, progressFunc(progress, user))
		if rep == nil {
			return err
		}
		return withReport(rep, err, reportJSON)
	})
}
