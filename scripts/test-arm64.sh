#!/usr/bin/env bash
# Cross-compile the accel tests for arm64 and run them under qemu, so the NEON kernels
# (and the go backend on arm64) are checked on an x86-64 machine.
# Needs the Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (the Makefile's deps-debian target installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

CC_ARM64=${CC_ARM64:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
for tool in "$CC_ARM64" "$QEMU"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "test-arm64: $tool not found (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)" >&2
		exit 1
	fi
done

out=$(mktemp -d /tmp/modelc-arm64.XXXXXX)
trap 'rm -rf "$out"' EXIT
echo "test-arm64: building accel tests for linux/arm64 with $CC_ARM64"
GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC="$CC_ARM64" go test -c -o "$out/accel.test" ./accel
echo "test-arm64: go vet (arm64)"
GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC="$CC_ARM64" go vet ./accel
echo "test-arm64: running under $QEMU (default CPU: NEON with dotprod; the tests also run the non-dotprod path)"
rc=0
"$QEMU" -L "$SYSROOT" "$out/accel.test" -test.v -test.run . >"$out/log" 2>&1 || rc=$?
grep -E '^(--- FAIL|FAIL|ok|PASS)|testing backend|^\s+kernels_test.go' "$out/log" || true
if [ "$rc" -ne 0 ]; then tail -40 "$out/log"; exit "$rc"; fi
echo "test-arm64: MODELC_ACCEL=go"
MODELC_ACCEL=go "$QEMU" -L "$SYSROOT" "$out/accel.test" -test.run .
