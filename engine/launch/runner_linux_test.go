//go:build linux

package launch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostRunnerFiles runs the real Runner's file effects in a temporary
// directory only; it never asks the helper or starts a process.
func TestHostRunnerFiles(t *testing.T) {
	dir := t.TempDir()
	r, err := NewHostRunner(RunnerOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	disk := Disk{Path: filepath.Join(dir, "instances", "0", "persistent-worker-0.img"), Size: 1 << 30, Mode: 0o600}
	if err := r.CreateDisk(ctx, disk); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(disk.Path); err != nil || st.Size() != disk.Size || st.Mode().Perm() != 0o600 {
		t.Fatalf("disk: %v %v", st, err)
	}
	if err := r.CreateDisk(ctx, disk); err != nil { // the same disk: kept
		t.Errorf("existing disk of the same size: %v", err)
	}
	disk.Size = 2 << 30
	if err := r.CreateDisk(ctx, disk); err == nil || !strings.Contains(err.Error(), "left as it is") {
		t.Errorf("existing disk of another size: %v", err)
	}

	tmpl := filepath.Join(dir, "init.src")
	if err := os.WriteFile(tmpl, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	share := Share{Dir: filepath.Join(dir, "instances", "0", "spec"), Files: []ShareFile{
		{Name: "init", Mode: 0o755, From: tmpl},
		{Name: "worker-config.json", Mode: 0o644, Data: []byte("{}\n")},
		{Name: "runtime/global.config.json", Mode: 0o600, Data: []byte("{}\n")},
		{Name: "runtime/runtime.vars", Mode: 0o600, Data: []byte("OWNER_ADDRESS=x\n")},
	}}
	for i := 0; i < 2; i++ { // a second launch replaces the share
		if err := r.RenderShare(ctx, share); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]os.FileMode{"init": 0o755, "worker-config.json": 0o644, "runtime/runtime.vars": 0o600, "runtime/global.config.json": 0o600} {
		if st, err := os.Stat(filepath.Join(share.Dir, name)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", name, st, err)
		}
	}
	share.Files[1].Mode = 0o664
	if err := r.RenderShare(ctx, share); err == nil {
		t.Error("a mode the guest refuses was written")
	}
}
