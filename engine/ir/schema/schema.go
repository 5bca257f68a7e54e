// Package schema holds the ONNX operator schemas of every opset — which attributes and
// inputs an op takes, and which element types — and the checker built on them. The table
// is generated from the `onnx` package by scripts/gen_onnx_schemas.py, so it follows new
// ONNX releases without hand edits.
package schema

//go:generate ../../../.venv/bin/python ../../../scripts/gen_onnx_schemas.py onnx_schemas.json.gz

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/modelc/modelc/engine/ir"
)

//go:embed onnx_schemas.json.gz
var schemasGz []byte

// Option says how many values a formal parameter takes.
type Option int

// The formal parameter options of ONNX's OpSchema.
const (
	Single   Option = 0 // exactly one, required
	Optional Option = 1 // zero or one ("" marks it omitted)
	Variadic Option = 2 // one or more (the last formal only)
)

// Formal is one declared input or output of an op.
type Formal struct {
	Name string
	// Type is a type parameter of the schema ("T", bound by Types) or a concrete type
	// string ("tensor(int64)").
	Type        string
	Option      Option
	Homogeneous bool // all values of a variadic formal share one type
	MinArity    int
}

// Attr is one attribute an op accepts.
type Attr struct {
	Name     string
	Type     ir.AttrType
	Required bool
}

// Schema is one version of one op: what it accepts from SinceVersion until the next
// version of the same op.
type Schema struct {
	Domain       string // "" for ai.onnx
	Name         string
	SinceVersion int64
	Deprecated   bool
	Inputs       []Formal
	Outputs      []Formal
	MinInputs    int
	MaxInputs    int
	MinOutputs   int
	MaxOutputs   int
	Attrs        map[string]Attr
	// Types maps each type parameter to the type strings it may take
	// ("tensor(float)", "seq(tensor(int64))", ...).
	Types map[string][]string
}

// Allows reports whether the type parameter (or concrete type string) typ admits the
// type string t.
func (s *Schema) Allows(typ, t string) bool {
	allowed, ok := s.Types[typ]
	if !ok {
		return typ == t
	}
	for _, a := range allowed {
		if a == t {
			return true
		}
	}
	return false
}

// Input is the formal parameter the node input at position i stands for (nil past the
// end); Output likewise for outputs.
func (s *Schema) Input(i int) *Formal  { return formalAt(s.Inputs, i) }
func (s *Schema) Output(i int) *Formal { return formalAt(s.Outputs, i) }

// formalAt is the formal parameter the value at position i stands for (the last formal
// repeats when it is variadic), or nil past the end.
func formalAt(fs []Formal, i int) *Formal {
	if i < len(fs) {
		return &fs[i]
	}
	if len(fs) > 0 && fs[len(fs)-1].Option == Variadic {
		return &fs[len(fs)-1]
	}
	return nil
}

type opKey struct{ domain, name string }

type table struct {
	onnxVersion string
	latest      map[string]int64    // the newest opset of each domain
	irVersions  map[int64]int64     // ai.onnx opset → lowest IR version it needs
	ops         map[opKey][]*Schema // every version, oldest first
}

var (
	loadOnce sync.Once
	loaded   *table
)

// tbl decodes the embedded table once. The table is built into the binary and checked by
// the tests: a decoding error is a build defect, so it panics.
func tbl() *table {
	loadOnce.Do(func() {
		t, err := decode(schemasGz)
		if err != nil {
			panic(fmt.Sprintf("schema: embedded ONNX schema table: %v", err))
		}
		loaded = t
	})
	return loaded
}

func decode(gz []byte) (*table, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	var doc struct {
		ONNXVersion string           `json:"onnx_version"`
		Domains     map[string]int64 `json:"domains"`
		IRVersions  map[string]int64 `json:"ir_versions"`
		Schemas     []struct {
			Domain     string              `json:"domain"`
			Name       string              `json:"name"`
			Since      int64               `json:"since"`
			Deprecated bool                `json:"deprecated"`
			Inputs     [][]any             `json:"inputs"`
			Outputs    [][]any             `json:"outputs"`
			MinInputs  int                 `json:"min_inputs"`
			MaxInputs  int                 `json:"max_inputs"`
			MinOutputs int                 `json:"min_outputs"`
			MaxOutputs int                 `json:"max_outputs"`
			Attrs      [][]any             `json:"attrs"`
			Types      map[string][]string `json:"types"`
		} `json:"schemas"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		return nil, err
	}
	t := &table{onnxVersion: doc.ONNXVersion, latest: doc.Domains, irVersions: map[int64]int64{}, ops: map[opKey][]*Schema{}}
	for k, v := range doc.IRVersions {
		opset, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, err
		}
		t.irVersions[opset] = v
	}
	formals := func(raw [][]any) ([]Formal, error) {
		out := make([]Formal, len(raw))
		for i, f := range raw {
			if len(f) != 5 {
				return nil, fmt.Errorf("formal parameter %v: want 5 fields", f)
			}
			name, _ := f[0].(string)
			typ, _ := f[1].(string)
			opt, _ := f[2].(float64)
			homog, _ := f[3].(bool)
			arity, _ := f[4].(float64)
			out[i] = Formal{Name: name, Type: typ, Option: Option(opt), Homogeneous: homog, MinArity: int(arity)}
		}
		return out, nil
	}
	for _, r := range doc.Schemas {
		s := &Schema{Domain: r.Domain, Name: r.Name, SinceVersion: r.Since, Deprecated: r.Deprecated,
			MinInputs: r.MinInputs, MaxInputs: r.MaxInputs, MinOutputs: r.MinOutputs, MaxOutputs: r.MaxOutputs,
			Attrs: map[string]Attr{}, Types: r.Types}
		if s.Inputs, err = formals(r.Inputs); err != nil {
			return nil, err
		}
		if s.Outputs, err = formals(r.Outputs); err != nil {
			return nil, err
		}
		for _, a := range r.Attrs {
			if len(a) != 3 {
				return nil, fmt.Errorf("%s attribute %v: want 3 fields", r.Name, a)
			}
			name, _ := a[0].(string)
			typ, _ := a[1].(float64)
			req, _ := a[2].(bool)
			s.Attrs[name] = Attr{Name: name, Type: ir.AttrType(typ), Required: req}
		}
		k := opKey{r.Domain, r.Name}
		t.ops[k] = append(t.ops[k], s)
	}
	for _, vs := range t.ops {
		sort.Slice(vs, func(i, j int) bool { return vs[i].SinceVersion < vs[j].SinceVersion })
	}
	return t, nil
}

// canonDomain maps the default domain's two spellings to "".
func canonDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// ONNXVersion is the release of the onnx package the table was generated from.
func ONNXVersion() string { return tbl().onnxVersion }

// KnownDomain reports whether the table has schemas for domain (ai.onnx, ai.onnx.ml, ...).
// Ops of other domains (com.microsoft, custom ops) are not checked.
func KnownDomain(domain string) bool {
	_, ok := tbl().latest[canonDomain(domain)]
	return ok
}

// LatestOpset is the newest opset of domain the table knows (0 for an unknown domain).
func LatestOpset(domain string) int64 { return tbl().latest[canonDomain(domain)] }

// MinIRVersion is the lowest IR version a model importing ai.onnx opset must declare
// (0 when the table does not say).
func MinIRVersion(opset int64) int64 { return tbl().irVersions[opset] }

// Lookup returns the schema of op in force at the given opset of its domain: the version
// with the highest SinceVersion ≤ opset. It returns nil when the op does not exist at
// that opset (unknown, or introduced later).
func Lookup(domain, op string, opset int64) *Schema {
	vs := tbl().ops[opKey{canonDomain(domain), op}]
	var found *Schema
	for _, s := range vs {
		if s.SinceVersion > opset {
			break
		}
		found = s
	}
	return found
}

// Versions lists the SinceVersion of every version of op, oldest first (nil when the op
// is unknown).
func Versions(domain, op string) []int64 {
	var out []int64
	for _, s := range tbl().ops[opKey{canonDomain(domain), op}] {
		out = append(out, s.SinceVersion)
	}
	return out
}

// TypeString is the ONNX spelling of a value type: "tensor(float)", "seq(tensor(int64))",
// "map(string,tensor(float))", "optional(tensor(float))" ("" when unknown).
func TypeString(t *ir.Type) string {
	if t == nil {
		return ""
	}
	switch t.Kind {
	case ir.TypeTensor, ir.TypeSparseTensor:
		name := ElemTypeName(t.ElemType)
		if name == "" {
			return ""
		}
		if t.Kind == ir.TypeSparseTensor {
			return "sparse_tensor(" + name + ")"
		}
		return "tensor(" + name + ")"
	case ir.TypeSequence:
		if e := TypeString(t.Elem); e != "" {
			return "seq(" + e + ")"
		}
	case ir.TypeOptional:
		if e := TypeString(t.Elem); e != "" {
			return "optional(" + e + ")"
		}
	case ir.TypeMap:
		if k, v := ElemTypeName(t.ElemType), TypeString(t.Elem); k != "" && v != "" {
			return "map(" + k + "," + v + ")"
		}
	}
	return ""
}

// TensorTypeString is TypeString of a tensor of dtype d.
func TensorTypeString(d ir.DType) string {
	if name := ElemTypeName(d); name != "" {
		return "tensor(" + name + ")"
	}
	return ""
}

// onnxTypeNames are ONNX's names of the element types, as type strings spell them.
var onnxTypeNames = map[ir.DType]string{
	ir.Float32: "float", ir.Uint8: "uint8", ir.Int8: "int8", ir.Uint16: "uint16", ir.Int16: "int16",
	ir.Int32: "int32", ir.Int64: "int64", ir.String: "string", ir.Bool: "bool", ir.Float16: "float16",
	ir.Float64: "double", ir.Uint32: "uint32", ir.Uint64: "uint64", ir.Complex64: "complex64",
	ir.Complex128: "complex128", ir.BFloat16: "bfloat16", ir.Float8E4M3FN: "float8e4m3fn",
	ir.Float8E4M3FNUZ: "float8e4m3fnuz", ir.Float8E5M2: "float8e5m2", ir.Float8E5M2FNUZ: "float8e5m2fnuz",
	ir.Uint4: "uint4", ir.Int4: "int4", ir.Float4E2M1: "float4e2m1", ir.Float8E8M0: "float8e8m0",
	ir.Uint2: "uint2", ir.Int2: "int2",
}

// ElemTypeName is ONNX's name of element type d ("float", "double", "int64"), or "" for a
// type ONNX type strings do not name.
func ElemTypeName(d ir.DType) string { return onnxTypeNames[d] }
