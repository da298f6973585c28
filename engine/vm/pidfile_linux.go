package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pidFileLockHolder returns the process holding a POSIX lock on path (QEMU
// locks its pid file with lockf), or 0 if none does.
func pidFileLockHolder(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open pid file: %w", err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return 0, fmt.Errorf("query pid file lock: %w", err)
	}
	if lk.Type == unix.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}

// watchPID pins pid with a pidfd where the kernel supports it (Linux 5.10+
// for non-blocking pidfds) and watches it through Go's poller; otherwise
// it polls /proc/<pid>/stat, comparing the start time to spot PID reuse.
func watchPID(pid int, opts AdoptOptions) (*pidWatch, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	w := &pidWatch{
		pid:       pid,
		startTime: st.startTime,
		clock:     opts.Clock,
		interval:  opts.PollInterval,
		done:      make(chan struct{}),
		gone:      make(chan struct{}),
		stop:      make(chan struct{}),
	}
	if !opts.noPidfd {
		fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
		switch {
		case err == nil:
			w.pidfd = os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
			if ok := w.watchPidfd(); ok {
				return w, nil
			}
			w.pidfd.Close()
			w.pidfd = nil
		case errors.Is(err, syscall.ESRCH):
			return nil, fmt.Errorf("process %d exited while being adopted", pid)
		}
	}
	go w.poll()
	return w, nil
}

// watchPidfd starts a goroutine that waits in Go's poller until the pidfd
// becomes readable (the process exited). false: the fd cannot be polled.
func (w *pidWatch) watchPidfd() bool {
	rc, err := w.pidfd.SyscallConn()
	if err != nil {
		return false
	}
	if w.pidfdReadable(rc) {
		w.markGone()
		return true
	}
	go func() {
		err := rc.Read(func(fd uintptr) bool { return pollReadable(int(fd)) })
		if err == nil {
			w.markGone()
			return
		}
		// Closed by release, or the poller refused the fd: poll /proc.
		select {
		case <-w.stop:
			w.finish()
		default:
			w.poll()
		}
	}()
	return true
}

func (w *pidWatch) pidfdReadable(rc syscall.RawConn) bool {
	readable := false
	_ = rc.Control(func(fd uintptr) { readable = pollReadable(int(fd)) })
	return readable
}

func pollReadable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
}

// signal sends sig to the process, through the pidfd when there is one.
func (w *pidWatch) signal(sig syscall.Signal) error {
	if w.exited() {
		return nil
	}
	var err error
	if w.pidfd != nil {
		rc, cerr := w.pidfd.SyscallConn()
		if cerr != nil {
			return cerr
		}
		if cerr := rc.Control(func(fd uintptr) { err = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); cerr != nil {
			return cerr
		}
	} else {
		if !w.aliveProc() {
			return nil
		}
		err = unix.Kill(w.pid, sig)
	}
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// killGroup kills the process group QEMU leads (it does when the app
// started it), taking helpers with it.
func (w *pidWatch) killGroup() error {
	if w.exited() {
		return nil
	}
	if pgid, err := unix.Getpgid(w.pid); err != nil || pgid != w.pid {
		return nil
	}
	if err := unix.Kill(-w.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
