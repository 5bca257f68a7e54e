package hf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// mapTensor renames t, permutes the Q/K rows of a Llama-family model and turns 1-D
// float tensors (norms, biases) into float32, as llama.cpp needs them. Transformed
// tensors are computed when the writer reaches them, so the conversion still streams.
func mapTensor(t *ir.Tensor, name string, a arch, cfg *config) (*ir.Tensor, error) {
	heads := int64(0)
	if a.permute {
		switch {
		case strings.HasSuffix(name, ".attn_q.weight"), strings.HasSuffix(name, ".attn_q.bias"):
			heads = cfg.NumHeads
		case strings.HasSuffix(name, ".attn_k.weight"), strings.HasSuffix(name, ".attn_k.bias"):
			heads = cfg.NumKVHeads
		}
	}
	toF32 := len(t.Shape) <= 1 && t.DType != ir.Float32 && (t.DType == ir.Float16 || t.DType == ir.BFloat16 || t.DType == ir.Float64)
	if heads == 0 && !toF32 {
		out := *t
		out.Name = name
		return &out, nil
	}
	if heads > 0 && (len(t.Shape) == 0 || t.Shape[0]%(2*heads) != 0) {
		return nil, fmt.Errorf("shape %v: rows are not a multiple of 2 × %d heads, cannot permute for rotary embeddings", t.Shape, heads)
	}
	src := t
	dtype := t.DType
	if toF32 {
		dtype = ir.Float32
	}
	esize := int64(src.DType.ElemBytes())
	if esize == 0 {
		return nil, fmt.Errorf("%v data cannot be permuted", src.DType)
	}
	rows, cols := int64(1), int64(1)
	if len(t.Shape) > 0 {
		rows = t.Shape[0]
		cols = max(ir.NumElements(t.Shape[1:]), 0)
	}
	return ir.NewComputedTensor(name, dtype, append([]int64(nil), t.Shape...), func(dst []byte) {
		in := src.Bytes()
		rowIn := cols * esize
		for r := int64(0); r < rows; r++ {
			sr := r
			if heads > 0 {
				sr = permutedRow(r, rows, heads)
			}
			row := in[sr*rowIn : (sr+1)*rowIn]
			if !toF32 {
				copy(dst[r*rowIn:], row)
				continue
			}
			out := dst[r*cols*4 : (r+1)*cols*4]
			for i := int64(0); i < cols; i++ {
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(elemF32(src.DType, row[i*esize:])))
			}
		}
	})
}

// permutedRow returns the source row of output row r under convert_hf_to_gguf.py's
// permute: rows reshaped to (heads, 2, rows/heads/2), axes 1 and 2 swapped, reshaped back.
// Output (h, i, j) — j the fastest — takes input (h, j, i).
func permutedRow(r, rows, heads int64) int64 {
	half := rows / heads / 2
	h, rem := r/(2*half), r%(2*half)
	i, j := rem/2, rem%2
	return h*2*half + j*half + i
}

func elemF32(d ir.DType, b []byte) float32 {
	switch d {
	case ir.Float16:
		return ir.Float16ToFloat32(binary.LittleEndian.Uint16(b))
	case ir.BFloat16:
		return ir.BFloat16ToFloat32(binary.LittleEndian.Uint16(b))
	case ir.Float64:
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}
