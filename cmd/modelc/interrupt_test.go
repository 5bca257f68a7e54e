package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/ir"
)

// TestHelperCLI is not a test: the interrupt test runs this test binary as the modelc
// command (with its signal handler) through it.
func TestHelperCLI(t *testing.T) {
	if os.Getenv("MODELC_TEST_CLI") != "1" {
		t.Skip("runs only as the modelc command of another test")
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{"modelc"}, os.Args[i+1:]...)
			break
		}
	}
	main()
}

func cli(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperCLI$", "--"}, args...)...)
	// Under -race the detector sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), "MODELC_TEST_CLI=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// shardedWeights builds n tensors of 4 KiB, every byte fill: the old and the new model
// have the same names and shapes, so a mixed set would read back without error.
func shardedWeights(n int, fill byte) *ir.Model {
	m := &ir.Model{Graph: &ir.Graph{}}
	for i := range n {
		data := bytes.Repeat([]byte{fill}, 4096)
		t, _ := ir.NewTensor(fmt.Sprintf("layer.%03d.weight", i), ir.Float32, []int64{1024}, data)
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	return m
}

// checkpointState says which complete set the folder holds, "old" or "new" (by the bytes
// of every tensor), and fails the test on anything else: a temporary file left, a file
// the index does not list, a missing shard, tensors of both sets.
func checkpointState(t *testing.T, dir string, oldFill, newFill byte) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		require.NotContains(t, n, ".tmp-", "left behind in %v", names)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "model"+safetensors.IndexSuffix))
	require.NoError(t, err, "no index in %v", names)
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	require.NoError(t, json.Unmarshal(raw, &idx))
	want := map[string]bool{"model" + safetensors.IndexSuffix: true}
	for _, s := range idx.WeightMap {
		want[s] = true
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	require.Equal(t, wantNames, names, "the folder holds other files than the index lists")
	m, _, err := engine.Read(dir)
	require.NoError(t, err)
	defer m.Close()
	seen := map[byte]int{}
	for _, tn := range m.Graph.Initializers {
		b := tn.Bytes()
		require.Equal(t, bytes.Repeat(b[:1], len(b)), b)
		seen[b[0]]++
	}
	require.Len(t, seen, 1, "a mixed set: tensors of fills %v", seen)
	switch {
	case seen[oldFill] > 0:
		return "old"
	case seen[newFill] > 0:
		return "new"
	}
	t.Fatalf("tensors of an unknown set: %v", seen)
	return ""
}

// waitForWrite returns once a temporary output file appears in dir, or at deadline.
func waitForWrite(dir string, deadline time.Time) {
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				return
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(to, 0o755))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

// SIGTERM at random points of a sharded write leaves the old set or the complete new
// one: 20 runs over an earlier output of 48 shards, half writing 48 shards of the same
// names (a mix would go unnoticed by a reader), half writing 12.
func TestSIGTERMDuringShardedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs modelc 22 times")
	}
	const tensors, oldFill, newFill = 96, 1, 2
	tmp := t.TempDir()
	src := filepath.Join(tmp, "new.safetensors")
	require.NoError(t, safetensors.Write(shardedWeights(tensors, newFill), src, safetensors.WriteOptions{}))
	old := filepath.Join(tmp, "old")
	require.NoError(t, os.Mkdir(old, 0o755))
	require.NoError(t, safetensors.Write(shardedWeights(tensors, oldFill), filepath.Join(old, "model.safetensors"), safetensors.WriteOptions{MaxShardSize: 8192}))
	require.Equal(t, "old", checkpointState(t, old, oldFill, newFill))

	shardSize := func(run int) string {
		if run%2 == 0 {
			return "8192" // 48 shards, the old set's names
		}
		return "32768" // 12 shards: the old set's 48 are stale
	}
	// How long an uninterrupted run takes, process start included (the fastest of three:
	// the first pays for cold caches).
	full := time.Hour
	for i := range 3 {
		out := filepath.Join(tmp, fmt.Sprintf("timing%d", i))
		copyDir(t, old, out)
		start := time.Now()
		b, err := cli("convert", src, filepath.Join(out, "model.safetensors"), "--max-shard-size", shardSize(i)).CombinedOutput()
		require.NoError(t, err, "%s", b)
		full = min(full, time.Since(start))
		require.Equal(t, "new", checkpointState(t, out, oldFill, newFill))
	}

	outcomes := map[string]int{}
	for run := range 20 {
		out := filepath.Join(tmp, fmt.Sprintf("run%02d", run))
		copyDir(t, old, out)
		cmd := cli("convert", src, filepath.Join(out, "model.safetensors"), "--max-shard-size", shardSize(run))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		if run%4 < 2 {
			// Anywhere from process start to the end.
			time.Sleep(time.Duration(rand.Int64N(int64(full))))
		} else {
			// Somewhere in the write: after its first temporary file appears.
			waitForWrite(out, time.Now().Add(10*time.Second))
			time.Sleep(time.Duration(rand.Int64N(int64(full / 2))))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode() // -1: killed before the handler was installed
		}
		state := checkpointState(t, out, oldFill, newFill)
		msg := stderr.String()
		switch {
		case code == 0:
			require.Equal(t, "new", state, "exit 0 with the old set")
		case code == exitCancelled && strings.Contains(msg, "after the output was complete"):
			require.Equal(t, "new", state, "%s", msg)
		case code == exitCancelled:
			// The signal handler's message, or the writer's own: the handler made any
			// further write fail and the main goroutine got to exit first.
			require.Contains(t, msg, "no output was written")
			require.Equal(t, "old", state, "%s", msg)
		case code == -1:
			require.Equal(t, "old", state)
		default:
			t.Fatalf("run %d: exit %d: %s", run, code, msg)
		}
		outcomes[fmt.Sprintf("exit %d, %s set", code, state)]++
	}
	t.Logf("uninterrupted run %v; outcomes of 20 interrupted runs: %v", full, outcomes)
	require.NotZero(t, outcomes["exit 7, old set"], "no run was interrupted during the write: %v", outcomes)
}
