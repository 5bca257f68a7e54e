package torch

// TorchScript archives (torch.jit.save): <archive>/data.pkl holds the module tree, whose
// __torch__.* classes the restricted unpickler builds as plain data (never imported,
// never run); <archive>/constants.pkl the tensors the code refers to as CONSTANTS.cN,
// with their storages in <archive>/constants/; <archive>/code/ the TorchScript source
// of every class. The weights are every tensor attribute of the tree, by dotted name.
// The graph is read from the code of a traced module (tsgraph.go); when the code is
// outside the traced subset (a scripted module's control flow, an op with no mapping)
// the model is weights-only and says why in its metadata, and writing it to a graph
// format fails with that reason (GraphError).

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// Metadata keys a TorchScript model carries.
const (
	MetaModules    = "torchscript.modules"     // the module tree, one line per module
	MetaGraphError = "torchscript.graph_error" // why no graph was read
)

// DetectScriptHead recognises a TorchScript archive by its first zip entry, for a model
// held in memory: torch.jit.save writes the storages (<archive>/data/0) before data.pkl,
// modelc writes <archive>/code/ first; a state dict starts with data.pkl.
func DetectScriptHead(head []byte) bool {
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	n := int(binary.LittleEndian.Uint16(head[26:]))
	if n > len(head)-30 {
		return false
	}
	parts := strings.SplitN(string(head[30:30+n]), "/", 3)
	return len(parts) == 3 && (parts[1] == "code" || parts[1] == "data" || parts[1] == "constants")
}

// DetectScript recognises a TorchScript archive by its entries (code/ or constants.pkl
// beside data.pkl); it reads the zip's directory only.
func DetectScript(p string) bool {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return false
	}
	defer zr.Close()
	hasData, hasCode := false, false
	for _, f := range zr.File {
		parts := strings.SplitN(f.Name, "/", 3)
		if len(parts) < 2 {
			continue
		}
		switch {
		case len(parts) == 2 && parts[1] == "data.pkl":
			hasData = true
		case len(parts) == 2 && parts[1] == "constants.pkl", len(parts) == 3 && parts[1] == "code":
			hasCode = true
		}
	}
	return hasData && hasCode
}

// ReadScript reads a TorchScript archive: its weights, module tree and (for a traced
// module) its graph.
func ReadScript(p string) (*ir.Model, error) {
	mf, err := mmap.Open(p)
	if err != nil {
		return nil, ir.IOError(p, err)
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))}}
	m.KeepAlive(mf)
	if err := decodeScript(m, mf.Data, p); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ReadScriptBytes reads a TorchScript archive held in memory.
func ReadScriptBytes(data []byte, name string) (*ir.Model, error) {
	m := &ir.Model{Graph: &ir.Graph{}}
	if err := decodeScript(m, data, name); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeScript(m *ir.Model, data []byte, file string) error {
	a, root, err := decode(m, data, file)
	if err != nil {
		return err
	}
	if !a.isScript() {
		return ir.Errorf(ir.KindCorrupt, file, "not a TorchScript archive (no code/ or constants.pkl): a state dict, read it as a PyTorch checkpoint")
	}
	m.ProducerName = "pytorch (torch.jit.save)"
	obj, ok := root.(*pyObject)
	if !ok {
		return ir.Errorf(ir.KindCorrupt, file, "%sdata.pkl holds a %s, not a TorchScript module", a.prefix, typeName(root))
	}
	m.Metadata = append(m.Metadata, ir.StringPair{Key: MetaModules, Value: moduleTree(obj)})
	var consts *tsList
	if _, ok := a.entries[a.prefix+"constants.pkl"]; ok {
		cv, cts, err := a.load("constants.pkl", "constants/", "CONSTANTS")
		if err != nil {
			return err
		}
		consts, err = constList(cv, cts)
		if err != nil {
			return ir.Errorf(ir.KindCorrupt, file, "%sconstants.pkl: %v", a.prefix, err)
		}
	}
	gerr := buildScriptGraph(a, m, obj, consts)
	if gerr != nil {
		var te *tsErr
		if !errors.As(gerr, &te) {
			return gerr // a corrupt archive, not an unsupported graph
		}
		m.Metadata = append(m.Metadata, ir.StringPair{Key: MetaGraphError, Value: gerr.Error()})
	}
	return a.restoreNames(m)
}

// restoreNames renames the weights of an archive modelc wrote back to the names its
// extra/modelc.names.json records (attribute → original tensor name).
func (a *archive) restoreNames(m *ir.Model) error {
	f, ok := a.entries[a.prefix+scriptNamesEntry]
	if !ok {
		return nil
	}
	if f.UncompressedSize64 > 64<<20 {
		return ir.Errorf(ir.KindCorrupt, a.file, "%s%s is %d bytes", a.prefix, scriptNamesEntry, f.UncompressedSize64)
	}
	data, err := a.entry(f)
	if err != nil {
		return err
	}
	var names map[string]string
	if err := json.Unmarshal(data, &names); err != nil {
		return ir.Errorf(ir.KindCorrupt, a.file, "%s%s: %v", a.prefix, scriptNamesEntry, err)
	}
	taken := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		taken[t.Name] = true
	}
	for _, v := range append(append([]*ir.ValueInfo{}, m.Graph.Inputs...), m.Graph.Outputs...) {
		taken[v.Name] = true
	}
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			taken[o] = true
		}
	}
	rename := map[string]string{}
	for _, t := range m.Graph.Initializers {
		if n, ok := names[t.Name]; ok && n != "" && !taken[n] {
			rename[t.Name] = n
			taken[n] = true
		}
	}
	if len(rename) == 0 {
		return nil
	}
	for _, t := range m.Graph.Initializers {
		if n, ok := rename[t.Name]; ok {
			t.Name = n
		}
	}
	for _, n := range m.Graph.Nodes {
		for i, in := range n.Inputs {
			if r, ok := rename[in]; ok {
				n.Inputs[i] = r
			}
		}
	}
	return nil
}

// constList turns constants.pkl's tuple into interpreter values; tensors become the
// initializers load named CONSTANTS.<i>, added to no graph until used.
func constList(v any, ts []*ir.Tensor) (*tsList, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("holds a %s, not a tuple", typeName(v))
	}
	byName := map[string]*ir.Tensor{}
	for _, x := range ts {
		byName[x.Name] = x
	}
	l := &tsList{tuple: true}
	for i, it := range t {
		switch x := it.(type) {
		case *tensorRef:
			n := fmt.Sprintf("CONSTANTS.%d", i)
			tt := byName[n]
			if tt == nil {
				return nil, fmt.Errorf("constant %d was not read", i)
			}
			l.items = append(l.items, &constTensor{tt})
		case int64, float64, bool, string, nil:
			l.items = append(l.items, x)
		default:
			l.items = append(l.items, nil)
		}
	}
	return l, nil
}

// constTensor is a tensor of constants.pkl, added to the graph when the code uses it.
type constTensor struct{ t *ir.Tensor }

// moduleTree lists the modules of the tree, one per line: dotted path, class, and the
// tensors it holds directly with their shapes.
func moduleTree(root *pyObject) string {
	var lines []string
	var walk func(o *pyObject, p string, depth int)
	seen := map[*pyObject]bool{}
	walk = func(o *pyObject, p string, depth int) {
		if seen[o] || depth > maxDepth || len(lines) > 100000 {
			return
		}
		seen[o] = true
		defer delete(seen, o)
		name := p
		if name == "" {
			name = "(root)"
		}
		cls := strings.TrimPrefix(o.class, "__torch__.")
		// ___torch_mangle_N qualifiers say nothing to a reader
		parts := strings.Split(cls, ".")
		var keep []string
		for _, s := range parts {
			if !strings.HasPrefix(s, "___torch_mangle_") {
				keep = append(keep, s)
			}
		}
		cls = strings.Join(keep, ".")
		var ts []string
		var subs []string
		var subObjs []*pyObject
		if d, ok := o.state.(*pyDict); ok {
			for i, k := range d.keys {
				ks, _ := k.(string)
				switch v := d.vals[i].(type) {
				case *tensorRef:
					ts = append(ts, fmt.Sprintf("%s%v", ks, v.shape))
				case *pyObject:
					subs = append(subs, ks)
					subObjs = append(subObjs, v)
				}
			}
		}
		line := strings.Repeat("  ", depth) + name + ": " + cls
		if len(ts) > 0 {
			line += "  " + strings.Join(ts, " ")
		}
		lines = append(lines, line)
		for i, s := range subs {
			sp := s
			if p != "" {
				sp = p + "." + s
			}
			walk(subObjs[i], sp, depth+1)
		}
	}
	walk(root, "", 0)
	return strings.Join(lines, "\n")
}

// GraphError returns why a model read from TorchScript has no graph (nil if it has one
// or is not from TorchScript): writers of graph formats refuse such a model with it.
func GraphError(m *ir.Model) error {
	for _, p := range m.Metadata {
		if p.Key == MetaGraphError && len(m.Graph.Nodes) == 0 {
			return &ir.Error{Kind: ir.KindUnsupported, Err: fmt.Errorf("the TorchScript module's graph could not be read, only its weights: %s", p.Value)}
		}
	}
	return nil
}

var _ = sort.Strings
