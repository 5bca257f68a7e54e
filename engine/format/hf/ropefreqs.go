package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// llamaRopeFreqs is LlamaModel.generate_extra_tensors: for a Llama 3.1-style
// rope_scaling (rope_type "llama3") the per-frequency scaling factors llama.cpp applies,
// as the F32 tensor rope_freqs.weight of head_dim/2 values. Each frequency
// f = 1 / theta^(2i/dim) with wavelength 2π/f keeps factor 1 below
// original_context / high_freq_factor, takes `factor` above original_context /
// low_freq_factor, and in between 1 / ((1 − s)/factor + s) with
// s = (original_context/wavelength − low) / (high − low). Float32 arithmetic, as the
// converter's torch computes it. Nil when there is no llama3 rope scaling.
func llamaRopeFreqs(cfg *config, raw []byte) (*ir.Tensor, error) {
	typ, _ := cfg.RopeScaling["rope_type"].(string)
	if strings.ToLower(typ) != "llama3" {
		return nil, nil
	}
	var extra struct {
		OrigMaxPos *float64 `json:"original_max_position_embeddings"`
	}
	if err := json.Unmarshal(raw, &extra); err != nil {
		return nil, err
	}
	num := func(key string, def float64) (float64, error) {
		v, ok := cfg.RopeScaling[key]
		if !ok || v == nil {
			return def, nil
		}
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("rope_scaling.%s is not a number", key)
		}
		return f, nil
	}
	factor, err := num("factor", 8)
	if err != nil {
		return nil, err
	}
	low, err := num("low_freq_factor", 1)
	if err != nil {
		return nil, err
	}
	high, err := num("high_freq_factor", 4)
	if err != nil {
		return nil, err
	}
	oldCtx := 8192.0
	if extra.OrigMaxPos != nil {
		oldCtx = *extra.OrigMaxPos
	}
	base := 10000.0
	if cfg.RopeTheta != nil {
		base = *cfg.RopeTheta
	}
	dim := cfg.HiddenSize / cfg.NumHeads
	if cfg.HeadDim > 0 {
		dim = cfg.HeadDim
	}
	if dim <= 0 || dim > 1<<16 {
		return nil, fmt.Errorf("implausible rotary dimension %d", dim)
	}
	lowWave, highWave := float32(oldCtx/low), float32(oldCtx/high)
	n := (dim + 1) / 2
	vals := make([]float32, n)
	for i := int64(0); i < n; i++ {
		freq := 1 / float32(math.Pow(float64(float32(base)), float64(float32(2*i)/float32(dim))))
		wave := float32(2*math.Pi) / freq
		switch {
		case wave < highWave:
			vals[i] = 1
		case wave > lowWave:
			vals[i] = float32(factor)
		default:
			s := (float32(oldCtx)/wave - float32(low)) / (float32(high) - float32(low))
			vals[i] = 1 / ((1-s)/float32(factor) + s)
		}
	}
	return ir.NewComputedTensor("rope_freqs.weight", ir.Float32, []int64{n}, func(dst []byte) {
		for i, v := range vals {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	})
}
