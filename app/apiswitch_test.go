package app

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

type closeCount struct{ n int }

func (c *closeCount) Close() error { c.n++; return nil }

// subscribed waits until f has n subscribers (Subscribe registers in the
// background of the switch's goroutine).
func subscribed(t *testing.T, f *enginetest.Fake, kind engine.EventKind, events <-chan engine.Event, dir string) engine.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		f.Publish(kind, func(st *engine.State) { st.DataDir = dir })
		select {
		case ev := <-events:
			if ev.State.DataDir == dir {
				return ev
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no %s event from %s", kind, dir)
		}
	}
}

func TestAPISwitchFollowsTheCurrentTarget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	local := enginetest.New(engine.State{DataDir: "local"}, hostcheck.Report{}, gpu.Inventory{})
	remote := enginetest.New(engine.State{DataDir: "remote"}, hostcheck.Report{}, gpu.Inventory{})
	sw := newAPISwitch(local, "")
	events := sw.Subscribe(ctx)
	subscribed(t, local, engine.EventInstance, events, "local")

	closer := &closeCount{}
	sw.use(remote, "https://host:9311", closer)
	if sw.Label() != "https://host:9311" || sw.State().DataDir != "remote" {
		t.Fatalf("after switch: label %q, state %q", sw.Label(), sw.State().DataDir)
	}
	// Every view gets the new state at once.
	seen := map[engine.EventKind]bool{}
	for len(seen) < len(switchKinds) {
		select {
		case ev := <-events:
			if ev.State.DataDir != "remote" {
				t.Fatalf("event %s carries %q after the switch", ev.Kind, ev.State.DataDir)
			}
			seen[ev.Kind] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("replayed only %v", seen)
		}
	}
	subscribed(t, remote, engine.EventEarnings, events, "remote2")
	// The old target's events no longer arrive.
	local.Publish(engine.EventInstance, func(st *engine.State) { st.DataDir = "stale" })
	if err := sw.SetPause(ctx, &engine.Pause{}); err != nil {
		t.Fatal(err)
	}
	if remote.State().Pause == nil || local.State().Pause != nil {
		t.Error("SetPause did not go to the current target only")
	}
	select {
	case ev := <-events:
		if ev.State.DataDir == "stale" {
			t.Error("an event of the old target arrived after the switch")
		}
	case <-time.After(100 * time.Millisecond):
	}
	sw.use(local, "", nil)
	if closer.n != 1 {
		t.Errorf("remote closed %d times when switched away, want 1", closer.n)
	}
	cancel()
	for range events { // closes when ctx ends
	}
}

func TestMainViewSwitchesToARemoteHost(t *testing.T) {
	test.NewTempApp(t)
	local := enginetest.New(engine.State{}, hostcheck.Report{Host: hostcheck.HostInfo{Hostname: "local-box"}}, gpu.Inventory{})
	far := enginetest.New(engine.State{}, hostcheck.Report{Host: hostcheck.HostInfo{Hostname: "gpu-server"}}, gpu.Inventory{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := test.NewTempWindow(t, nil)
	v := newMainView(ctx, newAPISwitch(local, ""), fyne.CurrentApp().Preferences())
	connect := func(context.Context, string, string, string) (engine.API, io.Closer, error) { return far, nil, nil }
	v.enableRemote(ctx, w, connect, local)
	if !contains(texts(v.content), "Remote host…") {
		t.Fatal("no Remote host… button")
	}
	checked := v.switchTo(ctx, far, "https://gpu-server:9311", nil)
	if !strings.HasPrefix(v.banner.Text, "Remote host https://gpu-server:9311 · ") {
		t.Errorf("banner %q", v.banner.Text)
	}
	// The machine check now comes from the remote host.
	select {
	case <-checked:
	case <-time.After(10 * time.Second):
		t.Fatal("the remote host's check never finished")
	}
	if far.Checks != 1 {
		t.Errorf("remote host checked %d times, want 1", far.Checks)
	}
	back := v.switchTo(ctx, local, "", nil)
	if strings.HasPrefix(v.banner.Text, "Remote host") {
		t.Errorf("banner after going back: %q", v.banner.Text)
	}
	// Wait for the local check, so that it does not draw while the next
	// test does (the test driver draws on any goroutine).
	select {
	case <-back:
	case <-time.After(10 * time.Second):
		t.Fatal("the local check never finished")
	}
}
