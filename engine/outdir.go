package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkOutputFolder says plainly when the folder an output goes into is missing (or is
// not a folder), before any work is done: otherwise the first sign would be an error
// about a temporary file the user never named.
func checkOutputFolder(dst string) error {
	dir := filepath.Dir(dst)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist): // an I/O error, as writing there would have been
		return &Error{Kind: KindIO, File: dst, Err: fmt.Errorf("the output folder %s does not exist; create it first (mkdir -p %s)", dir, dir)}
	case err != nil:
		return &Error{Kind: KindIO, File: dst, Err: fmt.Errorf("the output folder %s: %w", dir, err)}
	case !st.IsDir():
		return &Error{Kind: KindInvalidArgument, File: dst, Err: fmt.Errorf("%s is not a folder", dir)}
	}
	return nil
}
