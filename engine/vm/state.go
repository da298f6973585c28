package vm

import (
	"fmt"
	"sync"
)

// State is where a worker VM is in its lifecycle.
type State string

// Lifecycle states. CanTransition says which moves between them are legal.
const (
	// StateStopped: no QEMU process; nothing is being prepared.
	StateStopped State = "stopped"
	// StatePreparing: files are being readied (image check, spec share,
	// model archive, persistent disk, GPU binding); no QEMU process yet.
	StatePreparing State = "preparing"
	// StateBooting: QEMU runs; the guest has not reported healthy yet.
	StateBooting State = "booting"
	// StateRunning: the guest reports healthy.
	StateRunning State = "running"
	// StateDegraded: QEMU runs but the guest reports a problem (failing
	// services, health checks unanswered).
	StateDegraded State = "degraded"
	// StateStopping: a stop was requested; the guest or QEMU is shutting down.
	StateStopping State = "stopping"
	// StateFailed: preparation, boot or the VM failed, or it could not be
	// stopped cleanly. No QEMU process is left running in this state.
	StateFailed State = "failed"
)

// States lists every state in lifecycle order.
func States() []State {
	return []State{StateStopped, StatePreparing, StateBooting, StateRunning, StateDegraded, StateStopping, StateFailed}
}

// legalNext lists the legal moves out of a state; a state never moves to itself.
func legalNext(from State) []State {
	switch from {
	case StateStopped:
		return []State{
			StatePreparing, // start requested
		}
	case StatePreparing:
		return []State{
			StateBooting,  // everything ready; QEMU started
			StateStopping, // stop requested while preparing
			StateFailed,   // preparation failed (missing file, GPU not bindable, …)
		}
	case StateBooting:
		return []State{
			StateRunning,  // guest reported healthy
			StateDegraded, // guest answers but reports a problem
			StateStopping, // stop requested during boot
			StateFailed,   // QEMU exited, or the boot timed out
		}
	case StateRunning:
		return []State{
			StateDegraded, // health got worse
			StateStopping, // stop requested
			StateFailed,   // QEMU exited unexpectedly
		}
	case StateDegraded:
		return []State{
			StateRunning,  // health recovered
			StateStopping, // stop requested
			StateFailed,   // QEMU exited unexpectedly, or degraded for too long
		}
	case StateStopping:
		return []State{
			StateStopped, // QEMU exited after the stop request
			StateFailed,  // the stop did not complete cleanly (QEMU had to be killed, or an error)
		}
	case StateFailed:
		return []State{
			StatePreparing, // restart, by the user or the supervisor's policy
			StateStopped,   // the user acknowledges the failure and stops
		}
	}
	return nil
}

// CanTransition reports whether a VM may move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range legalNext(from) {
		if s == to {
			return true
		}
	}
	return false
}

// Transition is one state change reported to a Lifecycle's observer.
type Transition struct {
	From, To State
}

// Lifecycle holds a VM's current state and enforces the legal transitions.
// It is safe for concurrent use. The zero value is a Lifecycle in
// StateStopped without an observer.
type Lifecycle struct {
	onChange func(Transition)

	mu         sync.Mutex
	cur        State
	pending    []Transition
	delivering bool
}

// NewLifecycle returns a Lifecycle in StateStopped. onChange (may be nil) is
// called for every successful transition, in order, exactly once, and never
// with the lock held: it may call Current and To. When several goroutines
// call To at once, one of them delivers all queued notifications, so To may
// return before its own notification has been delivered. onChange should
// return quickly.
func NewLifecycle(onChange func(Transition)) *Lifecycle {
	return &Lifecycle{onChange: onChange, cur: StateStopped}
}

// Current returns the current state.
func (l *Lifecycle) Current() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.currentLocked()
}

func (l *Lifecycle) currentLocked() State {
	if l.cur == "" {
		return StateStopped
	}
	return l.cur
}

// To moves to state to, or returns an error naming both states when the move is
// not legal (the state is then unchanged).
func (l *Lifecycle) To(to State) error {
	l.mu.Lock()
	from := l.currentLocked()
	if !CanTransition(from, to) {
		l.mu.Unlock()
		return fmt.Errorf("VM cannot go from %q to %q: %s", from, to, legalHint(from))
	}
	l.cur = to
	if l.onChange == nil {
		l.mu.Unlock()
		return nil
	}
	l.pending = append(l.pending, Transition{From: from, To: to})
	if l.delivering {
		// Another call is delivering; it will deliver this one too, in order.
		l.mu.Unlock()
		return nil
	}
	l.delivering = true
	for len(l.pending) > 0 {
		t := l.pending[0]
		l.pending = l.pending[1:]
		l.mu.Unlock()
		l.notify(t)
		l.mu.Lock()
	}
	l.delivering = false
	l.mu.Unlock()
	return nil
}

// notify calls onChange without the lock held. Should onChange panic, the
// Lifecycle stays usable: delivery is released before the panic goes on.
func (l *Lifecycle) notify(t Transition) {
	defer func() {
		if r := recover(); r != nil {
			l.mu.Lock()
			l.delivering = false
			l.mu.Unlock()
			panic(r)
		}
	}()
	l.onChange(t)
}

func legalHint(from State) string {
	to := legalNext(from)
	if len(to) == 0 {
		return fmt.Sprintf("%q is not a known state", from)
	}
	return fmt.Sprintf("from %q it can only go to %v", from, to)
}
