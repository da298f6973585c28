package sealserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

// Server defaults.
const (
	DefaultStartTimeout    = 30 * time.Second
	DefaultStopTimeout     = 10 * time.Second
	DefaultKillTimeout     = 5 * time.Second
	DefaultStableAfter     = time.Minute
	DefaultMaxFastFailures = 5
	DefaultProbeInterval   = 250 * time.Millisecond
	DefaultProbeTimeout    = 2 * time.Second
	DefaultSettle          = 3 * time.Second
	DefaultLogMaxBytes     = 4 << 20
	DefaultLogFiles        = 3
	// eventLogLines is how many log lines a crash event carries.
	eventLogLines = 10
)

// Options configure a Server. Only Plan is required.
type Options struct {
	// Plan is what to run (Describe); it must have no Problems.
	Plan Plan
	// Env is seal-server's environment (nil = the app's).
	Env []string
	// Probe says whether seal-server answers (default VsockProbe(Plan.Port)).
	Probe Probe
	// OnEvent receives every event, in order, from one goroutine. It must
	// return quickly; it may call Status.
	OnEvent func(Event)
	// Backoff times restarts (zero fields take vm's defaults: 1 s doubling
	// to 60 s, ±20% jitter).
	Backoff vm.Backoff
	// StableAfter: a run that lasted this long resets the count of quick
	// failures (default DefaultStableAfter).
	StableAfter time.Duration
	// MaxFastFailures: give up after this many quick failures in a row
	// (default DefaultMaxFastFailures).
	MaxFastFailures int
	// StartTimeout bounds the wait for readiness (default DefaultStartTimeout).
	StartTimeout time.Duration
	// StopTimeout is the wait after SIGTERM before SIGKILL (default
	// DefaultStopTimeout); KillTimeout the wait after SIGKILL.
	StopTimeout time.Duration
	KillTimeout time.Duration
	// ProbeInterval and ProbeTimeout pace and bound readiness probes.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// Settle: with no usable probe, a run that stays up this long counts
	// as ready (unconfirmed). Default DefaultSettle.
	Settle time.Duration
	// LogMaxBytes and LogFiles bound the rotating log.
	LogMaxBytes int64
	LogFiles    int
	// Clock and Rand (uniform in [0,1), for jitter) default to the real ones.
	Clock vm.Clock
	Rand  func() float64
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, DefaultStartTimeout)
	def(&o.StopTimeout, DefaultStopTimeout)
	def(&o.KillTimeout, DefaultKillTimeout)
	def(&o.StableAfter, DefaultStableAfter)
	def(&o.ProbeInterval, DefaultProbeInterval)
	def(&o.ProbeTimeout, DefaultProbeTimeout)
	def(&o.Settle, DefaultSettle)
	if o.MaxFastFailures <= 0 {
		o.MaxFastFailures = DefaultMaxFastFailures
	}
	if o.LogMaxBytes <= 0 {
		o.LogMaxBytes = DefaultLogMaxBytes
	}
	if o.LogFiles <= 0 {
		o.LogFiles = DefaultLogFiles
	}
	if o.Clock == nil {
		o.Clock = vm.SystemClock()
	}
	if o.Probe == nil {
		o.Probe = VsockProbe(o.Plan.Port)
	}
}

// Phase is where the Server is.
type Phase string

// Server phases.
const (
	PhaseIdle       Phase = "idle"
	PhaseStarting   Phase = "starting"
	PhaseReady      Phase = "ready"
	PhaseRestarting Phase = "restarting" // waiting out the backoff
	PhaseStopping   Phase = "stopping"
	PhaseStopped    Phase = "stopped"
	PhaseGaveUp     Phase = "gave-up"
)

// EventKind names an event.
type EventKind string

// Events, in the order a run produces them.
const (
	EventStarting    EventKind = "starting"     // a run begins (Attempt)
	EventReady       EventKind = "ready"        // it answers (PID; Confirmed)
	EventStartFailed EventKind = "start-failed" // it could not start or never answered (Error, Exit)
	EventCrashed     EventKind = "crashed"      // a ready run exited (Exit, LogTail)
	EventRestarting  EventKind = "restarting"   // next run after Delay
	EventGaveUp      EventKind = "gave-up"      // no more restarts (Error is a GaveUpError's text)
	EventStopped     EventKind = "stopped"      // stopped for good (Exit, Error)
	EventNote        EventKind = "note"         // progress within a run (Message)
)

// Exit says how a run ended.
type Exit struct {
	PID int `json:"pid"`
	// Code is the exit status; -1 when killed by a signal.
	Code   int    `json:"code"`
	Signal string `json:"signal,omitempty"`
}

func (e Exit) String() string {
	if e.Signal != "" {
		return "killed by signal " + e.Signal
	}
	return fmt.Sprintf("exited with status %d", e.Code)
}

// Event reports one thing the Server did or saw.
type Event struct {
	Kind    EventKind `json:"kind"`
	Time    time.Time `json:"time"`
	Attempt int       `json:"attempt"`
	PID     int       `json:"pid,omitempty"`
	// Restarts since Start; Failures: quick failures in a row.
	Restarts int `json:"restarts"`
	Failures int `json:"failures"`
	// Delay before the next run (EventRestarting).
	Delay time.Duration `json:"delay,omitempty"`
	// Confirmed (EventReady): the probe answered, rather than the run
	// merely staying up for the settle time.
	Confirmed bool  `json:"confirmed,omitempty"`
	Exit      *Exit `json:"exit,omitempty"`
	// LogTail is the end of seal-server's output (crash, failed start).
	LogTail []string `json:"log_tail,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Message is one sentence for the user.
	Message string `json:"message"`
}

// Status is a snapshot of the Server.
type Status struct {
	Phase     Phase     `json:"phase"`
	Attempt   int       `json:"attempt"`
	PID       int       `json:"pid,omitempty"`
	Confirmed bool      `json:"confirmed,omitempty"`
	Restarts  int       `json:"restarts"`
	Failures  int       `json:"failures"`
	NextStart time.Time `json:"next_start,omitzero"`
	LastExit  *Exit     `json:"last_exit,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	LogPath   string    `json:"log_path,omitempty"`
}

// Server keeps one seal-server running. It is safe for concurrent use.
type Server struct {
	opts Options
	sup  *vm.Supervisor

	mu       sync.Mutex
	phase    Phase
	cur      *run
	attempt  int
	lastFail string   // the last failure, in words
	lastTail []string // the log lines that went with it
	gaveUp   *GaveUpError
}

// New checks opts and prepares a Server; nothing runs until Start.
func New(opts Options) (*Server, error) {
	if err := opts.Plan.Err(); err != nil {
		return nil, err
	}
	opts.defaults()
	s := &Server{opts: opts, phase: PhaseIdle}
	sup, err := vm.NewSupervisor(vm.SupervisorOptions{
		New:             s.newRun,
		Backoff:         opts.Backoff,
		StableAfter:     opts.StableAfter,
		MaxFastFailures: opts.MaxFastFailures,
		StartTimeout:    opts.StartTimeout,
		StopGrace:       opts.StopTimeout,
		StopTimeout:     opts.StopTimeout + opts.KillTimeout + 5*time.Second,
		OnEvent:         s.onSupervisorEvent,
		Clock:           opts.Clock,
		Rand:            opts.Rand,
	})
	if err != nil {
		return nil, err
	}
	s.sup = sup
	return s, nil
}

// Plan is what the Server runs.
func (s *Server) Plan() Plan { return s.opts.Plan }

// Start begins supervising and returns at once; events report progress.
// When ctx ends seal-server is stopped, as by Stop.
func (s *Server) Start(ctx context.Context) error { return s.sup.Start(ctx) }

// Stop stops seal-server for good and waits, bounded by ctx, until it is
// gone: SIGTERM, then SIGKILL after StopTimeout. A start in progress is
// abandoned.
func (s *Server) Stop(ctx context.Context) error { return s.sup.Stop(ctx) }

// Done is closed when supervision has ended: stopped, or gave up.
func (s *Server) Done() <-chan struct{} { return s.sup.Done() }

// Err is the *GaveUpError once the Server gave up, else nil.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gaveUp == nil {
		return nil
	}
	return s.gaveUp
}

// Status returns a snapshot.
func (s *Server) Status() Status {
	ss := s.sup.Status()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Phase: s.phase, Attempt: ss.Attempt, PID: ss.PID, Restarts: ss.Restarts, Failures: ss.Failures,
		NextStart: ss.NextStart, LastExit: exitOf(ss.LastExit), LastError: ss.LastError, LogPath: s.opts.Plan.LogPath,
	}
	if s.gaveUp != nil {
		st.LastError = s.gaveUp.Error()
	}
	if s.cur != nil && st.Phase == PhaseReady {
		s.cur.mu.Lock()
		st.Confirmed = s.cur.confirmed
		s.cur.mu.Unlock()
	}
	return st
}

// newRun is the supervisor's factory: one run per attempt.
func (s *Server) newRun(_ context.Context, attempt int) (vm.Instance, error) {
	r := &run{s: s}
	s.mu.Lock()
	s.cur, s.attempt, s.phase = r, attempt, PhaseStarting
	s.mu.Unlock()
	ss := s.sup.Status()
	msg := "Starting seal-server."
	if attempt > 0 {
		msg = fmt.Sprintf("Starting seal-server again (restart %d).", ss.Restarts)
	}
	s.emit(Event{Kind: EventStarting, Attempt: attempt, Restarts: ss.Restarts, Failures: ss.Failures, Message: msg})
	return r, nil
}

// note reports progress within the current run.
func (s *Server) note(msg string) {
	s.mu.Lock()
	attempt := s.attempt
	s.mu.Unlock()
	s.emit(Event{Kind: EventNote, Attempt: attempt, Message: msg})
}

func (s *Server) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = s.opts.Clock.Now()
	}
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
}

func (s *Server) setPhase(p Phase) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// onSupervisorEvent translates the supervisor's events into ours.
func (s *Server) onSupervisorEvent(se vm.SupervisorEvent) {
	ev := Event{Time: se.Time, Attempt: se.Attempt, PID: se.PID, Restarts: se.Restarts, Failures: se.Failures, Exit: exitOf(se.Exit), Error: se.Error}
	if se.Exit != nil {
		ev.LogTail = tailLines(se.Exit.ConsoleTail, eventLogLines)
	}
	switch se.Kind {
	case vm.EventStarted:
		s.readyEvent(&ev)
	case vm.EventStartFailed:
		s.startFailedEvent(&ev)
	case vm.EventExited:
		ev.Kind = EventCrashed
		what := "seal-server stopped unexpectedly"
		if ev.Exit != nil {
			what = "seal-server " + ev.Exit.String()
		}
		ev.Message = what + "."
		s.remember(what, ev.LogTail)
	case vm.EventRestarting:
		s.setPhase(PhaseRestarting)
		ev.Kind, ev.Delay = EventRestarting, se.Delay
		ev.Message = fmt.Sprintf("Restarting seal-server in %s (%d quick failures in a row).", roundDelay(se.Delay), se.Failures)
	case vm.EventGaveUp:
		s.mu.Lock()
		g := &GaveUpError{Failures: se.Failures, Within: s.opts.StableAfter, Last: s.lastFail, LogTail: s.lastTail}
		g.Hint = hint(g.Last, g.LogTail)
		s.gaveUp, s.phase = g, PhaseGaveUp
		s.mu.Unlock()
		ev.Kind, ev.Error, ev.Message = EventGaveUp, g.Error(), g.Error()
		ev.LogTail = g.LogTail
	case vm.EventStopped:
		s.setPhase(PhaseStopped)
		ev.Kind = EventStopped
		ev.Message = "seal-server stopped."
		if se.Error != "" {
			ev.Message = "seal-server stopped: " + se.Error
		}
	default:
		return
	}
	s.emit(ev)
}

func (s *Server) readyEvent(ev *Event) {
	s.mu.Lock()
	s.phase = PhaseReady
	r := s.cur
	s.mu.Unlock()
	r.mu.Lock()
	ev.Confirmed = r.confirmed
	r.mu.Unlock()
	ev.Kind = EventReady
	if ev.Confirmed {
		ev.Message = fmt.Sprintf("seal-server is ready on vsock port %d (pid %d).", s.opts.Plan.Port, ev.PID)
	} else {
		ev.Message = fmt.Sprintf("seal-server is running (pid %d); this host cannot dial vsock port %d itself, so readiness is not confirmed.", ev.PID, s.opts.Plan.Port)
	}
}

func (s *Server) startFailedEvent(ev *Event) {
	ev.Kind = EventStartFailed
	if r := s.current(); r != nil {
		st := r.Status()
		ev.LogTail = tailLines(st.ConsoleTail, eventLogLines)
		if st.Exit != nil {
			ev.Exit = exitOf(st.Exit)
			ev.LogTail = tailLines(st.Exit.ConsoleTail, eventLogLines)
		}
	}
	ev.Message = "seal-server did not start: " + ev.Error
	s.remember(ev.Error, ev.LogTail)
}

func (s *Server) current() *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *Server) remember(fail string, tail []string) {
	s.mu.Lock()
	s.lastFail, s.lastTail = fail, tail
	s.mu.Unlock()
}

func exitOf(e *vm.ExitInfo) *Exit {
	if e == nil {
		return nil
	}
	return &Exit{PID: e.PID, Code: e.Code, Signal: e.Signal}
}

// GaveUpError is why the Server stopped restarting seal-server.
type GaveUpError struct {
	// Failures in a row, each within Within of starting.
	Failures int
	Within   time.Duration
	// Last is the last failure, in words; LogTail its last log lines.
	Last    string
	LogTail []string
	// Hint is what the log suggests, or "".
	Hint string
}

// consequence is what a missing seal server does to a production worker
// VM (worker interface §5).
const consequence = "Until seal-server runs, production worker VMs cannot get their sealed keys: seal-client fails, cocoon-init stops with \"Failed to generate sealed key\", and the VM keeps running with no worker (test mode does not need seal-server)."

func (e *GaveUpError) Error() string {
	msg := fmt.Sprintf("seal-server failed %d times in a row, each within %s of starting, and will not be restarted", e.Failures, e.Within)
	if e.Last != "" {
		msg += "; last: " + e.Last
	}
	msg += "."
	if e.Hint != "" {
		msg += " " + e.Hint
	}
	return msg + " " + consequence
}

// roundDelay keeps a delay readable: whole tenths of a second, or
// milliseconds below one second.
func roundDelay(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
