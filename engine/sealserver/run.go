package sealserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Probe reports whether seal-server answers: nil when it accepted a
// connection. ErrProbeUnsupported (wrapped) means this host cannot tell.
type Probe func(ctx context.Context) error

// ErrProbeUnsupported is wrapped by a Probe's error when readiness cannot
// be checked here; a run then counts as started after the settle time.
var ErrProbeUnsupported = errors.New("cannot probe seal-server's vsock port on this host")

// ErrKilled is part of a stop error when seal-server ignored SIGTERM.
var ErrKilled = errors.New("seal-server did not exit after SIGTERM and was killed")

// ErrPortBusy is returned by a start that finds the port already served,
// most likely by a seal-server started outside the app.
var ErrPortBusy = errors.New("something already answers on seal-server's vsock port")

// run is one seal-server process: started once, stopped once. It is the
// vm.Instance the supervisor restarts.
type run struct {
	s *Server

	mu        sync.Mutex
	cmd       *exec.Cmd
	pid       int
	startedAt time.Time
	console   *vm.ConsoleLog
	done      chan struct{} // closed once reaped
	exit      *vm.ExitInfo
	confirmed bool
}

var _ vm.Instance = (*run)(nil)

// Start runs seal-server and waits until it is ready: the probe answers,
// or (probe unsupported) it stayed up for the settle time. ctx bounds the
// wait; when it ends first, or seal-server exits, the process is stopped
// and reaped before Start returns.
func (r *run) Start(ctx context.Context) (<-chan error, error) {
	o := &r.s.opts
	if err := r.checkPortFree(ctx); err != nil {
		return nil, err
	}
	console, err := vm.OpenConsoleLog(vm.ConsoleOptions{Path: o.Plan.LogPath, MaxBytes: o.LogMaxBytes, Files: o.LogFiles})
	if err != nil {
		return nil, fmt.Errorf("seal-server log: %w", err)
	}
	// A header line tells the runs apart in the shared, rotating log.
	r.s.mu.Lock()
	attempt := r.s.attempt
	r.s.mu.Unlock()
	fmt.Fprintf(console, "--- %s: starting seal-server (run %d) ---\n", o.Clock.Now().Format(time.RFC3339), attempt+1)
	cmd := exec.Command(o.Plan.Binary, o.Plan.Args...)
	cmd.Dir = o.Plan.Dir
	cmd.Env = o.Env
	cmd.Stdout, cmd.Stderr = console, console
	cmd.WaitDelay = 2 * time.Second
	if err := setProcAttr(cmd); err != nil {
		console.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		console.Close()
		return nil, fmt.Errorf("start seal-server %s: %w", o.Plan.Binary, err)
	}
	ch := make(chan error, 1)
	r.mu.Lock()
	r.cmd, r.pid, r.startedAt, r.console, r.done = cmd, cmd.Process.Pid, o.Clock.Now(), console, make(chan struct{})
	r.mu.Unlock()
	r.s.note(fmt.Sprintf("seal-server started (pid %d); waiting for vsock port %d", r.pid, o.Plan.Port))
	go r.reap(ch)

	confirmed, err := r.waitReady(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.confirmed = confirmed
	r.mu.Unlock()
	return ch, nil
}

// checkPortFree refuses to start a second server on a served port.
func (r *run) checkPortFree(ctx context.Context) error {
	o := &r.s.opts
	pctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
	defer cancel()
	if o.Probe(pctx) == nil {
		return fmt.Errorf("%w (port %d): another seal-server, started by hand or by the release's scripts, is probably running; stop it so the app can run its own", ErrPortBusy, o.Plan.Port)
	}
	return nil
}

func (r *run) waitReady(ctx context.Context) (confirmed bool, err error) {
	o := &r.s.opts
	var lastErr error
	settle := (<-chan time.Time)(nil)
	for {
		pctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
		perr := o.Probe(pctx)
		cancel()
		switch {
		case perr == nil:
			return true, nil
		case errors.Is(perr, ErrProbeUnsupported):
			if settle == nil {
				r.s.note(fmt.Sprintf("cannot dial vsock port %d from this host (%v); counting seal-server as ready if it stays up %s", o.Plan.Port, perr, o.Settle))
				settle = o.Clock.After(o.Settle)
			}
		default:
			lastErr = perr
		}
		var tick <-chan time.Time
		if settle == nil {
			tick = o.Clock.After(o.ProbeInterval)
		}
		select {
		case <-r.done:
			return false, r.startupExitError()
		case <-settle:
			return false, nil
		case <-tick:
		case <-ctx.Done():
			serr := r.stop(o.KillTimeout)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg := fmt.Sprintf("seal-server did not answer on vsock port %d within %s", o.Plan.Port, o.StartTimeout)
				if lastErr != nil {
					msg += fmt.Sprintf(" (last try: %v)", lastErr)
				}
				if tail := r.tailLines(5); tail != "" {
					msg += "; its log ends: " + tail
				}
				return false, errors.Join(&StartError{Msg: msg, Timeout: true}, serr)
			}
			return false, errors.Join(fmt.Errorf("seal-server start cancelled: %w", ctx.Err()), serr)
		}
	}
}

// StartError is a run that failed before it was ready.
type StartError struct {
	Msg string
	// Exit is set when seal-server exited during start-up.
	Exit *vm.ExitInfo
	// Timeout: it ran but never answered.
	Timeout bool
}

func (e *StartError) Error() string { return e.Msg }

func (r *run) startupExitError() error {
	r.mu.Lock()
	e := *r.exit
	r.mu.Unlock()
	msg := "seal-server " + e.String() + " during start-up"
	if tail := lastLines(e.ConsoleTail, 5); tail != "" {
		msg += ": " + tail
	}
	return &StartError{Msg: msg, Exit: &e}
}

// reap waits for the process and reports how it ended.
func (r *run) reap(ch chan<- error) {
	r.mu.Lock()
	cmd, console := r.cmd, r.console
	r.mu.Unlock()
	waitErr := cmd.Wait()
	info := vm.ExitInfo{PID: cmd.Process.Pid, Code: -1, ExitedAt: r.s.opts.Clock.Now()}
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			info.Signal = ws.Signal().String()
		} else {
			info.Code = ps.ExitCode()
		}
	}
	if info.Code == -1 && info.Signal == "" && waitErr != nil {
		info.Stderr = waitErr.Error()
	}
	info.ConsoleTail = string(console.Tail())
	_ = console.Close()
	r.mu.Lock()
	info.StartedAt = r.startedAt
	r.exit = &info
	close(r.done)
	r.mu.Unlock()
	if info.Clean() {
		ch <- nil
	} else {
		ch <- &ExitError{ExitInfo: info}
	}
	close(ch)
}

// ExitError is what a run's exited channel carries after an unclean exit.
type ExitError struct{ vm.ExitInfo }

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("seal-server (pid %d) %s", e.PID, e.ExitInfo.String())
	if tail := lastLines(e.ConsoleTail, 5); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// Stop sends SIGTERM, waits up to grace (or until ctx ends), then kills
// the process group and waits up to KillTimeout. It always reaps; the
// error wraps ErrKilled when SIGKILL was needed.
func (r *run) Stop(ctx context.Context, grace time.Duration) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	if err := r.signal(syscall.SIGTERM); err != nil {
		return errors.Join(err, r.kill())
	}
	select {
	case <-done:
		return nil
	case <-r.s.opts.Clock.After(grace):
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil
	default:
	}
	return errors.Join(fmt.Errorf("pid %d: %w", r.PID(), ErrKilled), r.kill())
}

// stop is Stop bounded by grace alone (start-up failures).
func (r *run) stop(grace time.Duration) error {
	return r.Stop(context.Background(), grace)
}

func (r *run) signal(sig syscall.Signal) error {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	// os.Process signals through a pidfd where it can: no reused PID is hit.
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal seal-server: %w", err)
	}
	return nil
}

// kill sends SIGKILL to the process and its group and waits, bounded by
// KillTimeout, for the reaper.
func (r *run) kill() error {
	err := r.signal(syscall.SIGKILL)
	select {
	case <-r.done:
		return err
	default:
	}
	err = errors.Join(err, killGroup(r.PID()))
	select {
	case <-r.done:
		return err
	case <-r.s.opts.Clock.After(r.s.opts.KillTimeout):
		return errors.Join(err, fmt.Errorf("seal-server pid %d still there %s after SIGKILL", r.PID(), r.s.opts.KillTimeout))
	}
}

// PID is the process ID (0 before Start).
func (r *run) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// Status implements vm.Instance.
func (r *run) Status() vm.ProcessStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := vm.ProcessStatus{PID: r.pid, Running: r.cmd != nil && r.exit == nil, StartedAt: r.startedAt}
	if r.console != nil {
		st.ConsoleTail = string(r.console.Tail())
	}
	if r.exit != nil {
		e := *r.exit
		st.Exit = &e
	}
	return st
}

func (r *run) tailLines(n int) string {
	r.mu.Lock()
	c := r.console
	r.mu.Unlock()
	if c == nil {
		return ""
	}
	return lastLines(string(c.Tail()), n)
}

// lastLines returns the last n non-empty lines of s joined with "; ".
func lastLines(s string, n int) string { return strings.Join(tailLines(s, n), "; ") }

// tailLines returns the last n non-empty lines of s.
func tailLines(s string, n int) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
