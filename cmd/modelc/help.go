package main

import (
	"fmt"
	"strings"
)

// usageText is the full help, `modelc help`.
func usageText() string { return fmt.Sprintf(usage, formatList()) }

// commandHelp is the part of the usage text about one command (`modelc CMD --help`,
// `modelc help CMD`): its lines of the Usage section, from "  modelc CMD" up to the next
// command, then the exit codes. The usage text is the one source of both, so they never
// disagree. ok is false for a name the usage text does not describe.
func commandHelp(cmd string) (text string, ok bool) {
	full := usageText()
	lines := strings.Split(full, "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		isCmd := strings.HasPrefix(l, "  modelc ")
		switch {
		case start < 0 && isCmd && (strings.HasPrefix(l, "  modelc "+cmd+" ") || l == "  modelc "+cmd):
			start = i
		case start >= 0 && (isCmd || strings.TrimSpace(l) == ""):
			end = i
		}
		if start >= 0 && end < len(lines) {
			break
		}
	}
	if start < 0 {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nUsage:\n", lines[0])
	b.WriteString(strings.Join(lines[start:end], "\n"))
	b.WriteString("\n\nRun 'modelc help' for every command, the formats and notes.\n")
	if i := strings.Index(full, "\nExit codes:"); i >= 0 {
		b.WriteString(full[i:])
	}
	return b.String(), true
}
