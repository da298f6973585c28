//go:build linux

package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm/vmtest"
)

// staleSocket leaves a unix socket file nobody listens on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$") // runs no test, exits
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestCheckPIDFile(t *testing.T) {
	t.Parallel()
	// A live process that is not QEMU: this test binary.
	self := os.Getpid()
	cases := []struct {
		name    string
		content string
		reason  string
	}{
		{"garbage", "not a pid\n", "does not hold a process ID"},
		{"empty", "", "does not hold a process ID"},
		{"dead process", fmt.Sprintf("%d\n", deadPID(t)), "is not running"},
		{"PID reused by another program", fmt.Sprintf("%d\n", self), "not the QEMU that wrote the file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			paths := newPaths(t)
			if err := os.WriteFile(paths.pid, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := CheckPIDFile(paths.pid)
			var stale *StalePIDFileError
			if !errors.As(err, &stale) || !strings.Contains(stale.Reason, tc.reason) {
				t.Fatalf("CheckPIDFile = %v, want stale: %q", err, tc.reason)
			}
			if _, err := os.Stat(paths.pid); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stale pid file not removed (%v)", err)
			}
			if !strings.Contains(err.Error(), "removed") {
				t.Errorf("message %q does not say the file was removed", err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := CheckPIDFile(newPaths(t).pid); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("CheckPIDFile = %v, want fs.ErrNotExist", err)
		}
	})
}

// startAndDrop starts a fake QEMU through a Process and forgets the handle
// without stopping it, as an app that crashed would.
func startAndDrop(t *testing.T, paths vmPaths, b vmtest.FakeBehaviour) int {
	t.Helper()
	p := fakeQEMU(t, paths, b, ProcessOptions{})
	startProcess(t, p)
	if err := p.QMP().Close(); err != nil { // the dead app's connection is gone
		t.Fatal(err)
	}
	return p.PID()
}

func TestAdoptAndStop(t *testing.T) {
	t.Parallel()
	for _, pidfd := range []bool{true, false} {
		t.Run(fmt.Sprintf("pidfd=%v", pidfd), func(t *testing.T) {
			t.Parallel()
			paths := newPaths(t)
			pid := startAndDrop(t, paths, vmtest.FakeBehaviour{})
			ctx := testCtx(t)
			a, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{noPidfd: !pidfd, PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if a.PID() != pid || a.QMPError() != nil || !strings.Contains(a.Exe(), "vm.test") {
				t.Fatalf("adopted pid %d exe %q qmp error %v; want pid %d", a.PID(), a.Exe(), a.QMPError(), pid)
			}
			if (a.watch.pidfd != nil) != pidfd {
				t.Fatalf("pidfd in use: %v, want %v", a.watch.pidfd != nil, pidfd)
			}
			if st, err := a.QMP().Status(ctx); err != nil || !st.Running {
				t.Fatalf("Status = %+v, %v", st, err)
			}
			exited, err := a.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st := a.Status(); !st.Running || !st.Adopted || st.PID != pid {
				t.Errorf("status %+v", st)
			}
			if err := a.Stop(ctx, 200*time.Millisecond); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if got, want := actions(a.Status().Stop), []StopAction{StopPowerdown, StopQuit, StopExited}; !slices.Equal(got, want) {
				t.Errorf("steps = %v, want %v", got, want)
			}
			var ee *ExitError
			if err := receive(t, exited); !errors.As(err, &ee) || !ee.StatusUnknown || ee.Reason != "host-qmp-quit" {
				t.Errorf("exit = %v, want status unknown, host-qmp-quit", err)
			}
			if _, err := os.Stat(paths.pid); err == nil {
				t.Error("pid file left behind")
			}
			// Nothing left to adopt.
			if _, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{}); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Adopt after stop = %v", err)
			}
		})
	}
}

func TestAdoptKillPath(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	startAndDrop(t, paths, vmtest.FakeBehaviour{Quit: vmtest.ActIgnore})
	a, err := Adopt(testCtx(t), paths.pid, paths.qmp, AdoptOptions{QuitTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(testCtx(t), 100*time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Fatalf("Stop = %v, want ErrKilled", err)
	}
	if got, want := actions(a.Status().Stop), []StopAction{StopPowerdown, StopQuit, StopKill, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	// The killed fake could not clean up; the adopter did.
	for _, f := range []string{paths.pid, paths.qmp} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
}

func TestAdoptQMPBusyFallsBackToSignals(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	startProcess(t, p) // p keeps the QMP connection: Adopt cannot have it
	a, err := Adopt(testCtx(t), paths.pid, paths.qmp, AdoptOptions{QMPTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Adopt of a running VM with a busy monitor: %v", err)
	}
	if a.QMP() != nil || a.QMPError() == nil {
		t.Fatalf("QMP = %v, error %v", a.QMP(), a.QMPError())
	}
	if err := a.Stop(testCtx(t), time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got, want := actions(a.Status().Stop), []StopAction{StopTerm, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
}

func TestAdoptReleaseAndAdoptAgain(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	startAndDrop(t, paths, vmtest.FakeBehaviour{})
	ctx := testCtx(t)
	a, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(testTimeout):
		t.Fatal("Done not closed by Release")
	}
	if a.Status().Exit != nil {
		t.Error("a released VM reported an exit")
	}
	b, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{})
	if err != nil {
		t.Fatalf("second Adopt: %v", err)
	}
	if b.QMPError() != nil {
		t.Errorf("QMP not free after Release: %v", b.QMPError())
	}
	if err := b.Stop(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptStaleRemovesSocket(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	if err := os.WriteFile(paths.pid, fmt.Appendf(nil, "%d\n", deadPID(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, paths.qmp)
	_, err := Adopt(testCtx(t), paths.pid, paths.qmp, AdoptOptions{})
	var stale *StalePIDFileError
	if !errors.As(err, &stale) {
		t.Fatalf("Adopt = %v, want StalePIDFileError", err)
	}
	for _, f := range []string{paths.pid, paths.qmp} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
}

// TestAdoptRealQEMU adopts a QEMU that is not our child: -daemonize
// detaches it, as after an app restart.
func TestAdoptRealQEMU(t *testing.T) {
	t.Parallel()
	qemu := vmtest.RequireQEMU(t)
	paths := newPaths(t)
	start := time.Now()
	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid, "-daemonize")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu -daemonize: %v\n%s", err, out)
	}
	pid, err := ReadPIDFile(paths.pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	// A second start for the same instance is refused.
	p := NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid), ProcessOptions{QMPSocket: paths.qmp, PIDFile: paths.pid})
	var running *VMRunningError
	if _, err := p.Start(ctx); !errors.As(err, &running) || running.PID != pid {
		t.Fatalf("Start next to a running VM = %v", err)
	}

	a, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{})
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if a.PID() != pid || a.QMPError() != nil || !strings.Contains(a.Exe(), "qemu-system-x86_64") {
		t.Fatalf("adopted %d (%s), QMP error %v", a.PID(), a.Exe(), a.QMPError())
	}
	exited, err := a.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx, 300*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got, want := actions(a.Status().Stop), []StopAction{StopPowerdown, StopQuit, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	var ee *ExitError
	if err := receive(t, exited); !errors.As(err, &ee) || ee.Reason != "host-qmp-quit" {
		t.Errorf("exit = %v", err)
	}
	t.Logf("real QEMU daemonize, adopt, stop: %s", time.Since(start).Round(time.Millisecond))
}

func TestAdoptContextBoundsQMP(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	startProcess(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, err := Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{})
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if !errors.Is(a.QMPError(), context.Canceled) {
		t.Errorf("QMP error = %v", a.QMPError())
	}
	a.Release()
	if err := p.Stop(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
}
