// Package train is modelc's small training engine: it runs an ONNX graph (ir.Model)
// forward in float64 while recording a tape, runs the tape backward to get the gradients
// of the trainable initializers, and updates them with SGD or Adam. Distillation and
// accuracy recovery after compression (engine.Distill, compress --recover) use it.
//
// Every backward op is written by hand in this package (see ops_*.go): the graphs are
// ONNX graphs, whose ops (Gemm's transposes, grouped Conv, numpy broadcasting, fake-
// quantized DequantizeLinear, pruning masks) do not map one to one onto gorgonia's
// graph nodes, and a tape over the ONNX nodes keeps one forward for training and for
// the gradient checks. Values are float64 (products in float32 unless Net.Float64); work
// is split over threads in pieces that do not depend on the thread count, so a run gives
// the same bits on one thread or several. A step's buffers are recycled (arena.go).
package train

import "fmt"

// T is a dense float64 tensor, row-major.
type T struct {
	Shape []int
	D     []float64
}

// New returns a zero tensor of the shape.
func New(shape ...int) *T {
	return &T{Shape: append([]int(nil), shape...), D: make([]float64, numel(shape))}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *T) Len() int { return len(t.D) }

// Clone copies t.
func (t *T) Clone() *T {
	return &T{Shape: append([]int(nil), t.Shape...), D: append([]float64(nil), t.D...)}
}

// zerosLike returns a zero tensor of t's shape.
func zerosLike(t *T) *T { return New(t.Shape...) }

func (t *T) String() string { return fmt.Sprintf("%v", t.Shape) }

// rows returns rows b0..b1 of t along axis 0 as a new tensor.
func (t *T) rows(idx []int) *T {
	per := 1
	for _, d := range t.Shape[1:] {
		per *= d
	}
	out := &T{Shape: append([]int{len(idx)}, t.Shape[1:]...), D: make([]float64, len(idx)*per)}
	for i, r := range idx {
		copy(out.D[i*per:(i+1)*per], t.D[r*per:(r+1)*per])
	}
	return out
}

// Rows is rows for callers outside the package.
func (t *T) Rows(idx []int) *T { return t.rows(idx) }

// addInto adds src into dst (same length).
func addInto(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}

// strides of a row-major shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}
