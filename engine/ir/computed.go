package ir

import "fmt"

// NewComputedTensor makes a tensor whose packed bytes are computed when first needed,
// by fill(dst) writing exactly ByteSize bytes into dst. Readers use it where the stored
// bytes must be transformed (the rotary row permutation of a Hugging Face → GGUF
// conversion, a dequantization for a format that cannot hold block types): a streaming
// writer calls FillBytes tensor by tensor and so never holds more than one of them,
// while Bytes, Dense and Float32s compute the data once and keep it.
//
// fill must not fail: the reader checks everything fill relies on (sizes, offsets)
// before it makes the tensor.
func NewComputedTensor(name string, dtype DType, shape []int64, fill func(dst []byte)) (*Tensor, error) {
	t := &Tensor{Name: name, DType: dtype, Shape: shape, fill: fill}
	if dtype == String {
		return nil, fmt.Errorf("tensor %q: string tensors cannot be computed", name)
	}
	n := t.NumElements()
	if n < 0 {
		return nil, fmt.Errorf("tensor %q: invalid shape %v", name, shape)
	}
	if _, ok := dtype.ByteSize(n); !ok {
		return nil, fmt.Errorf("tensor %q: dtype %v cannot hold %d elements", name, dtype, n)
	}
	return t, nil
}

// Computed reports whether t's data is computed on demand and not yet held.
func (t *Tensor) Computed() bool { return t.data == nil && t.fill != nil }

// FillBytes writes t's packed bytes into dst (len ByteSize) without keeping them in t: the
// way a streaming writer reads a computed tensor. For other tensors it copies Bytes.
func (t *Tensor) FillBytes(dst []byte) {
	if t.Computed() {
		t.fill(dst)
		return
	}
	copy(dst, t.data)
}

func (t *Tensor) computedSize() int64 {
	size, _ := t.DType.ByteSize(t.NumElements())
	return size
}

// materialize computes a computed tensor's data and keeps it.
func (t *Tensor) materialize() {
	if t.Computed() {
		data := make([]byte, t.computedSize())
		t.fill(data)
		t.data, t.fill = data, nil
	}
}
