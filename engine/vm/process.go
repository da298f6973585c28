package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stop defaults.
const (
	// DefaultQuitTimeout is how long Stop waits for QEMU to exit after QMP
	// quit (or SIGTERM) before it kills it.
	DefaultQuitTimeout = 10 * time.Second
	// DefaultKillTimeout is how long Stop waits for the process to be gone
	// after SIGKILL.
	DefaultKillTimeout = 10 * time.Second
	// stderrTailBytes is how much of QEMU's stderr is kept for errors.
	stderrTailBytes = 4 << 10
	// waitDelay bounds how long reaping waits for the output pipes to
	// drain after QEMU exited (a helper that inherited them could hold
	// them open).
	waitDelay = 5 * time.Second
	// shutdownReasonWait bounds how long the reaper waits for the QMP
	// reader to deliver a last SHUTDOWN event after the process exited.
	shutdownReasonWait = time.Second
)

// ErrKilled is part of Stop's error when QEMU ignored powerdown and quit
// (or they could not be sent in time) and had to be killed.
var ErrKilled = errors.New("QEMU did not exit when asked and was killed")

// ErrAlreadyStarted is returned by a second Start.
var ErrAlreadyStarted = errors.New("QEMU process already started")

// ErrNotStarted is returned by Stop before Start.
var ErrNotStarted = errors.New("QEMU process not started")

// ProcessOptions are the paths and limits a Process needs besides QEMU's
// executable and arguments.
type ProcessOptions struct {
	// QMPSocket is the path in the arguments' "-qmp unix:<path>,server=on,wait=off".
	// Start waits for it and connects; Stop uses it for system_powerdown
	// and quit. Empty: no QMP, Stop goes straight to SIGTERM.
	QMPSocket string
	// PIDFile is the path in the arguments' "-pidfile <path>". Start
	// refuses to run while it names a live QEMU (see Adopt), and removes it
	// when stale.
	PIDFile string
	// Console is where QEMU's stdout and stderr (the guest console with
	// "-chardev stdio") are kept.
	Console ConsoleOptions
	// ConsoleInput connects QEMU's stdin to a pipe (Process.Stdin) instead
	// of /dev/null.
	ConsoleInput bool
	// Dir is QEMU's working directory ("" = this process's).
	Dir string
	// Env is QEMU's environment (nil = this process's).
	Env []string
	// QuitTimeout and KillTimeout: see DefaultQuitTimeout, DefaultKillTimeout.
	QuitTimeout time.Duration
	KillTimeout time.Duration
	// Clock times the stop sequence (default: the system clock).
	Clock Clock
}

// ExitInfo describes how a QEMU process ended.
type ExitInfo struct {
	PID int `json:"pid"`
	// Code is the exit status; -1 when killed by a signal or not known.
	Code int `json:"code"`
	// Signal names the signal that killed QEMU ("killed"), if one did.
	Signal string `json:"signal,omitempty"`
	// StatusUnknown: the process was adopted, not started by this process,
	// so its exit status cannot be read.
	StatusUnknown bool `json:"status_unknown,omitempty"`
	// Reason is QEMU's own account from its last QMP SHUTDOWN event:
	// "guest-shutdown", "host-qmp-quit", "host-signal", "guest-reset", …
	Reason string `json:"reason,omitempty"`
	// Stderr is the tail of QEMU's stderr (its error messages).
	Stderr string `json:"stderr,omitempty"`
	// ConsoleTail is the tail of the guest console (stdout and stderr).
	ConsoleTail string    `json:"console_tail,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	ExitedAt    time.Time `json:"exited_at"`
}

// Clean reports whether QEMU exited by itself with status 0.
func (e ExitInfo) Clean() bool { return !e.StatusUnknown && e.Signal == "" && e.Code == 0 }

// String says how the process ended, in words.
func (e ExitInfo) String() string {
	var s string
	switch {
	case e.StatusUnknown:
		s = "exited (status unknown: not started by this process)"
	case e.Signal != "":
		s = "killed by signal " + e.Signal
	default:
		s = fmt.Sprintf("exited with status %d", e.Code)
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// ExitError is what a Process's exited channel carries when QEMU did not
// exit cleanly. Its message includes the last lines of QEMU's stderr.
type ExitError struct {
	ExitInfo
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("QEMU (pid %d) %s", e.PID, e.ExitInfo.String())
	if tail := lastLines(e.Stderr, 5); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// lastLines returns the last n non-empty lines of s joined with "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// StopAction is one step of the stop sequence.
type StopAction string

// The stop sequence, in order. Steps that do not apply are skipped.
const (
	StopPowerdown StopAction = "powerdown" // QMP system_powerdown, then wait up to the grace period
	StopQuit      StopAction = "quit"      // QMP quit, then wait up to QuitTimeout
	StopTerm      StopAction = "sigterm"   // instead of quit when QMP is unavailable
	StopKill      StopAction = "sigkill"   // SIGKILL to QEMU's process group
	StopExited    StopAction = "exited"    // the process is gone (reaped)
)

// StopStep records one step Stop took.
type StopStep struct {
	Action StopAction `json:"action"`
	At     time.Time  `json:"at"`
	Err    string     `json:"error,omitempty"`
}

// ProcessStatus is a snapshot of a QEMU process.
type ProcessStatus struct {
	PID       int       `json:"pid"`
	Running   bool      `json:"running"`
	Adopted   bool      `json:"adopted,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// QMP says whether a QMP connection is open.
	QMP bool `json:"qmp"`
	// Exit is set once the process has exited.
	Exit *ExitInfo `json:"exit,omitempty"`
	// Stop lists the steps of the last Stop.
	Stop []StopStep `json:"stop,omitempty"`
	// ConsoleTail is the most recent console output.
	ConsoleTail string `json:"console_tail,omitempty"`
}

// Process is one run of QEMU: started once, stopped once. It runs in its
// own process group, so a terminal's Ctrl-C does not reach it.
type Process struct {
	exe  string
	args []string
	opts ProcessOptions

	stopMu sync.Mutex // one Stop at a time

	mu        sync.Mutex
	started   bool
	cmd       *exec.Cmd
	pid       int
	startedAt time.Time
	console   *ConsoleLog
	stderr    *lockedRing
	stdin     io.WriteCloser
	qmp       *QMPClient
	done      chan struct{} // closed once the process has been reaped
	exit      *ExitInfo
	stopSteps []StopStep
}

// NewProcess prepares QEMU exe with args; nothing runs until Start.
func NewProcess(exe string, args []string, opts ProcessOptions) *Process {
	if opts.QuitTimeout <= 0 {
		opts.QuitTimeout = DefaultQuitTimeout
	}
	if opts.KillTimeout <= 0 {
		opts.KillTimeout = DefaultKillTimeout
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	return &Process{
		exe:    exe,
		args:   append([]string(nil), args...),
		opts:   opts,
		stderr: newLockedRing(stderrTailBytes),
		done:   make(chan struct{}),
	}
}

// Start runs QEMU and, with a QMP socket configured, connects to it; ctx
// bounds only the start-up. If QEMU exits during start-up the error
// includes the tail of its stderr. If the QMP connection cannot be made
// before ctx ends, QEMU is killed and reaped before Start returns.
//
// exited receives exactly one value when QEMU has exited and been reaped:
// nil after a clean exit (status 0), otherwise an *ExitError.
func (p *Process) Start(ctx context.Context) (exited <-chan error, err error) {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return nil, ErrAlreadyStarted
	}
	p.started = true
	p.mu.Unlock()

	if err := p.checkArgs(); err != nil {
		return nil, err
	}
	if err := p.claim(); err != nil {
		return nil, err
	}
	console, err := OpenConsoleLog(p.opts.Console)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(p.exe, p.args...)
	cmd.Dir = p.opts.Dir
	cmd.Env = p.opts.Env
	if err := newProcessGroup(cmd); err != nil {
		console.Close()
		return nil, err
	}
	cmd.Stdout = console
	cmd.Stderr = io.MultiWriter(console, p.stderr)
	cmd.WaitDelay = waitDelay
	var stdin io.WriteCloser
	if p.opts.ConsoleInput {
		if stdin, err = cmd.StdinPipe(); err != nil {
			console.Close()
			return nil, fmt.Errorf("QEMU stdin: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		console.Close()
		return nil, fmt.Errorf("start QEMU %s: %w", p.exe, err)
	}

	ch := make(chan error, 1)
	p.mu.Lock()
	p.cmd = cmd
	p.pid = cmd.Process.Pid
	p.startedAt = p.opts.Clock.Now()
	p.console = console
	p.stdin = stdin
	p.mu.Unlock()
	go p.reap(ch)

	if p.opts.QMPSocket == "" {
		return ch, nil
	}
	q, err := p.connectQMP(ctx)
	if err != nil {
		select {
		case <-p.done:
			return nil, fmt.Errorf("QEMU exited during start-up: %w", p.exitError())
		default:
		}
		kerr := p.kill()
		return nil, errors.Join(fmt.Errorf("QEMU started but its QMP socket did not answer: %w", err), kerr)
	}
	p.mu.Lock()
	p.qmp = q
	p.mu.Unlock()
	return ch, nil
}

// checkArgs catches a configuration whose paths QEMU would not use, which
// would otherwise show up as a start-up timeout.
func (p *Process) checkArgs() error {
	joined := strings.Join(p.args, " ")
	if s := p.opts.QMPSocket; s != "" && !strings.Contains(joined, s) {
		return fmt.Errorf("QMP socket %s is not in QEMU's arguments (want -qmp unix:%s,server=on,wait=off)", s, s)
	}
	if f := p.opts.PIDFile; f != "" && !containsPair(p.args, "-pidfile", f) {
		return fmt.Errorf("pid file %s is not in QEMU's arguments (want -pidfile %s)", f, f)
	}
	return nil
}

func containsPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == flag || args[i] == "-"+flag) && args[i+1] == value {
			return true
		}
	}
	return false
}

// claim makes sure no earlier QEMU still owns the pid file or QMP socket,
// and clears stale ones, so one instance never runs two VMs.
func (p *Process) claim() error {
	if f := p.opts.PIDFile; f != "" {
		pid, err := CheckPIDFile(f)
		switch {
		case err == nil:
			return &VMRunningError{PID: pid, PIDFile: f}
		case errors.Is(err, os.ErrNotExist):
		case errors.As(err, new(*StalePIDFileError)):
			// Removed; carry on.
		default:
			return err
		}
	}
	if s := p.opts.QMPSocket; s != "" {
		c, err := netDialUnix(s)
		switch {
		case err == nil:
			c.Close()
			return &VMRunningError{QMPSocket: s}
		case errors.Is(err, syscall.ECONNREFUSED):
			if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove stale QMP socket: %w", err)
			}
		case errors.Is(err, syscall.ENOENT):
		default:
			return fmt.Errorf("QMP socket %s: %w", s, err)
		}
	}
	return nil
}

// connectQMP dials the QMP socket until it answers, ctx ends or QEMU exits.
func (p *Process) connectQMP(ctx context.Context) (*QMPClient, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return DialQMP(ctx, p.opts.QMPSocket)
}

// reap waits for QEMU, records how it ended and reports it on ch.
func (p *Process) reap(ch chan<- error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	waitErr := cmd.Wait()
	exitedAt := p.opts.Clock.Now()

	p.mu.Lock()
	q := p.qmp
	p.mu.Unlock()
	info := ExitInfo{PID: cmd.Process.Pid, Code: -1, ExitedAt: exitedAt}
	if q != nil {
		// QEMU closes the socket as it exits; give the reader a moment to
		// hand over a SHUTDOWN event that raced the exit.
		select {
		case <-q.Done():
		case <-p.opts.Clock.After(shutdownReasonWait):
		}
		if ev, ok := q.LastShutdown(); ok {
			info.Reason, _ = ev.Data["reason"].(string)
		}
		_ = q.Close()
		p.removeIfExists(p.opts.QMPSocket)
	}
	if ps := cmd.ProcessState; ps != nil {
		ws, _ := ps.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			info.Signal = ws.Signal().String()
		} else {
			info.Code = ps.ExitCode()
		}
	}
	if info.Code == -1 && info.Signal == "" && waitErr != nil {
		info.Stderr = waitErr.Error() + "\n"
	}
	info.Stderr += string(p.stderr.Bytes())
	p.mu.Lock()
	console := p.console
	info.StartedAt = p.startedAt
	p.mu.Unlock()
	info.ConsoleTail = string(console.Tail())
	_ = console.Close()
	if f := p.opts.PIDFile; f != "" {
		// QEMU removes its pid file on a clean exit; after a kill it stays.
		if pid, err := ReadPIDFile(f); err == nil && pid == info.PID {
			p.removeIfExists(f)
		}
	}

	p.mu.Lock()
	p.exit = &info
	close(p.done)
	p.mu.Unlock()
	if info.Clean() {
		ch <- nil
	} else {
		ch <- &ExitError{ExitInfo: info}
	}
	close(ch)
}

func (p *Process) removeIfExists(path string) {
	// A failure leaves a stale file that the next Start or Adopt clears.
	_ = os.Remove(path)
}

func (p *Process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit == nil {
		return errors.New("QEMU is still running")
	}
	if p.exit.Clean() {
		return fmt.Errorf("QEMU (pid %d) exited with status 0: %s", p.exit.PID, lastLines(p.exit.Stderr, 5))
	}
	return &ExitError{ExitInfo: *p.exit}
}

// kill sends SIGKILL and waits for the reaper, bounded by KillTimeout.
func (p *Process) kill() error {
	_, err := p.stopper().killAndReap(nil)
	return err
}

// Stop ends QEMU in a fixed order and always reaps it:
//
//  1. QMP system_powerdown, then wait up to grace for the guest to power
//     off (skipped when grace <= 0 or there is no QMP connection);
//  2. QMP quit (SIGTERM without QMP), then wait up to QuitTimeout;
//  3. SIGKILL to the process group, then wait up to KillTimeout for the
//     process to be reaped.
//
// When ctx ends, the remaining graceful steps are skipped and QEMU is
// killed; the final wait is bounded by KillTimeout, not ctx. Errors of all
// steps are joined; the error includes ErrKilled when step 3 ran. Stop on
// a process that has already exited returns nil; concurrent calls run one
// after the other.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	p.mu.Lock()
	if p.cmd == nil {
		p.mu.Unlock()
		return ErrNotStarted
	}
	p.mu.Unlock()
	steps, err := p.stopper().run(ctx, grace)
	p.mu.Lock()
	if len(steps) > 0 {
		p.stopSteps = steps
	}
	p.mu.Unlock()
	return err
}

func (p *Process) stopper() stopper {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc := p.cmd.Process
	pid := p.pid
	return stopper{
		pid: pid,
		qmp: p.qmp,
		signal: func(sig syscall.Signal) error {
			// os.Process signals through a pidfd: it cannot hit a reused PID.
			err := proc.Signal(sig)
			if errors.Is(err, os.ErrProcessDone) {
				return nil
			}
			return err
		},
		killGroup: func() error {
			// QEMU leads its process group; take any helper with it.
			err := killProcessGroup(pid)
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return err
		},
		done:        p.done,
		clock:       p.opts.Clock,
		quitTimeout: p.opts.QuitTimeout,
		killTimeout: p.opts.KillTimeout,
	}
}

// Release lets QEMU run on without this process: the QMP connection is
// closed (QEMU accepts the next client, e.g. a later Adopt) and Stop is no
// longer meant to be called. QEMU runs in its own process group, so it
// outlives the app; its console output is captured until the app exits.
func (p *Process) Release() error {
	p.mu.Lock()
	q := p.qmp
	p.qmp = nil
	p.mu.Unlock()
	if q == nil {
		return nil
	}
	return q.Close()
}

// PID returns QEMU's process ID (0 before Start).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// QMP returns the QMP connection (nil without a QMP socket, before Start
// has connected, or after QEMU exited).
func (p *Process) QMP() *QMPClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit != nil {
		return nil
	}
	return p.qmp
}

// Stdin returns the pipe to QEMU's stdin (the guest console's input) when
// ProcessOptions.ConsoleInput is set, else nil.
func (p *Process) Stdin() io.WriteCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdin
}

// Done is closed once QEMU has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ConsoleTail returns the most recent console output.
func (p *Process) ConsoleTail() string {
	p.mu.Lock()
	c := p.console
	p.mu.Unlock()
	if c == nil {
		return ""
	}
	return string(c.Tail())
}

// Status returns a snapshot of the process.
func (p *Process) Status() ProcessStatus {
	tail := p.ConsoleTail()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := ProcessStatus{
		PID:         p.pid,
		Running:     p.cmd != nil && p.exit == nil,
		StartedAt:   p.startedAt,
		QMP:         p.qmp != nil && p.exit == nil,
		Stop:        append([]StopStep(nil), p.stopSteps...),
		ConsoleTail: tail,
	}
	if p.exit != nil {
		e := *p.exit
		st.Exit = &e
	}
	return st
}

// stopper runs the stop sequence against a process, child or adopted.
type stopper struct {
	pid         int
	qmp         *QMPClient // nil: no QMP
	signal      func(syscall.Signal) error
	killGroup   func() error    // may be nil
	done        <-chan struct{} // closed once the exit is recorded
	gone        func() bool     // optional: the process has exited, done may follow
	clock       Clock
	quitTimeout time.Duration
	killTimeout time.Duration
}

func (s stopper) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return s.gone != nil && s.gone()
	}
}

// wait waits up to d for the process to exit; false if it did not, or ctx
// ended first.
func (s stopper) wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-s.clock.After(d):
		return s.exited()
	case <-ctx.Done():
		return s.exited()
	}
}

func (s stopper) qmpOpen() bool {
	if s.qmp == nil {
		return false
	}
	select {
	case <-s.qmp.Done():
		return false
	default:
		return true
	}
}

func (s stopper) run(ctx context.Context, grace time.Duration) ([]StopStep, error) {
	if s.exited() {
		// Already gone: let the exit be recorded before returning.
		select {
		case <-s.done:
		case <-s.clock.After(s.killTimeout):
		}
		return nil, nil
	}
	var steps []StopStep
	var errs []error
	record := func(a StopAction, err error) {
		st := StopStep{Action: a, At: s.clock.Now()}
		if err != nil {
			st.Err = err.Error()
			errs = append(errs, err)
		}
		steps = append(steps, st)
	}
	finish := func() ([]StopStep, error) {
		record(StopExited, nil)
		return steps, errors.Join(errs...)
	}
	// A QMP command gets no longer than QuitTimeout: a hung monitor must
	// not stall the sequence.
	command := func(run func(context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, s.quitTimeout)
		defer cancel()
		return run(cctx)
	}

	// 1. Ask the guest to power off.
	if grace > 0 && ctx.Err() == nil && s.qmpOpen() {
		err := command(s.qmp.Powerdown)
		record(StopPowerdown, err)
		if err == nil && s.wait(ctx, grace) {
			return finish()
		}
	}
	// 2. Ask QEMU to quit: QMP quit, or SIGTERM when QMP cannot be used
	// (QEMU handles SIGTERM as a quit).
	if ctx.Err() == nil && !s.exited() {
		quitSent := false
		if s.qmpOpen() {
			err := command(s.qmp.Quit)
			record(StopQuit, err)
			quitSent = err == nil
		}
		if !quitSent && !s.exited() {
			record(StopTerm, s.signal(syscall.SIGTERM))
		}
		if s.wait(ctx, s.quitTimeout) {
			return finish()
		}
	}
	if s.exited() {
		return finish()
	}
	// 3. Kill.
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("stop cut short: %w", err))
	}
	errs = append(errs, fmt.Errorf("pid %d: %w", s.pid, ErrKilled))
	steps, err := s.killAndReap(steps)
	return steps, errors.Join(append(errs, err)...)
}

// killAndReap sends SIGKILL and waits for the process to be gone, bounded
// by killTimeout (not by any ctx: a killed process must be reaped).
func (s stopper) killAndReap(steps []StopStep) ([]StopStep, error) {
	if s.exited() {
		return steps, nil
	}
	err := s.signal(syscall.SIGKILL)
	if s.killGroup != nil && !s.exited() {
		err = errors.Join(err, s.killGroup())
	}
	if err != nil {
		err = fmt.Errorf("SIGKILL pid %d: %w", s.pid, err)
	}
	st := StopStep{Action: StopKill, At: s.clock.Now()}
	if err != nil {
		st.Err = err.Error()
	}
	steps = append(steps, st)
	select {
	case <-s.done:
		steps = append(steps, StopStep{Action: StopExited, At: s.clock.Now()})
	case <-s.clock.After(s.killTimeout):
		err = errors.Join(err, fmt.Errorf("pid %d still there %s after SIGKILL", s.pid, s.killTimeout))
	}
	return steps, err
}
