package ir

import (
	"encoding/binary"
	"math"
)

// elementAsFloat64 decodes element i of packed little-endian data of a numeric dtype.
func elementAsFloat64(d DType, data []byte, i int64) float64 {
	le := binary.LittleEndian
	switch d {
	case Float32:
		return float64(math.Float32frombits(le.Uint32(data[4*i:])))
	case Float64:
		return math.Float64frombits(le.Uint64(data[8*i:]))
	case Uint8:
		return float64(data[i])
	case Int8:
		return float64(int8(data[i]))
	case Uint16:
		return float64(le.Uint16(data[2*i:]))
	case Int16:
		return float64(int16(le.Uint16(data[2*i:])))
	case Uint32:
		return float64(le.Uint32(data[4*i:]))
	case Int32:
		return float64(int32(le.Uint32(data[4*i:])))
	case Uint64:
		return float64(le.Uint64(data[8*i:]))
	case Int64:
		return float64(int64(le.Uint64(data[8*i:])))
	case Bool:
		if data[i] != 0 {
			return 1
		}
		return 0
	case Float16:
		return float64(Float16ToFloat32(le.Uint16(data[2*i:])))
	case BFloat16:
		return float64(BFloat16ToFloat32(le.Uint16(data[2*i:])))
	case Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0:
		return minifloat(d, uint32(data[i]))
	case Uint4:
		return float64(nibble(data, i))
	case Int4:
		return float64(int8(nibble(data, i)<<4) >> 4)
	case Float4E2M1:
		return minifloat(d, uint32(nibble(data, i)))
	case Uint2:
		return float64(crumb(data, i))
	case Int2:
		return float64(int8(crumb(data, i)<<6) >> 6)
	case Float6E2M3, Float6E3M2:
		return minifloat(d, Sextet(data, i))
	}
	return math.NaN()
}

// nibble returns 4-bit element i: the first of each pair in the low nibble.
func nibble(data []byte, i int64) byte { return (data[i/2] >> (4 * (i % 2))) & 0xF }

// crumb returns 2-bit element i: four per byte, the first in the lowest bits.
func crumb(data []byte, i int64) byte { return (data[i/4] >> (2 * (i % 4))) & 0x3 }

// Sextet returns 6-bit element i of a float6 tensor: an LSB-first bit stream.
func Sextet(data []byte, i int64) uint32 {
	bit := 6 * i
	v := uint32(data[bit/8]) >> (bit % 8)
	if bit%8 > 2 {
		v |= uint32(data[bit/8+1]) << (8 - bit%8)
	}
	return v & 0x3F
}

// SetSextet stores 6-bit element i of a float6 tensor (the inverse of Sextet).
func SetSextet(data []byte, i int64, v uint32) {
	bit := 6 * i
	w := uint32(data[bit/8])
	if bit/8+1 < int64(len(data)) {
		w |= uint32(data[bit/8+1]) << 8
	}
	w &^= 0x3F << (bit % 8)
	w |= (v & 0x3F) << (bit % 8)
	data[bit/8] = byte(w)
	if bit/8+1 < int64(len(data)) {
		data[bit/8+1] = byte(w >> 8)
	}
}

// minifloat decodes the small float formats from their bit pattern, following the ONNX
// definitions: E4M3FN has no infinity and one NaN per sign; the FNUZ variants have no
// negative zero (0x80 is NaN) and a bias one larger; E5M2 is IEEE-like; E8M0 is an
// exponent only; the float4 and float6 types have neither infinity nor NaN.
func minifloat(d DType, bits uint32) float64 {
	var expBits, mantBits, bias uint
	switch d {
	case Float8E4M3FN:
		if bits&0x7F == 0x7F {
			return math.NaN()
		}
		expBits, mantBits, bias = 4, 3, 7
	case Float8E4M3FNUZ:
		if bits == 0x80 {
			return math.NaN()
		}
		expBits, mantBits, bias = 4, 3, 8
	case Float8E5M2:
		if bits&0x7C == 0x7C {
			if bits&0x03 != 0 {
				return math.NaN()
			}
			return math.Inf(1 - 2*int(bits>>7))
		}
		expBits, mantBits, bias = 5, 2, 15
	case Float8E5M2FNUZ:
		if bits == 0x80 {
			return math.NaN()
		}
		expBits, mantBits, bias = 5, 2, 16
	case Float8E8M0:
		if bits == 0xFF {
			return math.NaN()
		}
		return math.Ldexp(1, int(bits)-127)
	case Float4E2M1:
		expBits, mantBits, bias = 2, 1, 1
	case Float6E2M3:
		expBits, mantBits, bias = 2, 3, 1
	case Float6E3M2:
		expBits, mantBits, bias = 3, 2, 3
	}
	width := 1 + expBits + mantBits
	sign := 1.0
	if bits>>(width-1)&1 == 1 {
		sign = -1
	}
	exp := int(bits>>mantBits) & (1<<expBits - 1)
	mant := float64(bits & (1<<mantBits - 1))
	if exp == 0 { // subnormal
		return sign * math.Ldexp(mant, 1-int(bias)-int(mantBits))
	}
	return sign * math.Ldexp(1+mant/float64(uint(1)<<mantBits), exp-int(bias))
}

// Float16ToFloat32 converts IEEE half-precision bits to float32 exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1F
	mant := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F: // inf or NaN; keep the payload
		return math.Float32frombits(sign | 0x7F800000 | mant<<13)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3FF)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFloat16 converts to IEEE half precision, rounding to nearest even, with
// overflow to infinity and NaN kept NaN.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xFF
	mant := b & 0x7FFFFF
	if exp == 0xFF {
		if mant != 0 {
			return sign | 0x7E00 | uint16(mant>>13)
		}
		return sign | 0x7C00
	}
	e := exp - 127 + 15
	if e >= 0x1F {
		return sign | 0x7C00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1FFF
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is still correct (up to infinity)
	}
	return sign | uint16(half)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32 exactly.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 converts to bfloat16, rounding to nearest even; NaN stays NaN.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7FFFFFFF > 0x7F800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7FFF + (b>>16)&1
	return uint16(b >> 16)
}
