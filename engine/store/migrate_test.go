package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
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
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != latestSchema {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latestSchema)
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
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), fmt.Sprintf("schema 5, this build knows %d", latestSchema)) {
		t.Errorf("migrate = %v, want ErrNewerSchema", err)
	}
}

// TestMigrate0001To0002 upgrades a schema-1 database holding data of
// every table and checks that the rows are kept, that the entries of 0001
// read back with zero tokens and price, and that the new tables work.
func TestMigrate0001To0002(t *testing.T) {
	ctx := t.Context()
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), DefaultFileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{db: db, path: path}
	if err := old.enableWAL(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if err := old.migrate(ctx, "test", ms[:1]); err != nil {
		t.Fatal(err)
	}
	if v, err := old.SchemaVersion(ctx); err != nil || v != 1 {
		t.Fatalf("version before the upgrade = %d, %v", v, err)
	}
	// Written with the statements of the 0001 schema, as a release with
	// only 0001 would have.
	rawStmts := []string{
		`INSERT INTO settings (key, value) VALUES ('wallet', 'UQ-old')`,
		`INSERT INTO gpus (key, name, first_seen_ms, last_seen_ms) VALUES ('GPU-0', 'H100', 1, 2)`,
		`INSERT INTO telemetry_samples (gpu_key, t_ms, util_pct) VALUES ('GPU-0', 1000, 42.5)`,
		`INSERT INTO events (t_ms, level, kind, message) VALUES (5, 'info', 'test', 'before the upgrade')`,
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton, instance, proxy, note)
		 VALUES ('old-1', 1773500940000, 'earned', 1500000000, 2, 'P1', 'from 0001')`,
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton) VALUES ('old-2', 1773500940001, 'wallet', 7)`,
	}
	for _, q := range rawStmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (upgrade): %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v != latestSchema {
		t.Errorf("version after the upgrade = %d, %v; want %d", v, err, latestSchema)
	}
	if err := s.Integrity(ctx); err != nil {
		t.Error(err)
	}
	if v, ok, err := s.Setting(ctx, "wallet"); v != "UQ-old" || !ok || err != nil {
		t.Errorf("setting = %q, %v, %v", v, ok, err)
	}
	if got, err := s.Samples(ctx, "GPU-0", fromMS(0), fromMS(2000)); err != nil || len(got) != 1 || got[0].UtilPct != Known(42.5) {
		t.Errorf("samples = %+v, %v", got, err)
	}
	if got, err := s.Events(ctx, 0, 0); err != nil || len(got) != 1 || got[0].Message != "before the upgrade" {
		t.Errorf("events = %+v, %v", got, err)
	}
	rows, err := s.Ledger(ctx, 0, 0)
	if err != nil || len(rows) != 2 {
		t.Fatalf("ledger = %+v, %v", rows, err)
	}
	want := LedgerEntry{ID: rows[0].ID, Source: "old-1", Time: fromMS(1773500940000), Stage: StageEarned, AmountNanoTON: 1_500_000_000,
		Instance: sql.Null[int64]{V: 2, Valid: true}, Proxy: "P1", Note: "from 0001"}
	if rows[0] != want || rows[1].Source != "old-2" || rows[1].Tokens != 0 || rows[1].FeePerToken != 0 {
		t.Errorf("ledger after the upgrade = %+v; want %+v first", rows, want)
	}
	totals, err := s.LedgerTotalsSince(ctx, fromMS(0))
	if err != nil || totals[StageEarned] != 1_500_000_000 || totals[StageWallet] != 7 {
		t.Errorf("totals = %v, %v", totals, err)
	}

	// The new tables work beside the old rows.
	p := Progress{Instance: 2, Proxy: "P1", Relationship: "W@1", Stage: StageEarned, Tokens: 10, FeePerToken: 3, Time: t0}
	if e, inserted, err := s.RecordProgress(ctx, p); err != nil || !inserted || e.ID <= rows[1].ID {
		t.Errorf("RecordProgress after the upgrade = %+v, %v, %v", e, inserted, err)
	}
	if err := s.AddActivity(ctx, ActivitySample{Instance: 2, Time: t0, Interval: time.Second, Queries: 1}); err != nil {
		t.Errorf("AddActivity after the upgrade: %v", err)
	}

	// An upgraded database has the same schema as a new one.
	fresh := openTemp(t)
	if got, want := schemaSQL(t, s.db), schemaSQL(t, fresh.db); got != want {
		t.Errorf("upgraded schema:\n%s\nnew schema:\n%s", got, want)
	}
}
