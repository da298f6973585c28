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
	"time"
)

// OpenReadOnly opens the existing database at path for reading only, for
// tools that look at the data of an app that may be running (the
// diagnostic bundle). It never creates, migrates or writes the database,
// and never creates the -wal and -shm files beside it: when they are
// missing no connection has the file open in WAL mode, so it is read as an
// immutable file; when they exist it joins them read-only. Every statement
// waits at most busy for another connection's lock, then fails. Write
// methods on the returned Store fail with ErrReadOnly.
//
// It does not check the schema version: the methods that read tables
// written by a newer or older schema may fail, each on its own.
func OpenReadOnly(ctx context.Context, path string, busy time.Duration) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open store read-only: %w: empty path", ErrBadPath)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s read-only: %w", path, err)
	}
	what := "open store " + abs + " read-only"
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s: %w: not a regular file (%s)", what, ErrBadPath, fi.Mode().Type())
	}
	immutable := !exists(abs+"-wal") && !exists(abs+"-shm")
	db, err := sql.Open("sqlite", readOnlyDSN(abs, busy, immutable))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// One connection: a reader needs no more, and holds no lock between
	// statements.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	s := &Store{db: db, path: abs}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		_ = db.Close()
		return nil, classify(abs, what, err)
	}
	return s, nil
}

// exists reports whether path names something (a missing file is the only
// "no").
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// readOnlyDSN is dsn for OpenReadOnly: mode=ro, the busy timeout, and
// immutable=1 when no WAL files exist (SQLite then takes no locks and
// creates no files).
func readOnlyDSN(abs string, busy time.Duration, immutable bool) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:/C:/...
	}
	u := url.URL{Path: p}
	q := []string{"mode=ro", fmt.Sprintf("_pragma=busy_timeout(%d)", max(busy.Milliseconds(), 0))}
	if immutable {
		q = append(q, "immutable=1")
	}
	return "file:" + u.EscapedPath() + "?" + strings.Join(q, "&")
}

// Settings returns every setting, key to value.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	const what = "read settings"
	rows, err := s.db.QueryContext(ctx, "SELECT key, value FROM settings")
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, classify(s.path, what, err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// LastEvents returns the newest n events in ID order. An n of zero or less
// means DefaultPageSize; more than MaxPageSize is capped.
func (s *Store) LastEvents(ctx context.Context, n int) ([]Event, error) {
	const what = "read the last events"
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, t_ms, level, kind, message, attrs FROM
		 (SELECT id, t_ms, level, kind, message, attrs FROM events ORDER BY id DESC LIMIT ?)
		 ORDER BY id`, pageSize(n))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	return s.scanEvents(rows, what)
}
