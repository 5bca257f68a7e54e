package hf

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNamingMatchesGGUFPy checks the naming heuristics against gguf-py's own answers:
// testdata/naming.json was written by gguf-py 0.19.0 (the package llama.cpp's
// convert_hf_to_gguf.py imports; gguf-py/gguf/metadata.py and utility.py) with
// Metadata.get_model_id_components, Metadata.id_to_title and gguf.size_label on the ids,
// parameter counts and strings listed there (null is Python's None).
func TestNamingMatchesGGUFPy(t *testing.T) {
	raw, err := os.ReadFile("testdata/naming.json")
	require.NoError(t, err)
	var golden struct {
		Components []struct {
			ID    string    `json:"id"`
			Total int64     `json:"total"`
			Want  []*string `json:"want"`
		} `json:"components"`
		SizeLabels []struct {
			N    int64  `json:"n"`
			Want string `json:"want"`
		} `json:"size_labels"`
		Titles []struct {
			In   string `json:"in"`
			Want string `json:"want"`
		} `json:"titles"`
	}
	require.NoError(t, json.Unmarshal(raw, &golden))
	require.NotEmpty(t, golden.Components)
	py := func(o opt) *string {
		if !o.ok {
			return nil
		}
		return &o.s
	}
	for _, c := range golden.Components {
		got := modelIDComponents(c.ID, c.Total)
		assert.Equal(t, c.Want, []*string{py(got.fullName), py(got.org), py(got.basename), py(got.finetune), py(got.version), py(got.sizeLabel)},
			"%q with %d parameters", c.ID, c.Total)
	}
	for _, c := range golden.SizeLabels {
		assert.Equal(t, c.Want, weightCountNotation(c.N), "%d", c.N)
	}
	for _, c := range golden.Titles {
		assert.Equal(t, c.Want, idToTitle(c.In), c.In)
	}
}
