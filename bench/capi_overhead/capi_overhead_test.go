// Package capi_overhead measures the Go side of bench/capi_overhead.py: the engine calls
// that the C ABI and the Python package wrap, called directly. The script runs the same
// work through libmodelc (bench_capi.c) and through Python, and reports the difference.
package capi_overhead

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine"
)

// model is the small model every door is timed on (override with MODELC_BENCH_MODEL).
func model(b *testing.B) string {
	if p := os.Getenv("MODELC_BENCH_MODEL"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "onnx", "cnn.onnx")
}

func BenchmarkInspect(b *testing.B) {
	path := model(b)
	for b.Loop() {
		if _, err := engine.Inspect(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectJSON adds what the C ABI does besides the call: the result as JSON.
func BenchmarkInspectJSON(b *testing.B) {
	path := model(b)
	for b.Loop() {
		info, err := engine.Inspect(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertBytes(b *testing.B) {
	data, err := os.ReadFile(model(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := engine.ConvertBytes(context.Background(), data, "", "onnx", engine.ConvertOptions{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBackends is the cheapest engine work behind an export (a small JSON report).
func BenchmarkBackends(b *testing.B) {
	for b.Loop() {
		_ = accel.Describe()
	}
}

func BenchmarkBackendsJSON(b *testing.B) {
	for b.Loop() {
		if _, err := json.Marshal(accel.Describe()); err != nil {
			b.Fatal(err)
		}
	}
}
