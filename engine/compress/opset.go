package compress

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// RequireOpset makes m's default-domain opset at least v: every pass that needs a newer
// opset (DequantizeLinear: 10, per axis: 13; DynamicQuantizeLinear: 11; int4 and
// block_size: 21; bfloat16 Cast: 13) goes
// through here, so a model never ends up declaring an opset its other nodes were not
// written for. Raising the opset is refused, naming the nodes, when the model holds an op
// whose signature changes between its opset and v (Squeeze's axes attribute becoming an
// input at 13, ...): onnxruntime would reject the file. Nothing is changed then.
//
// The opset converter (converting those nodes instead of refusing) plugs in here.
func RequireOpset(m *ir.Model, v int64) error {
	from := m.OpsetVersion("")
	if from == 0 {
		from = 1
	}
	if from >= v {
		return nil
	}
	if bad := opsetBlockers(m, from, v); len(bad) > 0 {
		return fmt.Errorf("this needs opset %d and the model is opset %d, but these nodes change form between the two and modelc does not convert them yet: %s; convert the model to opset %d first (e.g. onnx.version_converter.convert_version(model, %d)), or choose options that need no newer opset", v, from, strings.Join(bad, "; "), v, v)
	}
	setOpset(m, v)
	return nil
}

// opsetChange is a version at which an op's signature changed in a way old nodes do not
// survive, and the test of whether node n (written for an older opset) is affected.
type opsetChange struct {
	version int64
	what    string
	affects func(n *ir.Node) bool
}

func hasAttr(name string) func(n *ir.Node) bool {
	return func(n *ir.Node) bool { return n.Attr(name) != nil }
}

func always(*ir.Node) bool { return true }

// opsetChanges lists the ops whose old form an opset bump breaks.
var opsetChanges = func() map[string][]opsetChange {
	c := map[string][]opsetChange{
		"Squeeze":   {{13, "attribute axes became an input", hasAttr("axes")}},
		"Unsqueeze": {{13, "attribute axes became an input", hasAttr("axes")}},
		"ReduceSum": {{13, "attribute axes became an input", hasAttr("axes")}},
		"Split": {
			{13, "attribute split became an input", hasAttr("split")},
			{18, "attribute num_outputs is required without the split input", func(n *ir.Node) bool {
				return n.Attr("num_outputs") == nil && (len(n.Inputs) < 2 || n.Inputs[1] == "")
			}},
		},
		"Pad":      {{11, "attributes pads and value became inputs", always}},
		"Clip":     {{11, "attributes min and max became inputs", func(n *ir.Node) bool { return n.Attr("min") != nil || n.Attr("max") != nil }}},
		"Slice":    {{10, "attributes starts, ends and axes became inputs", always}},
		"TopK":     {{10, "attribute k became an input", always}},
		"Upsample": {{10, "Upsample is deprecated (Resize replaces it)", always}},
		"Resize":   {{11, "inputs roi and scales were reordered", always}},
		"Dropout":  {{12, "attribute ratio became an input", hasAttr("ratio")}},
	}
	for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		c[op] = []opsetChange{{18, "attribute axes became an input", hasAttr("axes")}}
	}
	return c
}()

// opsetBlockers names the nodes of m (all graphs) that raising the opset from from to to
// would break.
func opsetBlockers(m *ir.Model, from, to int64) []string {
	var bad []string
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" {
				continue
			}
			for _, c := range opsetChanges[n.OpType] {
				if from < c.version && c.version <= to && c.affects(n) {
					bad = append(bad, fmt.Sprintf("%s (%s: %s at opset %d)", NodeName(n), n.OpType, c.what, c.version))
				}
			}
		}
	})
	sort.Strings(bad)
	return bad
}

// setOpset raises the default-domain opset import to at least v (and the IR version to
// what that opset needs).
func setOpset(m *ir.Model, v int64) {
	found := false
	for i, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			found = true
			if o.Version < v {
				m.Opsets[i].Version = v
			}
		}
	}
	if !found {
		m.Opsets = append(m.Opsets, ir.OpsetImport{Version: v})
	}
	// IR version 10 came with opset 21 (int4, blocked quantization); 9 with 19; 8 with 14;
	// 7 with 13.
	need := int64(7)
	switch {
	case v >= 21:
		need = 10
	case v >= 19:
		need = 9
	case v >= 14:
		need = 8
	}
	if m.IRVersion < need {
		m.IRVersion = need
	}
}
