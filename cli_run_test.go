package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

// lineLog records log calls as "LEVEL msg attrs".
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(level, msg string, args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(level, " ", msg, " ", args))
}

func (l *lineLog) Info(msg string, args ...any) { l.add("INFO", msg, args) }
func (l *lineLog) Warn(msg string, args ...any) { l.add("WARN", msg, args) }

func (l *lineLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestLogInstanceEventsLogsAlerts: the headless service writes alerts to
// the journal, a warning each, a Clear one as information.
func TestLogInstanceEventsLogsAlerts(t *testing.T) {
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &lineLog{}
	done := make(chan struct{})
	go func() { defer close(done); logInstanceEvents(ctx, api, log) }()
	down := engine.Alert{Kind: engine.AlertWorkerDown, Title: "Worker down", Body: "The dev-mode worker failed.", Instance: 0}
	up := engine.Alert{Kind: engine.AlertWorkerDown, Title: "Worker running again", Body: "It runs.", Instance: 0, Clear: true}
	paid := engine.Alert{Kind: engine.AlertPayout, Title: "Payout arrived: 2 TON", Body: "2 TON arrived in your wallet.", Instance: engine.NoInstance}
	// It subscribes in the background: publish until it listens.
	deadline := time.Now().Add(10 * time.Second)
	for len(log.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing logged")
		}
		api.PublishAlert(down)
		time.Sleep(20 * time.Millisecond)
	}
	api.PublishAlert(up)
	api.PublishAlert(paid)
	want := []string{
		"WARN Worker down [event alert alert worker_down body The dev-mode worker failed. instance 0]",
		"INFO Worker running again [event alert alert worker_down body It runs. instance 0]",
		"WARN Payout arrived: 2 TON [event alert alert payout body 2 TON arrived in your wallet.]",
	}
	for time.Now().Before(deadline) {
		lines := log.all()
		if n := len(lines); n >= 2 && lines[n-1] == want[2] {
			for lines[0] == want[0] && len(lines) > len(want) { // repeats of the first publish
				lines = lines[1:]
			}
			if fmt.Sprint(lines) != fmt.Sprint(want) {
				t.Errorf("logged %q, want %q", lines, want)
			}
			cancel()
			<-done
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("logged %q", log.all())
}
