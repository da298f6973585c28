package worker

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func testVars(t *testing.T) RuntimeVars {
	t.Helper()
	var rv RuntimeVars
	for _, kv := range [][2]string{{KeyModelName, "Qwen/Qwen3-0.6B"}, {KeyOwnerAddress, "UQowner"}, {KeyNodeWalletKey, testWalletKey}} {
		if err := rv.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	return rv
}

// treeOf lists dst as "path mode" lines and the file contents.
func treeOf(t *testing.T, root string) (modes []string, contents map[string][]byte) {
	t.Helper()
	contents = map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		kind := "f"
		if d.IsDir() {
			kind = "d"
		}
		modes = append(modes, filepath.ToSlash(rel)+" "+kind+" "+info.Mode().Perm().String())
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			contents[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return modes, contents
}

func TestRenderSpecDevTemplate(t *testing.T) {
	// The dev template in testdata, read from disk: byte-identical copies,
	// the executable bit kept, runtime.vars 0600.
	dst := filepath.Join(t.TempDir(), "spec")
	err := RenderSpec(dst, os.DirFS("testdata/spec-dev"), testVars(t), RenderOptions{
		StaticFiles:  map[string][]byte{"global.config.json": []byte(`{"base":true}`)},
		RuntimeFiles: map[string][]byte{"global.config.json": []byte(`{"liteservers":[]}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	modes, contents := treeOf(t, dst)
	want := []string{
		". d -rwx------",
		".gitignore f -rw-r--r--",
		"global.config.json f -rw-r--r--",
		"init f -rwxr-xr-x",
		"model.verity_hash f -rw-r--r--",
		"runtime d -rwx------",
		"runtime/global.config.json f -rw-------",
		"runtime/runtime.vars f -rw-------",
		"worker-config.json f -rw-r--r--",
	}
	if !slices.Equal(modes, want) {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(modes, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{".gitignore", "init", "model.verity_hash", "worker-config.json"} {
		src, err := os.ReadFile(filepath.Join("testdata/spec-dev", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(src, contents[name]) {
			t.Errorf("%s differs from the template", name)
		}
	}
	if got := string(contents["runtime/runtime.vars"]); got != "MODEL_NAME=Qwen/Qwen3-0.6B\nOWNER_ADDRESS=UQowner\nNODE_WALLET_KEY="+testWalletKey+"\n" {
		t.Errorf("runtime.vars = %q", got)
	}
	if string(contents["global.config.json"]) != `{"base":true}` || string(contents["runtime/global.config.json"]) != `{"liteservers":[]}` {
		t.Error("extra files not written as given")
	}
	assertNoLeftovers(t, filepath.Dir(dst), "spec")
}

// assertNoLeftovers checks that dir holds only the names given.
func assertNoLeftovers(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q (temporary directories left behind?)", dir, got, names)
	}
}

func TestRenderSpecModes(t *testing.T) {
	mapFS := func(mode fs.FileMode) fstest.MapFS {
		return fstest.MapFS{
			"init":      {Data: []byte("#!/bin/sh\n"), Mode: mode},
			"sub/a.txt": {Data: []byte("a"), Mode: 0o644},
		}
	}
	tests := []struct {
		name     string
		fsys     fs.FS
		opts     RenderOptions
		wantInit string // mode of init, or "" when an error is expected
		wantErr  string
	}{
		{name: "0755", fsys: mapFS(0o755), wantInit: "-rwxr-xr-x"},
		{name: "0644", fsys: mapFS(0o644), wantInit: "-rw-r--r--"},
		{name: "umask 002 exec", fsys: mapFS(0o775), wantInit: "-rwxr-xr-x"},
		{name: "umask 077 plain", fsys: mapFS(0o600), wantInit: "-rw-r--r--"},
		{name: "owner exec only", fsys: mapFS(0o744), wantInit: "-rwxr-xr-x"},
		{name: "strict 0755", fsys: mapFS(0o755), opts: RenderOptions{StrictModes: true}, wantInit: "-rwxr-xr-x"},
		{name: "strict 0775", fsys: mapFS(0o775), opts: RenderOptions{StrictModes: true}, wantErr: "init: mode 0775"},
		{name: "strict 0600", fsys: mapFS(0o600), opts: RenderOptions{StrictModes: true}, wantErr: "mode 0600"},
		{name: "embed-like 0444 with Executables", fsys: mapFS(0o444), opts: RenderOptions{Executables: []string{"init"}}, wantInit: "-rwxr-xr-x"},
		{name: "Executables typo", fsys: mapFS(0o444), opts: RenderOptions{Executables: []string{"int"}}, wantErr: `executable "int"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "spec")
			err := RenderSpec(dst, tt.fsys, testVars(t), tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				assertNoLeftovers(t, parent)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(filepath.Join(dst, "init"))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm().String(); got != tt.wantInit {
				t.Errorf("init mode = %s, want %s", got, tt.wantInit)
			}
			if info, err := os.Stat(filepath.Join(dst, "sub")); err != nil || info.Mode().Perm() != 0o755 {
				t.Errorf("sub: %v %v, want a 0755 directory", info, err)
			}
		})
	}
}

func TestRenderSpecRejects(t *testing.T) {
	file := func(data string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(data), Mode: 0o644} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		opts    RenderOptions
		wantErr string
	}{
		{"nested .git dir", fstest.MapFS{"a": file("x"), "sub/.git/config": file("x")}, RenderOptions{}, "sub/.git: nested .git"},
		{".git file", fstest.MapFS{".git": file("gitdir: ..")}, RenderOptions{}, ".git: nested .git"},
		{"symlink", fstest.MapFS{"link": {Data: []byte("target"), Mode: fs.ModeSymlink | 0o777}}, RenderOptions{}, "link: a symbolic link"},
		{"named pipe", fstest.MapFS{"fifo": {Mode: fs.ModeNamedPipe | 0o644}}, RenderOptions{}, "fifo: a named pipe"},
		{"too large", fstest.MapFS{"big": {Data: make([]byte, MaxSpecFileSize+1), Mode: 0o644}}, RenderOptions{}, "big: 10000001 bytes"},
		{"runtime.vars in template", fstest.MapFS{"runtime/runtime.vars": file("A=1\n")}, RenderOptions{}, "must not contain it"},
		{"static file in runtime", fstest.MapFS{"a": file("x")}, RenderOptions{StaticFiles: map[string][]byte{"runtime/x": nil}}, "use RuntimeFiles"},
		{"static file escapes", fstest.MapFS{"a": file("x")}, RenderOptions{StaticFiles: map[string][]byte{"../x": nil}}, "not a clean relative"},
		{"static file .git", fstest.MapFS{"a": file("x")}, RenderOptions{StaticFiles: map[string][]byte{"d/.git/x": nil}}, ".git is not allowed"},
		{"runtime file reserved", fstest.MapFS{"a": file("x")}, RenderOptions{RuntimeFiles: map[string][]byte{"runtime.vars": nil}}, "reserved"},
		{"runtime file clash", fstest.MapFS{"runtime/g.json": file("x")}, RenderOptions{RuntimeFiles: map[string][]byte{"g.json": nil}}, "already has runtime/g.json"},
		{"static file too large", fstest.MapFS{"a": file("x")}, RenderOptions{StaticFiles: map[string][]byte{"g.json": make([]byte, MaxSpecFileSize+1)}}, "over 10000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			err := RenderSpec(filepath.Join(parent, "spec"), tt.fsys, testVars(t), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			assertNoLeftovers(t, parent)
		})
	}
}

func TestRenderSpecRealSymlink(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(src, "b")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	parent := t.TempDir()
	err := RenderSpec(filepath.Join(parent, "spec"), os.DirFS(src), testVars(t), RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "b: a symbolic link") {
		t.Fatalf("err = %v, want a symlink error", err)
	}
	assertNoLeftovers(t, parent)
}

func TestRenderSpecEmptyVars(t *testing.T) {
	parent := t.TempDir()
	err := RenderSpec(filepath.Join(parent, "spec"), fstest.MapFS{}, RuntimeVars{}, RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("err = %v, want an empty runtime.vars error", err)
	}
	assertNoLeftovers(t, parent)
}

func TestRenderSpecReplace(t *testing.T) {
	parent := t.TempDir()
	dst := filepath.Join(parent, "spec")
	first := fstest.MapFS{"old-only": {Data: []byte("1"), Mode: 0o644}}
	second := fstest.MapFS{"new-only": {Data: []byte("2"), Mode: 0o644}}
	if err := RenderSpec(dst, first, testVars(t), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without Replace an existing directory is refused and left as it was.
	err := RenderSpec(dst, second, testVars(t), RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v, want already exists", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "old-only")); err != nil {
		t.Errorf("old spec damaged: %v", err)
	}
	// With Replace the new spec replaces the old one completely.
	if err := RenderSpec(dst, second, testVars(t), RenderOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	_, contents := treeOf(t, dst)
	if _, ok := contents["old-only"]; ok {
		t.Error("old file survived Replace")
	}
	if string(contents["new-only"]) != "2" {
		t.Error("new file missing after Replace")
	}
	assertNoLeftovers(t, parent, "spec")

	// A failing render with Replace keeps the old spec.
	bad := fstest.MapFS{".git/x": {Data: []byte("x"), Mode: 0o644}}
	if err := RenderSpec(dst, bad, testVars(t), RenderOptions{Replace: true}); err == nil {
		t.Fatal("bad template accepted")
	}
	if _, err := os.Stat(filepath.Join(dst, "new-only")); err != nil {
		t.Errorf("failed Replace damaged the spec: %v", err)
	}
	assertNoLeftovers(t, parent, "spec")
}

func TestRenderSpecStaticOverride(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "spec")
	fsys := fstest.MapFS{"global.config.json": {Data: []byte("template"), Mode: 0o755}}
	if err := RenderSpec(dst, fsys, testVars(t), RenderOptions{StaticFiles: map[string][]byte{"global.config.json": []byte("base")}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "global.config.json"))
	info, serr := os.Stat(filepath.Join(dst, "global.config.json"))
	if err != nil || serr != nil || string(b) != "base" || info.Mode().Perm() != 0o644 {
		t.Errorf("override: %q %v %v", b, err, serr)
	}
}
