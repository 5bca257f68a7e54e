package engine

import (
	"fmt"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// CheckReport is what Check found (the JSON of `modelc check --json`).
type CheckReport struct {
	Path  string `json:"path"`
	Valid bool   `json:"valid"`
	// Schemas names the ONNX release whose operator schemas the model was checked against.
	Schemas  string           `json:"schemas"`
	Problems []schema.Problem `json:"problems"`
}

// Check reads the model at path and validates every node against the ONNX operator
// schemas of its opsets, as onnxruntime does when it loads a model. A model that breaks
// them is not an error of Check: the report says so (Valid false, with the problems).
// Weight-only formats have no nodes and are always valid.
func Check(path string) (*CheckReport, error) {
	m, _, err := Read(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	ps := schema.Problems(m)
	if ps == nil {
		ps = []schema.Problem{}
	}
	return &CheckReport{Path: path, Valid: len(ps) == 0, Schemas: "onnx " + schema.ONNXVersion(), Problems: ps}, nil
}

// checkModel readies a model for writing as ONNX: its nodes are put in topological order
// (onnx.checker requires it, and a pass may have appended nodes), and a model that breaks
// the ONNX operator schemas is refused with an error of the given kind that names each
// problem and says that file was not written.
func checkModel(m *ir.Model, kind ErrorKind, file string) error {
	if m.Graph == nil || len(m.Graph.Nodes) == 0 {
		return nil
	}
	_ = ir.SortNodes(m.Graph) // a graph that cannot be sorted fails the check below
	if err := schema.Check(m); err != nil {
		return &Error{Kind: kind, File: file, Err: fmt.Errorf("not written: %w", err)}
	}
	return nil
}
