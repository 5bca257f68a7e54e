package runtime

import "math"

// relu32 is Relu on float32 without a branch per element (a branch on the sign of
// real activations mispredicts about half the time; ResNet's Relus after the residual
// Adds spent ~3 ns per element in it). It keeps the reference's exact results:
// negative numbers and −Inf become +0, while −0 and NaNs of either sign pass through
// unchanged, as `if v < 0 { v = 0 }` does.
func relu32(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		u := math.Float32bits(v)
		mag := int64(u & 0x7fffffff)
		// All ones when the sign is set and 0 < magnitude ≤ Inf (a negative number, not
		// −0 and not a NaN): the arithmetic shifts turn each comparison into a mask.
		neg := uint32(int32(u) >> 31)
		nonzero := uint32((-mag) >> 63)
		notNaN := uint32((mag - 0x7f800001) >> 63)
		dst[i] = math.Float32frombits(u &^ (neg & nonzero & notNaN))
	}
}
