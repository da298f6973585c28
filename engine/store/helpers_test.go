package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// t0 is a fixed instant the tests build times from.
var t0 = time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC)

// latestSchema is the schema version the embedded migrations produce.
var latestSchema = func() int {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		panic(err)
	}
	return len(ms)
}()

// openTemp opens a fresh store in a temporary directory and closes it when
// the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "data", DefaultFileName))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// fileSum returns the SHA-256 of the file at path.
func fileSum(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// dirList returns the names in dir.
func dirList(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir %s: %v", dir, err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// addGPU records a GPU with the given key.
func addGPU(t testing.TB, s *Store, key string) {
	t.Helper()
	if err := s.UpsertGPU(context.Background(), GPUSeen{Key: key, Name: "Test GPU", LastSeen: t0}); err != nil {
		t.Fatalf("UpsertGPU(%s): %v", key, err)
	}
}
