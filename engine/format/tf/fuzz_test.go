package tf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// FuzzKeras feeds arbitrary bytes to the .keras / .h5 reader (zip, HDF5, config): a
// model or an error, never a panic or an allocation past the memory budget.
func FuzzKeras(f *testing.F) {
	for _, name := range []string{"tiny_cnn.keras", "tiny_cnn.h5"} {
		if data, err := os.ReadFile(filepath.Join(fixtures, name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(hdf5Magic + "\x00\x00\x00\x00\x00\x08\x08\x00"))
	f.Setenv(ir.EnvMaxMemory, "64MiB")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseKeras(data, "fuzz")
		if err == nil {
			for _, t := range m.Graph.Initializers {
				t.Bytes()
			}
		}
	})
}

// FuzzBundleIndex feeds arbitrary bytes as a checkpoint's .index (LevelDB table,
// Snappy blocks, entry protos) and reads each entry's tensor from a fixed data file.
func FuzzBundleIndex(f *testing.F) {
	index, _ := os.ReadFile(filepath.Join(fixtures, "ckpt", "model.index"))
	data, _ := os.ReadFile(filepath.Join(fixtures, "ckpt", "model.data-00000-of-00001"))
	f.Add(index)
	f.Add(buildTableWith([]tableKV{{key: "", value: headerProto()}, {key: "x", value: entryProto(1, []int64{2}, 0, 8, 0)}}, snappyLiterals))
	f.Fuzz(func(t *testing.T, idx []byte) {
		entries, _, err := parseIndex(idx, "fuzz")
		if err != nil {
			return
		}
		for _, e := range entries {
			e.tensor(data, "fuzz")
		}
	})
}

// FuzzSavedModel feeds arbitrary bytes as saved_model.pb: parsed, the variables matched
// and the signature converted (against the seeds' own variables, so that the recurrent
// loops reach their weights), or an error; never a panic.
func FuzzSavedModel(f *testing.F) {
	// A CNN, Keras' LSTM/GRU While loops, and the resize ops.
	vars := map[string]*ir.Tensor{}
	for _, dir := range []string{"tiny_cnn_savedmodel", "tiny_rnn_savedmodel", "tiny_resize_savedmodel"} {
		if data, err := os.ReadFile(filepath.Join(fixtures, dir, "saved_model.pb")); err == nil {
			f.Add(data)
		}
		if dir == "tiny_rnn_savedmodel" {
			if m, err := ReadBundle(filepath.Join(fixtures, dir, "variables")); err == nil {
				for _, t := range m.Graph.Initializers {
					vars[t.Name] = t
				}
			}
		}
	}
	f.Setenv(ir.EnvMaxMemory, "64MiB")
	f.Fuzz(func(t *testing.T, data []byte) {
		sm, err := parseSavedModel(data, "fuzz")
		if err != nil {
			return
		}
		handles, err := sm.variableKeys()
		if err != nil {
			return
		}
		im := &importer{sm: sm, b: newBuilder("fuzz", nil), vars: vars, handles: handles, vals: map[string]kval{}, packLen: map[string]int{}}
		im.run()
	})
}
