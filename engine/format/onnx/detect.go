package onnx

import "google.golang.org/protobuf/encoding/protowire"

// Detect reports whether head looks like the start of an ONNX ModelProto: a protobuf
// message whose first field is ir_version (field 1, varint) with a plausible value, or
// another ModelProto field when ir_version comes later.
func Detect(head []byte) bool {
	num, typ, n := protowire.ConsumeTag(head)
	if n < 0 {
		return false
	}
	switch {
	case num == 1 && typ == protowire.VarintType:
		v, m := protowire.ConsumeVarint(head[n:])
		return m > 0 && v >= 1 && v <= 64
	case (num >= 2 && num <= 4 || num == 6 || num == 7 || num == 8) && typ == protowire.BytesType:
		_, m := protowire.ConsumeVarint(head[n:])
		return m > 0
	}
	return false
}
