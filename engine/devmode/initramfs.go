package devmode

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// File type bits of a newc cpio mode (as in stat(2)).
const (
	cpioDir  = 0o040000
	cpioReg  = 0o100000
	cpioChar = 0o020000
)

// initramfsEntry is one file of an initramfs.
type initramfsEntry struct {
	Name  string // path inside the archive, without a leading "/"
	Mode  uint32 // type bits | permission bits
	Data  []byte // content of a regular file
	Major uint32 // device number of a character device
	Minor uint32
}

func dirEntry(name string) initramfsEntry { return initramfsEntry{Name: name, Mode: cpioDir | 0o755} }
func fileEntry(name string, perm uint32, data []byte) initramfsEntry {
	return initramfsEntry{Name: name, Mode: cpioReg | perm, Data: data}
}
func charDevEntry(name string, perm, major, minor uint32) initramfsEntry {
	return initramfsEntry{Name: name, Mode: cpioChar | perm, Major: major, Minor: minor}
}

// writeInitramfs writes entries as a gzip-compressed newc cpio archive that
// depends only on the entries' names, modes and contents: entries sorted by
// name, missing parent directories added, inode numbers assigned in that
// order, mtime 0, uid/gid 0, and a gzip header without file name or time.
//
// It writes the newc headers itself rather than through
// github.com/cavaliergopher/cpio, whose writer cannot set a device number
// (rdevmajor/rdevminor), and the image needs /dev/console and /dev/null: a
// Go init dies before main when its standard descriptors are closed and
// /dev/null does not exist. The tests read the result back with that
// package.
func writeInitramfs(w io.Writer, entries []initramfsEntry) error {
	list, err := normalizeEntries(entries)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	// The zero gzip.Header: no name, no comment, MTIME 0.
	bw := bufio.NewWriterSize(zw, 1<<20)
	for i, e := range list {
		if err := writeNewc(bw, uint32(i+1), e); err != nil {
			return fmt.Errorf("write initramfs entry %s: %w", e.Name, err)
		}
	}
	if err := writeNewc(bw, 0, initramfsEntry{Name: "TRAILER!!!"}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// normalizeEntries checks names, adds parent directories and sorts.
func normalizeEntries(entries []initramfsEntry) ([]initramfsEntry, error) {
	byName := map[string]initramfsEntry{}
	for _, e := range entries {
		name := path.Clean(strings.TrimPrefix(e.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("initramfs entry %q: the name must be a path inside the archive", e.Name)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("initramfs entry %q appears twice", name)
		}
		switch e.Mode &^ 0o7777 {
		case cpioDir, cpioChar:
			if len(e.Data) > 0 {
				return nil, fmt.Errorf("initramfs entry %q: only regular files have content", name)
			}
		case cpioReg:
		default:
			return nil, fmt.Errorf("initramfs entry %q: unsupported file type %#o", name, e.Mode&^0o7777)
		}
		e.Name = name
		byName[name] = e
	}
	for name := range byName {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if p, ok := byName[dir]; !ok {
				byName[dir] = dirEntry(dir)
			} else if p.Mode&^0o7777 != cpioDir {
				return nil, fmt.Errorf("initramfs entry %q is a file but %q lies under it", dir, name)
			}
		}
	}
	list := make([]initramfsEntry, 0, len(byName))
	for _, e := range byName {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// writeNewc writes one "070701" header, the name and the content, each
// padded to 4 bytes.
func writeNewc(w io.Writer, ino uint32, e initramfsEntry) error {
	nlink := uint32(1)
	if e.Mode&^0o7777 == cpioDir {
		nlink = 2
	}
	if e.Name == "TRAILER!!!" {
		nlink = 1
	}
	fields := []uint32{
		ino, e.Mode, 0 /* uid */, 0 /* gid */, nlink, 0, /* mtime */
		uint32(len(e.Data)), 0, 0 /* dev */, e.Major, e.Minor,
		uint32(len(e.Name) + 1), 0, /* check */
	}
	var hdr strings.Builder
	hdr.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&hdr, "%08X", f)
	}
	hdr.WriteString(e.Name)
	hdr.WriteByte(0)
	for hdr.Len()%4 != 0 {
		hdr.WriteByte(0)
	}
	if _, err := io.WriteString(w, hdr.String()); err != nil {
		return err
	}
	if _, err := w.Write(e.Data); err != nil {
		return err
	}
	_, err := w.Write(make([]byte, (4-len(e.Data)%4)%4))
	return err
}
