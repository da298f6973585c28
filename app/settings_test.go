package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/enginetest"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

type settingsAutostart struct {
	on   bool
	sets int
	err  error
}

func (f *settingsAutostart) Enabled() bool { return f.on }
func (f *settingsAutostart) Set(on bool) error {
	f.sets++
	if f.err != nil {
		return f.err
	}
	f.on = on
	return nil
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never finished", what)
	}
}

func newTestSettingsView(t *testing.T, stored engine.Settings, a Autostart) (*settingsView, *enginetest.Fake) {
	t.Helper()
	test.NewTempApp(t)
	api := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	if err := api.SetSettings(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v := newSettingsView(ctx, api, nil)
	v.setVisible(ctx, true)
	waitDone(t, v.shown, "loading the settings")
	v.setAutostart(a) // as Run does, on the UI thread
	return v, api
}

func TestSettingsViewLoadsAndSaves(t *testing.T) {
	stored := engine.Settings{GPUTempLimitC: 80, PauseAboveC: 86, ResumeBelowC: 78, UpdateFeedURL: "https://mirror.example/feed.json",
		Schedule: &engine.Schedule{Days: [7]bool{false, true, true, true, true, true, false}, From: "22:00", To: "06:00"}}
	auto := &settingsAutostart{}
	v, api := newTestSettingsView(t, stored, auto)

	if v.limit.Text != "80" || v.pauseOff.Checked || v.pauseAbove.Text != "86" || v.resumeBelow.Text != "78" ||
		!v.scheduleOn.Checked || !v.days[1].Checked || v.days[0].Checked || v.from.Text != "22:00" || v.to.Text != "06:00" ||
		v.feed.Text != stored.UpdateFeedURL || v.startup.Checked || !v.startup.Visible() {
		t.Fatalf("the form does not show the stored settings: %+v", v.form())
	}
	if !v.save.Disabled() {
		t.Error("Save is enabled before anything changed")
	}
	v.limit.SetText("82")
	v.days[6].SetChecked(true)
	v.startup.SetChecked(true)
	if v.save.Disabled() {
		t.Fatal("Save stays disabled after a change")
	}
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	got, n := api.StoredSettings()
	if n != 2 || got.GPUTempLimitC != 82 || got.Schedule == nil || !got.Schedule.Days[6] || got.PauseAboveC != 86 {
		t.Fatalf("stored %+v after %d saves", got, n)
	}
	if !auto.on || auto.sets != 1 {
		t.Errorf("autostart on %v after %d sets", auto.on, auto.sets)
	}
	if v.status.Text != "Saved." || !v.save.Disabled() {
		t.Errorf("after saving: status %q, save disabled %v", v.status.Text, v.save.Disabled())
	}

	// Turning the pause and the schedule off stores 0 and no schedule.
	v.pauseOff.SetChecked(true)
	v.scheduleOn.SetChecked(false)
	if !v.pauseAbove.Disabled() || !v.from.Disabled() || !v.days[1].Disabled() {
		t.Error("fields turned off stay editable")
	}
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if got, _ := api.StoredSettings(); got.PauseAboveC != 0 || got.Schedule != nil {
		t.Errorf("stored %+v", got)
	}
}

func TestSettingsViewRefusesInvalidInput(t *testing.T) {
	v, api := newTestSettingsView(t, engine.DefaultSettings(), nil)
	if v.startup.Visible() {
		t.Error("\"Start with the session\" is shown without autostart")
	}
	if !v.pauseOff.Checked || v.scheduleOn.Checked || v.limit.Text != "85" {
		t.Fatalf("defaults not shown: %+v", v.form())
	}
	for _, tc := range []struct {
		edit func()
		want string
	}{
		{func() { v.limit.SetText("hot") }, "alert limit must be a whole number"},
		{func() { v.limit.SetText("30") }, "alert limit must be 40 to 120 °C"},
		{func() {
			v.limit.SetText("85")
			v.pauseOff.SetChecked(false)
			v.pauseAbove.SetText("83")
			v.resumeBelow.SetText("82")
		}, "resume below must be at least 3 °C under pause above"},
		{func() {
			v.resumeBelow.SetText("75")
			v.scheduleOn.SetChecked(true)
			v.from.SetText("25:00")
			v.to.SetText("06:00")
			v.days[1].SetChecked(true)
		}, "schedule from"},
		{func() {
			v.from.SetText("22:00")
			v.feed.SetText("not a url")
		}, "update feed URL"},
	} {
		tc.edit()
		test.Tap(v.save)
		waitDone(t, v.done, "checking")
		if !strings.Contains(strings.ToLower(v.status.Text), strings.ToLower(tc.want)) || v.status.Importance != widget.DangerImportance {
			t.Errorf("status %q, want an error with %q", v.status.Text, tc.want)
		}
		if _, n := api.StoredSettings(); n != 1 {
			t.Fatalf("invalid settings were saved (%s)", tc.want)
		}
		if v.save.Disabled() {
			t.Error("Save is disabled after an error; the user cannot retry")
		}
	}
	v.feed.SetText("")
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if got, n := api.StoredSettings(); n != 2 || got.PauseAboveC != 83 || got.ResumeBelowC != 75 || got.Schedule == nil || got.Schedule.From != "22:00" {
		t.Errorf("stored %+v after %d saves", got, n)
	}
}

func TestSettingsViewAutostartFailure(t *testing.T) {
	auto := &settingsAutostart{err: errors.New("no autostart folder")}
	v, api := newTestSettingsView(t, engine.DefaultSettings(), auto)
	v.startup.SetChecked(true)
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if _, n := api.StoredSettings(); n != 2 {
		t.Errorf("the settings were not saved")
	}
	if !strings.Contains(v.status.Text, "no autostart folder") {
		t.Errorf("status %q", v.status.Text)
	}
}

func TestMainViewSettingsTabFollowsTheHost(t *testing.T) {
	test.NewTempApp(t)
	local := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	far := enginetest.New(engine.State{}, hostcheck.Report{}, gpu.Inventory{})
	if err := far.SetSettings(context.Background(), engine.Settings{GPUTempLimitC: 70}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sw := newAPISwitch(local, "")
	v := newMainView(ctx, sw, fyne.CurrentApp().Preferences())
	var tabs *container.AppTabs
	for _, o := range v.content.(*fyne.Container).Objects {
		if at, ok := o.(*container.AppTabs); ok {
			tabs = at
		}
	}
	var settingsTab *container.TabItem
	for _, ti := range tabs.Items {
		if ti.Text == "Settings" {
			settingsTab = ti
		}
	}
	if settingsTab == nil {
		t.Fatal("no Settings tab")
	}
	tabs.Select(settingsTab)
	waitDone(t, v.settings.shown, "loading the settings")
	if v.settings.limit.Text != "85" {
		t.Fatalf("limit %q, want the local host's 85", v.settings.limit.Text)
	}
	sw.use(far, "https://gpu-server:9311", nil)
	for deadline := time.Now().Add(10 * time.Second); !v.settings.stale.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the form never went stale")
		}
	}
	v.settings.limit.SetText("75")
	test.Tap(v.settings.save)
	waitDone(t, v.settings.done, "the refused save")
	if _, n := far.StoredSettings(); n != 1 {
		t.Fatal("settings loaded from one host were saved to another")
	}
	waitDone(t, v.settings.shown, "reloading the settings")
	if v.settings.limit.Text != "70" {
		t.Errorf("limit %q, want the remote host's 70", v.settings.limit.Text)
	}
}
