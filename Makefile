# modelc — build, test, bench.
#
#   make            build bin/modelc and lib/libmodelc.so (the C ABI) with lib/modelc.h
#   make test       everything CI runs: Go tests (-race where affordable), a short fuzz
#                   run of every reader, the arm64 build under qemu, the C ABI tests
#                   (native, valgrind, ASan), the Python interop tests
#   make bench      Go benchmarks and the peer comparisons in bench/
#   make demo       a short tour of the CLI on the models in testdata/

GO        ?= go
PYTHON    ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
FUZZTIME  ?= 10s
export GOFLAGS := -buildvcs=false

.PHONY: all build test test-go test-race fuzz test-arm64 test-py venv deps-debian bench demo clean

all: build lib

build:
	$(GO) build -o bin/modelc ./cmd/modelc

# libmodelc.so, the C ABI (capi/), with its hand-written header beside it as lib/modelc.h.
# go build also writes a generated lib/libmodelc.h; the hand-written header is the
# contract, so the generated one is removed.
.PHONY: lib
lib:
	$(GO) build -buildmode=c-shared -o lib/libmodelc.so ./capi
	cp capi/include/modelc.h lib/modelc.h
	rm -f lib/libmodelc.h

# ---- test environment ------------------------------------------------------------------

# Debian packages the tests need, and only those: the arm64 cross compiler and qemu for the
# NEON paths (scripts/test-arm64.sh); valgrind for the C ABI (test-capi); python3-torch,
# CPU-only torch 1.13 for /usr/bin/python3, for the torch.load(weights_only=True) check of
# the .pt files modelc writes (tests/interop/test_torch.py). Installed without their
# recommends: python3-torch's alone pull in OpenCV, GTK and Qt (262 packages, ~1 GiB).
# python3-torchvision gives tests/interop/test_torchscript.py its CNNs (ResNet-18,
# MobileNetV2/V3, SqueezeNet) to trace; without it those cases are skipped.
DEBIAN_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user python3-torch python3-torchvision valgrind
deps-debian:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The project-local virtualenv, rebuilt whenever requirements-test*.txt change.
$(VENV)/.stamp: requirements-test.txt requirements-test-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-test.txt
	$(VPY) -m pip install -q --no-deps -r requirements-test-nodeps.txt
	touch $@
venv: $(VENV)/.stamp

# ---- tests -----------------------------------------------------------------------------

test: deps-debian venv build lib test-go fuzz test-arm64 test-capi test-py

test-go:
	@unformatted=$$(gofmt -l accel bench capi cmd engine testdata); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w these files: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race ./engine/... ./cmd/...
	$(GO) test ./accel/... ./bench/... -run . -bench xxx

# Each reader's fuzz target for FUZZTIME (scripts/fuzz.sh says which Go 1.26 flake it tolerates).
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/onnx FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/npy FuzzParse
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/gguf FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/hf FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/safetensors FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/torch FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/torch FuzzUnpickle
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/torch FuzzParseCode
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/torch FuzzReadScript
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/tflite FuzzRead
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine FuzzRecipe
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/tf FuzzKeras
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/tf FuzzBundleIndex
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh ./engine/format/tf FuzzSavedModel

# The C ABI as a C host sees it: the Go side's tests; the header compiled as C99 and as
# C++; tests/capi/test_capi.c (fixtures, bad arguments, cancellation, 8 threads) run
# natively, under valgrind (leaks; invalid accesses outside Go code, see tests/capi/go.supp)
# and against a `go build -asan` library (invalid accesses by Go code to host memory); the
# C and C++ examples.
CAPI_CFLAGS := -Wall -Wextra -Werror -Ilib
CAPI_LINK   := -Llib -lmodelc -Wl,-rpath,$(CURDIR)/lib -pthread
.PHONY: test-capi
test-capi: lib
	$(GO) test -race ./capi
	@mkdir -p bin/asan
	gcc -std=c99 -pedantic -Wstrict-prototypes $(CAPI_CFLAGS) -c tests/capi/header_check.c -o bin/header_check.o
	g++ -x c++ -std=c++11 $(CAPI_CFLAGS) -c tests/capi/header_check.c -o bin/header_check.o
	gcc -std=c11 -g $(CAPI_CFLAGS) tests/capi/test_capi.c $(CAPI_LINK) -o bin/test_capi
	bin/test_capi testdata/onnx 40
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--undef-value-errors=no \
		--error-exitcode=9 --suppressions=tests/capi/go.supp bin/test_capi testdata/onnx 5
	$(GO) build -asan -buildmode=c-shared -o bin/asan/libmodelc.so ./capi
	gcc -std=c11 -g -fsanitize=address $(CAPI_CFLAGS) tests/capi/test_capi.c \
		-Lbin/asan -lmodelc -Wl,-rpath,$(CURDIR)/bin/asan -pthread -o bin/asan/test_capi
	bin/asan/test_capi testdata/onnx 10
	gcc -std=c99 $(CAPI_CFLAGS) bindings/c/example.c $(CAPI_LINK) -o bin/example_c
	g++ -std=c++17 $(CAPI_CFLAGS) -Ibindings/cpp bindings/cpp/example.cpp $(CAPI_LINK) -o bin/example_cpp
	@tmp=$$(mktemp -d) && bin/example_c testdata/onnx/cnn.onnx $$tmp/c.onnx >/dev/null && \
		bin/example_cpp testdata/onnx/cnn.onnx $$tmp/cpp.onnx; rc=$$?; rm -rf $$tmp; exit $$rc

# The same C test against a library built with GOEXPERIMENT=cgocheck2, which checks every
# pointer passed between Go and C at run time (not in `make test`: a full rebuild).
.PHONY: test-capi-cgocheck2
test-capi-cgocheck2: test-capi
	@mkdir -p bin/cgocheck2
	GOEXPERIMENT=cgocheck2 $(GO) build -buildmode=c-shared -o bin/cgocheck2/libmodelc.so ./capi
	gcc -std=c11 -g $(CAPI_CFLAGS) tests/capi/test_capi.c \
		-Lbin/cgocheck2 -lmodelc -Wl,-rpath,$(CURDIR)/bin/cgocheck2 -pthread -o bin/cgocheck2/test_capi
	bin/cgocheck2/test_capi testdata/onnx 20

test-arm64:
	@if [ -x scripts/test-arm64.sh ]; then scripts/test-arm64.sh; fi

test-py: build lib venv
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python
	MODELC=$(CURDIR)/bin/modelc $(VPY) -m pytest -q tests/interop

bench: build lib venv
	$(GO) test ./bench/... -run '^$$' -bench . -benchtime 3x
	@# The peer comparisons: each script runs modelc and the peer tool in the same run.
	@for s in bench/*.py; do echo "== $$s"; $(VPY) "$$s" || exit 1; done

# A folder to carry to a machine with an NVIDIA GPU and no Go: the CUDA kernel tests, the
# GPU benchmarks and digits check (bench/gpu), modelc, the data they read; run its run.sh.
GPU_CHECK := .cache/gpu-check
.PHONY: gpu-check
gpu-check:
	rm -rf $(GPU_CHECK) && mkdir -p $(GPU_CHECK)/testdata/digits
	$(GO) test -c -o $(GPU_CHECK)/cuda.test ./accel/cuda
	$(GO) test -c -o $(GPU_CHECK)/gpu.test ./bench/gpu
	$(GO) build -o $(GPU_CHECK)/modelc ./cmd/modelc
	cp accel/cuda/testdata/fakecuda.c $(GPU_CHECK)/testdata/
	cp $(DIGITS)/mlp.onnx $(DIGITS)/cnn.onnx $(DIGITS)/test_inputs.npz $(GPU_CHECK)/testdata/digits/
	cp bench/gpu/run.sh $(GPU_CHECK)/
	@echo "gpu-check: copy $(GPU_CHECK) to the GPU machine and run ./run.sh there"

DIGITS := testdata/digits
DEMO_VERIFY := --verify --inputs $(DIGITS)/test_inputs.npz --labels $(DIGITS)/test_labels.npy
demo: build
	./bin/modelc version
	./bin/modelc info testdata/onnx/cnn.onnx
	@mkdir -p .cache/demo
	@echo; echo "== the digits CNN, int8 (weight-only, per channel), verified on the 360-image test split"
	./bin/modelc compress $(DIGITS)/cnn.onnx .cache/demo/cnn-int8.onnx --quantize int8 --per-channel --symmetric $(DEMO_VERIFY)
	@echo; echo "== the digits CNN, 50 % of the weights pruned (global magnitude) then int4 blocks of 32"
	./bin/modelc compress $(DIGITS)/cnn.onnx .cache/demo/cnn-int4-pruned.onnx --prune global --sparsity 0.5 --quantize int4 --block-size 32 $(DEMO_VERIFY)

clean:
	rm -rf bin lib .cache
