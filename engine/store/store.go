package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DefaultFileName is the database file name inside the data directory.
const DefaultFileName = "provider.db"

// appDirName is the app's directory under $XDG_DATA_HOME.
const appDirName = "cocoon-provider"

// busyTimeout is how long a statement waits for another connection's or
// process's lock before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// maxOpenConns bounds the connection pool. WAL lets readers run beside the
// single writer; writers queue on the busy timeout.
const maxOpenConns = 4

// Store is the app's database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
}

// DefaultPath returns $XDG_DATA_HOME/cocoon-provider/provider.db, or
// ~/.local/share/cocoon-provider/provider.db when XDG_DATA_HOME is unset or
// not absolute (as the XDG base directory specification asks).
func DefaultPath() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("default database path: %w; set XDG_DATA_HOME or choose a directory with --data-dir", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, appDirName, DefaultFileName), nil
}

// Open opens the database at path, creating it (mode 0600) and its
// directory (mode 0700) when missing, and brings its schema up to date.
//
// Open never re-creates or repairs an existing file. It fails, leaving the
// file as it was, when the file is damaged (ErrCorrupt), was written by a
// newer version of the app (ErrNewerSchema), cannot be written
// (ErrReadOnly), or the path cannot hold a database (ErrBadPath).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open store: %w: empty path; pass a database file path or leave it unset for the default", ErrBadPath)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	what := "open store " + abs
	if err := preparePath(what, abs); err != nil {
		return nil, err
	}

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	s := &Store{db: db, path: abs}
	if err := s.init(ctx, what); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// init connects, checks the file, switches it to WAL mode and migrates.
// Everything before the switch only reads: a file that is refused (damaged,
// newer, another program's) is left byte-identical.
func (s *Store) init(ctx context.Context, what string) error {
	if err := s.db.PingContext(ctx); err != nil {
		return classify(s.path, what, err)
	}
	if err := s.check(ctx, what, "quick_check"); err != nil {
		return err
	}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	v, err := s.inspect(ctx, what, len(ms))
	if err != nil {
		return err
	}
	if err := s.enableWAL(ctx, what); err != nil {
		return err
	}
	if v < len(ms) {
		if err := s.migrate(ctx, what, ms); err != nil {
			return err
		}
	}
	return s.checkPragmas(ctx, what)
}

// enableWAL switches the file to WAL mode. The mode is stored in the file,
// so it holds for every connection. A file system without shared memory
// support (some network file systems) refuses it.
func (s *Store) enableWAL(ctx context.Context, what string) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return classify(s.path, what, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("%s: the database could not be switched to WAL mode (journal_mode is %q); the data directory may be on a network file system: choose a local directory with --data-dir",
			what, mode)
	}
	return nil
}

// checkPragmas verifies that the connection settings took effect.
func (s *Store) checkPragmas(ctx context.Context, what string) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer conn.Close()
	var mode string
	var sync, fk int
	for _, q := range []struct {
		pragma string
		dst    any
	}{
		{"journal_mode", &mode},
		{"synchronous", &sync},
		{"foreign_keys", &fk},
	} {
		if err := conn.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(q.dst); err != nil {
			return classify(s.path, what, err)
		}
	}
	if !strings.EqualFold(mode, "wal") || sync != 2 || fk != 1 {
		return fmt.Errorf("%s: connection settings did not apply (journal_mode=%s, synchronous=%d, foreign_keys=%d)", what, mode, sync, fk)
	}
	return nil
}

// dsn builds the driver's connection string. The path goes into a file: URI
// so that SQLite's own mode=rw applies: the file exists by now (preparePath
// created it with the right mode) and SQLite must not create another. The
// _pragma values apply to every connection of the pool. journal_mode=WAL is
// not among them: switching a file to WAL writes its header, so enableWAL
// does it once the file has passed the checks.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:/C:/...
	}
	u := url.URL{Path: p}
	q := []string{
		"mode=rw",
		"_txlock=immediate",
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()),
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(FULL)",
	}
	return "file:" + u.EscapedPath() + "?" + strings.Join(q, "&")
}

// preparePath makes sure the directory exists and is writable and that path
// is a writable regular file, creating an empty one (mode 0600) when it is
// missing. It never changes an existing file.
func preparePath(what, path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			if isPermission(err) {
				return fmt.Errorf("%s: data directory %s cannot be created, a parent directory is %w: %v; choose another with --data-dir or fix permissions",
					what, dir, ErrReadOnly, err)
			}
			return dirError(what, dir, err)
		}
	case err != nil:
		return dirError(what, dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %w: %s is not a directory; choose another data directory with --data-dir", what, ErrBadPath, dir)
	}

	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return preparePath(what, path) // created meanwhile by another process
		}
		if err != nil {
			return dirError(what, dir, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case err != nil:
		return dirError(what, dir, err)
	case fi.IsDir():
		return fmt.Errorf("%s: %w: %s is a directory, not a database file; pass a file path such as %s",
			what, ErrBadPath, path, filepath.Join(path, DefaultFileName))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: %w: %s is not a regular file (%s); pass the path of a database file",
			what, ErrBadPath, path, fi.Mode().Type())
	}

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if isPermission(err) {
			return fmt.Errorf("%s: database file %s is %w: %v; fix its permissions or choose another data directory with --data-dir",
				what, path, ErrReadOnly, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}

	// SQLite creates path-wal and path-shm beside the file; try the same.
	probe, err := os.CreateTemp(dir, ".cocoon-provider-probe-*")
	if err != nil {
		return dirError(what, dir, err)
	}
	name := probe.Name()
	_ = probe.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("%s: remove probe file: %w", what, err)
	}
	return nil
}

// dirError explains why the data directory dir cannot be used.
func dirError(what, dir string, err error) error {
	switch {
	case isPermission(err):
		return fmt.Errorf("%s: data directory %s is %w: %v; choose another with --data-dir or fix permissions",
			what, dir, ErrReadOnly, err)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %w: data directory %s cannot be created: %v; a component of it is a file, not a directory: choose another with --data-dir",
			what, ErrBadPath, dir, err)
	}
	return fmt.Errorf("%s: data directory %s: %w; choose another with --data-dir", what, dir, err)
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database. SQLite checkpoints the WAL into the database
// file when the last connection closes.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// Integrity runs PRAGMA integrity_check over the whole database. It returns
// nil when SQLite reports "ok" and otherwise an error wrapping ErrCorrupt
// with SQLite's first findings.
func (s *Store) Integrity(ctx context.Context) error {
	return s.check(ctx, "integrity check of "+s.path, "integrity_check")
}

// maxCheckFindings bounds how many of SQLite's findings an error quotes.
const maxCheckFindings = 3

// check runs PRAGMA quick_check or integrity_check.
func (s *Store) check(ctx context.Context, what, pragma string) error {
	rows, err := s.db.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer rows.Close()
	var findings []string
	n := 0
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return classify(s.path, what, err)
		}
		n++
		if line != "ok" && len(findings) < maxCheckFindings {
			findings = append(findings, line)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(s.path, what, err)
	}
	if len(findings) > 0 {
		return corruptError(s.path, what, fmt.Errorf("%s found: %s", pragma, strings.Join(findings, "; ")))
	}
	if n == 0 {
		return corruptError(s.path, what, fmt.Errorf("%s returned nothing", pragma))
	}
	return nil
}

// toMS converts t to unix milliseconds.
func toMS(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
