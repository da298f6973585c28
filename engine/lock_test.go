//go:build unix

package engine

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestLockSingleInstance(t *testing.T) {
	dir := t.TempDir()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadLockHolder(dir)
	if err != nil || h.PID != os.Getpid() {
		t.Fatalf("holder = %+v, %v; want this process", h, err)
	}
	// flock locks belong to open files, so a second open in this process
	// conflicts just as another process would.
	_, err = AcquireLock(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID ") {
		t.Fatalf("second lock: %v, want ErrLocked naming the holder", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLockHolder(dir); err == nil {
		t.Fatal("released lock still reports a holder")
	}
	l2, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

// TestLockReleasedWhenHolderDies: a killed holder leaves a file but no lock.
func TestLockReleasedWhenHolderDies(t *testing.T) {
	dir := t.TempDir()
	// flock(1) from util-linux holds the lock for the lifetime of a child.
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs flock(1) from util-linux")
	}
	if err := os.WriteFile(dir+"/"+LockFileName, []byte("999999 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The child prints once it holds the lock.
	cmd := exec.Command("flock", "-o", dir+"/"+LockFileName, "sh", "-c", "echo held; exec sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killGroup := func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer killGroup()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	if _, err := AcquireLock(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID 999999") {
		t.Fatalf("lock held by a child: %v", err)
	}
	if err := killGroup(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	l.Release()
}
