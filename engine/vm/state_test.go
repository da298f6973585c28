package vm

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// lifecycleLegalMoves is the lifecycle written out by hand, independently of
// state.go; every pair not listed here must be refused.
var lifecycleLegalMoves = map[[2]State]bool{
	{StateStopped, StatePreparing}: true,

	{StatePreparing, StateBooting}:  true,
	{StatePreparing, StateStopping}: true,
	{StatePreparing, StateFailed}:   true,

	{StateBooting, StateRunning}:  true,
	{StateBooting, StateDegraded}: true,
	{StateBooting, StateStopping}: true,
	{StateBooting, StateFailed}:   true,

	{StateRunning, StateDegraded}: true,
	{StateRunning, StateStopping}: true,
	{StateRunning, StateFailed}:   true,

	{StateDegraded, StateRunning}:  true,
	{StateDegraded, StateStopping}: true,
	{StateDegraded, StateFailed}:   true,

	{StateStopping, StateStopped}: true,
	{StateStopping, StateFailed}:  true,

	{StateFailed, StatePreparing}: true,
	{StateFailed, StateStopped}:   true,
}

var lifecycleStates = []State{StateStopped, StatePreparing, StateBooting, StateRunning, StateDegraded, StateStopping, StateFailed}

func TestStates(t *testing.T) {
	if !slices.Equal(States(), lifecycleStates) {
		t.Fatalf("States() = %v, want %v", States(), lifecycleStates)
	}
}

// TestCanTransition covers the full cross product, plus an unknown state.
func TestCanTransition(t *testing.T) {
	states := append(slices.Clone(lifecycleStates), State("paused"), State(""))
	legal := 0
	for _, from := range states {
		for _, to := range states {
			want := lifecycleLegalMoves[[2]State{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%q, %q) = %v, want %v", from, to, got, want)
			}
			if want {
				legal++
			}
		}
	}
	if legal != len(lifecycleLegalMoves) {
		t.Errorf("the legal set names %d moves, %d of them between known states", len(lifecycleLegalMoves), legal)
	}
}

// TestLifecycleTo walks every pair on a real Lifecycle: reach "from" by a
// legal path, then try "to".
func TestLifecycleTo(t *testing.T) {
	pathTo := map[State][]State{
		StateStopped:   nil,
		StatePreparing: {StatePreparing},
		StateBooting:   {StatePreparing, StateBooting},
		StateRunning:   {StatePreparing, StateBooting, StateRunning},
		StateDegraded:  {StatePreparing, StateBooting, StateRunning, StateDegraded},
		StateStopping:  {StatePreparing, StateStopping},
		StateFailed:    {StatePreparing, StateFailed},
	}
	for _, from := range lifecycleStates {
		for _, to := range lifecycleStates {
			t.Run(fmt.Sprintf("%s-%s", from, to), func(t *testing.T) {
				var seen []Transition
				l := NewLifecycle(func(tr Transition) { seen = append(seen, tr) })
				for _, s := range pathTo[from] {
					if err := l.To(s); err != nil {
						t.Fatalf("reaching %s: %v", from, err)
					}
				}
				seen = nil
				err := l.To(to)
				if lifecycleLegalMoves[[2]State{from, to}] {
					if err != nil || l.Current() != to {
						t.Fatalf("To(%s) from %s = %v, state %s", to, from, err, l.Current())
					}
					if want := []Transition{{from, to}}; !slices.Equal(seen, want) {
						t.Errorf("observer saw %v, want %v", seen, want)
					}
					return
				}
				if err == nil {
					t.Fatalf("To(%s) from %s succeeded", to, from)
				}
				if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", from)) || !strings.Contains(msg, fmt.Sprintf("%q", to)) {
					t.Errorf("error %q does not name both states", msg)
				}
				if l.Current() != from || len(seen) != 0 {
					t.Errorf("illegal move changed state to %s / notified %v", l.Current(), seen)
				}
			})
		}
	}
}

func TestLifecycleZeroValue(t *testing.T) {
	var l Lifecycle
	if l.Current() != StateStopped {
		t.Fatalf("zero Lifecycle is in %s, want stopped", l.Current())
	}
	if err := l.To(StatePreparing); err != nil {
		t.Fatal(err)
	}
	if err := l.To("nonsense"); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("To(nonsense) = %v", err)
	}
}

// TestLifecycleObserverMayCallTo: the observer runs outside the lock, so it
// can read the state and move it on; notifications stay in order.
func TestLifecycleObserverMayCallTo(t *testing.T) {
	var seen []Transition
	var l *Lifecycle
	l = NewLifecycle(func(tr Transition) {
		seen = append(seen, tr)
		if tr.To == StateBooting {
			if l.Current() != StateBooting {
				t.Errorf("observer sees %s, want booting", l.Current())
			}
			// A failed boot, reported from inside the notification.
			if err := l.To(StateFailed); err != nil {
				t.Errorf("To(failed) from observer: %v", err)
			}
		}
	})
	for _, s := range []State{StatePreparing, StateBooting} {
		if err := l.To(s); err != nil {
			t.Fatal(err)
		}
	}
	want := []Transition{{StateStopped, StatePreparing}, {StatePreparing, StateBooting}, {StateBooting, StateFailed}}
	if !slices.Equal(seen, want) || l.Current() != StateFailed {
		t.Fatalf("seen %v, state %s; want %v, failed", seen, l.Current(), want)
	}
}

// TestLifecycleConcurrent hammers one Lifecycle from many goroutines (run
// with -race): every success is reported exactly once, and the reported
// transitions form one chain.
func TestLifecycleConcurrent(t *testing.T) {
	var mu sync.Mutex
	var seen []Transition
	l := NewLifecycle(func(tr Transition) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	var successes sync.Map
	for g := range 8 {
		wg.Go(func() {
			n := 0
			for i := range 500 {
				to := lifecycleStates[(g+i)%len(lifecycleStates)]
				if l.To(to) == nil {
					n++
				}
				_ = l.Current()
			}
			successes.Store(g, n)
		})
	}
	wg.Wait()
	total := 0
	successes.Range(func(_, v any) bool { total += v.(int); return true })

	if total == 0 {
		t.Fatal("no move succeeded; the test exercised nothing")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("%d successful moves, %d notifications", total, len(seen))
	}
	prev := StateStopped
	for i, tr := range seen {
		if tr.From != prev || !CanTransition(tr.From, tr.To) {
			t.Fatalf("notification %d = %v after state %s", i, tr, prev)
		}
		prev = tr.To
	}
	if prev != l.Current() {
		t.Fatalf("last notification ends in %s, state is %s", prev, l.Current())
	}
}

func TestLifecycleObserverPanic(t *testing.T) {
	boom := true
	var seen []Transition
	l := NewLifecycle(func(tr Transition) {
		seen = append(seen, tr)
		if boom {
			boom = false
			panic("observer bug")
		}
	})
	func() {
		defer func() { _ = recover() }()
		_ = l.To(StatePreparing)
	}()
	if l.Current() != StatePreparing {
		t.Fatalf("state %s after a panicking observer", l.Current())
	}
	if err := l.To(StateBooting); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1] != (Transition{StatePreparing, StateBooting}) {
		t.Fatalf("after a panic the observer saw %v", seen)
	}
}
