package hostcheck

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// rel turns an absolute host path into a path inside the root.
func rel(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }

// readTrim reads a small text file below the root.
func (h *host) readTrim(p string) (string, error) {
	b, err := fs.ReadFile(h.fsys, rel(p))
	return strings.TrimSpace(string(b)), err
}

// exists reports whether p exists below the root.
func (h *host) exists(p string) bool {
	_, err := fs.Stat(h.fsys, rel(p))
	return err == nil
}

// nonEmptyDir reports whether p is a directory with at least one entry.
func (h *host) nonEmptyDir(p string) bool {
	ents, err := fs.ReadDir(h.fsys, rel(p))
	return err == nil && len(ents) > 0
}

// accessRW reports whether the current user may open a device read-write.
func (h *host) accessRW(p string) error {
	return access(filepath.Join(h.in.Root, rel(p)), accR|accW)
}

// missing reports whether err means "no such file" rather than "cannot read".
func missing(err error) bool { return errors.Is(err, fs.ErrNotExist) }
