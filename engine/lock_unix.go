//go:build unix

package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// AcquireLock takes the lock of dataDir without waiting. When another
// process holds it, the error wraps ErrLocked and names that process.
func AcquireLock(dataDir string) (*Lock, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	path := filepath.Join(dataDir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	// ReadLockHolder (status, stop) takes the lock shared for an instant;
	// retry briefly so that a probe is not mistaken for a running app.
	for try := 0; errors.Is(err, unix.EWOULDBLOCK) && try < 10; try++ {
		if _, herr := ReadLockHolder(dataDir); herr == nil {
			break // really held
		}
		time.Sleep(10 * time.Millisecond)
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			if h, herr := ReadLockHolder(dataDir); herr == nil {
				return nil, fmt.Errorf("%w: PID %d, started %s; stop it first (cocoon-provider stop --data-dir %s) or use another --data-dir",
					ErrLocked, h.PID, h.Started.Local().Format(time.DateTime), dataDir)
			}
			return nil, fmt.Errorf("%w; stop it first (cocoon-provider stop --data-dir %s) or use another --data-dir", ErrLocked, dataDir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	content := fmt.Sprintf("%d %d\n", os.Getpid(), time.Now().Unix())
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(content), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := errors.Join(l.f.Truncate(0), unix.Flock(int(l.f.Fd()), unix.LOCK_UN), l.f.Close())
	l.f = nil
	return err
}

// ReadLockHolder returns the process recorded in the lock, if one holds it.
func ReadLockHolder(dataDir string) (Holder, error) {
	path := filepath.Join(dataDir, LockFileName)
	f, err := os.Open(path)
	if err != nil {
		return Holder{}, err
	}
	defer f.Close()
	// A lock we can take is not held: whatever the file says is stale.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return Holder{}, fmt.Errorf("no Cocoon Provider holds %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Holder{}, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return Holder{}, fmt.Errorf("lock %s is being written", path)
	}
	pid, err1 := strconv.Atoi(fields[0])
	ts, err2 := strconv.ParseInt(fields[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return Holder{}, fmt.Errorf("lock %s holds %q, not a process", path, strings.TrimSpace(string(b)))
	}
	return Holder{PID: pid, Started: time.Unix(ts, 0)}, nil
}
