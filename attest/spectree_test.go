package attest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const emptyTreeHex = "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"

func hexTree(t testing.TB, s string) [32]byte {
	t.Helper()
	var a [32]byte
	if n := copy(a[:], mustHex(t, s)); n != 32 {
		t.Fatalf("%q is %d bytes, want 32", s, n)
	}
	return a
}

func specFile(data string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(data), Mode: 0o644} }

func specExec(data string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(data), Mode: 0o755} }

// smallSpec is the tree written to the git vector below (checked with
// git 2.39.5, `git init --object-format=sha256`, `git add -A`, `git write-tree`).
func smallSpec() fstest.MapFS {
	return fstest.MapFS{
		"a":          specFile("hello\n"),
		"init":       specExec("#!/bin/sh\necho hi\n"),
		"sub/c.json": specFile("{}\n"),
	}
}

const smallSpecTreeHex = "7d58a7cc70676be5023b4b5d9308d661e6646531751e117ae2fcac28835f8d7c"

func TestSpecTreeVectors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"empty directory", fstest.MapFS{}, emptyTreeHex},
		{"only excluded entries", fstest.MapFS{
			".gitignore":           specFile("runtime\n*.log\n"),
			"runtime/runtime.vars": specFile("OWNER_ADDRESS=x\n"),
			"spec.tree":            specFile(emptyTreeHex + "\n"),
			"spec.meta":            specFile("meta\n"),
			"debug.log":            specFile("x"),
			"empty":                &fstest.MapFile{Mode: fs.ModeDir | 0o755},
			"nested/empty":         &fstest.MapFile{Mode: fs.ModeDir | 0o755},
		}, emptyTreeHex},
		{"git vector", smallSpec(), smallSpecTreeHex},
		{"git vector plus excluded entries", func() fstest.MapFS {
			m := smallSpec()
			m[".gitignore"] = specFile("*.bak\n/runtime\n")
			m["sub/.gitignore"] = specFile("tmp/\n")
			m["sub/tmp/x"] = specFile("scratch")
			m["sub/c.json.bak"] = specFile("old")
			m["runtime/global.config.json"] = specFile("{}")
			m["spec.meta"] = specFile("m")
			m["empty/dir"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			return m
		}(), smallSpecTreeHex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SpecTree(tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got[:]) != tt.want {
				t.Errorf("SpecTree = %x, want %s", got, tt.want)
			}
		})
	}
}

func TestSpecTreeContentMatters(t *testing.T) {
	base, err := SpecTree(smallSpec())
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(fstest.MapFS){
		"content":                    func(m fstest.MapFS) { m["a"] = specFile("hello!\n") },
		"executable bit":             func(m fstest.MapFS) { m["a"] = specExec("hello\n") },
		"executable bit, group only": func(m fstest.MapFS) { m["init"].Mode = 0o654 },
		"rename":                     func(m fstest.MapFS) { m["b"] = m["a"]; delete(m, "a") },
		"new file":                   func(m fstest.MapFS) { m["sub/d"] = specFile("") },
		"runtime below the top":      func(m fstest.MapFS) { m["sub/runtime/x"] = specFile("x") },
		"spec.tree below the top":    func(m fstest.MapFS) { m["sub/spec.tree"] = specFile("x") },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			m := smallSpec()
			edit(m)
			got, err := SpecTree(m)
			if err != nil {
				t.Fatal(err)
			}
			if got == base {
				t.Errorf("tree unchanged by %s", name)
			}
		})
	}
	// The owner-executable bit alone decides: 0o700 → 100755, 0o466 → 100644.
	m := smallSpec()
	m["init"].Mode = 0o700
	m["a"].Mode = 0o466
	if got, err := SpecTree(m); err != nil || got != base {
		t.Errorf("SpecTree with modes 0700/0466 = %x, %v; want %x", got, err, base)
	}
}

func TestSpecTreeErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"symlink", fstest.MapFS{"link": &fstest.MapFile{Data: []byte("a"), Mode: fs.ModeSymlink | 0o777}}, "link: symlinks are not allowed"},
		{"device", fstest.MapFS{"sub/dev": &fstest.MapFile{Mode: fs.ModeDevice | 0o644}}, "sub/dev: not a regular file"},
		{"pipe", fstest.MapFS{"fifo": &fstest.MapFile{Mode: fs.ModeNamedPipe | 0o644}}, "fifo: not a regular file"},
		{"nested .git directory", fstest.MapFS{"sub/.git/HEAD": specFile("ref: x")}, "sub/.git: nested .git is not allowed"},
		{"top-level .git file", fstest.MapFS{".git": specFile("gitdir: /x")}, ".git: nested .git is not allowed"},
		{"too large", fstest.MapFS{"big": &fstest.MapFile{Data: make([]byte, MaxSpecFileSize+1)}}, "big: 10485761 bytes is over the 10485760-byte"},
		{".gitignore symlink", fstest.MapFS{".gitignore": &fstest.MapFile{Mode: fs.ModeSymlink | 0o777}}, ".gitignore: not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SpecTree(tt.fsys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SpecTree error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// Exactly the limit is fine, and ignored entries are never inspected.
	ok := fstest.MapFS{
		"max":             &fstest.MapFile{Data: make([]byte, MaxSpecFileSize)},
		".gitignore":      specFile("ignored/\nlink\n"),
		"ignored/.git/x":  specFile("x"),
		"ignored/big":     &fstest.MapFile{Data: make([]byte, MaxSpecFileSize+1)},
		"link":            &fstest.MapFile{Mode: fs.ModeSymlink | 0o777},
		"runtime/dev":     &fstest.MapFile{Mode: fs.ModeDevice},
		"runtime/.git/ok": specFile("x"),
	}
	if _, err := SpecTree(ok); err != nil {
		t.Errorf("SpecTree: %v", err)
	}
}

// TestSpecTreeDirFS reads the git vector from disk: the executable bit and
// symlinks come from the real file modes.
func TestSpecTreeDirFS(t *testing.T) {
	dir := t.TempDir()
	for name, f := range smallSpec() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SpecTree(os.DirFS(dir))
	if err != nil || hex.EncodeToString(got[:]) != smallSpecTreeHex {
		t.Fatalf("SpecTree = %x, %v; want %s", got, err, smallSpecTreeHex)
	}
	if err := os.Symlink("a", filepath.Join(dir, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := SpecTree(os.DirFS(dir)); err == nil || !strings.Contains(err.Error(), "sub/link: symlinks are not allowed") {
		t.Errorf("symlink: err = %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if _, err := SpecTree(os.DirFS(dir)); err == nil || !strings.Contains(err.Error(), "dirlink: symlinks are not allowed") {
		t.Errorf("directory symlink: err = %v", err)
	}
}

// bigSpec is a 200-file spec tree: 20 directories of 10 files of 1 KiB,
// with a .gitignore at the top.
func bigSpec() fstest.MapFS {
	m := fstest.MapFS{".gitignore": specFile("runtime\n*.tmp\n!keep.tmp\n")}
	data := bytes.Repeat([]byte("0123456789abcdef"), 64)
	for d := range 20 {
		for f := range 10 {
			m[fmt.Sprintf("dir%02d/file%02d.json", d, f)] = &fstest.MapFile{Data: data, Mode: 0o644}
		}
	}
	return m
}

func BenchmarkSpecTree(b *testing.B) {
	m := bigSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SpecTree(m); err != nil {
			b.Fatal(err)
		}
	}
}
