//go:build integration && !nogui

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
)

// startDev runs `cocoon-provider dev` as a child process (the test binary, see TestMain).
func startDev(t *testing.T, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(filteredEnv(childEnv), childEnv+"="+strings.Join([]string{"dev", "--data-dir", dataDir}, "\x1f"))
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		t.Logf("dev output:\n%s", out.String())
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
