//go:build unix

package sealserver

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// accessRW reports whether the current user may open path read-write, as
// access(2) judges it.
func accessRW(path string) error { return unix.Access(path, unix.R_OK|unix.W_OK) }

// fileGID is the group that owns a file.
func fileGID(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Gid, true
}
