//go:build linux

package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm/vmtest"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if got := b.Delay(i+1, 0.5); got != w*time.Second {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w*time.Second)
		}
	}
	// ±20% jitter, never above the cap.
	if got := b.Delay(1, 0); got != 800*time.Millisecond {
		t.Errorf("lowest jitter: %s", got)
	}
	if got := b.Delay(3, 0.999999); got < 4700*time.Millisecond || got > 4800*time.Millisecond {
		t.Errorf("highest jitter: %s", got)
	}
	if got := b.Delay(7, 0.999999); got != time.Minute {
		t.Errorf("capped delay with jitter: %s", got)
	}
	if got := b.Delay(6, 0); got != 32*time.Second*8/10 {
		t.Errorf("Delay(6, 0) = %s", got)
	}
	none := Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 3, Jitter: -1}
	if got := none.Delay(3, 0); got != 9*time.Second {
		t.Errorf("no jitter: %s", got)
	}
}

// fakeInstance is an in-memory VM run.
type fakeInstance struct {
	pid      int
	startErr error
	exited   chan error

	mu        sync.Mutex
	exit      *ExitInfo
	stopGrace time.Duration
	stops     int
	releases  int
}

func (f *fakeInstance) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases++
	return nil
}

func (f *fakeInstance) Start(context.Context) (<-chan error, error) {
	if f.startErr != nil {
		return nil, f.startErr
	}
	return f.exited, nil
}

func (f *fakeInstance) Stop(_ context.Context, grace time.Duration) error {
	f.mu.Lock()
	f.stops++
	f.stopGrace = grace
	f.mu.Unlock()
	f.end(ExitInfo{Code: 0, Reason: "host-qmp-quit"})
	return nil
}

func (f *fakeInstance) Status() ProcessStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ProcessStatus{PID: f.pid, Running: f.exit == nil, Exit: f.exit}
}

// end makes the run exit with info.
func (f *fakeInstance) end(info ExitInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exit != nil {
		return
	}
	info.PID = f.pid
	f.exit = &info
	if info.Clean() {
		f.exited <- nil
	} else {
		f.exited <- &ExitError{ExitInfo: info}
	}
}

type harness struct {
	t         *testing.T
	ctx       context.Context
	clock     *vmtest.FakeClock
	sup       *Supervisor
	events    chan SupervisorEvent
	instances chan *fakeInstance
	// failStart makes New's instance fail to start for these attempts.
	failStart map[int]bool
}

func newHarness(t *testing.T, opts SupervisorOptions) *harness {
	t.Helper()
	h := &harness{
		t:         t,
		ctx:       testCtx(t),
		clock:     vmtest.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		events:    make(chan SupervisorEvent, 100),
		instances: make(chan *fakeInstance, 100),
		failStart: map[int]bool{},
	}
	opts.Clock = h.clock
	opts.Rand = func() float64 { return 0.5 } // no jitter
	opts.OnEvent = func(ev SupervisorEvent) { h.events <- ev }
	if opts.New == nil {
		opts.New = func(_ context.Context, attempt int) (Instance, error) {
			f := &fakeInstance{pid: 1000 + attempt, exited: make(chan error, 1)}
			if h.failStart[attempt] {
				f.startErr = fmt.Errorf("attempt %d: bad arguments", attempt)
			}
			h.instances <- f
			return f, nil
		}
	}
	sup, err := NewSupervisor(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.sup = sup
	t.Cleanup(func() { _ = sup.Stop(context.Background()) })
	return h
}

func (h *harness) expect(kind SupervisorEventKind) SupervisorEvent {
	h.t.Helper()
	select {
	case ev := <-h.events:
		if ev.Kind != kind {
			h.t.Fatalf("event %s (%+v), want %s", ev.Kind, ev, kind)
		}
		return ev
	case <-h.ctx.Done():
		h.t.Fatalf("no %s event", kind)
	}
	return SupervisorEvent{}
}

func (h *harness) instance() *fakeInstance {
	h.t.Helper()
	select {
	case f := <-h.instances:
		return f
	case <-h.ctx.Done():
		h.t.Fatal("no new instance")
	}
	return nil
}

// passBackoff waits for the restart timer and lets it fire.
func (h *harness) passBackoff(d time.Duration) {
	h.t.Helper()
	if err := h.clock.WaitForTimer(h.ctx, d); err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(d)
}

func TestSupervisorRestartsWithBackoffThenGivesUp(t *testing.T) {
	h := newHarness(t, SupervisorOptions{MaxFastFailures: 3, StableAfter: time.Hour})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	for i, delay := range []time.Duration{time.Second, 2 * time.Second} {
		f := h.instance()
		if ev := h.expect(EventStarted); ev.PID != f.pid || ev.Attempt != i || ev.Restarts != i {
			t.Fatalf("started %+v", ev)
		}
		if st := h.sup.Status(); st.Phase != SupervisorRunning || st.PID != f.pid {
			t.Fatalf("status %+v", st)
		}
		f.end(ExitInfo{Code: 1, Stderr: "qemu: boom\n", ConsoleTail: "kernel panic\n"})
		ev := h.expect(EventExited)
		if ev.Exit == nil || ev.Exit.Code != 1 || ev.Exit.ConsoleTail != "kernel panic\n" || ev.PID != f.pid || ev.Failures != i+1 {
			t.Fatalf("exited %+v", ev)
		}
		ev = h.expect(EventRestarting)
		if ev.Delay != delay {
			t.Fatalf("restart delay %s, want %s", ev.Delay, delay)
		}
		st := h.sup.Status()
		if st.Phase != SupervisorBackoff || st.LastExit.Code != 1 || !st.NextStart.Equal(h.clock.Now().Add(delay)) {
			t.Fatalf("status in backoff: %+v", st)
		}
		h.passBackoff(delay)
	}
	f := h.instance()
	h.expect(EventStarted)
	f.end(ExitInfo{Code: -1, Signal: "killed"})
	h.expect(EventExited)
	ev := h.expect(EventGaveUp)
	if !strings.Contains(ev.Error, "3 fast failures") {
		t.Errorf("gave up: %q", ev.Error)
	}
	select {
	case <-h.sup.Done():
	case <-h.ctx.Done():
		t.Fatal("supervisor still running after giving up")
	}
	st := h.sup.Status()
	if st.Phase != SupervisorGaveUp || st.Restarts != 2 || st.Failures != 3 || st.LastExit.Signal != "killed" || st.PID != 0 {
		t.Errorf("final status %+v", st)
	}
	if len(h.instances) != 0 {
		t.Error("started again after giving up")
	}
}

func TestSupervisorStableRunResetsBackoff(t *testing.T) {
	const stable = 10 * time.Minute
	h := newHarness(t, SupervisorOptions{MaxFastFailures: -1, StableAfter: stable})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		f := h.instance()
		h.expect(EventStarted)
		f.end(ExitInfo{Code: 1})
		h.expect(EventExited)
		if ev := h.expect(EventRestarting); ev.Delay != delay {
			t.Fatalf("delay %s, want %s", ev.Delay, delay)
		}
		h.passBackoff(delay)
	}
	// This run lasts: the failure count starts over.
	f := h.instance()
	h.expect(EventStarted)
	if err := h.clock.WaitForTimer(h.ctx, stable); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(stable)
	f.end(ExitInfo{Code: 1})
	if ev := h.expect(EventExited); ev.Failures != 1 {
		t.Errorf("failures after a stable run: %d", ev.Failures)
	}
	if ev := h.expect(EventRestarting); ev.Delay != time.Second || ev.Restarts != 3 {
		t.Errorf("after a stable run: delay %s, restarts %d; want 1s, 3", ev.Delay, ev.Restarts)
	}
}

func TestSupervisorStartFailure(t *testing.T) {
	h := newHarness(t, SupervisorOptions{})
	h.failStart[0] = true
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.instance()
	ev := h.expect(EventStartFailed)
	if !strings.Contains(ev.Error, "bad arguments") || ev.Failures != 1 {
		t.Fatalf("start failed %+v", ev)
	}
	h.expect(EventRestarting)
	h.passBackoff(time.Second)
	h.instance()
	if ev := h.expect(EventStarted); ev.Attempt != 1 || ev.Restarts != 1 {
		t.Fatalf("started %+v", ev)
	}
	if st := h.sup.Status(); !strings.Contains(st.LastError, "bad arguments") {
		t.Errorf("last error %q", st.LastError)
	}
}

func TestSupervisorStopRunning(t *testing.T) {
	h := newHarness(t, SupervisorOptions{StopGrace: 7 * time.Second})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	f := h.instance()
	h.expect(EventStarted)
	if err := h.sup.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	ev := h.expect(EventStopped)
	if ev.Exit == nil || ev.Exit.Reason != "host-qmp-quit" {
		t.Errorf("stopped %+v", ev)
	}
	f.mu.Lock()
	if f.stops != 1 || f.stopGrace != 7*time.Second {
		t.Errorf("instance stopped %d times with grace %s", f.stops, f.stopGrace)
	}
	f.mu.Unlock()
	if st := h.sup.Status(); st.Phase != SupervisorStopped || st.PID != 0 {
		t.Errorf("status %+v", st)
	}
	if err := h.sup.Start(h.ctx); err == nil {
		t.Error("a stopped supervisor started again")
	}
}

func TestSupervisorReleaseLeavesVMRunning(t *testing.T) {
	h := newHarness(t, SupervisorOptions{})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	f := h.instance()
	h.expect(EventStarted)
	if err := h.sup.Release(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.expect(EventStopped)
	<-h.sup.Done()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stops != 0 || f.releases != 1 || f.exit != nil {
		t.Errorf("release: %d stops, %d releases, exit %+v; want the VM left running", f.stops, f.releases, f.exit)
	}
}

func TestSupervisorStopDuringBackoff(t *testing.T) {
	h := newHarness(t, SupervisorOptions{})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	f := h.instance()
	h.expect(EventStarted)
	f.end(ExitInfo{Code: 1})
	h.expect(EventExited)
	h.expect(EventRestarting)
	if err := h.sup.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.expect(EventStopped)
	if len(h.instances) != 0 {
		t.Error("restarted after Stop")
	}
	if st := h.sup.Status(); st.Phase != SupervisorStopped || !st.NextStart.IsZero() {
		t.Errorf("status %+v", st)
	}
}

func TestSupervisorStopsWhenContextEnds(t *testing.T) {
	h := newHarness(t, SupervisorOptions{})
	ctx, cancel := context.WithCancel(h.ctx)
	if err := h.sup.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f := h.instance()
	h.expect(EventStarted)
	cancel()
	h.expect(EventStopped)
	select {
	case <-h.sup.Done():
	case <-h.ctx.Done():
		t.Fatal("not done")
	}
	if f.Status().Exit == nil {
		t.Error("VM not stopped")
	}
}

func TestSupervisorOptions(t *testing.T) {
	if _, err := NewSupervisor(SupervisorOptions{}); err == nil {
		t.Error("NewSupervisor without New")
	}
	sup, err := NewSupervisor(SupervisorOptions{New: func(context.Context, int) (Instance, error) { return nil, errors.New("x") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(context.Background()); err == nil {
		t.Error("Start after Stop")
	}
}

// TestSupervisorRestartsKilledProcess runs real child processes: the fake
// QEMU, or QEMU itself under TCG. Killing the VM makes the supervisor
// report the exit with the console tail and start a new one.
func TestSupervisorRestartsKilledProcess(t *testing.T) {
	t.Parallel()
	for _, real := range []bool{false, true} {
		t.Run(map[bool]string{false: "fake QEMU", true: "real QEMU"}[real], func(t *testing.T) {
			t.Parallel()
			var qemu string
			if real {
				qemu = vmtest.RequireQEMU(t)
			}
			start := time.Now()
			paths := newPaths(t)
			var mu sync.Mutex
			var procs []*Process
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range procs {
					if pid := p.PID(); pid > 0 {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			h := newHarness(t, SupervisorOptions{
				StopGrace: 200 * time.Millisecond,
				New: func(_ context.Context, attempt int) (Instance, error) {
					var p *Process
					var err error
					if real {
						// SeaBIOS's debug port, on stdio, is the console.
						p = NewProcess(qemu, vmtest.IdleVMArgs(paths.qmp, paths.pid,
							"-chardev", "stdio,id=c0", "-device", "isa-debugcon,chardev=c0,iobase=0x402"), ProcessOptions{
							QMPSocket: paths.qmp, PIDFile: paths.pid, Console: ConsoleOptions{Path: paths.console},
						})
					} else {
						p, err = newFakeQEMU(paths, vmtest.FakeBehaviour{Stdout: fmt.Sprintf("fake guest boot %d\n", attempt)}, ProcessOptions{})
					}
					if err == nil {
						mu.Lock()
						procs = append(procs, p)
						mu.Unlock()
					}
					return p, err
				},
			})
			if err := h.sup.Start(h.ctx); err != nil {
				t.Fatal(err)
			}
			first := h.expect(EventStarted)
			wantConsole := "fake guest boot 0"
			if real {
				// The guest prints while it runs; wait for its first words.
				wantConsole = "SeaBIOS"
				mu.Lock()
				p := procs[0]
				mu.Unlock()
				eventually(t, func() bool { return strings.Contains(p.ConsoleTail(), wantConsole) })
			}
			if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			ev := h.expect(EventExited)
			if ev.Exit.Signal != syscall.SIGKILL.String() || ev.PID != first.PID {
				t.Errorf("exit %+v, want pid %d killed", ev.Exit, first.PID)
			}
			if !strings.Contains(ev.Exit.ConsoleTail, wantConsole) {
				t.Errorf("console tail %q lacks %q", ev.Exit.ConsoleTail, wantConsole)
			}
			if ev := h.expect(EventRestarting); ev.Delay != time.Second {
				t.Errorf("delay %s", ev.Delay)
			}
			h.passBackoff(time.Second)
			second := h.expect(EventStarted)
			if second.PID == first.PID || second.Restarts != 1 {
				t.Errorf("second run %+v", second)
			}
			if err := h.sup.Stop(h.ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if ev := h.expect(EventStopped); ev.Exit == nil || ev.Exit.Reason != "host-qmp-quit" || ev.Error != "" {
				t.Errorf("stopped %+v", ev)
			}
			t.Logf("two runs, kill, restart, stop: %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// eventually checks cond every few milliseconds until it holds, failing
// the test after testTimeout.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met in time")
		}
	}
}

// TestSupervisorAdoptsThenRestarts: the first run is a VM left by an
// earlier app; when it dies, the supervisor starts a fresh one in its place.
func TestSupervisorAdoptsThenRestarts(t *testing.T) {
	t.Parallel()
	paths := newPaths(t)
	oldPID := startAndDrop(t, paths, vmtest.FakeBehaviour{})
	var mu sync.Mutex
	var procs []*Process
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			if pid := p.PID(); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	h := newHarness(t, SupervisorOptions{
		StopGrace: 100 * time.Millisecond,
		New: func(ctx context.Context, attempt int) (Instance, error) {
			if attempt == 0 {
				return Adopt(ctx, paths.pid, paths.qmp, AdoptOptions{})
			}
			p, err := newFakeQEMU(paths, vmtest.FakeBehaviour{}, ProcessOptions{})
			if err == nil {
				mu.Lock()
				procs = append(procs, p)
				mu.Unlock()
			}
			return p, err
		},
	})
	if err := h.sup.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	if ev := h.expect(EventStarted); ev.PID != oldPID || !h.sup.Status().Adopted {
		t.Fatalf("first run %+v, status %+v; want the adopted pid %d", ev, h.sup.Status(), oldPID)
	}
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ev := h.expect(EventExited); !ev.Exit.StatusUnknown || ev.PID != oldPID {
		t.Errorf("exit of the adopted VM: %+v", ev.Exit)
	}
	h.expect(EventRestarting)
	h.passBackoff(time.Second)
	ev := h.expect(EventStarted)
	if ev.PID == oldPID || h.sup.Status().Adopted {
		t.Errorf("second run %+v", ev)
	}
	if pid, err := ReadPIDFile(paths.pid); err != nil || pid != ev.PID {
		t.Errorf("pid file names %d (%v), want the new VM %d", pid, err, ev.PID)
	}
	if err := h.sup.Stop(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.expect(EventStopped)
}

// TestBackoffNoJitterSurvivesDefaults: "no jitter" (negative) stays none
// when defaults are applied more than once, as NewSupervisor and Delay do.
func TestBackoffNoJitterSurvivesDefaults(t *testing.T) {
	b := Backoff{Initial: time.Second, Jitter: -1}.withDefaults().withDefaults()
	for _, r := range []float64{0, 0.5, 0.999} {
		if got := b.Delay(1, r); got != time.Second {
			t.Errorf("Delay(1, %v) = %s, want exactly 1s", r, got)
		}
	}
}
