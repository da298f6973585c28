package store

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	for i, m := range ms {
		if m.version != i+1 || m.sql == "" {
			t.Errorf("migration %d: %+v", i, m)
		}
	}

	file := &fstest.MapFile{Data: []byte("CREATE TABLE t (x);")}
	tests := []struct {
		name  string
		files []string
		ok    bool
	}{
		{"numbered from one", []string{"sql/0001_a.sql", "sql/0002_b.sql"}, true},
		{"gap", []string{"sql/0001_a.sql", "sql/0003_c.sql"}, false},
		{"starts at two", []string{"sql/0002_b.sql"}, false},
		{"duplicate number", []string{"sql/0001_a.sql", "sql/0001_b.sql"}, false},
		{"no number", []string{"sql/init.sql"}, false},
		{"short number", []string{"sql/1_a.sql"}, false},
		{"zero", []string{"sql/0000_a.sql"}, false},
		{"none", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = file
			}
			_, err := loadMigrations(fsys)
			if (err == nil) != tc.ok {
				t.Errorf("loadMigrations(%v) error = %v, want ok=%v", tc.files, err, tc.ok)
			}
		})
	}
}

func TestMigrateFreshAndReopen(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(t.Context())
	if err != nil || v != len(ms) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(ms))
	}
	var appID int
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA application_id").Scan(&appID); err != nil || appID != applicationID {
		t.Errorf("application_id = %#x, %v; want %#x", appID, err, applicationID)
	}
	if err := s.SetSetting(t.Context(), "wallet", "UQ-test"); err != nil {
		t.Fatal(err)
	}
	schema := schemaSQL(t, s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening changes nothing: same bytes, same schema, same data.
	before := fileSum(t, path)
	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := schemaSQL(t, s.db); got != schema {
		t.Errorf("schema changed on reopen:\n%s\nwant\n%s", got, schema)
	}
	if v, ok, err := s.Setting(t.Context(), "wallet"); v != "UQ-test" || !ok || err != nil {
		t.Errorf("Setting after reopen = %q, %v, %v", v, ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fileSum(t, path) != before {
		t.Error("reopening a current database changed the file")
	}
}

// schemaSQL returns the database's schema as text.
func schemaSQL(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		b.WriteString(typ + " " + name + ": " + text + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMigrateAllOrNothing checks that a failing migration leaves the
// database as it was: no tables from earlier files, no version bump.
func TestMigrateAllOrNothing(t *testing.T) {
	tests := []struct {
		name string
		ms   []migration
		msg  string
	}{
		{
			name: "second file fails",
			ms: []migration{
				{1, "0001_ok.sql", "CREATE TABLE a (x INTEGER);"},
				{2, "0002_bad.sql", "CREATE TABLE b (x INTEGER); INSERT INTO missing VALUES (1);"},
			},
			msg: "0002_bad.sql",
		},
		{
			name: "foreign key check fails",
			ms: []migration{
				{1, "0001_fk.sql", `CREATE TABLE p (id INTEGER PRIMARY KEY);
					CREATE TABLE c (pid INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);
					INSERT INTO c VALUES (7);`},
			},
			msg: "foreign key check failed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), DefaultFileName)
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", dsn(path))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s := &Store{db: db, path: path}
			if err := s.enableWAL(t.Context(), "test"); err != nil {
				t.Fatal(err)
			}
			err = s.migrate(t.Context(), "test", tc.ms)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("migrate error = %v, want one naming %q", err, tc.msg)
			}
			if v, err := s.SchemaVersion(t.Context()); v != 0 || err != nil {
				t.Errorf("version after failed migration = %d, %v; want 0", v, err)
			}
			if got := schemaSQL(t, db); got != "" {
				t.Errorf("schema after failed migration:\n%s", got)
			}
		})
	}
}

// TestMigrateConcurrentOpen opens the same new database from several
// goroutines at once; the migration runs exactly once.
func TestMigrateConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	const n = 4
	errs := make(chan error, n)
	stores := make(chan *Store, n)
	for range n {
		go func() {
			s, err := Open(t.Context(), path)
			errs <- err
			stores <- s
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
		if s := <-stores; s != nil {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != 1 {
		t.Errorf("SchemaVersion = %d, %v", v, err)
	}
}

func TestMigrateNewerRefusedEvenInTransaction(t *testing.T) {
	// The check inside the migration transaction (another process may have
	// migrated meanwhile) refuses a newer version too.
	path := filepath.Join(t.TempDir(), DefaultFileName)
	makeDB(t, path, 1)
	rawExec(t, path, "PRAGMA user_version = 5")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Store{db: db, path: path}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	err = s.migrate(t.Context(), "test", ms)
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "schema 5, this build knows 1") {
		t.Errorf("migrate = %v, want ErrNewerSchema", err)
	}
}
