package store

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors that Open and the other methods wrap; test with errors.Is.
var (
	// ErrCorrupt means the database file is damaged or is not a SQLite
	// database at all. The file is left as it was.
	ErrCorrupt = errors.New("database file is damaged or is not a database")

	// ErrReadOnly means the data directory or the database file cannot be
	// written by this process.
	ErrReadOnly = errors.New("not writable")

	// ErrNewerSchema means the database was created by a newer version of
	// the app. The file is left as it was.
	ErrNewerSchema = errors.New("database schema is newer than this build")

	// ErrBadPath means the path cannot hold the database: it is a
	// directory or another kind of non-regular file, a component of its
	// directory is not a directory, or the file is another application's
	// SQLite database.
	ErrBadPath = errors.New("unusable database path")

	// ErrInvalid means a value passed to a method breaks the store's
	// constraints (an empty key, an unknown stage, an amount out of range).
	ErrInvalid = errors.New("invalid value")
)

// sqliteCode returns the primary SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// sqliteExtCode returns the extended SQLite result code of err, or 0.
func sqliteExtCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isPermission reports whether err says the file system refused a write.
func isPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// classify wraps err from SQLite with the sentinel and advice that fits it.
// what names the operation, e.g. "open store /x/provider.db".
func classify(path, what string, err error) error {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return corruptError(path, what, err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		return fmt.Errorf("%s: database file %s is %w (%w): fix its permissions or choose another data directory with --data-dir",
			what, path, ErrReadOnly, err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("%s: the disk holding %s is full (%w): free some space and try again", what, path, err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%s: cannot open %s (%w): check that the data directory exists and is writable, or choose another with --data-dir",
			what, path, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// corruptError builds the error for a damaged database file.
func corruptError(path, what string, cause error) error {
	return fmt.Errorf("%s: %w (%w); the database file %s was left untouched: stop the app, move it aside (or restore it from a backup) and start the app again",
		what, ErrCorrupt, cause, path)
}
