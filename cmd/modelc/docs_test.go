package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's first screen says what modelc does and names the two commands; its C
// compile line builds a program that finds libmodelc.so; it says tqdm is optional.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(b)
	lines := strings.Split(readme, "\n")
	first := strings.Join(lines[:min(len(lines), 30)], "\n")
	assert.Contains(t, first, "converts")
	assert.Contains(t, first, "make demo")
	assert.Contains(t, first, "make test")
	assert.Contains(t, readme, "--no-install-recommends")
	assert.Regexp(t, `tqdm[^\n]*optional`, readme)

	m := regexp.MustCompile(`/\* (cc app\.c [^\n]*)`).FindStringSubmatch(readme)
	require.NotNil(t, m, "the README's C compile line")
	line := m[1]
	assert.True(t, strings.Contains(line, "rpath") || strings.Contains(readme, "LD_LIBRARY_PATH"), line)

	// Build the C example with that line and run it with no LD_LIBRARY_PATH: it must find
	// the library (and print its usage), not fail to load.
	root, _ := filepath.Abs("../..")
	if _, err := os.Stat(filepath.Join(root, "lib", "libmodelc.so")); err != nil {
		t.Skip("lib/libmodelc.so not built (make lib)")
	}
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler")
	}
	exe := filepath.Join(t.TempDir(), "app")
	cmd := strings.Replace(line, "app.c", "bindings/c/example.c -o "+exe, 1)
	out, err := exec.Command("sh", "-c", "cd "+root+" && "+cmd).CombinedOutput()
	require.NoError(t, err, "%s: %s", cmd, out)
	run := exec.Command(exe)
	run.Env = []string{"PATH=/usr/bin:/bin"}
	out, _ = run.CombinedOutput()
	assert.NotContains(t, string(out), "error while loading shared libraries")
	assert.Contains(t, string(out), "usage:")
}

// make test installs Debian packages without their recommends.
func TestMakefileDebianPackagesWithoutRecommends(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	recipe := regexp.MustCompile(`(?s)\ndeps-debian:\n(.*?)\n\n`).FindStringSubmatch(string(b))
	require.NotNil(t, recipe)
	assert.Contains(t, recipe[1], "apt-get install -y -qq --no-install-recommends")
}
