package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws a one-line bar on stderr while a long operation runs, only when
// stderr is a terminal (a pipe or a log file gets nothing). It is an engine.Progress.
type progressBar struct {
	w     io.Writer // nil when not a terminal
	label string
	last  time.Time
	shown bool
}

func newProgressBar(stderr io.Writer, label string) *progressBar {
	b := &progressBar{label: label}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.w = stderr
		}
	}
	return b
}

// report redraws the bar at most ten times a second; it never cancels.
func (b *progressBar) report(stage string, fraction float64) bool {
	if b.w == nil || (time.Since(b.last) < 100*time.Millisecond && fraction < 1) {
		return true
	}
	b.last, b.shown = time.Now(), true
	const width = 30
	fraction = min(max(fraction, 0), 1)
	n := int(fraction * width)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %-8s", b.label, strings.Repeat("#", n), strings.Repeat(" ", width-n), 100*fraction, stage)
	return true
}

// finish ends the bar's line.
func (b *progressBar) finish() {
	if b.shown {
		fmt.Fprintln(b.w)
	}
}
