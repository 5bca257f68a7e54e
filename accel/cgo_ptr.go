//go:build (amd64 || arm64) && cgo && !purego

package accel

// #include <stdint.h>
import "C"

import "unsafe"

// Pointers to the first element of a slice for a C call (nil for an empty slice). The C
// side never keeps them past the call, and the slices hold no Go pointers, so this
// follows the cgo pointer rules.

func pf32(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func pf64(s []float64) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&s[0]))
}

func pi8(s []int8) *C.int8_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int8_t)(unsafe.Pointer(&s[0]))
}

func pu8(s []uint8) *C.uint8_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&s[0]))
}

func pu16(s []uint16) *C.uint16_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint16_t)(unsafe.Pointer(&s[0]))
}

func pi32(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
