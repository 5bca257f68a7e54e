package engine

import (
	"sort"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// Info summarises a model: what `modelc info` prints.
type Info struct {
	Path           string            `json:"path"`
	Format         string            `json:"format"`
	IRVersion      int64             `json:"ir_version"`
	Opsets         map[string]int64  `json:"opsets"`
	Producer       Producer          `json:"producer"`
	Inputs         []ValueSummary    `json:"inputs"`
	Outputs        []ValueSummary    `json:"outputs"`
	OpHistogram    map[string]int    `json:"op_histogram"`
	NodeCount      int               `json:"node_count"`
	ParameterCount int64             `json:"parameter_count"`
	BytesPerDType  map[string]int64  `json:"bytes_per_dtype"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	// Valid says whether the graph passes the ONNX operator schemas (as `modelc check`;
	// absent for weight-only models), with the problems when it does not.
	Valid    *bool            `json:"valid,omitempty"`
	Problems []schema.Problem `json:"problems,omitempty"`
	// WeightsOnly: the file holds tensors and metadata but no graph (safetensors, GGUF,
	// PyTorch state dicts, NumPy archives); IRVersion, Opsets, Inputs, Outputs and the
	// op histogram then say nothing.
	WeightsOnly bool `json:"weights_only"`
	// TensorCount counts the initializers (the weights), TensorsPerDType by dtype.
	TensorCount     int            `json:"tensor_count"`
	TensorsPerDType map[string]int `json:"tensors_per_dtype"`
	// Tensors lists every initializer of the main graph, in the file's order.
	Tensors []TensorSummary `json:"tensors"`
	// MACs is the multiply-accumulate count, when asked for (modelc info --macs).
	MACs *MACs `json:"macs,omitempty"`
}

// TensorSummary describes one stored tensor.
type TensorSummary struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
}

// Producer names the tool that wrote the model.
type Producer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ValueSummary describes a graph input or output. Shape entries are an int for a fixed
// dimension, a string for a symbolic one and null for an unknown one (a negative
// dim_value, as some exporters write -1, is unknown, as onnxruntime reads it); Shape is
// null when even the rank is unknown.
type ValueSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []any  `json:"shape"`
}

// Inspect reads the model at path and summarises it.
func Inspect(path string) (*Info, error) {
	m, name, err := Read(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	info := Summarize(m)
	info.Path, info.Format = path, name
	return info, nil
}

// Summarize computes the Info of a model in memory. Parameters and bytes count every
// weight ir.Weights finds: initializers, sparse initializers and Constant nodes' values,
// in the main graph and in nested subgraphs (If, Loop, Scan bodies); function bodies
// are not counted.
func Summarize(m *ir.Model) *Info {
	info := &Info{
		IRVersion:     m.IRVersion,
		Opsets:        map[string]int64{},
		Producer:      Producer{m.ProducerName, m.ProducerVersion},
		OpHistogram:   map[string]int{},
		BytesPerDType: map[string]int64{},
		Inputs:        []ValueSummary{},
		Outputs:       []ValueSummary{},

		TensorsPerDType: map[string]int{},
		Tensors:         []TensorSummary{},
	}
	for _, o := range m.Opsets {
		info.Opsets[o.Domain] = o.Version
	}
	if len(m.Metadata) > 0 {
		info.Metadata = map[string]string{}
		for _, p := range m.Metadata {
			info.Metadata[p.Key] = p.Value
		}
	}
	initialized := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		initialized[t.Name] = true
	}
	for _, v := range m.Graph.Inputs {
		if !initialized[v.Name] { // older exporters list initializers as inputs too
			info.Inputs = append(info.Inputs, summarizeValue(v))
		}
	}
	for _, v := range m.Graph.Outputs {
		info.Outputs = append(info.Outputs, summarizeValue(v))
	}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			info.OpHistogram[OpKey(n)]++
			info.NodeCount++
		}
		for _, t := range g.Initializers {
			info.TensorsPerDType[t.DType.String()]++
			info.TensorCount++
		}
	})
	ir.Weights(m.Graph, func(w ir.Weight) {
		info.ParameterCount += w.Elements
		info.BytesPerDType[w.DType.String()] += w.Bytes
	})
	for _, t := range m.Graph.Initializers {
		shape := append([]int64{}, t.Shape...)
		info.Tensors = append(info.Tensors, TensorSummary{Name: t.Name, DType: t.DType.String(), Shape: shape, Bytes: t.ByteSize()})
	}
	info.WeightsOnly = m.IRVersion == 0 && info.NodeCount == 0 && len(m.Opsets) == 0
	if info.NodeCount > 0 {
		info.Problems = schema.Problems(m)
		valid := len(info.Problems) == 0
		info.Valid = &valid
	}
	return info
}

// LargestTensors returns the n largest tensors by bytes (ties in file order).
func (info *Info) LargestTensors(n int) []TensorSummary {
	ts := append([]TensorSummary(nil), info.Tensors...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Bytes > ts[j].Bytes })
	return ts[:min(n, len(ts))]
}

// OpKey names an op in histograms: the op type for the default ONNX domain, otherwise
// "domain:op_type".
func OpKey(n *ir.Node) string {
	if n.Domain == "" || n.Domain == "ai.onnx" {
		return n.OpType
	}
	return n.Domain + ":" + n.OpType
}

func summarizeValue(v *ir.ValueInfo) ValueSummary {
	s := ValueSummary{Name: v.Name, DType: "unknown"}
	if v.Type == nil {
		return s
	}
	switch v.Type.Kind {
	case ir.TypeTensor, ir.TypeSparseTensor:
		s.DType = v.Type.ElemType.String()
	case ir.TypeSequence:
		s.DType = "sequence"
	case ir.TypeMap:
		s.DType = "map"
	case ir.TypeOptional:
		s.DType = "optional"
	case ir.TypeOpaque:
		s.DType = "opaque"
	}
	if v.Type.Shape != nil {
		s.Shape = []any{}
		for _, d := range v.Type.Shape.Dims {
			switch {
			case d.HasValue && d.Value >= 0:
				s.Shape = append(s.Shape, d.Value)
			case d.Param != "":
				s.Shape = append(s.Shape, d.Param)
			default:
				s.Shape = append(s.Shape, nil)
			}
		}
	}
	return s
}

// SortedOps returns the histogram's op keys, most frequent first.
func (info *Info) SortedOps() []string {
	keys := make([]string, 0, len(info.OpHistogram))
	for k := range info.OpHistogram {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := info.OpHistogram[keys[i]], info.OpHistogram[keys[j]]
		return a > b || a == b && keys[i] < keys[j]
	})
	return keys
}
