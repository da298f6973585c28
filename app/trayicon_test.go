package app

import (
	"bytes"
	"context"
	"image/png"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/assets"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
)

func TestTrayStateOf(t *testing.T) {
	running := &engine.Instance{State: vm.StateRunning}
	for _, c := range []struct {
		name string
		st   engine.State
		want trayState
	}{
		{"nothing", engine.State{}, trayStopped},
		{"stopped worker", engine.State{Dev: &engine.Instance{State: vm.StateStopped}}, trayStopped},
		{"running", engine.State{Dev: running}, trayRunning},
		{"booting", engine.State{Dev: &engine.Instance{State: vm.StateBooting}}, trayRunning},
		{"paused", engine.State{Dev: running, Pause: &engine.Pause{}}, trayPaused},
		{"failed", engine.State{Dev: &engine.Instance{State: vm.StateFailed}}, trayAttention},
		{"degraded while paused", engine.State{Dev: &engine.Instance{State: vm.StateDegraded}, Pause: &engine.Pause{}}, trayAttention},
		{"no database", engine.State{Dev: running, StoreError: "disk full"}, trayAttention},
		{"attached running", engine.State{Attached: []engine.Instance{{State: vm.StateRunning}}}, trayRunning},
	} {
		if got := trayStateOf(c.st); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestTrayIconsDiffer(t *testing.T) {
	icons := trayIcons(assets.Icon)
	seen := map[string]trayState{}
	for st, r := range icons {
		if _, err := png.Decode(bytes.NewReader(r.Content())); err != nil {
			t.Fatalf("state %d: %v", st, err)
		}
		if other, dup := seen[string(r.Content())]; dup {
			t.Errorf("states %d and %d have the same icon", st, other)
		}
		seen[string(r.Content())] = st
	}
	if len(icons) != 4 || !bytes.Equal(icons[trayStopped].Content(), assets.Icon.Content()) {
		t.Errorf("%d icons; stopped is the plain icon: %v", len(icons), bytes.Equal(icons[trayStopped].Content(), assets.Icon.Content()))
	}
}

// TestTrayMenuSetsIconOnlyOnChange: many events, few icon changes.
func TestTrayMenuSetsIconOnlyOnChange(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	icons := trayIcons(assets.Icon)
	set := make(chan fyne.Resource, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := newTrayMenu(ctx, api, func() {}, func() {}, func(string) {})
	m.showIcon(icons, func(r fyne.Resource) { set <- r })
	go m.follow(ctx, api)
	time.Sleep(100 * time.Millisecond) // subscribed
	// Fewer events than the fake's buffer: it delivers each one, blocking
	// (unlike the engine) while a reader falls behind.
	for i := range 10 { // state unchanged: no new icon
		api.Publish(engine.EventInstance, func(st *engine.State) { st.Updated = time.Unix(int64(i), 0) })
	}
	select {
	case r := <-set:
		t.Fatalf("icon set to %s without a change", r.Name())
	case <-time.After(1500 * time.Millisecond):
	}
	api.Publish(engine.EventInstance, func(st *engine.State) { st.Dev = &engine.Instance{State: vm.StateRunning} })
	select {
	case r := <-set:
		if r != icons[trayRunning] {
			t.Errorf("icon %s, want the running one", r.Name())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the icon did not follow the worker starting")
	}
}
