package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallFSEnv names a small, empty, writable filesystem (make reliability
// mounts a tmpfs of a few MiB) for TestReliabilityDiskFullAndReadOnly.
const smallFSEnv = "RELIABILITY_SMALLFS"

// TestReliabilityDiskFullAndReadOnly fills the filesystem holding the
// database while the ledger, telemetry and events are written, then makes
// it read-only under the open store (as root: remount), and checks each
// time that writes fail with an error that says what happened and what to
// do, that every acknowledged entry is still there exactly once, that
// the database passes integrity_check, and that writing works again once
// space is freed or the filesystem is writable again.
func TestReliabilityDiskFullAndReadOnly(t *testing.T) {
	mnt := os.Getenv(smallFSEnv)
	if mnt == "" {
		t.Skipf("needs a small filesystem in %s (make reliability mounts one)", smallFSEnv)
	}
	ctx := t.Context()
	dir := filepath.Join(mnt, fmt.Sprintf("data-%d", time.Now().UnixNano()))
	path := filepath.Join(dir, DefaultFileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }() // s is reopened below
	if err := s.UpsertGPU(ctx, GPUSeen{Key: "GPU-0", LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	i := 0
	// write adds one ledger entry, a telemetry batch and an event; it
	// returns the first error.
	write := func() error {
		i++
		src := fmt.Sprintf("fs:%d", i)
		if _, err := s.AddLedger(ctx, LedgerEntry{Source: src, Time: t0.Add(time.Duration(i) * time.Second), Stage: StageEarned,
			AmountNanoTON: int64(i), Note: strings.Repeat("n", 200)}); err != nil {
			return err
		}
		acked[src] = true
		batch := make([]Sample, 8)
		for g := range batch {
			batch[g] = Sample{GPUKey: "GPU-0", Time: t0.Add(time.Duration(i*8+g) * time.Millisecond), UtilPct: Known(50)}
		}
		if err := s.AddSamples(ctx, batch); err != nil {
			return err
		}
		_, err := s.AddEvent(ctx, Event{Time: t0, Level: "info", Kind: "fs-test", Message: strings.Repeat("e", 300)})
		return err
	}
	check := func(when string) {
		t.Helper()
		if err := s.Integrity(ctx); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		seen := map[string]int{}
		var sum int64
		for after := int64(0); ; {
			page, err := s.Ledger(ctx, after, MaxPageSize)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				seen[e.Source]++
				sum += e.AmountNanoTON
			}
			after = page[len(page)-1].ID
		}
		lost, dup := 0, 0
		for src := range acked {
			if seen[src] == 0 {
				lost++
			}
		}
		for _, n := range seen {
			if n > 1 {
				dup++
			}
		}
		totals, err := s.LedgerTotals(ctx)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if lost != 0 || dup != 0 || totals[StageEarned] != sum {
			t.Fatalf("%s: %d acknowledged entries lost, %d duplicated, totals %d vs rows %d", when, lost, dup, totals[StageEarned], sum)
		}
	}

	// Disk full: some history, then fill what is left, then keep writing.
	for range 300 {
		if err := write(); err != nil {
			t.Fatalf("before the disk is full: %v", err)
		}
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	var fullErr error
	for range 10_000 {
		if fullErr = write(); fullErr != nil {
			break
		}
	}
	if fullErr == nil || !strings.Contains(fullErr.Error(), "full") || !strings.Contains(fullErr.Error(), "free some space") {
		t.Fatalf("writing to a full disk: %v; want an error saying the disk is full and to free space", fullErr)
	}
	fullAcked := len(acked) - 300
	check("disk full")
	// More attempts while full change nothing.
	for range 20 {
		_ = write()
	}
	check("disk still full")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := write(); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	check("space freed")

	// A read-only filesystem: Linux refuses to remount one read-only while
	// files on it are open for writing, so the store is closed first, as
	// after a reboot onto a disk the kernel mounted read-only.
	roResult := "skipped (needs root to remount)"
	if os.Geteuid() == 0 {
		before := len(acked)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount read-only: %v", err)
		}
		remounted := true
		defer func() {
			if remounted {
				_ = syscall.Mount("", mnt, "", syscall.MS_REMOUNT, "")
			}
		}()
		_, roErr := Open(ctx, path)
		if roErr == nil || !errors.Is(roErr, ErrReadOnly) || !strings.Contains(roErr.Error(), "--data-dir") {
			t.Fatalf("Open on a read-only filesystem: %v; want ErrReadOnly with advice naming --data-dir", roErr)
		}
		// What only reads still works (the diagnostic bundle, status).
		ro, err := OpenReadOnly(ctx, path, time.Second)
		if err != nil {
			t.Fatalf("OpenReadOnly on a read-only filesystem: %v", err)
		}
		rows, err := ro.Ledger(ctx, 0, MaxPageSize)
		ro.Close()
		if err != nil || len(rows) == 0 {
			t.Fatalf("reading the ledger on a read-only filesystem: %d rows, %v", len(rows), err)
		}
		if err := syscall.Mount("", mnt, "", syscall.MS_REMOUNT, ""); err != nil {
			t.Fatalf("remount read-write: %v", err)
		}
		remounted = false
		if s, err = Open(ctx, path); err != nil {
			t.Fatalf("Open once writable again: %v", err)
		}
		check("writable again")
		if err := write(); err != nil {
			t.Fatalf("writing once writable again: %v", err)
		}
		check("written again")
		roResult = fmt.Sprintf("Open refused (%s), reads still served, all %d entries there after remounting read-write", firstLine(roErr), before)
	}
	t.Logf("disk full: %v", fullErr)
	t.Logf("RELIABILITY disk-full-read-only: filled a %s filesystem under the open store: writes refused with \"the disk … is full … free some space\" %d entries after the filesystem filled up (300 before), nothing lost or duplicated, integrity ok, writing resumed after freeing space; read-only filesystem: %s",
		fsSize(mnt), fullAcked, roResult)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func fsSize(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "small"
	}
	return fmt.Sprintf("%.0f MiB", float64(st.Blocks)*float64(st.Bsize)/(1<<20))
}
