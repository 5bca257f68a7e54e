package hf

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBertTensorName(t *testing.T) {
	for hfName, want := range map[string]string{
		"embeddings.word_embeddings.weight":                 "token_embd.weight",
		"bert.embeddings.LayerNorm.gamma":                   "token_embd_norm.weight",
		"embeddings.token_type_embeddings.weight":           "token_types.weight",
		"encoder.layer.3.attention.self.key.bias":           "blk.3.attn_k.bias",
		"encoder.layer.0.attention.output.LayerNorm.weight": "blk.0.attn_output_norm.weight",
		"encoder.layer.1.output.LayerNorm.beta":             "blk.1.layer_output_norm.bias",
		"encoder.layer.1.intermediate.dense.weight":         "blk.1.ffn_up.weight",
		"encoder.layer.1.unknown.weight":                    "",
	} {
		got, skip := bertTensorName(hfName)
		assert.False(t, skip, hfName)
		assert.Equal(t, want, got, hfName)
	}
	for _, n := range []string{"embeddings.position_ids", "pooler.dense.weight", "cls.predictions.bias"} {
		_, skip := bertTensorName(n)
		assert.True(t, skip, n)
	}
	assert.Equal(t, []string{"[CLS]", "ing", "\u2581the"}, []string{phantom("[CLS]"), phantom("##ing"), phantom("the")})
}
