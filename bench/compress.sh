#!/bin/sh
# Dynamic int8 quantization of a 100 M-parameter model vs onnxruntime (see bench/README.md).
exec "$(dirname "$0")/../.venv/bin/python" "$(dirname "$0")/compress.py"
