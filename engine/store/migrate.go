package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed sql/*.sql
var migrationFS embed.FS

// applicationID marks the file as a Cocoon Provider database
// (PRAGMA application_id, "COCO").
const applicationID = 0x434F434F

// migration is one numbered schema file.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, sorted by version, and
// checks that they are numbered 1..N without gaps or duplicates.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "sql/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d; migrations are numbered from 0001 without gaps", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	return ms, nil
}

// SchemaVersion returns the database's schema version (PRAGMA user_version).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := userVersion(ctx, s.db)
	if err != nil {
		return 0, fmt.Errorf("schema version of %s: %w", s.path, err)
	}
	return v, nil
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// inspect reads the schema version and checks, without writing, that this
// build can use the file: not newer than latest, and either empty or marked
// as a Cocoon Provider database.
func (s *Store) inspect(ctx context.Context, what string, latest int) (int, error) {
	v, err := userVersion(ctx, s.db)
	if err != nil {
		return 0, classify(s.path, what, err)
	}
	if err := s.checkVersion(what, v, latest); err != nil {
		return 0, err
	}
	var appID, tables int
	if err := s.db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, classify(s.path, what, err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return 0, classify(s.path, what, err)
	}
	fresh := v == 0 && appID == 0 && tables == 0
	if !fresh && (appID != applicationID || v == 0) {
		return 0, fmt.Errorf("%s: %w: %s is a SQLite database of another program (application_id %#x, schema %d, %d schema objects); it was left untouched: choose another path with --data-dir",
			what, ErrBadPath, s.path, appID, v, tables)
	}
	return v, nil
}

// migrate applies the missing migrations, the version bump and a foreign
// key check in one transaction.
func (s *Store) migrate(ctx context.Context, what string, ms []migration) error {
	latest := len(ms)
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer func() { _ = tx.Rollback() }()

	// Another process may have migrated while this one waited for the lock.
	v, err := userVersion(ctx, tx)
	if err != nil {
		return classify(s.path, what, err)
	}
	if err := s.checkVersion(what, v, latest); err != nil || v == latest {
		return err
	}
	for _, m := range ms[v:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return classify(s.path, fmt.Sprintf("%s: migration %s", what, m.name), err)
		}
	}
	// PRAGMA values cannot be bound; both are integer constants.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return classify(s.path, what, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", latest)); err != nil {
		return classify(s.path, what, err)
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return fmt.Errorf("%s: after migrating to schema %d: %w", what, latest, err)
	}
	if err := tx.Commit(); err != nil {
		return classify(s.path, what, err)
	}
	return nil
}

func (s *Store) checkVersion(what string, v, latest int) error {
	if v > latest {
		return fmt.Errorf("%s: %w: %s was created by a newer Cocoon Provider (schema %d, this build knows %d); upgrade the app (the file was left untouched)",
			what, ErrNewerSchema, s.path, v, latest)
	}
	if v < 0 {
		return fmt.Errorf("%s: %w: %s has schema version %d, which no Cocoon Provider writes; it was left untouched: choose another path with --data-dir",
			what, ErrBadPath, s.path, v)
	}
	return nil
}

// foreignKeyCheck fails when PRAGMA foreign_key_check reports any row.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		if len(bad) < maxCheckFindings {
			bad = append(bad, fmt.Sprintf("%s row %v references missing %s", table, rowid.Int64, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("foreign key check failed: %s", strings.Join(bad, "; "))
	}
	return nil
}
