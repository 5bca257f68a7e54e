#!/bin/sh
# The GPU check: run on a machine with an NVIDIA GPU (driver + libnvrtc), no Go needed.
# `make gpu-check` builds this folder (build/gpu-check); copy it there and run ./run.sh.
# Prints the device, the CUDA kernel tests against the pure-Go reference, the digits
# models on CUDA vs the CPU, and the benchmarks (1 GiB f32 → Q8_0, 4096³ GEMMs,
# the auto-offload crossover).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export MODELC_TESTDATA="$here/testdata"
rc=0
echo "== modelc backends"
./modelc backends | sed -n '1,9p'
echo "== MODELC_ACCEL=cuda modelc backends"
MODELC_ACCEL=cuda ./modelc backends || rc=1
echo "== CUDA kernels vs the pure-Go reference (accel/cuda tests)"
./cuda.test -test.v -test.run . >cuda.log 2>&1 || rc=1
grep -E '^(--- |PASS|FAIL|ok)|^\s+(kernels|loader)_test' cuda.log
echo "== digits models: MODELC_ACCEL=cuda vs CPU"
./gpu.test -test.v -test.run Digits 2>&1 | grep -E '^(--- |PASS|FAIL)|gpu_test' || rc=1
echo "== benchmarks"
./gpu.test -test.run '^$' -test.bench . -test.benchtime 3x || rc=1
exit $rc
