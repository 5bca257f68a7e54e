#!/bin/sh
# Overhead of the C ABI and the Python package against the same Go call (see bench/README.md).
exec "$(dirname "$0")/../.venv/bin/python" "$(dirname "$0")/capi_overhead.py"
