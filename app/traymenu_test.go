package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/vm"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func TestTrayLines(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.Local)
	got := trayLines(engine.State{Mode: engine.ModeDev}, now)
	want := trayText{Status: "Dev mode: stopped", Today: "Earned today: 0 TON", Week: "This week: 0 TON", Claimable: "Claimable: 0 TON", Payout: "Payout now", CanPause: true}
	if got != want {
		t.Errorf("idle:\n got %+v\nwant %+v", got, want)
	}

	st := &worker.Stats{}
	st.Counters.Queries[2] = 1.234
	st.Status.WalletBalance, st.Status.HasWalletBalance = 3_500_000_000, true
	running := engine.State{Mode: engine.ModeDev, Dev: &engine.Instance{State: vm.StateRunning, Stats: st},
		Earnings: &engine.Earnings{Today: map[string]int64{store.StageEarned: 1_500_000_000},
			Week: map[string]int64{store.StageEarned: 2_000_000_000}, ClaimableNow: 16_000}}
	got = trayLines(running, now)
	want = trayText{Status: "Dev mode: running · 1.2 req/s", Today: "Earned today: 1.5 TON", Week: "This week: 2 TON",
		Claimable: "Claimable: 0.000016 TON", Payout: "Payout now: 0.000016 TON (fee at most 0.5 TON, from the worker's wallet)", Float: "⚠ Worker wallet float low: 3.5 TON (top up to 5 TON or more)",
		CanPause: true, CanPay: true}
	if got != want {
		t.Errorf("running:\n got %+v\nwant %+v", got, want)
	}
	st.Status.WalletBalance = 7_000_000_000
	if got := trayLines(running, now); got.Float != "" {
		t.Errorf("float warning at 7 TON: %q", got.Float)
	}

	paused := running
	paused.Pause = &engine.Pause{Until: time.Date(2026, 11, 23, 15, 0, 0, 0, time.Local)}
	got = trayLines(paused, now)
	if got.Status != "Paused until 15:00" || got.CanPause || !got.CanResume {
		t.Errorf("paused today: %+v", got)
	}
	paused.Pause = &engine.Pause{Until: time.Date(2026, 11, 24, 8, 0, 0, 0, time.Local)}
	if got := trayLines(paused, now).Status; got != "Paused until Tue 08:00" {
		t.Errorf("paused until tomorrow: %q", got)
	}
	paused.Pause = &engine.Pause{}
	if got := trayLines(paused, now).Status; got != "Paused until you resume" {
		t.Errorf("indefinite pause: %q", got)
	}
	attached := engine.State{Mode: engine.ModeProduction, Attached: []engine.Instance{{State: vm.StateBooting}}}
	if got := trayLines(attached, now).Status; got != "Production: booting" {
		t.Errorf("attached worker: %q", got)
	}
}

func labels(m *fyne.Menu) map[string]*fyne.MenuItem {
	out := map[string]*fyne.MenuItem{}
	for _, i := range m.Items {
		if !i.IsSeparator {
			out[i.Label] = i
		}
	}
	return out
}

func TestTrayMenuUpdatesItemsInPlace(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	m := newTrayMenu(context.Background(), api, func() {}, func() {}, func(string) {})
	items := labels(m.menu)
	for _, want := range []string{"Dev mode: stopped", "Earned today: 0 TON", "This week: 0 TON", "Claimable: 0 TON",
		"Pause 30 min", "Pause 1 hour", "Pause until tomorrow", "Resume", "Payout now", "Open dashboard", "Quit"} {
		if _, ok := items[want]; !ok {
			t.Errorf("tray menu lacks %q: %v", want, items)
		}
	}
	if !items["Dev mode: stopped"].Disabled || !items["Resume"].Disabled || !items["Payout now"].Disabled || items["Pause 1 hour"].Disabled {
		t.Error("wrong enabled states when idle")
	}
	status, payout := items["Dev mode: stopped"], items["Payout now"]
	now := time.Now()
	m.apply(trayLines(engine.State{Pause: &engine.Pause{Until: now.Add(time.Hour)},
		Earnings: &engine.Earnings{ClaimableNow: 1}}, now), true)
	items = labels(m.menu)
	const label = "Payout now: 0.000000001 TON (fee at most 0.5 TON, from the worker's wallet)"
	if items[label] != payout || payout.Disabled {
		t.Errorf("Payout now not updated in place (%q) or still disabled with something claimable", payout.Label)
	}
	if !strings.HasPrefix(status.Label, "Paused until ") {
		t.Errorf("status not updated in place: %q", status.Label)
	}
	if items["Resume"].Disabled || !items["Pause 30 min"].Disabled {
		t.Error("while paused: Resume should be enabled and the pauses disabled")
	}
}

type fakeAutostart struct{ on bool }

func (f *fakeAutostart) Enabled() bool     { return f.on }
func (f *fakeAutostart) Set(on bool) error { f.on = on; return nil }

func TestTrayMenuAutostartToggle(t *testing.T) {
	test.NewTempApp(t)
	api := enginetest.New(engine.State{Mode: engine.ModeDev}, hostcheck.Report{}, gpu.Inventory{})
	m := newTrayMenu(context.Background(), api, func() {}, func() {}, func(string) {})
	as := &fakeAutostart{}
	m.offerAutostart(as, func(msg string) { t.Error(msg) })
	item, ok := labels(m.menu)["Start with the session"]
	if !ok || item.Checked {
		t.Fatalf("autostart item %+v (present %v), want unchecked", item, ok)
	}
	item.Action()
	if !as.on || !item.Checked {
		t.Errorf("after a click: autostart %v, checked %v", as.on, item.Checked)
	}
	item.Action()
	if as.on || item.Checked {
		t.Errorf("after a second click: autostart %v, checked %v", as.on, item.Checked)
	}
	if last := m.menu.Items[len(m.menu.Items)-1]; last.Label != "Quit" {
		t.Errorf("last item %q, want Quit", last.Label)
	}
}
