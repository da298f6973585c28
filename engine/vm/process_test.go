//go:build linux

package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm/vmtest"
)

// fakeHelper is the test the re-executed binary runs as a fake QEMU.
const fakeHelper = "TestFakeQEMUHelper"

// TestFakeQEMUHelper is not a test: in a child started by fakeQEMU it
// becomes the fake QEMU; otherwise it does nothing.
func TestFakeQEMUHelper(t *testing.T) { vmtest.RunFakeQEMU() }

// testTimeout bounds every wait in these tests.
const testTimeout = 30 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// vmPaths are the per-instance files of one test VM. Unix socket paths
// must stay under 108 bytes, so they live in a short temporary directory.
type vmPaths struct {
	dir, qmp, pid, console, record string
}

func newPaths(t *testing.T) vmPaths {
	t.Helper()
	dir, err := os.MkdirTemp("", "vmt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return vmPaths{
		dir:     dir,
		qmp:     filepath.Join(dir, "qmp.sock"),
		pid:     filepath.Join(dir, "qemu.pid"),
		console: filepath.Join(dir, "console.log"),
		record:  filepath.Join(dir, "record"),
	}
}

// fakeQEMU prepares a Process running the fake QEMU with paths p (an
// empty qmp or pid leaves that option out).
func fakeQEMU(t *testing.T, p vmPaths, b vmtest.FakeBehaviour, opts ProcessOptions) *Process {
	t.Helper()
	proc, err := newFakeQEMU(p, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, proc.PID)
	return proc
}

// newFakeQEMU is fakeQEMU for goroutines other than the test's.
func newFakeQEMU(p vmPaths, b vmtest.FakeBehaviour, opts ProcessOptions) (*Process, error) {
	if b.Record == "" {
		b.Record = p.record
	}
	var qargs []string
	if p.qmp != "" {
		qargs = append(qargs, "-qmp", "unix:"+p.qmp+",server=on,wait=off")
	}
	if p.pid != "" {
		qargs = append(qargs, "-pidfile", p.pid)
	}
	exe, args, env, err := vmtest.FakeQEMUCommand(fakeHelper, b, qargs...)
	if err != nil {
		return nil, err
	}
	opts.QMPSocket, opts.PIDFile, opts.Env = p.qmp, p.pid, env
	if opts.Console.Path == "" {
		opts.Console.Path = p.console
	}
	return NewProcess(exe, args, opts), nil
}

// killAtEnd makes sure a test leaves no process behind, whatever happened.
func killAtEnd(t *testing.T, pid func() int) {
	t.Cleanup(func() {
		if n := pid(); n > 0 {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	})
}

func startProcess(t *testing.T, p *Process) <-chan error {
	t.Helper()
	exited, err := p.Start(testCtx(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return exited
}

func recorded(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func actions(steps []StopStep) []StopAction {
	var a []StopAction
	for _, s := range steps {
		a = append(a, s.Action)
	}
	return a
}

func receive(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(testTimeout):
		t.Fatal("no exit report")
		return nil
	}
}

func TestStopOrder(t *testing.T) {
	const grace = 300 * time.Millisecond
	cases := []struct {
		name      string
		b         vmtest.FakeBehaviour
		noQMP     bool
		want      []StopAction
		wantQMP   []string
		killed    bool
		wantGrace bool // the quit step comes at least grace after powerdown
	}{
		{
			name:    "guest powers off",
			b:       vmtest.FakeBehaviour{Powerdown: vmtest.ActExit},
			want:    []StopAction{StopPowerdown, StopExited},
			wantQMP: []string{"qmp_capabilities", "system_powerdown"},
		},
		{
			name:      "powerdown ignored, quit",
			b:         vmtest.FakeBehaviour{},
			want:      []StopAction{StopPowerdown, StopQuit, StopExited},
			wantQMP:   []string{"qmp_capabilities", "system_powerdown", "quit"},
			wantGrace: true,
		},
		{
			name:      "everything ignored, kill",
			b:         vmtest.FakeBehaviour{Quit: vmtest.ActIgnore},
			want:      []StopAction{StopPowerdown, StopQuit, StopKill, StopExited},
			wantQMP:   []string{"qmp_capabilities", "system_powerdown", "quit"},
			killed:    true,
			wantGrace: true,
		},
		{
			name:    "no QMP: SIGTERM",
			b:       vmtest.FakeBehaviour{},
			noQMP:   true,
			want:    []StopAction{StopTerm, StopExited},
			wantQMP: []string{"SIGTERM"},
		},
		{
			name:    "no QMP, SIGTERM ignored: kill",
			b:       vmtest.FakeBehaviour{Term: vmtest.ActIgnore},
			noQMP:   true,
			want:    []StopAction{StopTerm, StopKill, StopExited},
			wantQMP: []string{"SIGTERM"},
			killed:  true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			paths := newPaths(t)
			if tc.noQMP {
				paths.qmp = ""
			}
			p := fakeQEMU(t, paths, tc.b, ProcessOptions{QuitTimeout: 300 * time.Millisecond, KillTimeout: 5 * time.Second})
			exited := startProcess(t, p)
			if tc.noQMP {
				// Start returns before the fake has set up its signal
				// handling; it writes the pid file after that.
				eventually(t, func() bool { pid, _ := ReadPIDFile(paths.pid); return pid == p.PID() })
			}
			err := p.Stop(testCtx(t), grace)
			if tc.killed != errors.Is(err, ErrKilled) {
				t.Errorf("Stop error = %v; want ErrKilled: %v", err, tc.killed)
			}
			if !tc.killed && err != nil {
				t.Errorf("Stop: %v", err)
			}
			st := p.Status()
			if got := actions(st.Stop); !slices.Equal(got, tc.want) {
				t.Errorf("stop steps = %v, want %v", got, tc.want)
			}
			if got := recorded(t, paths.record); !slices.Equal(got, tc.wantQMP) {
				t.Errorf("fake QEMU received %v, want %v", got, tc.wantQMP)
			}
			if tc.wantGrace {
				var pd, q time.Time
				for _, s := range st.Stop {
					switch s.Action {
					case StopPowerdown:
						pd = s.At
					case StopQuit:
						q = s.At
					}
				}
				if q.Sub(pd) < grace {
					t.Errorf("quit came %s after powerdown, want >= %s", q.Sub(pd), grace)
				}
			}
			if st.Running || st.Exit == nil {
				t.Fatalf("after Stop: %+v", st)
			}
			if tc.killed && st.Exit.Signal != syscall.SIGKILL.String() {
				t.Errorf("exit = %+v, want killed by SIGKILL", st.Exit)
			}
			exitErr := receive(t, exited)
			if tc.killed == (exitErr == nil) {
				t.Errorf("exited channel: %v", exitErr)
			}
			for _, f := range []string{paths.pid, paths.qmp} {
				if _, err := os.Stat(f); f != "" && err == nil {
					t.Errorf("%s left behind", f)
				}
			}
			// A second Stop has nothing to do.
			if err := p.Stop(testCtx(t), grace); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestStopCancelledContextKills(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	startProcess(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Stop(ctx, time.Minute)
	if !errors.Is(err, ErrKilled) || !errors.Is(err, context.Canceled) {
		t.Errorf("Stop = %v, want ErrKilled and context.Canceled", err)
	}
	if got, want := actions(p.Status().Stop), []StopAction{StopKill, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
}

func TestStartImmediateExitIncludesStderr(t *testing.T) {
	t.Parallel()
	const msg = "qemu-system-x86_64: -bogus: invalid option"
	t.Run("with QMP", func(t *testing.T) {
		t.Parallel()
		p := fakeQEMU(t, newPaths(t), vmtest.FakeBehaviour{ExitAtStart: true, ExitCode: 1, Stderr: msg + "\n"}, ProcessOptions{})
		_, err := p.Start(testCtx(t))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("Start = %v, want an error with %q", err, msg)
		}
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 1 {
			t.Errorf("error %v is not an *ExitError with status 1", err)
		}
	})
	t.Run("without QMP", func(t *testing.T) {
		t.Parallel()
		paths := newPaths(t)
		paths.qmp = ""
		p := fakeQEMU(t, paths, vmtest.FakeBehaviour{ExitAtStart: true, ExitCode: 7, Stderr: msg + "\n"}, ProcessOptions{})
		err := receive(t, startProcess(t, p))
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 7 || !strings.Contains(err.Error(), msg) {
			t.Fatalf("exit = %v, want status 7 with %q", err, msg)
		}
	})
}

func TestStartRealQEMUBadArgs(t *testing.T) {
	t.Parallel()
	qemu := vmtest.RequireQEMU(t)
	paths := newPaths(t)
	p := NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid, "-no-such-option"), ProcessOptions{QMPSocket: paths.qmp, PIDFile: paths.pid})
	killAtEnd(t, p.PID)
	_, err := p.Start(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "-no-such-option: invalid option") {
		t.Fatalf("Start = %v, want QEMU's complaint about -no-such-option", err)
	}
}

func TestStartChecksArgs(t *testing.T) {
	paths := newPaths(t)
	p := NewProcess("true", []string{"-m", "64"}, ProcessOptions{QMPSocket: paths.qmp})
	if _, err := p.Start(testCtx(t)); err == nil || !strings.Contains(err.Error(), "not in QEMU's arguments") {
		t.Errorf("Start = %v", err)
	}
	p = NewProcess("true", []string{"-m", "64"}, ProcessOptions{PIDFile: paths.pid})
	if _, err := p.Start(testCtx(t)); err == nil || !strings.Contains(err.Error(), "not in QEMU's arguments") {
		t.Errorf("Start = %v", err)
	}
	if err := p.Stop(testCtx(t), 0); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Stop before start = %v", err)
	}
	if _, err := p.Start(testCtx(t)); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v", err)
	}
}

func TestStartRefusesSecondVM(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	first := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	startProcess(t, first)
	second := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	_, err := second.Start(testCtx(t))
	var running *VMRunningError
	if !errors.As(err, &running) || running.PID != first.PID() {
		t.Fatalf("second Start = %v, want VMRunningError for pid %d", err, first.PID())
	}
	// Without a pid file the QMP socket still gives the first VM away.
	noPid := paths
	noPid.pid = ""
	third := fakeQEMU(t, noPid, vmtest.FakeBehaviour{}, ProcessOptions{})
	if _, err := third.Start(testCtx(t)); !errors.As(err, &running) || running.QMPSocket != paths.qmp {
		t.Fatalf("third Start = %v, want VMRunningError for the QMP socket", err)
	}
	if err := first.Stop(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
}

func TestStartClearsStaleFiles(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	// A pid file of a dead process and a socket nobody listens on, as a
	// killed QEMU leaves them.
	if err := os.WriteFile(paths.pid, []byte("999999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, paths.qmp)
	p := fakeQEMU(t, paths, vmtest.FakeBehaviour{}, ProcessOptions{})
	startProcess(t, p)
	if pid, err := ReadPIDFile(paths.pid); err != nil || pid != p.PID() {
		t.Errorf("pid file = %d, %v; want %d", pid, err, p.PID())
	}
	if err := p.Stop(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
}

func TestProcessConsoleRotation(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	paths.qmp = ""
	const maxBytes, files = 16 << 10, 3
	b := vmtest.FakeBehaviour{Stdout: "SeaBIOS (fake)\n", StdoutBytes: 200 << 10, ExitAtStart: true, Stderr: "last words\n"}
	p := fakeQEMU(t, paths, b, ProcessOptions{Console: ConsoleOptions{MaxBytes: maxBytes, Files: files, TailBytes: 1024}})
	if err := receive(t, startProcess(t, p)); err != nil {
		t.Fatalf("exit: %v", err)
	}
	total := checkConsoleFiles(t, paths.console, maxBytes, files)
	if total <= maxBytes*(files-1) {
		t.Errorf("console files hold %d bytes, want more than %d", total, maxBytes*(files-1))
	}
	// stdout and stderr reach the console through separate pipes, so
	// their relative order at the very end is not fixed.
	exit := p.Status().Exit
	if len(exit.ConsoleTail) != 1024 || !strings.Contains(exit.ConsoleTail, "xxxx\n") {
		t.Errorf("console tail = %d bytes: %q", len(exit.ConsoleTail), exit.ConsoleTail)
	}
	if exit.Stderr != "last words\n" {
		t.Errorf("stderr = %q", exit.Stderr)
	}
}

func TestRealQEMUQuit(t *testing.T) {
	t.Parallel()
	qemu := vmtest.RequireQEMU(t)
	paths := newPaths(t)
	start := time.Now()
	p := NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid), ProcessOptions{QMPSocket: paths.qmp, PIDFile: paths.pid, Console: ConsoleOptions{Path: paths.console}})
	killAtEnd(t, p.PID)
	exited := startProcess(t, p)
	ctx := testCtx(t)
	st, err := p.QMP().Status(ctx)
	if err != nil || st.Status != "running" || !st.Running {
		t.Fatalf("query-status = %+v, %v", st, err)
	}
	if pid, err := ReadPIDFile(paths.pid); err != nil || pid != p.PID() {
		t.Fatalf("pid file: %d, %v", pid, err)
	}
	// SeaBIOS has no ACPI OS: powerdown is ignored and quit ends QEMU.
	if err := p.Stop(ctx, 500*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got, want := actions(p.Status().Stop), []StopAction{StopPowerdown, StopQuit, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	if err := receive(t, exited); err != nil {
		t.Errorf("exit after quit: %v", err)
	}
	if e := p.Status().Exit; e.Reason != "host-qmp-quit" || e.Code != 0 {
		t.Errorf("exit = %+v, want status 0, host-qmp-quit", e)
	}
	for _, f := range []string{paths.pid, paths.qmp} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	t.Logf("real QEMU start, query, stop: %s", time.Since(start).Round(time.Millisecond))
}

func TestRealQEMUKill(t *testing.T) {
	t.Parallel()
	qemu := vmtest.RequireQEMU(t)
	paths := newPaths(t)
	start := time.Now()
	p := NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid), ProcessOptions{
		QMPSocket: paths.qmp, PIDFile: paths.pid, QuitTimeout: 300 * time.Millisecond, KillTimeout: 5 * time.Second,
	})
	killAtEnd(t, p.PID)
	exited := startProcess(t, p)
	// A stopped QEMU answers nothing: powerdown times out, SIGTERM stays
	// pending, and only SIGKILL ends it.
	if err := syscall.Kill(p.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err := p.Stop(testCtx(t), time.Second)
	if !errors.Is(err, ErrKilled) {
		t.Errorf("Stop = %v, want ErrKilled", err)
	}
	if got, want := actions(p.Status().Stop), []StopAction{StopPowerdown, StopTerm, StopKill, StopExited}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	var ee *ExitError
	if err := receive(t, exited); !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL.String() {
		t.Errorf("exit = %v, want killed", err)
	}
	// QEMU had no chance to clean up; Process does it once QEMU is reaped.
	for _, f := range []string{paths.pid, paths.qmp} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	t.Logf("real QEMU start, kill path: %s", time.Since(start).Round(time.Millisecond))
}

// checkConsoleFiles checks the on-disk bounds of a console log and returns
// the bytes it holds.
func checkConsoleFiles(t *testing.T, path string, maxBytes int64, files int) int64 {
	t.Helper()
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) > files {
		t.Errorf("%d console files %v, want at most %d", len(matches), matches, files)
	}
	var total int64
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxBytes {
			t.Errorf("%s is %d bytes, limit %d", m, fi.Size(), maxBytes)
		}
		total += fi.Size()
	}
	if total > maxBytes*int64(files) {
		t.Errorf("console log is %d bytes, limit %d", total, maxBytes*int64(files))
	}
	return total
}
