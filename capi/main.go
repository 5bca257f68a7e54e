// Command capi is libmodelc, modelc's C ABI: built with
//
//	go build -buildmode=c-shared -o lib/libmodelc.so ./capi
//
// it exports the functions declared in include/modelc.h, each a thin door into package
// engine. The rules every export follows (see DESIGN.md, "C ABI facts that bite"):
//
//   - it recovers any panic and returns MODELC_E_INTERNAL with the message, so no Go
//     panic ever unwinds into the host;
//   - it copies the host's strings in and keeps no host pointer after it returns (a host
//     buffer, as in modelc_convert_bytes, is read only during the call);
//   - what it hands out is allocated with C malloc and released by modelc_free;
//   - failures set the calling thread's last error (C thread-local storage, support.c);
//   - it installs no signal handler (nothing here imports os/signal).
package main

import "C"

// Version is the library's release; like the modelc command's, `go build -ldflags
// "-X main.Version=..."` sets it.
var Version = "0.1.0-dev"

// main is never called: a c-shared library's Go code runs only through its exports.
func main() {}
