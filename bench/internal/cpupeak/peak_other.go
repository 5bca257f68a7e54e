//go:build !(amd64 && cgo)

// Package cpupeak measures the clock of the core it runs on and that core's FMA
// throughput; on this platform it has no probe and returns zeros.
package cpupeak

// ClockGHz returns 0: no probe on this platform.
func ClockGHz() float64 { return 0 }

// FMAGFLOPS returns zeros: no probe on this platform.
func FMAGFLOPS() (zmm, ymm float64) { return 0, 0 }
