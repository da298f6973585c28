package engine

import (
	"context"
	"time"
)

// IdleState is what an IdleSource knows about the user's activity.
type IdleState struct {
	// Known is false when the source cannot tell (no logind, another
	// OS); Why then says why, for the user.
	Known bool
	Why   string
	// Idle says nobody is using the computer; Since is when that began,
	// zero for "since ever" (no session at all).
	Idle  bool
	Since time.Time
}

// IdleSource tells whether the user is using the computer. It must not
// need root. The engine asks it once a sample while Settings.IdleAfterMin
// is set; Run's goroutine is its only caller.
type IdleSource interface {
	Idle(ctx context.Context) IdleState
}

// idleFor reports how long st has been idle at now: 0 while the user is
// active or when unknown; a long time for "idle since ever".
func (st IdleState) idleFor(now time.Time) time.Duration {
	switch {
	case !st.Known || !st.Idle:
		return 0
	case st.Since.IsZero():
		return 1<<63 - 1
	case st.Since.After(now):
		return 0
	}
	return now.Sub(st.Since)
}
