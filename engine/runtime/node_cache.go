package runtime

import "github.com/modelc/modelc/engine/ir"

// nodeCacheKey keys what a node derives from a weight (a transposed or packed copy) in
// the session's tables: one entry per node and tag.
type nodeCacheKey struct {
	node *ir.Node
	tag  string
}

// nodeCacheEntry is such a value with the identity (address and sizes) of the weight it
// was built from.
type nodeCacheEntry[ID comparable, V any] struct {
	id ID
	v  V
}

// nodeCached returns what build makes from a weight that is the same in every run,
// kept by the session per node under tag: built on first use, and again only when the
// node sees other data (id, the weight's address and sizes, differs).
func nodeCached[ID comparable, V any](c *opContext, tag string, id ID, build func() V) V {
	key := nodeCacheKey{c.node, tag}
	if v, ok := c.sess.tables.Load(key); ok {
		if e, ok := v.(*nodeCacheEntry[ID, V]); ok && e.id == id {
			return e.v
		}
	}
	v := build()
	c.sess.tables.Store(key, &nodeCacheEntry[ID, V]{id, v})
	return v
}
