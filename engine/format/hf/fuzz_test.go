package hf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// FuzzRead feeds arbitrary config.json and tokenizer.json to the folder reader (the
// weight files have their own readers and fuzz targets; a fixed tiny model stands in):
// a model or a classified error, never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4}`),
		[]byte(`{"model":{"type":"BPE","vocab":{"a":0,"<0x0A>":1},"merges":["a a"],"byte_fallback":true},"added_tokens":[{"id":3,"content":"<s>","special":true}]}`))
	f.Add([]byte(`{"architectures":["Qwen2ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2}`),
		[]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a","a"]]}}`))
	f.Add([]byte(`{"architectures":["BertModel"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":3,"type_vocab_size":2,"layer_norm_eps":1e-12}`),
		[]byte(`{"model":{"type":"WordPiece","vocab":{"[CLS]":0,"##a":1}},"added_tokens":[{"id":0,"content":"[CLS]","special":true}],"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]"}},{"Sequence":{"id":"A"}}]}}`))
	f.Add([]byte(`{"architectures":["Gemma2ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"head_dim":4,"rms_norm_eps":1e-6,"attn_logit_softcapping":50,"final_logit_softcapping":30,"sliding_window":4}`), []byte(`{}`))
	f.Add([]byte(`{"architectures":["Phi3ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rms_norm_eps":1e-5,"rope_theta":1e4,"original_max_position_embeddings":4,"max_position_embeddings":16,"rope_scaling":{"type":"longrope","long_factor":[1,2],"short_factor":[1,1]}}`), []byte(`{}`))
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rope_scaling":{"rope_type":"llama3","factor":8}}`), []byte(`{}`))
	// the naming heuristics and SpecialVocab's post_processor reading
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"_name_or_path":"org/M-7b1-chat-v2","sep_token_id":1}`),
		[]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1}},"added_tokens":[{"id":1,"content":"b"}],"post_processor":{"type":"Sequence","processors":[{"type":"RobertaProcessing","cls":["b",1]},`+
			`{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"b"}},{"Sequence":{"id":"A"}},{"SpecialToken":{"id":"a"}}],"pair":[{"SpecialToken":{"id":"b"}},{"Sequence":{"id":"A"}},{"SpecialToken":{"id":"b"}},{"SpecialToken":{"id":"a"}},{"Sequence":{"id":"B"}}]}]}}`))
	weights := func(string) (*ir.Model, error) {
		q, _ := ir.NewTensor("model.layers.0.self_attn.q_proj.weight", ir.Float32, []int64{8, 2}, make([]byte, 64))
		n, _ := ir.NewTensor("model.norm.weight", ir.Float16, []int64{8}, make([]byte, 16))
		return &ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{q, n}}}, nil
	}
	f.Fuzz(func(t *testing.T, cfg, tok []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), tok, 0o644)
		os.WriteFile(filepath.Join(dir, "model.safetensors"), nil, 0o644)
		m, err := Read(dir, weights)
		if err != nil {
			if k := ir.KindOf(err); k == ir.KindInternal {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		for _, tn := range m.Graph.Initializers {
			tn.Bytes() // computed tensors (permuted, widened) must compute without a panic
		}
	})
}
