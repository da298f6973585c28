package engine

import (
	"errors"
	"os"
	"time"
)

// LockFileName is the single-instance lock inside the data directory.
const LockFileName = "cocoon-provider.lock"

// ErrLocked is returned when another process of the app holds the lock.
var ErrLocked = errors.New("another Cocoon Provider is running with this data directory")

// Lock is the held single-instance lock. Only one app process may drive the
// VMs of a data directory; the lock is released when the process exits,
// however it exits.
type Lock struct {
	f *os.File
}

// Holder describes the process holding the lock.
type Holder struct {
	PID     int
	Started time.Time
}
