//go:build integration && !nogui

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/remote"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// startDev runs `cocoon-provider dev` as a child process (the test binary, see TestMain).
func startDev(t *testing.T, dataDir string) *exec.Cmd {
	t.Helper()
	return startChild(t, "dev", "--data-dir", dataDir)
}

// startChild runs cocoon-provider with args as a child process.
func startChild(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(filteredEnv(childEnv), childEnv+"="+strings.Join(args, "\x1f"))
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		t.Logf("%s output:\n%s", args[0], out.String())
	})
	return cmd
}

// waitStatus polls `status --json` until ok accepts it.
func waitStatus(t *testing.T, dataDir string, d time.Duration, ok func(devStatus) bool) devStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var out, errb bytes.Buffer
		run([]string{"status", "--json", "--data-dir", dataDir}, &out, &errb)
		var st devStatus
		if json.Unmarshal(out.Bytes(), &st) == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status not as expected within %s: %s %s", d, out.String(), errb.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func healthy(st devStatus) bool {
	return st.Running && st.Health != nil && st.Health.OK && st.Stats != nil
}

// TestCLIDevAdopt: start dev mode, SIGKILL the app (not QEMU), start it
// again: the running VM is adopted, not duplicated; then `stop` stops all.
func TestCLIDevAdopt(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-system-x86")
	dataDir := t.TempDir()
	first := startDev(t, dataDir)
	st := waitStatus(t, dataDir, 5*time.Minute, healthy)
	qemuPID := st.Instance.PID

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if err := syscall.Kill(qemuPID, 0); err != nil {
		t.Fatalf("QEMU died with the app: %v", err)
	}

	startDev(t, dataDir)
	st = waitStatus(t, dataDir, 5*time.Minute, healthy)
	if st.Instance.PID != qemuPID {
		t.Fatalf("QEMU PID %d after restart, want the adopted %d", st.Instance.PID, qemuPID)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"stop", "--data-dir", dataDir}, &out, &errb); code != 0 {
		t.Fatalf("stop: exit %d: %s %s", code, out.String(), errb.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(qemuPID, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("QEMU still runs after stop")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(engine.InstanceFiles(dataDir, 0).State); err == nil {
		t.Error("instance file left after stop")
	}
}

// stopChild sends SIGTERM and waits for a clean exit.
func stopChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("no exit within 3 minutes of SIGTERM")
	}
}

// TestCLIRunHeadless: `run --headless` serves the worker and the control
// API on the unix socket, logs to its file, and on SIGTERM stops the VM;
// with --on-stop leave the VM stays up and the next start adopts it.
func TestCLIRunHeadless(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-system-x86")
	dataDir := t.TempDir()
	svc := startChild(t, "run", "--headless", "--data-dir", dataDir)
	st := waitStatus(t, dataDir, 5*time.Minute, healthy)
	qemuPID := st.Instance.PID

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := remote.Dial(ctx, "unix://"+remote.SocketPath(dataDir), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if in := client.State().Dev; in == nil || in.PID != qemuPID {
		t.Fatalf("state over the API: %+v, want QEMU PID %d", in, qemuPID)
	}
	if err := client.SetPause(ctx, &engine.Pause{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "pause applied through the API", func() bool { return client.State().Pause != nil })
	if err := client.SetPause(ctx, nil); err != nil {
		t.Fatal(err)
	}
	client.Close()
	stopChild(t, svc)
	waitFor(t, 30*time.Second, "QEMU gone after SIGTERM with --on-stop stop", func() bool { return syscall.Kill(qemuPID, 0) != nil })
	if b, err := os.ReadFile(filepath.Join(dataDir, "logs", "app.log")); err != nil || !strings.Contains(string(b), "started headless") {
		t.Errorf("app log: %v %q", err, b)
	}

	svc = startChild(t, "run", "--headless", "--on-stop", "leave", "--data-dir", dataDir)
	st = waitStatus(t, dataDir, 5*time.Minute, healthy)
	qemuPID = st.Instance.PID
	stopChild(t, svc)
	if err := syscall.Kill(qemuPID, 0); err != nil {
		t.Fatalf("QEMU stopped although --on-stop leave: %v", err)
	}
	svc = startChild(t, "run", "--headless", "--data-dir", dataDir)
	st = waitStatus(t, dataDir, 5*time.Minute, healthy)
	if st.Instance.PID != qemuPID {
		t.Fatalf("QEMU PID %d after restart, want the adopted %d", st.Instance.PID, qemuPID)
	}
	stopChild(t, svc)
	// The adopted QEMU is not the app's child: whoever reaps it may take a moment.
	waitFor(t, 30*time.Second, "the adopted QEMU gone after SIGTERM", func() bool { return syscall.Kill(qemuPID, 0) != nil })
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCLIRunHandOver: the desktop app quitting with "Keep it running"
// leaves the VM up and starts the headless service, which adopts it.
func TestCLIRunHandOver(t *testing.T) {
	need(t, "qemu-system-x86_64", "qemu-system-x86")
	dataDir := t.TempDir()
	headlessCommand = func(_ string, args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(filteredEnv(childEnv), childEnv+"="+strings.Join(args, "\x1f"))
		return cmd
	}
	defer func() { headlessCommand = exec.Command }()
	c := common{dataDir: dataDir, logLevel: "info"}
	sess, err := c.start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sess.svc.StartDev(ctx); err != nil {
		t.Fatal(errors.Join(err, sess.close()))
	}
	st := waitStatus(t, dataDir, 5*time.Minute, healthy)
	qemuPID := st.Instance.PID
	pid, err := sess.handOver(dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	st = waitStatus(t, dataDir, 5*time.Minute, func(s devStatus) bool {
		return healthy(s) && s.Holder != nil && s.Holder.PID == pid
	})
	if st.Instance.PID != qemuPID {
		t.Fatalf("the service runs QEMU PID %d, want the adopted %d", st.Instance.PID, qemuPID)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"stop", "--data-dir", dataDir}, &out, &errb); code != 0 {
		t.Fatalf("stop: exit %d: %s %s", code, out.String(), errb.String())
	}
	waitFor(t, 30*time.Second, "QEMU gone after stop", func() bool { return syscall.Kill(qemuPID, 0) != nil })
}
