package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// MaxHeaderSize is the largest header the reference implementation accepts.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header entry holding the string→string metadata.
const metadataKey = "__metadata__"

// Detect recognises a safetensors file by its first bytes: a plausible u64 header length
// followed by the '{' that opens the JSON header.
func Detect(head []byte) bool {
	if len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= MaxHeaderSize && head[8] == '{'
}

// IndexSuffix ends the name of a sharded checkpoint's index (model.safetensors.index.json).
const IndexSuffix = ".safetensors.index.json"

// DetectPath recognises a sharded checkpoint named by its index file or by its folder
// (which must hold exactly one *.safetensors.index.json).
func DetectPath(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), IndexSuffix) {
		return true
	}
	idx, err := findIndex(path)
	return err == nil && idx != ""
}

// findIndex returns the index file inside the folder dir, "" if there is none.
func findIndex(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "", err
	}
	matches, err := filepath.Glob(filepath.Join(globEscape(dir), "*"+IndexSuffix))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
		return matches[0], nil
	}
	sort.Strings(matches)
	return "", ir.Errorf(ir.KindInvalidArgument, dir, "holds several safetensors indexes (%s): name the one to read", strings.Join(baseNames(matches), ", "))
}

// Read loads a safetensors file, a sharded checkpoint's index file, or a folder holding
// one. Tensors alias memory maps of the files until the model is closed.
func Read(path string) (*ir.Model, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		idx, err := findIndex(path)
		if err != nil {
			return nil, err
		}
		if idx == "" {
			return nil, ir.Errorf(ir.KindInvalidArgument, path, "is a folder without a *%s: not a sharded safetensors checkpoint", IndexSuffix)
		}
		return readSharded(idx)
	}
	if strings.HasSuffix(strings.ToLower(path), IndexSuffix) {
		return readSharded(path)
	}
	mf, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	m := &ir.Model{Graph: &ir.Graph{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}}
	m.KeepAlive(mf)
	if err := decodeInto(m, mf.Data, path); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// ReadBytes decodes a safetensors file held in memory; the tensors alias data.
func ReadBytes(data []byte, name string) (*ir.Model, error) {
	m := &ir.Model{Graph: &ir.Graph{}}
	if err := decodeInto(m, data, name); err != nil {
		return nil, err
	}
	return m, nil
}

// entry is one tensor as the header declares it.
type entry struct {
	name       string
	spec       dtypeSpec
	shape      []int64
	begin, end int64 // into the data buffer
}

// header is a parsed and validated header.
type header struct {
	tensors   []entry // in offset order
	metadata  []ir.StringPair
	dataStart int64 // file offset of the data buffer: 8 + header length
}

// decodeInto parses and checks data (a whole file) and appends its tensors, which alias
// data, and metadata to m.
func decodeInto(m *ir.Model, data []byte, file string) error {
	h, err := parseHeader(data, file)
	if err != nil {
		return err
	}
	for _, e := range h.tensors {
		t, err := ir.NewTensor(e.name, e.spec.dtype, e.shape, data[h.dataStart+e.begin:h.dataStart+e.end])
		if err != nil { // the header checks make this unreachable; never panic on it
			return &ir.Error{Kind: ir.KindCorrupt, File: file, Where: fmt.Sprintf("tensor %q", e.name), Err: err}
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	m.Metadata = append(m.Metadata, h.metadata...)
	return nil
}

func corrupt(file, where, format string, args ...any) error {
	return &ir.Error{Kind: ir.KindCorrupt, File: file, Where: where, Err: fmt.Errorf(format, args...)}
}

// parseHeader reads the header of the file data and checks it against the format's rules
// and the file's real size, before anything is allocated from what it declares.
func parseHeader(data []byte, file string) (*header, error) {
	if len(data) < 8 {
		return nil, corrupt(file, "", "%d bytes: too short for a safetensors file (8-byte header length)", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, corrupt(file, "offset 0", "header length %d exceeds the format's limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, corrupt(file, "offset 0", "header length %d runs past the end of the file (%d bytes)", n, len(data))
	}
	hdr := data[8 : 8+n]
	if n == 0 || hdr[0] != '{' {
		return nil, corrupt(file, "offset 8", "the header does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return nil, corrupt(file, "offset 8", "the header is not valid UTF-8")
	}
	h := &header{dataStart: 8 + int64(n)}
	if err := h.parseJSON(hdr); err != nil {
		return nil, corrupt(file, "header", "%v", err)
	}
	if err := h.validate(file, int64(len(data))-h.dataStart); err != nil {
		return nil, err
	}
	return h, nil
}

// parseJSON walks the header object token by token, so that duplicate names are seen
// (a map would silently keep the last) and the file order of metadata is kept.
func (h *header) parseJSON(hdr []byte) error {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return err
		}
		if seen[key] {
			return fmt.Errorf("%q appears twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			if h.metadata, err = parseMetadata(dec); err != nil {
				return fmt.Errorf("%s: %v", metadataKey, err)
			}
			continue
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return fmt.Errorf("tensor %q: %v", key, err)
		}
		h.tensors = append(h.tensors, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the header object (only space padding may follow)")
	}
	return nil
}

func parseMetadata(dec *json.Decoder) ([]ir.StringPair, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if tok == nil { // "__metadata__": null is the reference's None
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("expected an object of strings, got %v", tok)
	}
	var out []ir.StringPair
	seen := map[string]bool{}
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		v, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k, err)
		}
		if seen[k] {
			return nil, fmt.Errorf("key %q appears twice", k)
		}
		seen[k] = true
		out = append(out, ir.StringPair{Key: k, Value: v})
	}
	return out, expectDelim(dec, '}')
}

// parseEntry reads {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. Other keys
// are skipped, as the reference does.
func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return e, err
		}
		if seen[key] {
			return e, fmt.Errorf("field %q appears twice", key)
		}
		seen[key] = true
		switch key {
		case "dtype":
			s, err := stringToken(dec)
			if err != nil {
				return e, fmt.Errorf("dtype: %v", err)
			}
			spec, ok := specByName(s)
			if !ok {
				return e, fmt.Errorf("unknown dtype %q (the format has %s)", s, strings.Join(names(), ", "))
			}
			e.spec, haveDType = spec, true
		case "shape":
			if e.shape, err = intArray(dec); err != nil {
				return e, fmt.Errorf("shape: %v", err)
			}
			haveShape = true
		case "data_offsets":
			offs, err := intArray(dec)
			if err != nil {
				return e, fmt.Errorf("data_offsets: %v", err)
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("data_offsets has %d numbers, want [begin, end]", len(offs))
			}
			e.begin, e.end, haveOffsets = offs[0], offs[1], true
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return e, jsonErr(err)
			}
		}
	}
	switch {
	case !haveDType:
		return e, errors.New("no dtype")
	case !haveShape:
		return e, errors.New("no shape")
	case !haveOffsets:
		return e, errors.New("no data_offsets")
	}
	if e.shape == nil {
		e.shape = []int64{}
	}
	return e, expectDelim(dec, '}')
}

// intArray reads an array of non-negative integers that fit an int64.
func intArray(dec *json.Decoder) ([]int64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("expected a number, got %v", tok)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s is not a non-negative integer", num)
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", jsonErr(err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("expected a string, got %v", tok)
	}
	return s, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(err)
	}
	if tok != d {
		return fmt.Errorf("expected %q, got %v", string(d), tok)
	}
	return nil
}

func jsonErr(err error) error {
	if err == io.EOF {
		return errors.New("the JSON ends early")
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

// validate applies the reference's rules: in offset order the tensors tile the buffer
// exactly (each begins where the previous ended, the last ends at the end of the file),
// and each holds exactly shape × dtype size bytes.
func (h *header) validate(file string, bufLen int64) error {
	sort.SliceStable(h.tensors, func(i, j int) bool {
		a, b := h.tensors[i], h.tensors[j]
		return a.begin < b.begin || a.begin == b.begin && a.end < b.end
	})
	var pos int64
	for _, e := range h.tensors {
		where := fmt.Sprintf("tensor %q", e.name)
		if e.begin != pos || e.end < e.begin {
			what := "leaves a hole before it"
			switch {
			case e.end < e.begin:
				what = "ends before it begins"
			case e.begin < pos:
				what = "overlaps the tensor before it"
			}
			return corrupt(file, where, "data_offsets [%d, %d] (file offset %d) %s: tensors must tile the data buffer, the previous one ends at %d", e.begin, e.end, h.dataStart+e.begin, what, pos)
		}
		if e.end > bufLen {
			return corrupt(file, where, "data_offsets [%d, %d] run past the end of the file (data buffer of %d bytes at offset %d)", e.begin, e.end, bufLen, h.dataStart)
		}
		n := ir.NumElements(e.shape)
		want, ok := e.spec.byteLength(n)
		if n < 0 || !ok {
			return corrupt(file, where, "shape %v of %s does not give a whole number of bytes (or overflows)", e.shape, e.spec.name)
		}
		if e.end-e.begin != want {
			return corrupt(file, where, "%s%v needs %d bytes but data_offsets [%d, %d] hold %d", e.spec.name, e.shape, want, e.begin, e.end, e.end-e.begin)
		}
		pos = e.end
	}
	if pos != bufLen {
		return corrupt(file, fmt.Sprintf("offset %d", h.dataStart+pos), "the tensors end %d bytes into the data buffer but the file has %d bytes of data after the header: the offsets must cover it exactly", pos, bufLen)
	}
	return nil
}

// ---- sharded checkpoints ----------------------------------------------------------------

// index is model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// maxIndexSize bounds the index file read into memory; a real one is a few MB.
const maxIndexSize = 256 << 20

// readSharded reads the shards an index names, in the order of their file names, each
// shard's tensors in offset order. Every tensor must be where the index says.
func readSharded(indexPath string) (*ir.Model, error) {
	idx, err := readIndex(indexPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(indexPath)
	var shards []string
	want := map[string]map[string]bool{} // shard → the tensor names the index puts there
	for name, shard := range idx.WeightMap {
		if err := checkShardName(shard); err != nil {
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: indexPath, Where: fmt.Sprintf("tensor %q", name), Err: err}
		}
		if want[shard] == nil {
			want[shard] = map[string]bool{}
			shards = append(shards, shard)
		}
		want[shard][name] = true
	}
	sort.Strings(shards)
	base := strings.TrimSuffix(filepath.Base(indexPath), IndexSuffix)
	m := &ir.Model{Graph: &ir.Graph{Name: base}}
	if st, err := os.Stat(indexPath); err == nil {
		m.KeepAlive(ir.SourceFile{Info: st}) // so no output replaces the index
	}
	metaSeen := map[string]bool{}
	for _, shard := range shards {
		path := filepath.Join(dir, shard)
		mf, err := mmap.OpenInside(dir, shard)
		if err != nil {
			m.Close()
			if errors.Is(err, mmap.ErrEscapes) {
				return nil, ir.Errorf(ir.KindCorrupt, path, "shard named by %s: %v", filepath.Base(indexPath), err)
			}
			return nil, ir.IOError(path, fmt.Errorf("shard named by %s: %w", filepath.Base(indexPath), ir.IOError(path, err).Err))
		}
		m.KeepAlive(mf)
		part := &ir.Model{Graph: &ir.Graph{}}
		if err := decodeInto(part, mf.Data, path); err != nil {
			m.Close()
			return nil, err
		}
		for _, t := range part.Graph.Initializers {
			if !want[shard][t.Name] {
				m.Close()
				return nil, &ir.Error{Kind: ir.KindCorrupt, File: path, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf("the index %s does not place this tensor in this shard", filepath.Base(indexPath))}
			}
			delete(want[shard], t.Name)
		}
		for name := range want[shard] {
			m.Close()
			return nil, &ir.Error{Kind: ir.KindCorrupt, File: path, Where: fmt.Sprintf("tensor %q", name), Err: fmt.Errorf("the index %s places this tensor here but the shard does not hold it", filepath.Base(indexPath))}
		}
		m.Graph.Initializers = append(m.Graph.Initializers, part.Graph.Initializers...)
		// Every shard repeats the metadata (HF writes {"format": "pt"} into each): keep
		// the first value of each key.
		for _, p := range part.Metadata {
			if !metaSeen[p.Key] {
				metaSeen[p.Key] = true
				m.Metadata = append(m.Metadata, p)
			}
		}
	}
	return m, nil
}

func readIndex(path string) (*index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if st.Size() > maxIndexSize {
		return nil, ir.Errorf(ir.KindCorrupt, path, "index of %d bytes is larger than any real one (limit %d)", st.Size(), maxIndexSize)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	var idx index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, path, "not a safetensors index: %v", err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, path, "the index has no weight_map entries")
	}
	return &idx, nil
}

// checkShardName refuses shard names that would leave the index's folder.
func checkShardName(name string) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("shard file %q is not a plain file name in the index's folder", name)
	}
	return nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
