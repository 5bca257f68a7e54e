package train

import (
	"fmt"
	"slices"

	"github.com/modelc/modelc/engine/ir"
)

// backFn maps the gradients of a node's outputs to those of its inputs (nil: none).
type backFn func(gout []*T) []*T

type opFn func(c *opCtx, in []*T) ([]*T, backFn, error)

type opCtx struct {
	node *ir.Node
	net  *Net
	tape *Tape // nil for an op run outside Forward
	// f32Copies are the float32 copies of operands that to32Once made.
	f32Copies map[*float64][]float32
}

// ops is the table of supported ops; each ops_*.go file registers its family.
var ops = map[string]opFn{}

func register(f opFn, names ...string) {
	for _, n := range names {
		ops[n] = f
	}
}

// Supported lists the ops the engine trains through.
func Supported() []string {
	var s []string
	for k := range ops {
		s = append(s, k)
	}
	return s
}

func (c *opCtx) int(name string, def int) int {
	if a := c.node.Attr(name); a != nil {
		return int(a.Int)
	}
	return def
}

func (c *opCtx) float(name string, def float64) float64 {
	if a := c.node.Attr(name); a != nil {
		return float64(a.Float)
	}
	return def
}

func (c *opCtx) ints(name string) []int {
	a := c.node.Attr(name)
	if a == nil {
		return nil
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out
}

func (c *opCtx) str(name, def string) string {
	if a := c.node.Attr(name); a != nil {
		return string(a.String)
	}
	return def
}

// broadcastShape is numpy's broadcast of two shapes.
func broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// bindex maps each position of the out shape to the position in a tensor of shape s
// broadcast to it.
func bindex(s, out []int) []int {
	n := numel(out)
	idx := make([]int, n)
	if slices.Equal(s, out) {
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	os := strides(out)
	ss := strides(s)
	off := len(out) - len(s)
	for i := 0; i < n; i++ {
		r, k := i, 0
		for d := range out {
			c := r / os[d]
			r %= os[d]
			if j := d - off; j >= 0 && s[j] != 1 {
				k += c * ss[j]
			}
		}
		idx[i] = k
	}
	return idx
}

// reduceTo sums g (of the broadcast shape) back to shape s through idx.
func reduceTo(g *T, s []int, idx []int) *T {
	out := New(s...)
	for i, v := range g.D {
		out.D[idx[i]] += v
	}
	return out
}
