//go:build purego || !cgo || !(amd64 || arm64)

package accel

// Without cgo, with the purego tag, or on other architectures only the go backend is
// compiled in.

const buildNote = "built without cgo, with the purego tag, or for an architecture without SIMD kernels"

func simdBuilt(Backend) bool { return false }

func fillSIMD(*table, Backend, features) {}
