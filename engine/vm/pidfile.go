package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Adoption defaults.
const (
	// DefaultAdoptQMPTimeout bounds Adopt's QMP connection.
	DefaultAdoptQMPTimeout = 5 * time.Second
	// DefaultPIDPollInterval is how often an adopted process is checked
	// when the kernel offers no pidfd.
	DefaultPIDPollInterval = 250 * time.Millisecond
)

// VMRunningError says a live QEMU already owns an instance's pid file or
// QMP socket: adopt it instead of starting another.
type VMRunningError struct {
	PID       int    // 0 when only the QMP socket is known to be in use
	PIDFile   string // set when the pid file named the process
	QMPSocket string // set when the QMP socket answered
}

func (e *VMRunningError) Error() string {
	if e.PID != 0 {
		return fmt.Sprintf("a VM for this instance is already running (QEMU pid %d, pid file %s); adopt or stop it first", e.PID, e.PIDFile)
	}
	return fmt.Sprintf("a VM for this instance is already running (QMP socket %s answers); adopt or stop it first", e.QMPSocket)
}

// StalePIDFileError says a pid file named no live QEMU of this instance
// and was removed (unless RemoveErr says otherwise).
type StalePIDFileError struct {
	Path string
	// PID is the number the file held (0 if it held none).
	PID int
	// Reason says why the file is stale, in words.
	Reason    string
	RemoveErr error
}

func (e *StalePIDFileError) Error() string {
	if e.RemoveErr != nil {
		return fmt.Sprintf("stale pid file %s (%s) could not be removed: %v", e.Path, e.Reason, e.RemoveErr)
	}
	return fmt.Sprintf("stale pid file %s removed: %s", e.Path, e.Reason)
}

func (e *StalePIDFileError) Unwrap() error { return e.RemoveErr }

// ReadPIDFile reads the process ID from a pid file written by QEMU's
// -pidfile. A missing file gives an error wrapping fs.ErrNotExist.
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a process ID (%q)", path, truncate(s, 32))
	}
	return pid, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// CheckPIDFile returns the PID of the live QEMU that owns pidFile: the
// process named in the file is running and was started with
// "-pidfile <pidFile>" (QEMU also holds a lock on the file while it runs).
//
//   - The file is missing: an error wrapping fs.ErrNotExist.
//   - It names no such process (garbage, a dead PID, a PID reused by
//     another program): the file is removed and a *StalePIDFileError says why.
//   - Ownership cannot be decided (e.g. the process belongs to another
//     user and /proc hides its command line): an error; the file stays.
func CheckPIDFile(pidFile string) (int, error) {
	pid, err := ReadPIDFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	holder, lockErr := pidFileLockHolder(pidFile)
	if err != nil {
		if holder != 0 {
			return 0, fmt.Errorf("%w, but process %d holds its lock; not removing it", err, holder)
		}
		return 0, removeStale(pidFile, 0, "it does not hold a process ID")
	}
	if holder != 0 && holder != pid {
		return 0, fmt.Errorf("pid file %s names process %d but process %d holds its lock; not removing it", pidFile, pid, holder)
	}
	if holder == pid {
		// QEMU holds the lock for as long as it runs: this is its file.
		return pid, nil
	}
	st, err := readProcStat(pid)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && (st.state == 'Z' || st.state == 'X')) {
		return 0, removeStale(pidFile, pid, fmt.Sprintf("process %d is not running", pid))
	}
	if err != nil {
		return 0, fmt.Errorf("pid file %s: process %d: %w", pidFile, pid, err)
	}
	owns, what, err := ownsPIDFile(pid, pidFile)
	if err != nil {
		return 0, errors.Join(fmt.Errorf("pid file %s: cannot tell whether process %d is its QEMU: %w", pidFile, pid, err), lockErr)
	}
	if !owns {
		return 0, removeStale(pidFile, pid, fmt.Sprintf("process %d is now %s, not the QEMU that wrote the file", pid, what))
	}
	return pid, nil
}

func removeStale(path string, pid int, reason string) error {
	e := &StalePIDFileError{Path: path, PID: pid, Reason: reason}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.RemoveErr = err
	}
	return e
}

// procStat holds the fields of /proc/<pid>/stat the package needs.
type procStat struct {
	state     byte
	startTime uint64 // clock ticks after boot; changes when the PID is reused
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid …": comm may contain spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("unreadable /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], startTime: start}, nil
}

// ownsPIDFile reports whether process pid was started with
// "-pidfile <pidFile>"; if not, what says what the process is.
func ownsPIDFile(pid int, pidFile string) (owns bool, what string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false, "", err
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || args[0] == "" {
		return false, "", fmt.Errorf("process %d has no command line (kernel thread or exiting)", pid)
	}
	want, wantErr := os.Stat(pidFile)
	for i, a := range args {
		var path string
		switch {
		case (a == "-pidfile" || a == "--pidfile") && i+1 < len(args):
			path = args[i+1]
		case strings.HasPrefix(a, "-pidfile="), strings.HasPrefix(a, "--pidfile="):
			_, path, _ = strings.Cut(a, "=")
		default:
			continue
		}
		if !filepath.IsAbs(path) {
			if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
				path = filepath.Join(cwd, path)
			}
		}
		if filepath.Clean(path) == filepath.Clean(pidFile) {
			return true, "", nil
		}
		if wantErr == nil {
			if got, err := os.Stat(path); err == nil && os.SameFile(got, want) {
				return true, "", nil
			}
		}
	}
	what = filepath.Base(args[0])
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		what = exe
	}
	return false, fmt.Sprintf("%q", what), nil
}

// AdoptOptions tune Adopt. The zero value uses the defaults.
type AdoptOptions struct {
	// QMPTimeout bounds the QMP connection (default DefaultAdoptQMPTimeout).
	QMPTimeout time.Duration
	// QuitTimeout and KillTimeout bound Stop's last steps (see ProcessOptions).
	QuitTimeout time.Duration
	KillTimeout time.Duration
	// PollInterval is used only when pidfds are unavailable.
	PollInterval time.Duration
	// Clock times the stop sequence and polling (default: system clock).
	Clock Clock

	noPidfd bool // tests: force /proc polling
}

func (o AdoptOptions) withDefaults() AdoptOptions {
	if o.QMPTimeout <= 0 {
		o.QMPTimeout = DefaultAdoptQMPTimeout
	}
	if o.QuitTimeout <= 0 {
		o.QuitTimeout = DefaultQuitTimeout
	}
	if o.KillTimeout <= 0 {
		o.KillTimeout = DefaultKillTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPIDPollInterval
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	return o
}

// Adopted is a QEMU started by an earlier run of the app, found through
// its pid file. It is not a child of this process: it is watched through a
// pidfd (or /proc when the kernel has none) and its exit status cannot be
// known. Its console output went to the earlier run and is not captured.
type Adopted struct {
	pid       int
	pidFile   string
	qmpSocket string
	exe       string
	startedAt time.Time
	opts      AdoptOptions
	watch     *pidWatch

	qmp    *QMPClient
	qmpErr error

	exited   chan error    // one value, then closed
	finished chan struct{} // closed when monitor is done (exit recorded, files cleaned, or released)

	stopMu    sync.Mutex // one Stop at a time
	mu        sync.Mutex
	started   bool
	released  bool
	exit      *ExitInfo
	stopSteps []StopStep
}

// Adopt takes over the QEMU that owns pidFile (see CheckPIDFile) and
// connects to its QMP socket. A stale pid file is removed (and a stale QMP
// socket with it) and reported as *StalePIDFileError; a missing one as an
// error wrapping fs.ErrNotExist: in both cases no VM is running and a new
// one may be started.
//
// If the process is alive but QMP does not answer within QMPTimeout (e.g.
// another client holds the monitor) Adopt still succeeds, so that no
// second VM is started: QMPError reports the failure and Stop falls back
// to signals.
func Adopt(ctx context.Context, pidFile, qmpSocket string, opts AdoptOptions) (*Adopted, error) {
	opts = opts.withDefaults()
	check := func() (int, error) {
		pid, err := CheckPIDFile(pidFile)
		if errors.As(err, new(*StalePIDFileError)) && qmpSocket != "" {
			clearStaleSocket(qmpSocket)
		}
		return pid, err
	}
	pid, err := check()
	if err != nil {
		return nil, err
	}
	w, err := watchPID(pid, opts)
	if err != nil {
		if _, cerr := check(); cerr != nil {
			return nil, cerr // it died meanwhile: now stale
		}
		return nil, err
	}
	// The PID is pinned now; make sure it is still the same QEMU.
	if owns, _, err := ownsPIDFile(pid, pidFile); err != nil || !owns {
		w.release()
		if _, err := check(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("process %d changed while being adopted; try again", pid)
	}
	a := &Adopted{
		pid:       pid,
		pidFile:   pidFile,
		qmpSocket: qmpSocket,
		opts:      opts,
		watch:     w,
		exited:    make(chan error, 1),
		finished:  make(chan struct{}),
		startedAt: opts.Clock.Now(),
	}
	if fi, err := os.Stat(pidFile); err == nil {
		a.startedAt = fi.ModTime() // QEMU writes it as it starts
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		a.exe = exe
	}
	if qmpSocket != "" {
		qctx, cancel := context.WithTimeout(ctx, opts.QMPTimeout)
		a.qmp, a.qmpErr = DialQMP(qctx, qmpSocket)
		cancel()
	} else {
		a.qmpErr = errors.New("no QMP socket given")
	}
	go a.monitor()
	return a, nil
}

func netDialUnix(path string) (net.Conn, error) {
	return net.DialTimeout("unix", path, qmpDialTimeout)
}

func clearStaleSocket(path string) {
	c, err := netDialUnix(path)
	if err == nil {
		c.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		_ = os.Remove(path)
	}
}

// monitor waits for the process to end and records it.
func (a *Adopted) monitor() {
	defer close(a.finished)
	<-a.watch.done
	a.mu.Lock()
	released := a.released
	a.mu.Unlock()
	if released && !a.watch.exited() {
		return
	}
	info := ExitInfo{PID: a.pid, Code: -1, StatusUnknown: true, StartedAt: a.startedAt, ExitedAt: a.opts.Clock.Now()}
	if a.qmp != nil {
		select {
		case <-a.qmp.Done():
		case <-a.opts.Clock.After(shutdownReasonWait):
		}
		if ev, ok := a.qmp.LastShutdown(); ok {
			info.Reason, _ = ev.Data["reason"].(string)
		}
		_ = a.qmp.Close()
		_ = os.Remove(a.qmpSocket) // QEMU's; gone already after a clean exit
	}
	if pid, err := ReadPIDFile(a.pidFile); err == nil && pid == a.pid {
		_ = os.Remove(a.pidFile)
	}
	a.mu.Lock()
	a.exit = &info
	a.mu.Unlock()
	a.exited <- &ExitError{ExitInfo: info}
	close(a.exited)
}

// Start does not start anything: the VM is already running. It returns the
// channel that receives one *ExitError (StatusUnknown) when it exits, so
// that an Adopted can stand in for a Process (see Instance).
func (a *Adopted) Start(context.Context) (exited <-chan error, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return nil, ErrAlreadyStarted
	}
	if a.released {
		return nil, errors.New("adopted VM was released")
	}
	a.started = true
	return a.exited, nil
}

// Stop ends the adopted QEMU in the same order as Process.Stop
// (powerdown, quit or SIGTERM, SIGKILL) and waits until it is gone and
// its pid file and socket are cleaned up.
func (a *Adopted) Stop(ctx context.Context, grace time.Duration) error {
	a.stopMu.Lock()
	defer a.stopMu.Unlock()
	a.mu.Lock()
	released := a.released
	a.mu.Unlock()
	if released {
		return errors.New("adopted VM was released")
	}
	st := stopper{
		pid:         a.pid,
		qmp:         a.qmp,
		signal:      a.watch.signal,
		killGroup:   a.watch.killGroup,
		done:        a.finished,
		gone:        a.watch.exited,
		clock:       a.opts.Clock,
		quitTimeout: a.opts.QuitTimeout,
		killTimeout: a.opts.KillTimeout,
	}
	steps, err := st.run(ctx, grace)
	a.mu.Lock()
	if len(steps) > 0 {
		a.stopSteps = steps
	}
	a.mu.Unlock()
	return err
}

// Release stops watching the VM and closes the QMP connection; the VM keeps
// running and can be adopted again.
func (a *Adopted) Release() error {
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return nil
	}
	a.released = true
	a.mu.Unlock()
	var err error
	if a.qmp != nil {
		err = a.qmp.Close()
	}
	a.watch.release()
	return err
}

// PID returns QEMU's process ID.
func (a *Adopted) PID() int { return a.pid }

// Exe returns QEMU's executable path ("" if /proc does not show it).
func (a *Adopted) Exe() string { return a.exe }

// QMP returns the QMP connection, nil if it could not be made.
func (a *Adopted) QMP() *QMPClient { return a.qmp }

// QMPError says why there is no QMP connection.
func (a *Adopted) QMPError() error { return a.qmpErr }

// Done is closed when the process has exited and its exit is recorded,
// or Release was called.
func (a *Adopted) Done() <-chan struct{} { return a.finished }

// Status returns a snapshot. ConsoleTail is always empty.
func (a *Adopted) Status() ProcessStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := ProcessStatus{
		PID:       a.pid,
		Adopted:   true,
		Running:   a.exit == nil && !a.watch.exited(),
		StartedAt: a.startedAt,
		QMP:       a.qmp != nil && a.exit == nil,
		Stop:      append([]StopStep(nil), a.stopSteps...),
	}
	if a.exit != nil {
		e := *a.exit
		st.Exit = &e
	}
	return st
}

// pidWatch follows a process that is not our child.
type pidWatch struct {
	pid       int
	pidfd     *os.File // nil when polling /proc
	startTime uint64
	clock     Clock
	interval  time.Duration
	done      chan struct{} // closed on exit or release
	gone      chan struct{} // closed on exit only
	stop      chan struct{} // closed by release
	once      sync.Once
	stopOnce  sync.Once
}

// poll checks /proc every interval until the process is gone.
func (w *pidWatch) poll() {
	for {
		if !w.aliveProc() {
			w.markGone()
			return
		}
		select {
		case <-w.stop:
			w.finish()
			return
		case <-w.clock.After(w.interval):
		}
	}
}

// aliveProc reports whether the same process still runs.
func (w *pidWatch) aliveProc() bool {
	st, err := readProcStat(w.pid)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return st.startTime == w.startTime && st.state != 'Z' && st.state != 'X'
}

func (w *pidWatch) markGone() {
	w.once.Do(func() {
		close(w.gone)
		close(w.done)
	})
}

func (w *pidWatch) finish() { w.once.Do(func() { close(w.done) }) }

func (w *pidWatch) exited() bool {
	select {
	case <-w.gone:
		return true
	default:
		return false
	}
}

func (w *pidWatch) release() {
	w.stopOnce.Do(func() { close(w.stop) })
	if w.pidfd != nil {
		_ = w.pidfd.Close()
	}
}
