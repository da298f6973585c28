package attest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// This file computes the spec tree of a Cocoon config share (spec §4,
// worker interface §2.3): the git tree ID, in the SHA-256 object format,
// of the static spec files as cocoon-prepare-spec's `git write-tree` does
// (SpecTree). Which files count is decided by the .gitignore matcher in
// gitignore.go.

// MaxSpecFileSize is the largest file cocoon-prepare-spec accepts in the
// measured spec: 10 MiB. The spec says "10 MB"; the binary unit is an
// assumption (what `find -size +10M` means).
const MaxSpecFileSize = 10 << 20

// Names cocoon-prepare-spec leaves out of the tree. The first three only at
// the top of the spec directory, .gitignore files at every level.
const (
	specRuntimeDir = "runtime"
	specTreeFile   = "spec.tree"
	specMetaFile   = "spec.meta"
	gitignoreFile  = ".gitignore"
)

// ErrSpecTreeMismatch reports a spec directory whose own spec.tree file does
// not match the tree computed from its files; cocoon-prepare-spec refuses to
// boot such a spec (exit 4). Regenerate spec.tree or restore the files.
var ErrSpecTreeMismatch = errors.New("attest: spec.tree does not match the spec files")

// SpecTree returns the git tree ID, in the SHA-256 object format, of a Cocoon
// config directory as cocoon-prepare-spec computes it with
// `git add` + `git write-tree` (spec §4; worker interface §2.3):
//
//   - .gitignore files are honoured (see below) and are themselves left out,
//     at every level; so are the top-level runtime (file or directory),
//     spec.tree and spec.meta;
//   - every remaining file must be a regular file no larger than
//     MaxSpecFileSize; its mode is 100755 when the owner-executable bit is
//     set and 100644 otherwise; symlinks, devices, sockets and pipes are
//     errors, and so is any entry named .git (a nested repository);
//   - directories left without files are omitted, as in git.
//
// The .gitignore subset implemented is git's own matching for patterns read
// from .gitignore files in the tree: blank lines and # comments, trailing
// spaces (unless escaped with \), a leading ! to negate, a trailing / for
// directories only, a leading or inner / to anchor the pattern to the
// .gitignore's directory (otherwise it matches the name at any depth), *, ?,
// [...] classes (ranges, ! or ^ negation, [:alpha:]-style names), \
// escapes and ** (leading **/, inner /**/, trailing /**), with git's
// precedence: the deepest .gitignore with a matching pattern decides, the
// last matching line within it wins, and nothing below an ignored directory
// can be re-included. Not modelled: .git/info/exclude, core.excludesFile
// and core.ignoreCase, none of which exist in cocoon-prepare-spec's fresh
// repository.
func SpecTree(fsys fs.FS) (tree [32]byte, err error) {
	w := specWalker{fsys: fsys}
	tree, _, err = w.dir(".", nil)
	if err != nil {
		return [32]byte{}, fmt.Errorf("attest: spec tree: %w", err)
	}
	return tree, nil
}

// gitTreeEntry is one entry of a git tree object.
type gitTreeEntry struct {
	name string
	mode string // "100644", "100755" or "40000"
	id   [32]byte
}

func (e gitTreeEntry) isDir() bool { return e.mode == "40000" }

// gitSortKey is the name git sorts an entry by: directories compare as if
// their name ended in "/".
func (e gitTreeEntry) gitSortKey() string {
	if e.isDir() {
		return e.name + "/"
	}
	return e.name
}

// gitTreeID hashes a tree object made of entries, which it sorts.
func gitTreeID(entries []gitTreeEntry) [32]byte {
	slices.SortFunc(entries, func(a, b gitTreeEntry) int { return strings.Compare(a.gitSortKey(), b.gitSortKey()) })
	size := 0
	for _, e := range entries {
		size += len(e.mode) + 1 + len(e.name) + 1 + len(e.id)
	}
	h := sha256.New()
	writeGitHeader(h, "tree", int64(size))
	for _, e := range entries {
		io.WriteString(h, e.mode)
		h.Write([]byte{' '})
		io.WriteString(h, e.name)
		h.Write([]byte{0})
		h.Write(e.id[:])
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// writeGitHeader writes the "<type> <size>\0" prefix of a git object.
func writeGitHeader(h hash.Hash, typ string, size int64) {
	var buf [32]byte
	b := append(buf[:0], typ...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, size, 10)
	b = append(b, 0)
	h.Write(b)
}

// specWalker walks a spec directory and hashes it as git objects.
type specWalker struct {
	fsys fs.FS
	h    hash.Hash // reused for blobs
}

// dir returns the tree ID of the directory at name ("." for the root),
// whether it holds any file, and the first error. ignores are the
// .gitignore files of the directories above it, root first.
func (w *specWalker) dir(name string, ignores []ignoreFile) ([32]byte, bool, error) {
	ents, err := fs.ReadDir(w.fsys, name)
	if err != nil {
		return [32]byte{}, false, err
	}
	base := name
	if base == "." {
		base = ""
	}
	for _, d := range ents {
		if d.Name() != gitignoreFile {
			continue
		}
		p := path.Join(name, d.Name())
		if !d.Type().IsRegular() {
			return [32]byte{}, false, fmt.Errorf("%s: not a regular file (%s); only regular files are allowed", p, d.Type())
		}
		data, err := fs.ReadFile(w.fsys, p)
		if err != nil {
			return [32]byte{}, false, err
		}
		ignores = append(slices.Clip(ignores), parseGitignore(base, data))
	}

	var entries []gitTreeEntry
	for _, d := range ents {
		n := d.Name()
		p := path.Join(name, n)
		isDir := d.IsDir()
		switch {
		case n == ".git":
			return [32]byte{}, false, fmt.Errorf("%s: nested .git is not allowed in a spec directory; remove it", p)
		case n == gitignoreFile:
			continue
		case base == "" && (n == specRuntimeDir || n == specTreeFile || n == specMetaFile):
			continue
		case gitIgnored(ignores, p, isDir):
			continue
		}
		if isDir {
			id, nonEmpty, err := w.dir(p, ignores)
			if err != nil {
				return [32]byte{}, false, err
			}
			if nonEmpty {
				entries = append(entries, gitTreeEntry{name: n, mode: "40000", id: id})
			}
			continue
		}
		e, err := w.file(p, n, d)
		if err != nil {
			return [32]byte{}, false, err
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return gitTreeID(nil), false, nil
	}
	return gitTreeID(entries), true, nil
}

// file hashes one spec file as a git blob.
func (w *specWalker) file(p, name string, d fs.DirEntry) (gitTreeEntry, error) {
	info, err := d.Info()
	if err != nil {
		return gitTreeEntry{}, err
	}
	mode := info.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return gitTreeEntry{}, fmt.Errorf("%s: symlinks are not allowed in a spec directory; replace it with a copy of the file", p)
	case !mode.IsRegular():
		return gitTreeEntry{}, fmt.Errorf("%s: not a regular file (%s); only regular files with mode 644 or 755 are allowed", p, mode.Type())
	case info.Size() > MaxSpecFileSize:
		return gitTreeEntry{}, fmt.Errorf("%s: %d bytes is over the %d-byte (10 MiB) limit for spec files", p, info.Size(), MaxSpecFileSize)
	}
	f, err := w.fsys.Open(p)
	if err != nil {
		return gitTreeEntry{}, err
	}
	defer f.Close()
	if w.h == nil {
		w.h = sha256.New()
	}
	w.h.Reset()
	writeGitHeader(w.h, "blob", info.Size())
	n, err := io.Copy(w.h, io.LimitReader(f, info.Size()+1))
	if err != nil {
		return gitTreeEntry{}, fmt.Errorf("read %s: %w", p, err)
	}
	if n != info.Size() {
		return gitTreeEntry{}, fmt.Errorf("%s: changed while being read (%d bytes, then %d)", p, info.Size(), n)
	}
	e := gitTreeEntry{name: name, mode: "100644"}
	if mode.Perm()&0o100 != 0 {
		e.mode = "100755"
	}
	w.h.Sum(e.id[:0])
	return e, nil
}
