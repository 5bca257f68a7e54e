package main

/*
#include "include/modelc.h"
*/
import "C"

import "github.com/modelc/modelc/engine"

// abiVersion comes from the public header, so the library and the header cannot disagree.
const abiVersion = C.MODELC_ABI_VERSION

// statusOf maps each engine error kind to its C status code. The header's enum is the
// contract; this table is written against its names rather than assuming the numbers
// match, and TestStatusTable checks every kind has an entry.
var statusOf = map[engine.ErrorKind]C.int{
	engine.KindInternal:        C.MODELC_E_INTERNAL,
	engine.KindInvalidArgument: C.MODELC_E_INVALID_ARGUMENT,
	engine.KindIO:              C.MODELC_E_IO,
	engine.KindCorrupt:         C.MODELC_E_CORRUPT,
	engine.KindUnsupported:     C.MODELC_E_UNSUPPORTED,
	engine.KindVerifyFailed:    C.MODELC_E_VERIFY_FAILED,
	engine.KindCancelled:       C.MODELC_E_CANCELLED,
}

const (
	statusOK       = C.int(C.MODELC_OK)
	statusInternal = C.int(C.MODELC_E_INTERNAL)
)
