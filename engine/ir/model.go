package ir

import (
	"errors"
	"io"
	"os"
)

// Model is a whole model: one main graph plus what ONNX keeps beside it. Weight-only
// formats (safetensors, GGUF, PyTorch state dicts, NumPy archives) produce a Model whose
// graph has initializers and no nodes.
type Model struct {
	IRVersion       int64
	Opsets          []OpsetImport
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Metadata        []StringPair
	// KV is typed metadata (GGUF key/values; see MetaKV). A reader that fills it also puts
	// the text of its scalar entries in Metadata, so string-only formats keep them.
	KV           []MetaKV
	Graph        *Graph
	Functions    []*Function
	TrainingInfo []*TrainingInfo
	// Extra holds encoded fields of the source format that modelc does not interpret
	// (for ONNX: device configurations); the same format's writer emits them unchanged.
	Extra []byte

	closers []io.Closer // memory maps and files the tensors' data aliases
}

// OpsetImport names an operator set and its version; the empty domain is ai.onnx.
type OpsetImport struct {
	Domain  string
	Version int64
}

// Graph is a computation graph: nodes in topological order, its inputs and outputs,
// and constant tensors (initializers).
type Graph struct {
	Name                   string
	DocString              string
	Nodes                  []*Node
	Inputs                 []*ValueInfo
	Outputs                []*ValueInfo
	ValueInfos             []*ValueInfo
	Initializers           []*Tensor
	SparseInitializers     []*SparseTensor
	QuantizationAnnotation []*TensorAnnotation
	Metadata               []StringPair
}

// Node is one operator application.
type Node struct {
	Name      string
	OpType    string
	Domain    string // "" is the default ONNX domain
	Overload  string
	Inputs    []string // "" marks an omitted optional input
	Outputs   []string
	Attrs     []*Attribute
	DocString string
	Metadata  []StringPair
	Extra     []byte // encoded fields not interpreted (device configurations)
}

// DisplayName is what messages call the node: its name, or, for a node without one, its
// op and first output ("Relu(x1)").
func (n *Node) DisplayName() string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 {
		return n.OpType + "(" + n.Outputs[0] + ")"
	}
	return n.OpType
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *Attribute {
	for _, a := range n.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrType says which value field of an Attribute is in use (ONNX AttributeType numbers).
type AttrType int32

// Attribute kinds.
const (
	AttrUndefined     AttrType = 0
	AttrFloat         AttrType = 1
	AttrInt           AttrType = 2
	AttrString        AttrType = 3
	AttrTensor        AttrType = 4
	AttrGraph         AttrType = 5
	AttrFloats        AttrType = 6
	AttrInts          AttrType = 7
	AttrStrings       AttrType = 8
	AttrTensors       AttrType = 9
	AttrGraphs        AttrType = 10
	AttrSparseTensor  AttrType = 11
	AttrSparseTensors AttrType = 12
	AttrTypeProto     AttrType = 13
	AttrTypeProtos    AttrType = 14
)

// Attribute is a typed, named node parameter. Only the field matching Type is used.
type Attribute struct {
	Name        string
	Type        AttrType
	RefAttrName string // in a function body: the caller's attribute this one stands for
	DocString   string

	Float         float32
	Int           int64
	String        []byte // ONNX strings are bytes, usually UTF-8
	Tensor        *Tensor
	Graph         *Graph
	SparseTensor  *SparseTensor
	TypeProto     *Type
	Floats        []float32
	Ints          []int64
	Strings       [][]byte
	Tensors       []*Tensor
	Graphs        []*Graph
	SparseTensors []*SparseTensor
	TypeProtos    []*Type
}

// SparseTensor is a tensor in coordinate form: Values at Indices (either [NNZ] linear
// indices or [NNZ, rank] coordinates) of a dense tensor of shape Dims.
type SparseTensor struct {
	Values  *Tensor
	Indices *Tensor
	Dims    []int64
}

// ValueInfo names a value and gives its type.
type ValueInfo struct {
	Name      string
	Type      *Type // nil when unknown
	DocString string
	Metadata  []StringPair
}

// TypeKind says what a Type describes.
type TypeKind int

// Type kinds (ONNX TypeProto's oneof).
const (
	TypeUnknown TypeKind = iota
	TypeTensor
	TypeSequence
	TypeMap
	TypeOptional
	TypeSparseTensor
	TypeOpaque
)

// Type is the type of a value: a tensor (element type and optional shape), or a
// sequence, map, optional or sparse tensor built from other types.
type Type struct {
	Kind       TypeKind
	Denotation string
	ElemType   DType  // tensor, sparse tensor; the key type of a map
	Shape      *Shape // tensor, sparse tensor; nil when the rank is unknown
	Elem       *Type  // sequence and optional element, map value
	// Opaque types.
	OpaqueDomain, OpaqueName string
}

// Shape is a tensor shape whose dimensions may be symbolic or unknown.
type Shape struct{ Dims []Dim }

// Dim is one dimension: a fixed size, a symbolic name, or unknown (neither set).
type Dim struct {
	Value      int64
	Param      string
	HasValue   bool
	Denotation string
}

// TensorType is a convenience constructor for a tensor type with a fixed shape.
func TensorType(dtype DType, shape ...int64) *Type {
	s := &Shape{Dims: make([]Dim, len(shape))}
	for i, d := range shape {
		s.Dims[i] = Dim{Value: d, HasValue: true}
	}
	return &Type{Kind: TypeTensor, ElemType: dtype, Shape: s}
}

// TensorAnnotation maps a tensor to the names of its quantization parameter tensors.
type TensorAnnotation struct {
	TensorName  string
	QuantParams []StringPair
}

// Function is a model-local function: a named subgraph that nodes can call by op type.
type Function struct {
	Name       string
	Domain     string
	Overload   string
	Inputs     []string
	Outputs    []string
	Attributes []string     // attribute names without defaults
	AttrProtos []*Attribute // attributes with default values
	Nodes      []*Node
	DocString  string
	Opsets     []OpsetImport
	ValueInfos []*ValueInfo
	Metadata   []StringPair
}

// TrainingInfo carries ONNX training graphs; modelc keeps them as they are.
type TrainingInfo struct {
	Initialization        *Graph
	Algorithm             *Graph
	InitializationBinding []StringPair
	UpdateBinding         []StringPair
}

// KeepAlive ties a resource (a memory map, an open file) to the model: tensors may alias
// it, and Close releases it.
func (m *Model) KeepAlive(c io.Closer) { m.closers = append(m.closers, c) }

// SourceFile records a file a model was read from that no memory map stands for (a
// sharded checkpoint's index): a reader passes it to KeepAlive so Sources lists it.
type SourceFile struct{ Info os.FileInfo }

// SourceInfo describes the file.
func (s SourceFile) SourceInfo() os.FileInfo { return s.Info }

// Close does nothing.
func (SourceFile) Close() error { return nil }

// Sources lists the files the model was read from (the model file, external data,
// shards, an index), as the readers opened them, so a writer can refuse to replace one.
func (m *Model) Sources() []os.FileInfo {
	var out []os.FileInfo
	for _, c := range m.closers {
		switch s := c.(type) {
		case interface{ SourceInfo() os.FileInfo }:
			if fi := s.SourceInfo(); fi != nil {
				out = append(out, fi)
			}
		case *Model:
			out = append(out, s.Sources()...)
		}
	}
	return out
}

// DropUnmodified tells the memory maps behind the model that the bytes b (tensor data)
// will not be needed again soon: their pages are released and re-read from the file if
// touched later. Only for data nobody has written to since it was read; see
// mmap.File.DropUnmodified. Writers call it as they stream a freshly read model out.
func (m *Model) DropUnmodified(b []byte) {
	for _, c := range m.closers {
		if d, ok := c.(interface{ DropUnmodified([]byte) }); ok {
			d.DropUnmodified(b)
		}
	}
}

// Close releases the memory maps behind the model's tensors. The tensors must not be
// used afterwards.
func (m *Model) Close() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c.Close())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// OpsetVersion returns the imported version of domain ("" or "ai.onnx" for the default
// domain), or 0 if it is not imported.
func (m *Model) OpsetVersion(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Opsets {
		d := o.Domain
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.Version
		}
	}
	return 0
}
