package compress

import (
	"fmt"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/opset"
)

// RequireOpset makes m's default-domain opset at least v: every pass that needs a newer
// opset (DequantizeLinear: 10, per axis: 13; DynamicQuantizeLinear: 11; int4 and
// block_size: 21; bfloat16 Cast: 13) goes through here before it adds its nodes, so a
// model never ends up declaring an opset its other nodes were not written for. The
// model's nodes are converted to opset v by the opset converter (Squeeze's axes attribute
// becoming an input at 13, ReduceMean's at 18, ...); a node the converter cannot express
// at v is an error naming it, and the pass fails.
func RequireOpset(m *ir.Model, v int64) error {
	from := m.OpsetVersion("")
	if from >= v {
		return nil
	}
	if err := opset.Convert(m, v); err != nil {
		return fmt.Errorf("this needs opset %d and the model is opset %d: %w", v, from, err)
	}
	return nil
}
