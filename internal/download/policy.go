package download

import (
	"net/http"
	"time"
)

// Policy is how downloads are tried and how much disk they leave free:
// the same for every download of a store (worker releases, models). In
// Options its zero value means one attempt, no wait, no margin and the
// system's free space; the stores fill it with WithDefaults.
type Policy struct {
	// Client makes the requests; nil is NewClient().
	Client *http.Client
	// Attempts bounds the tries of one Get while the failure is one a
	// retry can mend (dropped connection, 5xx, 429); <1 is 1.
	Attempts int
	// RetryWait is the pause before the second attempt; it doubles for
	// each further one; <=0 does not wait.
	RetryWait time.Duration
	// FreeSpace reports the free bytes of the file system holding a
	// directory (-1: unknown, not checked); nil is FreeSpace.
	FreeSpace func(dir string) (int64, error)
	// FreeSpaceMargin is left free after the download.
	FreeSpaceMargin int64
}

// Defaults of WithDefaults.
const (
	// DefaultAttempts is how many times a download is tried.
	DefaultAttempts = 3
	// DefaultRetryWait is the pause before the second attempt; it doubles.
	DefaultRetryWait = 2 * time.Second
	// DefaultFreeSpaceMargin is left free on the disk: 1 GiB.
	DefaultFreeSpaceMargin = 1 << 30
)

// WithDefaults fills p's zero fields: NewClient, DefaultAttempts,
// DefaultRetryWait, the system's FreeSpace and DefaultFreeSpaceMargin. A
// negative RetryWait or FreeSpaceMargin asks for none and becomes 0.
func (p Policy) WithDefaults() Policy {
	if p.Client == nil {
		p.Client = NewClient()
	}
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	switch {
	case p.RetryWait < 0:
		p.RetryWait = 0
	case p.RetryWait == 0:
		p.RetryWait = DefaultRetryWait
	}
	if p.FreeSpace == nil {
		p.FreeSpace = FreeSpace
	}
	switch {
	case p.FreeSpaceMargin < 0:
		p.FreeSpaceMargin = 0
	case p.FreeSpaceMargin == 0:
		p.FreeSpaceMargin = DefaultFreeSpaceMargin
	}
	return p
}
