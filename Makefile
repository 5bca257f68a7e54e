# modelc — build, test, bench.
#
#   make            build bin/modelc
#   make test       everything CI runs: Go tests (-race where affordable), a short fuzz
#                   run of every reader, the arm64 build under qemu, the Python interop tests
#   make bench      Go benchmarks and the peer comparisons in bench/
#   make demo       a short tour of the CLI on the models in testdata/

GO        ?= go
PYTHON    ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
FUZZTIME  ?= 10s
export GOFLAGS := -buildvcs=false

.PHONY: all build test test-go test-race fuzz test-arm64 test-py venv deps-debian bench demo clean

all: build

build:
	$(GO) build -o bin/modelc ./cmd/modelc

# ---- test environment ------------------------------------------------------------------

# Debian packages the tests need (the arm64 cross compiler and qemu for the NEON paths).
DEBIAN_PKGS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
deps-debian:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The project-local virtualenv, rebuilt whenever requirements-test.txt changes.
$(VENV)/.stamp: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-test.txt
	touch $@
venv: $(VENV)/.stamp

# ---- tests -----------------------------------------------------------------------------

test: deps-debian venv build test-go fuzz test-arm64 test-py

test-go:
	$(GO) vet ./...
	$(GO) test -race ./engine/... ./cmd/...
	$(GO) test ./accel/... ./bench/... -run . -bench xxx

fuzz:
	$(GO) test ./engine/format/onnx -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME)

test-arm64:
	@if [ -x scripts/test-arm64.sh ]; then scripts/test-arm64.sh; fi

test-py: build venv
	MODELC=$(CURDIR)/bin/modelc $(VPY) -m pytest -q tests/interop

bench: build venv
	$(GO) test ./bench/... -run '^$$' -bench . -benchtime 3x
	@for s in bench/*.sh; do [ -x "$$s" ] && "$$s"; done; true

demo: build
	./bin/modelc version
	./bin/modelc info testdata/onnx/cnn.onnx

clean:
	rm -rf bin lib .cache
