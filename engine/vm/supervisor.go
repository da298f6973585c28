package vm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock is the package's time source; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// After is time.After: the channel receives once, d from now.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

// Instance is one run of a VM, started once and stopped once: a *Process,
// or an *Adopted VM left running by an earlier run of the app.
type Instance interface {
	// Start runs the VM (an Adopted one already runs) and returns a
	// channel that receives one value when it has exited.
	Start(ctx context.Context) (exited <-chan error, err error)
	// Stop ends it (powerdown, quit, kill) and waits until it is gone.
	Stop(ctx context.Context, grace time.Duration) error
	Status() ProcessStatus
}

var (
	_ Instance = (*Process)(nil)
	_ Instance = (*Adopted)(nil)
)

// Backoff is a capped, jittered exponential backoff.
type Backoff struct {
	// Initial is the delay after the first failure (default 1s).
	// Zero fields take the DefaultBackoff* values.
	Initial time.Duration
	// Max caps every delay, jitter included (default 60s).
	Max time.Duration
	// Multiplier grows the delay per further failure (default 2).
	Multiplier float64
	// Jitter spreads each delay by ±Jitter (a fraction; default 0.2).
	// Negative means none.
	Jitter float64
}

// Backoff defaults: 1 s doubling to 60 s with ±20% jitter.
const (
	DefaultBackoffInitial    = time.Second
	DefaultBackoffMax        = time.Minute
	DefaultBackoffMultiplier = 2
	DefaultBackoffJitter     = 0.2
)

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoffMax
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = DefaultBackoffMultiplier
	}
	switch {
	case b.Jitter == 0:
		b.Jitter = DefaultBackoffJitter
	case b.Jitter < 0:
		b.Jitter = -1 // stays "none" when defaults are applied again
	case b.Jitter > 1:
		b.Jitter = 1
	}
	return b
}

// Delay is the wait before the next start after failures consecutive fast
// failures (1 for the first). r in [0,1) picks the jitter: 0.5 is none.
func (b Backoff) Delay(failures int, r float64) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(failures, 1)-1))
	d = min(d, float64(b.Max))
	d *= 1 + max(b.Jitter, 0)*(2*r-1)
	return time.Duration(min(max(d, 0), float64(b.Max)))
}

// Supervisor defaults.
const (
	DefaultStableAfter     = 5 * time.Minute
	DefaultMaxFastFailures = 5
	DefaultStartTimeout    = 2 * time.Minute
	DefaultStopGrace       = 30 * time.Second
)

// SupervisorOptions configure a Supervisor.
type SupervisorOptions struct {
	// New returns the VM for run number attempt (0 first, then one per
	// restart). It may return an *Adopted VM, typically for attempt 0.
	New func(ctx context.Context, attempt int) (Instance, error)
	// Backoff times restarts (zero fields take the Default* values).
	Backoff Backoff
	// StableAfter: a run lasting this long resets the backoff and the
	// count of fast failures (default DefaultStableAfter).
	StableAfter time.Duration
	// MaxFastFailures: give up after this many consecutive fast failures
	// (exits before StableAfter, or failed starts). Default
	// DefaultMaxFastFailures; negative never gives up.
	MaxFastFailures int
	// StartTimeout bounds each Instance.Start (default DefaultStartTimeout).
	StartTimeout time.Duration
	// StopGrace is the grace Stop gives the guest to power off
	// (default DefaultStopGrace).
	StopGrace time.Duration
	// StopTimeout bounds stopping the VM when the context given to Start
	// ends (Stop uses its own ctx). Default: StopGrace + 30s.
	StopTimeout time.Duration
	// OnEvent receives every event, in order, from the supervisor's
	// goroutine. It must return quickly; it may call Status.
	OnEvent func(SupervisorEvent)
	// Clock and Rand (uniform in [0,1), for jitter) default to the real ones.
	Clock Clock
	Rand  func() float64
}

// SupervisorPhase is where the supervisor is. The engine maps it onto the
// VM lifecycle State.
type SupervisorPhase string

// Supervisor phases.
const (
	SupervisorIdle     SupervisorPhase = "idle"     // not started
	SupervisorStarting SupervisorPhase = "starting" // Instance.Start running
	SupervisorRunning  SupervisorPhase = "running"  // the VM process runs
	SupervisorBackoff  SupervisorPhase = "backoff"  // it exited; waiting to restart
	SupervisorStopping SupervisorPhase = "stopping" // Stop in progress
	SupervisorStopped  SupervisorPhase = "stopped"  // stopped for good
	SupervisorGaveUp   SupervisorPhase = "gave-up"  // too many fast failures; no VM runs
)

// SupervisorEventKind names an event.
type SupervisorEventKind string

// Supervisor events.
const (
	EventStarted     SupervisorEventKind = "started"      // a VM runs (PID, Attempt)
	EventStartFailed SupervisorEventKind = "start-failed" // New or Start failed (Error)
	EventExited      SupervisorEventKind = "exited"       // the VM exited unexpectedly (Exit)
	EventRestarting  SupervisorEventKind = "restarting"   // a restart is due after Delay
	EventGaveUp      SupervisorEventKind = "gave-up"      // no more restarts (Error)
	EventStopped     SupervisorEventKind = "stopped"      // Stop finished (Exit, Error)
)

// SupervisorEvent reports one thing the supervisor did or saw.
type SupervisorEvent struct {
	Kind SupervisorEventKind `json:"kind"`
	Time time.Time           `json:"time"`
	// Attempt is the run number (0 first).
	Attempt int `json:"attempt"`
	PID     int `json:"pid,omitempty"`
	// Restarts and Failures as in SupervisorStatus, after this event.
	Restarts int `json:"restarts"`
	Failures int `json:"failures"`
	// Delay before the restart (EventRestarting).
	Delay time.Duration `json:"delay,omitempty"`
	// Exit says how the VM ended (EventExited, EventStopped).
	Exit *ExitInfo `json:"exit,omitempty"`
	// Error: why a start failed, why the supervisor gave up, or what went
	// wrong while stopping.
	Error string `json:"error,omitempty"`
}

// SupervisorStatus is a snapshot of the supervisor.
type SupervisorStatus struct {
	Phase SupervisorPhase `json:"phase"`
	// Attempt is the current or last run number.
	Attempt int  `json:"attempt"`
	PID     int  `json:"pid,omitempty"`
	Adopted bool `json:"adopted,omitempty"`
	// StartedAt is when the current run started (zero when none runs).
	StartedAt time.Time `json:"started_at,omitzero"`
	// Restarts counts restarts since Start.
	Restarts int `json:"restarts"`
	// Failures counts consecutive fast failures; a stable run resets it.
	Failures int `json:"failures"`
	// NextStart is when the next restart is due (backoff phase only).
	NextStart time.Time `json:"next_start,omitzero"`
	// LastExit is how the last run ended.
	LastExit *ExitInfo `json:"last_exit,omitempty"`
	// LastError is the last start failure, give-up or stop error.
	LastError string `json:"last_error,omitempty"`
}

// Supervisor keeps one VM running: it restarts the VM with backoff when it
// exits unexpectedly, gives up after too many fast failures, and stops it
// for good on Stop. It is safe for concurrent use.
type Supervisor struct {
	opts SupervisorOptions

	mu      sync.Mutex
	started bool
	status  SupervisorStatus
	cancel  context.CancelFunc // ends the loop
	stopCtx context.Context    // the ctx Stop was called with, if any
	stopErr error
	// release: the loop ends leaving the VM running (Release).
	release  bool
	done     chan struct{}
	doneOnce sync.Once
}

// NewSupervisor checks opts and fills in defaults.
func NewSupervisor(opts SupervisorOptions) (*Supervisor, error) {
	if opts.New == nil {
		return nil, errors.New("supervisor: New is required")
	}
	opts.Backoff = opts.Backoff.withDefaults()
	if opts.StableAfter <= 0 {
		opts.StableAfter = DefaultStableAfter
	}
	if opts.MaxFastFailures == 0 {
		opts.MaxFastFailures = DefaultMaxFastFailures
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = opts.StopGrace + 30*time.Second
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	return &Supervisor{
		opts:   opts,
		status: SupervisorStatus{Phase: SupervisorIdle},
		done:   make(chan struct{}),
	}, nil
}

// Start begins supervising and returns at once; events report progress.
// When ctx ends the VM is stopped (bounded by StopTimeout) as by Stop.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("supervisor already started")
	}
	if s.status.Phase == SupervisorStopped {
		return errors.New("supervisor was stopped")
	}
	s.started = true
	loopCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.run(ctx, loopCtx)
	return nil
}

// Stop stops the VM for good (no restart) and waits, bounded by ctx, until
// it is gone. ctx also bounds the VM's stop sequence (see Process.Stop).
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.status.Phase = SupervisorStopped
		s.mu.Unlock()
		s.doneOnce.Do(func() { close(s.done) })
		return nil
	}
	if s.stopCtx == nil {
		s.stopCtx = ctx
	}
	cancel := s.cancel
	s.mu.Unlock()
	cancel()
	select {
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.stopErr
	case <-ctx.Done():
		return fmt.Errorf("supervisor stop: %w", ctx.Err())
	}
}

// Release ends supervision but leaves the VM running, so that a later run
// can adopt it (the app restarting, e.g. for an upgrade); it waits,
// bounded by ctx, until supervision has ended. A VM in backoff or not yet
// started is simply not started again.
func (s *Supervisor) Release(ctx context.Context) error {
	s.mu.Lock()
	s.release = true
	s.mu.Unlock()
	return s.Stop(ctx)
}

// releaser is an instance that can be left running (Process, Adopted).
type releaser interface{ Release() error }

// Done is closed when supervision has ended: stopped, or gave up.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Status returns a snapshot.
func (s *Supervisor) Status() SupervisorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.LastExit != nil {
		e := *st.LastExit
		st.LastExit = &e
	}
	return st
}

// update changes the status under the lock and returns an event stamped
// with the current counters.
func (s *Supervisor) update(f func(*SupervisorStatus)) SupervisorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
	return s.status
}

func (s *Supervisor) emit(kind SupervisorEventKind, st SupervisorStatus, f func(*SupervisorEvent)) {
	if s.opts.OnEvent == nil {
		return
	}
	ev := SupervisorEvent{
		Kind:     kind,
		Time:     s.opts.Clock.Now(),
		Attempt:  st.Attempt,
		PID:      st.PID,
		Restarts: st.Restarts,
		Failures: st.Failures,
	}
	if f != nil {
		f(&ev)
	}
	s.opts.OnEvent(ev)
}

// stopContext is the ctx for stopping the VM: Stop's, or a bounded one
// when the ctx given to Start ended.
func (s *Supervisor) stopContext(parent context.Context) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	ctx := s.stopCtx
	s.mu.Unlock()
	if ctx != nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(parent), s.opts.StopTimeout)
}

func (s *Supervisor) run(parent, ctx context.Context) {
	defer s.doneOnce.Do(func() { close(s.done) })
	clock := s.opts.Clock
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			s.finishStopped(nil, nil)
			return
		}
		st := s.update(func(st *SupervisorStatus) {
			st.Phase, st.Attempt, st.NextStart, st.PID = SupervisorStarting, attempt, time.Time{}, 0
			if attempt > 0 {
				st.Restarts++
			}
		})
		inst, exited, err := s.launch(ctx, attempt)
		if err != nil {
			if ctx.Err() != nil {
				s.finishStopped(nil, nil)
				return
			}
			st = s.update(func(st *SupervisorStatus) { st.Failures++; st.LastError = err.Error() })
			s.emit(EventStartFailed, st, func(ev *SupervisorEvent) { ev.Error = err.Error() })
		} else {
			ps := inst.Status()
			startedAt := clock.Now()
			st = s.update(func(st *SupervisorStatus) {
				st.Phase, st.PID, st.Adopted, st.StartedAt = SupervisorRunning, ps.PID, ps.Adopted, startedAt
			})
			s.emit(EventStarted, st, nil)
			exit, stopped := s.watch(parent, ctx, inst, exited)
			if stopped {
				return
			}
			stable := clock.Now().Sub(startedAt) >= s.opts.StableAfter
			st = s.update(func(st *SupervisorStatus) {
				if stable {
					st.Failures = 0
				}
				st.Failures++
				st.LastExit, st.PID, st.StartedAt = exit, 0, time.Time{}
			})
			s.emit(EventExited, st, func(ev *SupervisorEvent) { ev.Exit, ev.PID = exit, exit.PID })
		}

		if limit := s.opts.MaxFastFailures; limit > 0 && st.Failures >= limit {
			msg := fmt.Sprintf("gave up after %d fast failures in a row (each within %s of starting)", st.Failures, s.opts.StableAfter)
			st = s.update(func(st *SupervisorStatus) { st.Phase, st.LastError = SupervisorGaveUp, msg })
			s.emit(EventGaveUp, st, func(ev *SupervisorEvent) { ev.Error = msg })
			return
		}
		delay := s.opts.Backoff.Delay(st.Failures, s.opts.Rand())
		st = s.update(func(st *SupervisorStatus) {
			st.Phase, st.NextStart = SupervisorBackoff, clock.Now().Add(delay)
		})
		s.emit(EventRestarting, st, func(ev *SupervisorEvent) { ev.Delay = delay })
		select {
		case <-clock.After(delay):
		case <-ctx.Done():
			s.finishStopped(nil, nil)
			return
		}
	}
}

// launch builds and starts one run, bounded by StartTimeout.
func (s *Supervisor) launch(ctx context.Context, attempt int) (Instance, <-chan error, error) {
	inst, err := s.opts.New(ctx, attempt)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare VM: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	exited, err := inst.Start(sctx)
	if err != nil {
		return nil, nil, err
	}
	return inst, exited, nil
}

// watch waits for the run to end. stopped: Stop was requested and the VM
// has been stopped; the loop must end.
func (s *Supervisor) watch(parent, ctx context.Context, inst Instance, exited <-chan error) (exit *ExitInfo, stopped bool) {
	stableTimer := s.opts.Clock.After(s.opts.StableAfter)
	for {
		select {
		case err := <-exited:
			return exitInfo(inst, err), false
		case <-stableTimer:
			stableTimer = nil
			s.update(func(st *SupervisorStatus) { st.Failures = 0 })
		case <-ctx.Done():
			s.mu.Lock()
			release := s.release
			s.mu.Unlock()
			if r, ok := inst.(releaser); ok && release {
				s.finishStopped(nil, r.Release())
				return nil, true
			}
			s.update(func(st *SupervisorStatus) { st.Phase = SupervisorStopping })
			sctx, cancel := s.stopContext(parent)
			err := inst.Stop(sctx, s.opts.StopGrace)
			cancel()
			// Stop has reaped the process; collect the exit report if it
			// is there (a stop that failed to reap leaves none).
			var info *ExitInfo
			select {
			case e := <-exited:
				info = exitInfo(inst, e)
			default:
				info = inst.Status().Exit
			}
			s.finishStopped(info, err)
			return info, true
		}
	}
}

func (s *Supervisor) finishStopped(exit *ExitInfo, err error) {
	st := s.update(func(st *SupervisorStatus) {
		st.Phase, st.PID, st.StartedAt, st.NextStart = SupervisorStopped, 0, time.Time{}, time.Time{}
		if exit != nil {
			st.LastExit = exit
		}
		if err != nil {
			st.LastError = err.Error()
		}
	})
	s.mu.Lock()
	s.stopErr = err
	s.mu.Unlock()
	s.emit(EventStopped, st, func(ev *SupervisorEvent) {
		ev.Exit = exit
		if err != nil {
			ev.Error = err.Error()
		}
	})
}

// exitInfo turns an exit report into data.
func exitInfo(inst Instance, err error) *ExitInfo {
	if e := inst.Status().Exit; e != nil {
		return e
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		e := ee.ExitInfo
		return &e
	}
	info := &ExitInfo{PID: inst.Status().PID, Code: -1}
	if err != nil {
		info.Stderr = err.Error()
	} else {
		info.Code = 0
	}
	return info
}
