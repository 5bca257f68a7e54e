// Package tf reads TensorFlow and Keras models: Keras 3 `.keras` archives and legacy
// HDF5 `.h5` models become an ONNX-semantics graph (channels-last tensors converted to
// channels-first once, where a convolution first needs them, and back once where a
// layout-sensitive layer or the output needs them), and TensorFlow checkpoint bundles
// (variables.index + data shards) become weights.
package tf

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// DetectKeras recognises a Keras 3 archive (a zip whose first member is metadata.json
// or config.json) or an HDF5 file.
func DetectKeras(head []byte) bool {
	if bytes.HasPrefix(head, []byte(hdf5Magic)) {
		return true
	}
	if len(head) < 30 || string(head[:4]) != "PK\x03\x04" {
		return false
	}
	n := int(head[26]) | int(head[27])<<8
	if 30+n > len(head) {
		return false
	}
	name := string(head[30 : 30+n])
	return name == "metadata.json" || name == "config.json"
}

// maxConfig bounds config.json and metadata.json.
const maxConfig = 256 << 20

// ReadKeras reads a .keras archive or a legacy .h5 Keras model.
func ReadKeras(path string) (*ir.Model, error) {
	mf, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	m, err := ParseKeras(mf.Data, path)
	if err != nil {
		mf.Close()
		return nil, err
	}
	m.KeepAlive(mf)
	return m, nil
}

// ParseKeras decodes a Keras model held in memory; its tensors may alias data.
func ParseKeras(data []byte, name string) (*ir.Model, error) {
	if bytes.HasPrefix(data, []byte(hdf5Magic)) {
		return parseLegacyH5(data, name)
	}
	return parseKerasZip(data, name)
}

func parseKerasZip(data []byte, name string) (m *ir.Model, err error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, name, "not a .keras archive: %v", err)
	}
	var cfgFile, weightsFile *zip.File
	for _, f := range zr.File {
		switch f.Name {
		case "config.json":
			cfgFile = f
		case "model.weights.h5":
			weightsFile = f
		case "model.weights.npz":
			// Keras 3 (saving_lib, weights_format="npz") stores each layer's variables
			// as a pickled dict in an object-dtype .npy member; Keras' own loader
			// refuses those (np.load with allow_pickle=False), and modelc runs no pickle.
			return nil, ir.Errorf(ir.KindUnsupported, name, ".keras archive with model.weights.npz: Keras writes its weights as pickled Python objects, which neither Keras' loader nor modelc reads; save with the default weights_format=\"h5\"")
		}
	}
	if cfgFile == nil || weightsFile == nil {
		return nil, ir.Errorf(ir.KindCorrupt, name, ".keras archive without config.json and model.weights.h5")
	}
	cfg, err := zipMember(data, cfgFile, name)
	if err != nil {
		return nil, err
	}
	wdata, err := zipMember(data, weightsFile, name)
	if err != nil {
		return nil, err
	}
	f, err := openH5(wdata, name+":model.weights.h5")
	if err != nil {
		return nil, err
	}
	defer catchH5(&err, name+":model.weights.h5")
	src := &kerasWeights{root: f.rootNode()}
	return buildKeras(cfg, src, name)
}

// zipMember returns a member's bytes: aliasing data when stored, inflated (within the
// declared size) when deflated.
func zipMember(data []byte, f *zip.File, name string) ([]byte, error) {
	if f.UncompressedSize64 > 1<<40 {
		return nil, ir.Errorf(ir.KindCorrupt, name, "%s: declared size %d", f.Name, f.UncompressedSize64)
	}
	off, err := f.DataOffset()
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, name, "%s: %v", f.Name, err)
	}
	if f.Method == zip.Store {
		if off < 0 || uint64(off)+f.CompressedSize64 > uint64(len(data)) || f.CompressedSize64 != f.UncompressedSize64 {
			return nil, ir.Errorf(ir.KindCorrupt, name, "%s: stored member past the end of the archive", f.Name)
		}
		return data[off : uint64(off)+f.CompressedSize64], nil
	}
	if f.Method != zip.Deflate {
		return nil, ir.Errorf(ir.KindUnsupported, name, "%s: zip method %d", f.Name, f.Method)
	}
	if f.CompressedSize64 > uint64(len(data)) {
		return nil, ir.Errorf(ir.KindCorrupt, name, "%s: compressed size past the end of the archive", f.Name)
	}
	buf, err := ir.AllocBytes(int64(f.UncompressedSize64), name, f.Name, "inflated zip member")
	if err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, name, "%s: %v", f.Name, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, name, "%s: %v", f.Name, err)
	}
	return buf, nil
}

func parseLegacyH5(data []byte, name string) (m *ir.Model, err error) {
	f, err := openH5(data, name)
	if err != nil {
		return nil, err
	}
	defer catchH5(&err, name)
	root := f.rootNode()
	cfg, _ := root.obj.attr("model_config").(string)
	if cfg == "" {
		if root.child("layers") != nil || root.child("vars") != nil {
			return nil, ir.Errorf(ir.KindUnsupported, name, "a Keras weights file (.weights.h5) has no model configuration: convert the .keras archive instead")
		}
		return nil, ir.Errorf(ir.KindCorrupt, name, "HDF5 file without a Keras model_config attribute")
	}
	weights := root.child("model_weights")
	if weights == nil {
		weights = root // save_weights-style layout
	}
	return buildKeras([]byte(cfg), &legacyWeights{root: weights}, name)
}

// weightSource gives a layer's weights in the order of layer.weights.
type weightSource interface {
	weights(layer, class string) ([]*ir.Tensor, error)
}

// kerasWeights reads model.weights.h5 of a .keras archive. Keras 3 stores a model's
// layers not by their names but by their class names in snake case, numbered in the
// order of model.layers ("conv2d", "conv2d_1", ...): paths maps layer names to those.
type kerasWeights struct {
	root  *h5Node
	paths map[string]string
}

var (
	snake1  = regexp.MustCompile(`(.)([A-Z][a-z]+)`)
	snake2  = regexp.MustCompile(`([a-z])([A-Z])`)
	nonWord = regexp.MustCompile(`\W+`)
)

// snakeCase is keras.src.utils.naming.to_snake_case.
func snakeCase(name string) string {
	name = nonWord.ReplaceAllString(name, "")
	name = snake1.ReplaceAllString(name, "${1}_${2}")
	name = snake2.ReplaceAllString(name, "${1}_${2}")
	return strings.ToLower(name)
}

func (k *kerasWeights) index(layers []kerasObj) {
	k.paths = map[string]string{}
	used := map[string]int{}
	for _, l := range layers {
		if _, seen := k.paths[l.Name]; seen {
			continue
		}
		name := snakeCase(l.ClassName)
		if n, ok := used[name]; ok {
			used[name] = n + 1
			name = fmt.Sprintf("%s_%d", name, n+1)
		} else {
			used[name] = 0
		}
		k.paths[l.Name] = name
	}
}

// subLayers lists, per class, the sub-layers whose variables follow the layer's own in
// layer.weights; other classes take their children in name order.
var subLayers = map[string][]string{
	"MultiHeadAttention": {"query_dense", "key_dense", "value_dense", "output_dense"},
}

func (k *kerasWeights) weights(layer, class string) ([]*ir.Tensor, error) {
	path, ok := k.paths[layer]
	if !ok {
		path = layer
	}
	n := k.root.lookup("layers/" + path)
	if n == nil {
		return nil, nil
	}
	var out []*ir.Tensor
	var walk func(n *h5Node, order []string, depth int)
	walk = func(n *h5Node, order []string, depth int) {
		if depth > 8 {
			h5fail("%s: nested too deep", n.path)
		}
		if vars := n.child("vars"); vars != nil {
			links := vars.obj.links()
			sort.Slice(links, func(i, j int) bool {
				a, _ := strconv.Atoi(links[i].Name)
				b, _ := strconv.Atoi(links[j].Name)
				return a < b
			})
			for _, l := range links {
				o := n.f.object(l.Addr)
				if !o.isDataset() {
					continue
				}
				d := o.dataset()
				t, err := ir.NewTensor(strings.TrimPrefix(vars.path, "/")+"/"+l.Name, d.DType, d.Shape, d.Data)
				if err != nil {
					h5fail("%v", err)
				}
				out = append(out, t)
			}
		}
		names := order
		if names == nil {
			for _, l := range n.obj.links() {
				if l.Name != "vars" {
					names = append(names, l.Name)
				}
			}
		}
		for _, c := range names {
			if ch := n.child(c); ch != nil && !ch.obj.isDataset() {
				walk(ch, nil, depth+1)
			}
		}
	}
	walk(n, subLayers[class], 0)
	return out, nil
}

type legacyWeights struct{ root *h5Node }

func (k *legacyWeights) weights(layer, class string) ([]*ir.Tensor, error) {
	g := k.root.child(layer)
	if g == nil {
		return nil, nil
	}
	var names []string
	switch v := g.obj.attr("weight_names").(type) {
	case []string:
		names = v
	case string:
		names = []string{v}
	}
	var out []*ir.Tensor
	for _, wn := range names {
		d := g.lookup(wn)
		if d == nil || !d.obj.isDataset() {
			return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q: weight %q listed but missing", layer, wn)
		}
		ds := d.obj.dataset()
		t, err := ir.NewTensor(layer+"/"+wn, ds.DType, ds.Shape, ds.Data)
		if err != nil {
			return nil, ir.Errorf(ir.KindCorrupt, "", "%v", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// kerasObj is a serialised Keras object: {"class_name", "config", ...}.
type kerasObj struct {
	ClassName    string          `json:"class_name"`
	Config       json.RawMessage `json:"config"`
	Name         string          `json:"name"`
	InboundNodes json.RawMessage `json:"inbound_nodes"`
	BuildConfig  json.RawMessage `json:"build_config"`
}

type modelConfig struct {
	Name         string          `json:"name"`
	Layers       []kerasObj      `json:"layers"`
	InputLayers  json.RawMessage `json:"input_layers"`
	OutputLayers json.RawMessage `json:"output_layers"`
}

// buildKeras turns a model config and its weights into a graph.
func buildKeras(cfgJSON []byte, src weightSource, file string) (*ir.Model, error) {
	var top kerasObj
	if err := json.Unmarshal(cfgJSON, &top); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, file, "model config: %v", err)
	}
	var mc modelConfig
	if err := json.Unmarshal(top.Config, &mc); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, file, "model config: %v", err)
	}
	for i := range mc.Layers {
		l := &mc.Layers[i]
		if l.Name == "" {
			var c struct {
				Name string `json:"name"`
			}
			json.Unmarshal(l.Config, &c)
			l.Name = c.Name
		}
	}
	if kw, ok := src.(*kerasWeights); ok {
		kw.index(mc.Layers)
	}
	b := newBuilder(file, src)
	var err error
	switch top.ClassName {
	case "Sequential":
		err = b.sequential(&mc)
	case "Functional", "Model":
		err = b.functional(&mc)
	default:
		return nil, ir.Errorf(ir.KindUnsupported, file, "Keras model class %q: only Sequential and Functional models are supported", top.ClassName)
	}
	if err != nil {
		if e, ok := err.(*ir.Error); ok && e.File == "" {
			e.File = file
		}
		return nil, err
	}
	name := mc.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	b.g.Name = name
	m := &ir.Model{
		IRVersion:    8,
		Opsets:       []ir.OpsetImport{{Version: 17}},
		ProducerName: "modelc (keras)",
		Graph:        b.g,
	}
	return m, nil
}

// tensorRef is keras_history: which layer call made a tensor.
type tensorRef struct {
	layer       string
	node, index int
}

// parseRefs collects the Keras tensors in a call's arguments, in order (Keras 3 form:
// {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}).
func parseRefs(v any, out *[]tensorRef) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			parseRefs(e, out)
		}
	case map[string]any:
		if x["class_name"] == "__keras_tensor__" {
			if c, ok := x["config"].(map[string]any); ok {
				if h, ok := c["keras_history"].([]any); ok && len(h) == 3 {
					name, _ := h[0].(string)
					n, _ := h[1].(float64)
					i, _ := h[2].(float64)
					*out = append(*out, tensorRef{name, int(n), int(i)})
				}
			}
		}
	}
}

// call is one application of a layer: its input tensors and keyword arguments.
type call struct {
	inputs []tensorRef
	kwargs map[string]any
}

func parseInbound(raw json.RawMessage) ([]call, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var nodes []any
	if err := json.Unmarshal(raw, &nodes); err != nil {
		return nil, err
	}
	var calls []call
	for _, n := range nodes {
		var c call
		switch x := n.(type) {
		case map[string]any: // Keras 3
			parseRefs(x["args"], &c.inputs)
			if kw, ok := x["kwargs"].(map[string]any); ok {
				c.kwargs = kw
				// Tensors passed by keyword (MultiHeadAttention's value=, key=).
				for _, k := range []string{"value", "key"} {
					var refs []tensorRef
					parseRefs(kw[k], &refs)
					if len(refs) == 1 {
						c.kwargs[k] = refs[0]
					}
				}
			}
		case []any: // Keras 2: [[layer, node, index, kwargs], ...]
			for _, e := range x {
				t, ok := e.([]any)
				if !ok || len(t) < 3 {
					return nil, fmt.Errorf("inbound node %v", e)
				}
				name, _ := t[0].(string)
				nn, _ := t[1].(float64)
				ii, _ := t[2].(float64)
				c.inputs = append(c.inputs, tensorRef{name, int(nn), int(ii)})
				if len(t) > 3 {
					if kw, ok := t[3].(map[string]any); ok && len(kw) > 0 {
						c.kwargs = kw
						// Tensors passed by keyword, as [layer, node, index].
						for _, k := range []string{"value", "key"} {
							if r, ok := kw[k].([]any); ok && len(r) >= 3 {
								name, _ := r[0].(string)
								nn, _ := r[1].(float64)
								ii, _ := r[2].(float64)
								c.kwargs[k] = tensorRef{name, int(nn), int(ii)}
							}
						}
					}
				}
			}
		default:
			return nil, fmt.Errorf("inbound node %v", n)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// parseIO reads input_layers/output_layers: [name, node, index] or a list of them.
func parseIO(raw json.RawMessage) ([]tensorRef, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	one := func(x []any) (tensorRef, bool) {
		if len(x) != 3 {
			return tensorRef{}, false
		}
		name, ok := x[0].(string)
		n, ok2 := x[1].(float64)
		i, ok3 := x[2].(float64)
		return tensorRef{name, int(n), int(i)}, ok && ok2 && ok3
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %s", raw)
	}
	if r, ok := one(list); ok {
		return []tensorRef{r}, nil
	}
	var out []tensorRef
	for _, e := range list {
		x, _ := e.([]any)
		r, ok := one(x)
		if !ok {
			return nil, fmt.Errorf("bad tensor reference %v", e)
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *builder) functional(mc *modelConfig) error {
	ins, err := parseIO(mc.InputLayers)
	if err != nil {
		return ir.Errorf(ir.KindCorrupt, "", "input_layers: %v", err)
	}
	outs, err := parseIO(mc.OutputLayers)
	if err != nil {
		return ir.Errorf(ir.KindCorrupt, "", "output_layers: %v", err)
	}
	vals := map[tensorRef]kval{}
	type pending struct {
		layer *kerasObj
		calls []call
	}
	var todo []pending
	for i := range mc.Layers {
		l := &mc.Layers[i]
		if l.Name == "" {
			var c struct {
				Name string `json:"name"`
			}
			json.Unmarshal(l.Config, &c)
			l.Name = c.Name
		}
		calls, err := parseInbound(l.InboundNodes)
		if err != nil {
			return ir.Errorf(ir.KindCorrupt, "", "layer %q: %v", l.Name, err)
		}
		if l.ClassName == "InputLayer" {
			v, err := b.input(l)
			if err != nil {
				return err
			}
			vals[tensorRef{l.Name, 0, 0}] = v
			continue
		}
		todo = append(todo, pending{l, calls})
	}
	done := make([]int, len(todo)) // calls done per layer
	for progress := true; progress; {
		progress = false
		for i, p := range todo {
			for done[i] < len(p.calls) {
				c := p.calls[done[i]]
				var args []kval
				ready := true
				for _, r := range c.inputs {
					v, ok := vals[r]
					if !ok {
						ready = false
						break
					}
					args = append(args, v)
				}
				for _, k := range []string{"value", "key"} {
					if r, ok := c.kwargs[k].(tensorRef); ok {
						v, ok := vals[r]
						if !ok {
							ready = false
							break
						}
						b.kwTensors[k] = v
					} else {
						delete(b.kwTensors, k)
					}
				}
				if !ready {
					break
				}
				res, err := b.layer(p.layer, args, c.kwargs)
				if err != nil {
					return err
				}
				for j, v := range res {
					vals[tensorRef{p.layer.Name, done[i], j}] = v
				}
				done[i]++
				progress = true
			}
		}
	}
	for i, p := range todo {
		if done[i] < len(p.calls) {
			return ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): its inputs are never computed", p.layer.Name, p.layer.ClassName)
		}
	}
	_ = ins
	for _, r := range outs {
		v, ok := vals[r]
		if !ok {
			return ir.Errorf(ir.KindCorrupt, "", "output %q is not computed by any layer", r.layer)
		}
		b.output(v, r.layer)
	}
	return nil
}

func (b *builder) sequential(mc *modelConfig) error {
	var cur kval
	have := false
	for i := range mc.Layers {
		l := &mc.Layers[i]
		if l.Name == "" {
			var c struct {
				Name string `json:"name"`
			}
			json.Unmarshal(l.Config, &c)
			l.Name = c.Name
		}
		if !have {
			// The input: an InputLayer, or the first layer's batch_shape.
			in := l
			if l.ClassName != "InputLayer" {
				var c struct {
					BatchShape      []any `json:"batch_shape"`
					BatchInputShape []any `json:"batch_input_shape"`
				}
				json.Unmarshal(l.Config, &c)
				shape := c.BatchShape
				if shape == nil {
					shape = c.BatchInputShape
				}
				if shape == nil && len(l.BuildConfig) > 0 {
					var bc struct {
						InputShape []any `json:"input_shape"`
					}
					json.Unmarshal(l.BuildConfig, &bc)
					shape = bc.InputShape
				}
				if shape == nil {
					return ir.Errorf(ir.KindUnsupported, "", "Sequential model without an input shape (it was never built)")
				}
				cfg, _ := json.Marshal(map[string]any{"batch_shape": shape, "name": "input_layer", "dtype": "float32"})
				in = &kerasObj{ClassName: "InputLayer", Config: cfg, Name: "input_layer"}
			}
			v, err := b.input(in)
			if err != nil {
				return err
			}
			cur, have = v, true
			if in == l {
				continue
			}
		}
		res, err := b.layer(l, []kval{cur}, nil)
		if err != nil {
			return err
		}
		if len(res) != 1 {
			return ir.Errorf(ir.KindUnsupported, "", "layer %q (%s) in a Sequential model has %d outputs", l.Name, l.ClassName, len(res))
		}
		cur = res[0]
	}
	if !have {
		return ir.Errorf(ir.KindCorrupt, "", "Sequential model without layers")
	}
	name := "output_0"
	if n := len(mc.Layers); n > 0 {
		name = mc.Layers[n-1].Name
	}
	b.output(cur, name)
	return nil
}
