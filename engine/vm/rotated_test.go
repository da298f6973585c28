package vm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"app.log", "app.log.2", "app.log.1", "app.log.10", "app.log.x", "app.log.01", "app.log.0", "other.log"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := RotatedFiles(filepath.Join(dir, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"app.log", "app.log.1", "app.log.2", "app.log.10"}; !slices.Equal(names, want) {
		t.Errorf("rotations %v, want %v (newest first, odd suffixes ignored)", names, want)
	}
	if _, err := RotatedFiles(filepath.Join(dir, "missing", "app.log")); !os.IsNotExist(err) {
		t.Errorf("missing directory: %v", err)
	}
}
