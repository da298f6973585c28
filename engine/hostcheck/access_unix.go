//go:build unix

package hostcheck

import "golang.org/x/sys/unix"

// access reports whether the current user may use path as mode asks
// (accR, accW, accX), as access(2) judges it.
func access(path string, mode uint32) error { return unix.Access(path, mode) }

const (
	accR = unix.R_OK
	accW = unix.W_OK
	accX = unix.X_OK
)
