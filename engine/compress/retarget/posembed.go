package retarget

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// positionTable is a learned absolute position embedding of a ViT-style model: an
// initializer [1, prefix + gh·gw, D] added to the tokens of a patch grid gh×gw (made by
// the Conv patch), after prefix tokens (a class token, a distillation token) that have no
// place on the grid.
type positionTable struct {
	add    *ir.Node
	table  *ir.Tensor
	patch  *ir.Node
	prefix int
	grid   [2]int
}

// positionTables finds the position embeddings: an Add of a float initializer [1, T, D] to
// a value of the same shape (batch aside), where the first Conv of the graph that gives D
// channels on a grid of T, T−1 or T−2 cells is the patch embedding.
func positionTables(g *ir.Graph, before map[string][]int) []positionTable {
	inits := map[string]*ir.Tensor{}
	for _, t := range g.Initializers {
		inits[t.Name] = t
	}
	var out []positionTable
	for _, n := range g.Nodes {
		if n.OpType != "Add" || len(n.Inputs) != 2 {
			continue
		}
		for i, in := range n.Inputs {
			t := inits[in]
			other := before[n.Inputs[1-i]]
			if t == nil || t.DType != ir.Float32 || len(t.Shape) != 3 || t.Shape[0] != 1 || len(other) != 3 ||
				int64(other[1]) != t.Shape[1] || int64(other[2]) != t.Shape[2] {
				continue
			}
			tokens, dim := int(t.Shape[1]), int(t.Shape[2])
			for _, c := range g.Nodes {
				s := before[c.Outputs[0]]
				if c.OpType != "Conv" || len(s) != 4 || s[1] != dim || tokens-s[2]*s[3] < 0 || tokens-s[2]*s[3] > 2 {
					continue
				}
				out = append(out, positionTable{add: n, table: t, patch: c, prefix: tokens - s[2]*s[3], grid: [2]int{s[2], s[3]}})
				break
			}
		}
	}
	return out
}

// resamplePositions gives each position embedding the patch grid of the new input size,
// as timm's resample_abs_pos_embed does: the prefix tokens kept, the grid part resampled
// bicubically (torch's F.interpolate(mode="bicubic", align_corners=False)).
func resamplePositions(m *ir.Model, input string, shape []int64, before map[string][]int, r *compress.Report) error {
	tables := positionTables(m.Graph, before)
	if len(tables) == 0 {
		return nil
	}
	var patches []string
	for _, p := range tables {
		patches = append(patches, p.patch.Outputs[0])
	}
	now, err := Shapes(front(m, patches), map[string][]int64{input: shape})
	if err != nil {
		return fmt.Errorf("the patch embedding does not run at %dx%d: %w", shape[2], shape[3], err)
	}
	for _, p := range tables {
		s := now[p.patch.Outputs[0]]
		nh, nw := s[2], s[3]
		if nh == p.grid[0] && nw == p.grid[1] {
			continue
		}
		if nh < 1 || nw < 1 {
			return fmt.Errorf("node %s: no patch fits in %dx%d", p.patch.DisplayName(), shape[2], shape[3])
		}
		old, err := compress.Floats(p.table)
		if err != nil {
			return fmt.Errorf("position embedding %q: %w", p.table.Name, err)
		}
		dim := int(p.table.Shape[2])
		v := make([]float32, 0, (p.prefix+nh*nw)*dim)
		v = append(v, old[:p.prefix*dim]...)
		v = append(v, Bicubic(old[p.prefix*dim:], p.grid[0], p.grid[1], dim, nh, nw)...)
		compress.SetFloats(p.table, []int64{1, int64(p.prefix + nh*nw), int64(dim)}, v)
		compress.DropValueInfos(m.Graph, p.table.Name)
		r.Notes = append(r.Notes, fmt.Sprintf("position embedding %s: %d prefix tokens kept, grid %dx%d resampled (bicubic) to %dx%d",
			p.table.Name, p.prefix, p.grid[0], p.grid[1], nh, nw))
	}
	return nil
}

// Bicubic resizes a grid h×w of vectors of dim values (row-major [h, w, dim]) to nh×nw
// as torch's upsample_bicubic2d with align_corners=False: source coordinate
// (o + 0.5)·in/out − 0.5, Keys' cubic convolution with A = −0.75, neighbours clamped to
// the border, no antialiasing.
func Bicubic(v []float32, h, w, dim, nh, nw int) []float32 {
	out := make([]float32, nh*nw*dim)
	ys, xs := cubicTaps(h, nh), cubicTaps(w, nw)
	for oy := 0; oy < nh; oy++ {
		for ox := 0; ox < nw; ox++ {
			dst := out[(oy*nw+ox)*dim : (oy*nw+ox+1)*dim]
			for d := range dst {
				var sum float64
				for i, wy := range ys[oy].weight {
					var row float64
					for j, wx := range xs[ox].weight {
						row += wx * float64(v[(ys[oy].index[i]*w+xs[ox].index[j])*dim+d])
					}
					sum += wy * row
				}
				dst[d] = float32(sum)
			}
		}
	}
	return out
}

type taps struct {
	index  [4]int
	weight [4]float64
}

func cubicTaps(in, out int) []taps {
	const a = -0.75
	near := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }  // |x| ≤ 1
	far := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a } // 1 < |x| < 2
	res := make([]taps, out)
	scale := float64(in) / float64(out)
	for o := range res {
		src := (float64(o)+0.5)*scale - 0.5
		i0 := int(math.Floor(src))
		t := src - float64(i0)
		res[o].weight = [4]float64{far(t + 1), near(t), near(1 - t), far(2 - t)}
		for k := 0; k < 4; k++ {
			res[o].index[k] = min(max(i0-1+k, 0), in-1)
		}
	}
	return res
}
