package engine

import "github.com/modelc/modelc/engine/format/atomicfile"

// AbortWrites removes the temporary files of outputs still being written. A process about
// to exit on a signal calls it, so an interrupted command leaves its outputs as they were
// (absent or old), never partial. The C library never calls it: signals belong to the host.
func AbortWrites() { atomicfile.AbortAll() }
