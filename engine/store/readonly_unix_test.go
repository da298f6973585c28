//go:build unix

package store

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// nobody is the user a root test run drops to, so that file permissions
// apply to the process under test.
const nobody = 65534

// TestOpenReadOnly checks that an unwritable data directory or database file
// is refused with ErrReadOnly and advice, and that nothing in it changes.
//
// Permission bits do not restrict root. Run as an ordinary user, the test
// opens the store in-process; run as root, it re-executes the test binary
// as user nobody (uid 65534), for whom the same permission bits hold.
func TestOpenReadOnly(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name  string
		setup func(t *testing.T, base string) (path string, roDirs []string)
		msg   string
	}{
		{
			name: "data directory not writable, no database yet",
			setup: func(t *testing.T, base string) (string, []string) {
				dir := filepath.Join(base, "data")
				mkdir(t, dir)
				return filepath.Join(dir, DefaultFileName), []string{dir}
			},
			msg: "data directory",
		},
		{
			name: "data directory not writable, database exists",
			setup: func(t *testing.T, base string) (string, []string) {
				dir := filepath.Join(base, "data")
				mkdir(t, dir)
				path := filepath.Join(dir, DefaultFileName)
				makeDB(t, path, 10)
				chmod(t, path, 0o666) // the file itself is writable
				return path, []string{dir}
			},
			msg: "data directory",
		},
		{
			name: "database file not writable",
			setup: func(t *testing.T, base string) (string, []string) {
				dir := filepath.Join(base, "data")
				mkdir(t, dir)
				chmod(t, dir, 0o777)
				path := filepath.Join(dir, DefaultFileName)
				makeDB(t, path, 10)
				chmod(t, path, 0o444)
				return path, nil
			},
			msg: "database file",
		},
		{
			name: "data directory cannot be created",
			setup: func(t *testing.T, base string) (string, []string) {
				parent := filepath.Join(base, "parent")
				mkdir(t, parent)
				return filepath.Join(parent, "data", DefaultFileName), []string{parent}
			},
			msg: "data directory",
		},
	}

	var bin string
	if root {
		bin = nobodyBinary(t)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			if root {
				// Let nobody reach base: t.TempDir's parent is 0700.
				chmod(t, filepath.Dir(base), 0o755)
			}
			path, roDirs := tc.setup(t, base)
			for _, d := range roDirs {
				chmod(t, d, 0o555)
				t.Cleanup(func() { _ = os.Chmod(d, 0o755) }) // let TempDir remove it
			}
			snap := snapshot(t, base)

			var kind, msg string
			if root {
				kind, msg = openAsNobody(t, bin, path)
			} else {
				s, err := Open(t.Context(), path)
				if err == nil {
					s.Close()
				}
				kind, msg = errKind(err), errString(err)
			}
			t.Logf("Open: %s", msg)
			if kind != "readonly" {
				t.Fatalf("Open: %s error %q, want ErrReadOnly", kind, msg)
			}
			for _, want := range []string{tc.msg, "not writable", "--data-dir"} {
				if !strings.Contains(msg, want) {
					t.Errorf("Open error %q lacks %q", msg, want)
				}
			}
			if got := snapshot(t, base); !slices.Equal(got, snap) {
				t.Errorf("files changed:\nbefore %v\nafter  %v", snap, got)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists every file under dir with its mode and content hash.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		line := p + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			line += " " + fileSum(t, p)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nobodyBinary copies the test binary where user nobody can run it.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	chmod(t, filepath.Dir(dir), 0o755)
	bin := filepath.Join(dir, "store.test")
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// openAsNobody runs TestHelperOpenProcess as user nobody on path and returns
// the kind and text of its error.
func openAsNobody(t *testing.T, bin, path string) (kind, msg string) {
	t.Helper()
	cmd := helperCmd(t, bin, "TestHelperOpenProcess", "open", helperDBEnv+"="+path, "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}},
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot switch to uid %d here (%v); the read-only cases need a non-root run", nobody, err)
	}
	if err != nil {
		t.Fatalf("helper as uid %d: %v\nstdout:\n%s\nstderr:\n%s", nobody, err, out, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "result "); ok {
			kind = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "error "); ok {
			msg = v
		}
	}
	if kind == "" {
		t.Fatalf("helper printed no result:\n%s\nstderr:\n%s", out, stderr.String())
	}
	return kind, msg
}
