package runtime

import "github.com/modelc/modelc/engine/ir"

// geomKey keys a node's convolution or pooling geometry in the session's tables: the
// node, ceil_mode, and the spatial input and kernel sizes.
type geomKey struct {
	node *ir.Node
	ceil bool
	r    int
	dims [2 * maxCachedRank]int // in, then k
}

// maxCachedRank is the most spatial dimensions whose geometry is cached (3-D convs).
const maxCachedRank = 3

// geometry is readGeometry, computed once per node and input size: every Conv and pool
// asked for it on every run, and the attribute lookups and allocations were about 2 %
// of a mobile network's run at one thread. The cached value is shared: callers must
// not change it.
func geometry(c *opContext, in, k []int, ceil bool) (*convGeom, error) {
	if c.sess == nil || c.node == nil || len(in) > maxCachedRank || len(k) != len(in) {
		return readGeometry(c, in, k, ceil)
	}
	key := geomKey{node: c.node, ceil: ceil, r: len(in)}
	copy(key.dims[:], in)
	copy(key.dims[len(in):], k)
	if v, ok := c.sess.tables.Load(key); ok {
		return v.(*convGeom), nil
	}
	g, err := readGeometry(c, in, k, ceil)
	if err != nil {
		return nil, err
	}
	// Its own copies of in and k: they alias the input tensor's shape, which a pooled
	// buffer may change in a later run.
	g.in, g.kernel = append([]int(nil), in...), append([]int(nil), k...)
	c.sess.tables.Store(key, g)
	return g, nil
}
