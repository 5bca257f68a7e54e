package engine

import "github.com/modelc/modelc/engine/format/atomicfile"

// AbortWrites removes the temporary files of outputs still being written and makes every
// later write fail. A process about to exit on a signal calls it, so an interrupted
// command leaves its outputs as they were (absent or old), never partial: an output of
// several files (a sharded checkpoint, an ONNX model with external data) is either the
// old set or the complete new one, since a set in the middle of its renames finishes
// first. It reports whether an output had already been completed (the signal came too
// late to stop it). The C library never calls it: signals belong to the host.
func AbortWrites() (outputWritten bool) { return atomicfile.AbortAll() }
