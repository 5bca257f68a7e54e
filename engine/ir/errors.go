package ir

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrorKind classifies failures. Every front end maps a kind to one thing of its own: a
// CLI exit code, a C status code, a Python exception class.
type ErrorKind int

// Error kinds. The numbering is part of the C ABI (capi/include/modelc.h): only append.
const (
	KindInternal        ErrorKind = 1 // a bug in modelc
	KindInvalidArgument ErrorKind = 2 // bad options, paths, flags
	KindIO              ErrorKind = 3 // a file could not be read or written
	KindCorrupt         ErrorKind = 4 // the input is malformed or of an unsupported format
	KindUnsupported     ErrorKind = 5 // a valid input uses an op or dtype modelc does not support
	KindVerifyFailed    ErrorKind = 6 // verification found the models differ beyond tolerance
	KindCancelled       ErrorKind = 7 // the caller cancelled the operation
)

func (k ErrorKind) String() string {
	switch k {
	case KindInternal:
		return "internal error"
	case KindInvalidArgument:
		return "invalid argument"
	case KindIO:
		return "I/O error"
	case KindCorrupt:
		return "corrupt or unsupported file"
	case KindUnsupported:
		return "unsupported op or dtype"
	case KindVerifyFailed:
		return "verification failed"
	case KindCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("error kind %d", int(k))
}

// Error is a classified error: what went wrong, and where (file, then tensor, node or byte
// offset inside it).
type Error struct {
	Kind  ErrorKind
	File  string // the file concerned, if any
	Where string // inside the file: "tensor \"w\"", "node \"conv1\"", "offset 1234"
	Err   error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Where != "" {
		msg = e.Where + ": " + msg
	}
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an Error of the given kind about file.
func Errorf(kind ErrorKind, file, format string, args ...any) *Error {
	return &Error{Kind: kind, File: file, Err: fmt.Errorf(format, args...)}
}

// IOError makes a KindIO error about file from err, without the *fs.PathError wrapper,
// whose path would only repeat the file name.
func IOError(file string, err error) *Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{Kind: KindIO, File: file, Err: err}
}

// KindOf returns the kind of err: the kind of the outermost *Error in its chain, and
// KindInternal for an unclassified error. A cancellation stays one however it was
// wrapped: a writer stopped by its progress hook reports an I/O error around it.
func KindOf(err error) ErrorKind {
	var e *Error
	if !errors.As(err, &e) {
		return KindInternal
	}
	for inner := error(e); inner != nil; inner = errors.Unwrap(inner) {
		if c, ok := inner.(*Error); ok && c.Kind == KindCancelled {
			return KindCancelled
		}
	}
	return e.Kind
}
