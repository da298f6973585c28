package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOpenFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, DefaultFileName)
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	// SQLite gives the WAL and shared-memory files the database's mode.
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}, {path + "-wal", 0o600}, {path + "-shm", 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("mode of %s = %v, want %v", c.path, fi.Mode(), c.want)
		}
	}

	// Hold two connections at once so that both come from the pool's DSN.
	c1, err := s.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := s.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i, c := range []*sql.Conn{c1, c2} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000",
		} {
			var got string
			if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, pragma, got, want)
			}
		}
	}
	if err := s.Integrity(t.Context()); err != nil {
		t.Errorf("Integrity: %v", err)
	}
}

func TestOpenRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := Open(t.Context(), filepath.Join("rel", "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(dir, "rel", "x.db"); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	// Characters that mean something in a file: URI must reach the file
	// system as they are.
	dir := filepath.Join(t.TempDir(), "a b?c#d%25e")
	path := filepath.Join(dir, "p&q=r.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirList(t, dir); !slices.Equal(got, []string{"p&q=r.db"}) {
		t.Errorf("files in %s = %v, want only p&q=r.db", dir, got)
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name, xdg, want string
	}{
		{"xdg set", "/srv/data", filepath.Join("/srv/data", "cocoon-provider", "provider.db")},
		{"xdg unset", "", filepath.Join(home, ".local", "share", "cocoon-provider", "provider.db")},
		{"xdg relative is ignored", "rel/dir", filepath.Join(home, ".local", "share", "cocoon-provider", "provider.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_DATA_HOME", tc.xdg)
			got, err := DefaultPath()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("DefaultPath() = %q, want %q", got, tc.want)
			}
		})
	}
}

// makeDB creates a store at path holding some rows, and closes it.
func makeDB(t *testing.T, path string, ledgerRows int) {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.PrepareContext(t.Context(),
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton, note) VALUES (?, ?, 'earned', ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	note := strings.Repeat("n", 300) // about ten rows a page
	for i := range ledgerRows {
		if _, err := stmt.ExecContext(t.Context(), fmt.Sprintf("src-%d", i), toMS(t0), i, note); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// overwrite replaces n bytes of the file at off with seeded random bytes.
func overwrite(t *testing.T, path string, off, n int64, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestOpenBadFile checks that Open refuses each damaged or foreign file with
// the right sentinel and leaves it byte-identical, with no files added.
func TestOpenBadFile(t *testing.T) {
	const pageSize = 4096
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    error
		msg     string // part of the error text
	}{
		{
			name: "random bytes",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				overwrite(t, path, 0, 3*pageSize, 7)
			},
			want: ErrCorrupt, msg: "move it aside",
		},
		{
			name: "too short to be a database",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte("not a db"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrCorrupt, msg: "not a database",
		},
		{
			name: "header page overwritten",
			prepare: func(t *testing.T, path string) {
				makeDB(t, path, 100)
				overwrite(t, path, 0, pageSize, 8)
			},
			want: ErrCorrupt, msg: "not a database",
		},
		{
			name: "table page overwritten",
			prepare: func(t *testing.T, path string) {
				makeDB(t, path, 500)
				overwrite(t, path, 5*pageSize, pageSize, 9)
			},
			want: ErrCorrupt, msg: "quick_check",
		},
		{
			name: "last page overwritten",
			prepare: func(t *testing.T, path string) {
				makeDB(t, path, 500)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				overwrite(t, path, fi.Size()-pageSize, pageSize, 10)
			},
			want: ErrCorrupt, msg: "malformed",
		},
		{
			name: "truncated",
			prepare: func(t *testing.T, path string) {
				makeDB(t, path, 500)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrCorrupt, msg: "malformed",
		},
		{
			name: "newer schema",
			prepare: func(t *testing.T, path string) {
				makeDB(t, path, 10)
				rawExec(t, path, "PRAGMA user_version = 99")
			},
			want: ErrNewerSchema, msg: fmt.Sprintf("created by a newer Cocoon Provider (schema 99, this build knows %d); upgrade the app", latestSchema),
		},
		{
			name: "another program's database",
			prepare: func(t *testing.T, path string) {
				rawExec(t, path, "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')")
			},
			want: ErrBadPath, msg: "another program",
		},
		{
			name: "another program's application id",
			prepare: func(t *testing.T, path string) {
				rawExec(t, path, "PRAGMA application_id = 42")
			},
			want: ErrBadPath, msg: "another program",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DefaultFileName)
			tc.prepare(t, path)
			before := fileSum(t, path)
			files := dirList(t, dir)

			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open error %q does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q lacks %q or the path", err, tc.msg)
			}
			if after := fileSum(t, path); after != before {
				t.Error("the database file changed")
			}
			if got := dirList(t, dir); !slices.Equal(got, files) {
				t.Errorf("files after Open = %v, want %v", got, files)
			}
		})
	}
}

// rawExec runs statements on the file at path without the store.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestOpenBadPath(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) (path, keep string)
		msg     string
	}{
		{
			name:    "empty path",
			prepare: func(t *testing.T, dir string) (string, string) { return "", "" },
			msg:     "empty path",
		},
		{
			name: "path is a directory",
			prepare: func(t *testing.T, dir string) (string, string) {
				p := filepath.Join(dir, "provider.db")
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				return p, ""
			},
			msg: "is a directory, not a database file",
		},
		{
			// Works as root too: ENOTDIR does not depend on permissions.
			name: "a parent is a regular file",
			prepare: func(t *testing.T, dir string) (string, string) {
				f := filepath.Join(dir, "file")
				if err := os.WriteFile(f, []byte("precious"), 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(f, "sub", "provider.db"), f
			},
			msg: "choose another with --data-dir",
		},
		{
			name: "the directory is a regular file",
			prepare: func(t *testing.T, dir string) (string, string) {
				f := filepath.Join(dir, "file")
				if err := os.WriteFile(f, []byte("precious"), 0o600); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(f, "provider.db"), f
			},
			msg: "is not a directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, keep := tc.prepare(t, dir)
			var before string
			if keep != "" {
				before = fileSum(t, keep)
			}
			files := dirList(t, dir)
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Open error %q: want ErrBadPath and %q", err, tc.msg)
			}
			if keep != "" && fileSum(t, keep) != before {
				t.Errorf("%s changed", keep)
			}
			if got := dirList(t, dir); !slices.Equal(got, files) {
				t.Errorf("files after Open = %v, want %v", got, files)
			}
		})
	}
}

func TestIntegrity(t *testing.T) {
	s := openTemp(t)
	if err := s.Integrity(t.Context()); err != nil {
		t.Fatalf("Integrity of a fresh store: %v", err)
	}

	// A damaged file, checked through a connection that skipped Open's
	// checks.
	path := filepath.Join(t.TempDir(), DefaultFileName)
	makeDB(t, path, 500)
	overwrite(t, path, 5*4096, 4096, 11)
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := &Store{db: db, path: path}
	err = bad.Integrity(t.Context())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Integrity of a damaged file = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "integrity_check") || !strings.Contains(err.Error(), path) {
		t.Errorf("Integrity error %q lacks the check's name or the path", err)
	}
}

func TestCloseThenUse(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Setting(context.Background(), "k"); err == nil {
		t.Error("Setting after Close succeeded")
	}
}
