package bench

import "github.com/modelc/modelc/engine/ir"

// release is the Written hook of a conversion that releases the input's pages as the
// writer streams them out (as engine.Convert does).
func release(m *ir.Model) func([]byte) error {
	return func(b []byte) error { m.DropUnmodified(b); return nil }
}
