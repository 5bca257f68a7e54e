#!/bin/sh
# Large safetensors conversions vs cp (see bench/README.md).
exec "$(dirname "$0")/../.venv/bin/python" "$(dirname "$0")/safetensors_convert.py"
