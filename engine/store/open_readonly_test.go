package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestOpenReadOnlyClosedFile reads a database no process has open: nothing
// in the directory changes, not even -wal or -shm files.
func TestOpenReadOnlyClosedFile(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, DefaultFileName)
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, sum := dirList(t, dir), fileSum(t, path)

	r, err := OpenReadOnly(ctx, path, time.Second)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	got, err := r.Settings(ctx)
	if err != nil || got["k"] != "v" {
		t.Errorf("Settings = %v, %v; want k=v", got, err)
	}
	if err := r.SetSetting(ctx, "k", "changed"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetSetting on a read-only store = %v, want ErrReadOnly", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := dirList(t, dir); !slices.Equal(after, names) {
		t.Errorf("directory changed: %v, was %v", after, names)
	}
	if fileSum(t, path) != sum {
		t.Error("database file changed")
	}
	// The app opens it as usual afterwards.
	w, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after OpenReadOnly: %v", err)
	}
	w.Close()
}

func TestOpenReadOnlyMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultFileName)
	if _, err := OpenReadOnly(t.Context(), path, time.Second); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) = %v, want fs.ErrNotExist", err)
	}
	if names := dirList(t, dir); len(names) != 0 {
		t.Errorf("OpenReadOnly created %v", names)
	}
	if _, err := OpenReadOnly(t.Context(), dir, time.Second); !errors.Is(err, ErrBadPath) {
		t.Errorf("OpenReadOnly(directory) = %v, want ErrBadPath", err)
	}
	if _, err := OpenReadOnly(t.Context(), "", time.Second); !errors.Is(err, ErrBadPath) {
		t.Errorf("OpenReadOnly(\"\") = %v, want ErrBadPath", err)
	}
}

// TestOpenReadOnlyBesideWriter reads while the app has the database open
// and another connection holds a write transaction: committed data is
// read at once, the open transaction's is not.
func TestOpenReadOnlyBesideWriter(t *testing.T) {
	ctx := t.Context()
	w := openTemp(t)
	if err := w.SetSetting(ctx, "committed", "yes"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := w.AddEvent(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Level: "info", Kind: "k", Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tx := beginWrite(t, w.Path(), "")
	if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('uncommitted', 'x')"); err != nil {
		t.Fatal(err)
	}

	r, err := OpenReadOnly(ctx, w.Path(), 5*time.Second)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer r.Close()
	start := time.Now()
	got, err := r.Settings(ctx)
	if err != nil {
		t.Fatalf("Settings: %v", err)
	}
	if got["committed"] != "yes" || got["uncommitted"] != "" {
		t.Errorf("Settings = %v; want only the committed row", got)
	}
	evs, err := r.LastEvents(ctx, 3)
	if err != nil {
		t.Fatalf("LastEvents: %v", err)
	}
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.Message)
	}
	if !slices.Equal(msgs, []string{"2", "3", "4"}) {
		t.Errorf("LastEvents(3) = %v, want [2 3 4]", msgs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("reads took %s beside a writer; WAL readers must not wait", d)
	}
}

// TestOpenReadOnlyBusyIsBounded: a connection that holds the file
// exclusively makes reads fail after the busy timeout, not hang.
func TestOpenReadOnlyBusyIsBounded(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), DefaultFileName)
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Exclusive locking needs every other connection closed first.
	beginWrite(t, path, "PRAGMA locking_mode = EXCLUSIVE")
	start := time.Now()
	r, err := OpenReadOnly(ctx, path, 200*time.Millisecond)
	if err == nil {
		defer r.Close()
		_, err = r.Settings(ctx)
	}
	if err == nil {
		t.Fatal("read succeeded while another connection held the file exclusively")
	}
	t.Logf("error: %v", err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the read failed after %s, want about the busy timeout", d)
	}
}

// beginWrite opens its own connection to path, runs pragma (if any) and
// BEGIN IMMEDIATE, and rolls back when the test ends.
func beginWrite(t *testing.T, path, pragma string) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{pragma, "BEGIN IMMEDIATE"} {
		if q == "" {
			continue
		}
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		db.Close()
	})
	return conn
}

func TestLastEvents(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	if evs, err := s.LastEvents(ctx, 10); err != nil || len(evs) != 0 {
		t.Errorf("LastEvents on an empty log = %v, %v", evs, err)
	}
	for i := range 12 {
		attrs := []byte(nil)
		if i == 11 {
			attrs = []byte(`{"a":1}`)
		}
		if _, err := s.AddEvent(ctx, Event{Time: t0.Add(time.Duration(i) * time.Second), Level: "info", Kind: "k", Message: fmt.Sprint(i), Attrs: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.LastEvents(ctx, 0) // DefaultPageSize: all 12
	if err != nil || len(evs) != 12 || evs[0].Message != "0" || evs[11].Message != "11" {
		t.Fatalf("LastEvents(0) = %d events, %v", len(evs), err)
	}
	last := evs[11]
	if string(last.Attrs) != `{"a":1}` || !last.Time.Equal(t0.Add(11*time.Second)) || last.Kind != "k" || last.Level != "info" {
		t.Errorf("last event = %+v", last)
	}
	if evs[0].Attrs != nil {
		t.Errorf("event without attrs has %q", evs[0].Attrs)
	}
}
