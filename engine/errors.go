// Package engine is modelc's public Go API: Convert, Inspect (and, as they land, Compress
// and Verify), their options, and typed errors. The CLI, the C ABI and the Python package
// are thin doors into these functions.
package engine

import "github.com/modelc/modelc/engine/ir"

// Error is a classified error; see ir.Error. Its Kind maps to a CLI exit code, a C status
// code and a Python exception class.
type Error = ir.Error

// ErrorKind classifies errors.
type ErrorKind = ir.ErrorKind

// The error kinds.
const (
	KindInternal        = ir.KindInternal
	KindInvalidArgument = ir.KindInvalidArgument
	KindIO              = ir.KindIO
	KindCorrupt         = ir.KindCorrupt
	KindUnsupported     = ir.KindUnsupported
	KindVerifyFailed    = ir.KindVerifyFailed
	KindCancelled       = ir.KindCancelled
)

// KindOf returns the kind of an error returned by this package.
func KindOf(err error) ErrorKind { return ir.KindOf(err) }
