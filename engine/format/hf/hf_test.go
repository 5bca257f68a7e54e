package hf

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPermutedRow checks the row gather against convert_hf_to_gguf.py's permute written
// out for 2 heads of 6 rows: reshape(2, 2, 3).swapaxes(1, 2) lists, per head, rows
// 0 3 1 4 2 5.
func TestPermutedRow(t *testing.T) {
	var got []int64
	for r := int64(0); r < 12; r++ {
		got = append(got, permutedRow(r, 12, 2))
	}
	assert.Equal(t, []int64{0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}, got)
}

func TestGGUFNames(t *testing.T) {
	for hfName, want := range map[string]string{
		"model.embed_tokens.weight":                      "token_embd.weight",
		"model.layers.12.self_attn.k_proj.weight":        "blk.12.attn_k.weight",
		"model.layers.0.mlp.down_proj.weight":            "blk.0.ffn_down.weight",
		"model.layers.3.post_attention_layernorm.weight": "blk.3.ffn_norm.weight",
		"lm_head.weight":                                 "output.weight",
		"model.layers.3.self_attn.unknown_thing.weight":  "",
	} {
		got, skip := gguFName(hfName)
		assert.False(t, skip)
		assert.Equal(t, want, got, hfName)
	}
	_, skip := gguFName("model.layers.0.self_attn.rotary_emb.inv_freq")
	assert.True(t, skip)
}
