//go:build linux

package sealserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Environment of the fake seal-server.
const (
	fakeMode  = "SEALTEST_MODE"  // ready, crash, crash-once, never, ignore-term
	fakeSock  = "SEALTEST_SOCK"  // unix socket standing in for the vsock port
	fakeCount = "SEALTEST_COUNT" // file with one line per run
	fakeArgs  = "SEALTEST_ARGS"  // where a run records its argv and cwd
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// TestFakeSealServer is not a test: re-executed through the release's
// bin/seal-server script, it becomes a fake seal-server.
func TestFakeSealServer(t *testing.T) {
	mode := os.Getenv(fakeMode)
	if mode == "" {
		t.Skip("helper process for the Server tests; runs only when re-executed by them")
	}
	os.Exit(fakeSealServer(mode))
}

func fakeSealServer(mode string) int {
	args := os.Args
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[i+1:]
	}
	cwd, _ := os.Getwd()
	_ = os.WriteFile(os.Getenv(fakeArgs), []byte(cwd+"\n"+strings.Join(args, "\n")), 0o600)
	f, err := os.OpenFile(os.Getenv(fakeCount), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 90
	}
	f.WriteString("run\n")
	f.Close()
	b, _ := os.ReadFile(os.Getenv(fakeCount))
	runs := strings.Count(string(b), "\n")

	term := make(chan os.Signal, 1)
	if mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	fmt.Println("fake seal-server: loading enclave")
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "sgx_create_enclave failed: SGX_ERROR_NO_DEVICE")
		return 3
	case "never":
		<-term
		return 0
	}
	l, err := net.Listen("unix", os.Getenv(fakeSock))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 91
	}
	defer l.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	fmt.Println("fake seal-server: listening")
	if mode == "crash-once" && runs == 1 {
		// Crash once the probe has seen it ready.
		<-accepted
		fmt.Fprintln(os.Stderr, "boom: lost the enclave")
		return 7
	}
	<-term
	fmt.Println("fake seal-server: SIGTERM, bye")
	return 0
}

// env is one test's fake seal-server setup.
type env struct {
	t                         *testing.T
	dir, release, sock, count string
	argsFile, log             string
	events                    chan Event
	mu                        sync.Mutex
	all                       []Event
}

func newEnv(t *testing.T, mode string) *env {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Unix socket paths must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "seal")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "s.sock"), count: filepath.Join(dir, "count"),
		argsFile: filepath.Join(dir, "args"), events: make(chan Event, 256)}
	script := "#!/bin/sh\nexec " + strconv.Quote(self) + " -test.run='^TestFakeSealServer$' -test.count=1 -- \"$@\"\n"
	e.release = newRelease(t, script)
	t.Setenv(fakeMode, mode)
	t.Setenv(fakeSock, e.sock)
	t.Setenv(fakeCount, e.count)
	t.Setenv(fakeArgs, e.argsFile)
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	return e
}

// unixProbe stands in for the vsock probe.
func unixProbe(path string) Probe {
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", path)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func (e *env) server(mod func(*Options)) *Server {
	e.t.Helper()
	plan := Describe(Config{ReleaseDir: e.release, DataDir: e.dir})
	e.log = plan.LogPath
	o := Options{
		Plan:    plan,
		Probe:   unixProbe(e.sock),
		Backoff: vm.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: -1},
		// vm.Supervisor fills in the backoff's defaults once and Delay
		// again, so Jitter -1 comes back as the default; Rand 0.5 is
		// no jitter whatever the fraction.
		Rand:          func() float64 { return 0.5 },
		ProbeInterval: 10 * time.Millisecond,
		StartTimeout:  10 * time.Second,
		StopTimeout:   5 * time.Second,
		OnEvent: func(ev Event) {
			e.mu.Lock()
			e.all = append(e.all, ev)
			e.mu.Unlock()
			e.events <- ev
		},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// wait returns the next event of kind, failing on a deadline.
func (e *env) wait(kind EventKind) Event {
	e.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case ev := <-e.events:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline:
			e.t.Fatalf("no %s event; got %v", kind, e.kinds())
		}
	}
}

// kinds lists the events so far, notes left out.
func (e *env) kinds() []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []EventKind
	for _, ev := range e.all {
		if ev.Kind != EventNote {
			k = append(k, ev.Kind)
		}
	}
	return k
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func gone(pid int) bool { return syscall.Kill(pid, 0) != nil }

func TestServerReady(t *testing.T) {
	e := newEnv(t, "ready")
	s := e.server(nil)
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ready := e.wait(EventReady)
	if !ready.Confirmed || ready.PID == 0 || !strings.Contains(ready.Message, "ready on vsock port 12345") {
		t.Errorf("ready event %+v", ready)
	}
	if st := s.Status(); st.Phase != PhaseReady || !st.Confirmed || st.PID != ready.PID {
		t.Errorf("status %+v", st)
	}
	b, err := os.ReadFile(e.argsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := e.release + "\n--enclave-path\n" + filepath.Join(e.release, "bin", "enclave.signed.so")
	if string(b) != want {
		t.Errorf("cwd and argv:\n%s\nwant:\n%s", b, want)
	}
	if err := s.Stop(ctxT(t)); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped := e.wait(EventStopped)
	if stopped.Exit == nil || stopped.Exit.Code != 0 {
		t.Errorf("stopped event %+v", stopped)
	}
	if !gone(ready.PID) {
		t.Error("seal-server still runs after Stop")
	}
	if st := s.Status(); st.Phase != PhaseStopped {
		t.Errorf("phase %s", st.Phase)
	}
	log, err := os.ReadFile(e.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"loading enclave", "listening", "SIGTERM, bye"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
	if got, want := e.kinds(), []EventKind{EventStarting, EventReady, EventStopped}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestServerRestartsAfterCrash(t *testing.T) {
	e := newEnv(t, "crash-once")
	s := e.server(nil)
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	first := e.wait(EventReady)
	crash := e.wait(EventCrashed)
	if crash.Exit == nil || crash.Exit.Code != 7 || !strings.Contains(strings.Join(crash.LogTail, "\n"), "boom: lost the enclave") {
		t.Errorf("crash event %+v", crash)
	}
	restart := e.wait(EventRestarting)
	if restart.Delay != 20*time.Millisecond || !strings.Contains(restart.Message, "Restarting seal-server in") {
		t.Errorf("restart event %+v", restart)
	}
	second := e.wait(EventReady)
	if second.Attempt != 1 || second.Restarts != 1 || second.PID == first.PID {
		t.Errorf("second run %+v (first pid %d)", second, first.PID)
	}
	want := []EventKind{EventStarting, EventReady, EventCrashed, EventRestarting, EventStarting, EventReady}
	if got := e.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if st := s.Status(); st.Restarts != 1 || st.LastExit == nil || st.LastExit.Code != 7 {
		t.Errorf("status %+v", st)
	}
}

func TestServerGivesUp(t *testing.T) {
	e := newEnv(t, "crash")
	s := e.server(func(o *Options) { o.MaxFastFailures = 3 })
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ev := e.wait(EventGaveUp)
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatal("not done after giving up")
	}
	var g *GaveUpError
	if !errors.As(s.Err(), &g) {
		t.Fatalf("Err() = %v, want a GaveUpError", s.Err())
	}
	if g.Failures != 3 || !strings.Contains(g.Last, "exited with status 3") {
		t.Errorf("gave up %+v", g)
	}
	for _, w := range []string{"failed 3 times in a row", "enclave could not be loaded", "Failed to generate sealed key", "SGX_ERROR_NO_DEVICE"} {
		if !strings.Contains(ev.Error+strings.Join(ev.LogTail, "\n"), w) {
			t.Errorf("gave-up event lacks %q: %s | %q", w, ev.Error, ev.LogTail)
		}
	}
	want := []EventKind{EventStarting, EventStartFailed, EventRestarting, EventStarting, EventStartFailed, EventRestarting, EventStarting, EventStartFailed, EventGaveUp}
	if got := e.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	e.mu.Lock()
	for _, ev := range e.all {
		if ev.Kind == EventStartFailed && (ev.Exit == nil || ev.Exit.Code != 3) {
			t.Errorf("start-failed without exit code 3: %+v", ev)
		}
	}
	e.mu.Unlock()
	if st := s.Status(); st.Phase != PhaseGaveUp || !strings.Contains(st.LastError, "will not be restarted") {
		t.Errorf("status %+v", st)
	}
}

func TestServerNeverReady(t *testing.T) {
	e := newEnv(t, "never")
	s := e.server(func(o *Options) { o.StartTimeout = 300 * time.Millisecond; o.MaxFastFailures = 1 })
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var pid int
	for pid == 0 {
		if ev := e.wait(EventNote); strings.Contains(ev.Message, "started (pid") {
			fmt.Sscanf(ev.Message, "seal-server started (pid %d)", &pid)
		}
	}
	failed := e.wait(EventStartFailed)
	if !strings.Contains(failed.Error, "did not answer on vsock port 12345 within 300ms") || !strings.Contains(failed.Error, "its log ends: --- ") {
		t.Errorf("start-failed %q", failed.Error)
	}
	gave := e.wait(EventGaveUp)
	if !strings.Contains(gave.Error, "never answered") {
		t.Errorf("gave-up %q", gave.Error)
	}
	if !gone(pid) {
		t.Error("a never-ready seal-server was left running")
	}
}

func TestServerStopWhileStarting(t *testing.T) {
	e := newEnv(t, "never")
	s := e.server(nil)
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var pid int
	for pid == 0 {
		if ev := e.wait(EventNote); strings.Contains(ev.Message, "started (pid") {
			fmt.Sscanf(ev.Message, "seal-server started (pid %d)", &pid)
		}
	}
	start := time.Now()
	if err := s.Stop(ctxT(t)); err != nil {
		t.Errorf("stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s", d)
	}
	e.wait(EventStopped)
	if !gone(pid) {
		t.Error("seal-server still runs")
	}
	if got := e.kinds(); slices.Contains(got, EventRestarting) || slices.Contains(got, EventReady) {
		t.Errorf("events %v", got)
	}
}

func TestServerKillsAfterStopTimeout(t *testing.T) {
	e := newEnv(t, "ignore-term")
	s := e.server(func(o *Options) { o.StopTimeout = 200 * time.Millisecond })
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ready := e.wait(EventReady)
	err := s.Stop(ctxT(t))
	if !errors.Is(err, ErrKilled) {
		t.Errorf("stop error %v, want ErrKilled", err)
	}
	stopped := e.wait(EventStopped)
	if stopped.Exit == nil || stopped.Exit.Signal != "killed" {
		t.Errorf("stopped %+v", stopped)
	}
	if !gone(ready.PID) {
		t.Error("seal-server survived SIGKILL")
	}
}

func TestServerPortBusy(t *testing.T) {
	e := newEnv(t, "ready")
	s := e.server(func(o *Options) {
		o.Probe = func(context.Context) error { return nil }
		o.MaxFastFailures = 1
	})
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	failed := e.wait(EventStartFailed)
	if !strings.Contains(failed.Error, "already answers") {
		t.Errorf("start-failed %q", failed.Error)
	}
	if gave := e.wait(EventGaveUp); !strings.Contains(gave.Error, "stop the other seal-server") {
		t.Errorf("gave-up %q", gave.Error)
	}
	if _, err := os.Stat(e.count); !errors.Is(err, os.ErrNotExist) {
		t.Error("a second seal-server was started on a busy port")
	}
}

func TestServerSettlesWithoutProbe(t *testing.T) {
	e := newEnv(t, "ready")
	s := e.server(func(o *Options) {
		o.Probe = func(context.Context) error { return fmt.Errorf("%w: no vsock_loopback", ErrProbeUnsupported) }
		o.Settle = 200 * time.Millisecond
	})
	if err := s.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ready := e.wait(EventReady)
	if ready.Confirmed || !strings.Contains(ready.Message, "not confirmed") {
		t.Errorf("ready %+v", ready)
	}
	if st := s.Status(); st.Phase != PhaseReady || st.Confirmed {
		t.Errorf("status %+v", st)
	}
}
