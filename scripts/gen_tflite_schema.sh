#!/bin/sh
# Generates engine/format/tflite/schema/tfl (the Go accessors and object API of the TFLite
# FlatBuffer schema) from engine/format/tflite/schema/schema.fbs.
#
# schema.fbs is LiteRT's tflite/converter/schema/schema.fbs (google-ai-edge/LiteRT commit
# f67457790c9c2ab67347d6fe53270e8d3df20868) with one change made by this script's first
# mode: Debian's flatc 2.0.8 (apt-get install flatbuffers-compiler) rejects the
# "(deprecated)" attribute on an enum value (REDUCE_WINDOW = 205) and on a union member
# (ReduceWindowOptions), which newer flatc accepts. Those two annotations are stripped;
# the value and the member stay, so the numbering and the wire format are unchanged.
# The "(deprecated)" attributes on table fields are accepted by flatc 2.0.8 and kept.
#
#   scripts/gen_tflite_schema.sh strip upstream-schema.fbs   # refresh schema.fbs from LiteRT
#   scripts/gen_tflite_schema.sh                              # regenerate the Go code
set -eu
dir=$(dirname "$0")/../engine/format/tflite/schema
if [ "${1:-}" = strip ]; then
	sed -E 's/^([[:space:]]+[A-Za-z_0-9]+( = [0-9]+)?) \(deprecated\),/\1,/' "$2" >"$dir/schema.fbs"
	exit 0
fi
command -v flatc >/dev/null || { echo "flatc not found: apt-get install flatbuffers-compiler" >&2; exit 1; }
rm -rf "$dir/tfl"
flatc --go --gen-object-api --go-namespace tfl -o "$dir" "$dir/schema.fbs"
gofmt -w "$dir/tfl"
