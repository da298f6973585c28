//go:build !unix

package helper

import "os"

// fileOwner cannot tell the owner here: nothing is trusted.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
