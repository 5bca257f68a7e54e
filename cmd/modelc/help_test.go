package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var commands = []string{"info", "check", "convert", "compress", "distill", "run", "verify", "backends"}

// Every command answers --help and -h with its own part of `modelc help`, and that part
// names every flag the command accepts.
func TestCommandHelp(t *testing.T) {
	defer func() { flagSetSeen = nil }()
	_, full, _ := modelc("help")
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h"} {
			var fs *flag.FlagSet
			flagSetSeen = func(f *flag.FlagSet) { fs = f }
			code, stdout, stderr := modelc(cmd, h)
			require.Equal(t, exitOK, code, "modelc %s %s: %s", cmd, h, stderr)
			assert.Empty(t, stderr)
			assert.Contains(t, stdout, "\n  modelc "+cmd+" ", "modelc %s %s", cmd, h)
			assert.Contains(t, stdout, "Exit codes:")
			for _, other := range commands {
				if other != cmd {
					assert.NotContains(t, stdout, "\n  modelc "+other+" ", "modelc %s %s shows %s", cmd, h, other)
				}
			}
			// One source of truth: the command's lines are those of the full help.
			section := strings.TrimSpace(strings.SplitN(strings.SplitN(stdout, "Usage:\n", 2)[1], "\n\n", 2)[0])
			assert.Contains(t, full, section)
			require.NotNil(t, fs, cmd)
			fs.VisitAll(func(f *flag.Flag) {
				assert.Contains(t, stdout, "--"+f.Name, "modelc %s --help does not describe --%s", cmd, f.Name)
			})
		}
		// help CMD prints the same, also after positional arguments.
		_, viaHelp, _ := modelc("help", cmd)
		_, viaFlag, _ := modelc(cmd, "--help")
		assert.Equal(t, viaFlag, viaHelp)
	}
	code, stdout, _ := modelc("convert", "a.onnx", "b.onnx", "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "--max-shard-size")
	code, _, stderr := modelc("help", "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "frobnicate")
}
