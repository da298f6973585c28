package app

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
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
	return newTestSettingsViewOn(t, engine.State{}, stored, a)
}

// newTestSettingsViewOn is newTestSettingsView on a host in state st.
func newTestSettingsViewOn(t *testing.T, st engine.State, stored engine.Settings, a Autostart) (*settingsView, *enginetest.Fake) {
	t.Helper()
	app := test.NewTempApp(t)
	api := enginetest.New(st, hostcheck.Report{}, st.GPUs)
	if err := api.SetSettings(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v := newSettingsView(ctx, api, app.Preferences(), nil)
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
		saveRefused(t, v, api, tc.want)
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

func TestSettingsViewAddedFields(t *testing.T) {
	idx := func(i int) *int { return &i }
	st := engine.State{DataDir: "/var/lib/cocoon-provider", GPUs: gpu.Inventory{GPUs: []gpu.GPU{
		{Index: idx(0), UUID: "GPU-a", Name: "NVIDIA H100"},
		{Index: idx(1), UUID: "GPU-b", Name: "NVIDIA H100"},
		{BusID: "0000:03:00.0"}, // sysfs only
	}}}
	stored := engine.Settings{GPUTempLimitC: 85, GPUs: []string{"GPU-a", "GPU-gone"}, IdleAfterMin: 10, PauseWhenGPUBusy: true,
		PauseAboveW: 400, ResumeBelowW: 350, LiteserverConfig: "https://ton.org/global.config.json"}
	v, api := newTestSettingsViewOn(t, st, stored, nil)

	if v.gpusAll.Checked || len(v.gpuKeys) != 4 || !v.gpuChecks["GPU-a"].Checked || v.gpuChecks["GPU-b"].Checked ||
		v.gpuChecks["pci:0000:03:00.0"].Checked || !v.gpuChecks["GPU-gone"].Checked {
		t.Fatalf("GPUs: all %v, keys %v", v.gpusAll.Checked, v.gpuKeys)
	}
	if l := v.gpuChecks["GPU-a"].Text; l != "GPU 0: NVIDIA H100 (GPU-a)" {
		t.Errorf("GPU 0 is labelled %q", l)
	}
	if l := v.gpuChecks["GPU-gone"].Text; l != "GPU-gone (not present now)" {
		t.Errorf("a GPU not present is labelled %q", l)
	}
	if !v.idleOn.Checked || v.idleMin.Text != "10" || !v.busyOn.Checked || v.powerOff.Checked || v.pauseW.Text != "400" || v.resumeW.Text != "350" ||
		v.liteCfg.Text != stored.LiteserverConfig || v.dataDir.Text != st.DataDir || v.language.Selected != "System language" {
		t.Fatalf("the form does not show the stored settings: %+v", v.form())
	}
	if !v.save.Disabled() {
		t.Error("Save is enabled before anything changed")
	}

	v.gpuChecks["GPU-b"].SetChecked(true)
	v.gpuChecks["GPU-gone"].SetChecked(false)
	v.idleMin.SetText("20")
	v.busyOn.SetChecked(false)
	v.pauseW.SetText("450")
	v.resumeW.SetText("400 W")
	v.liteCfg.SetText(" /etc/ton/global.config.json ")
	v.language.SetSelected("Русский")
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	got, n := api.StoredSettings()
	want := engine.Settings{GPUTempLimitC: 85, GPUs: []string{"GPU-a", "GPU-b"}, IdleAfterMin: 20, PauseAboveW: 450, ResumeBelowW: 400,
		LiteserverConfig: "/etc/ton/global.config.json"}
	if n != 2 || !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v after %d saves, want %+v", got, n, want)
	}
	if code := fyne.CurrentApp().Preferences().String(prefLanguage); code != "ru" {
		t.Errorf("language preference %q, want ru", code)
	}
	if v.status.Text != "Saved. The language applies after a restart of the app." || !v.save.Disabled() {
		t.Errorf("after saving: status %q, save disabled %v", v.status.Text, v.save.Disabled())
	}

	// All GPUs, idle and power off store the defaults; the checks turn
	// their fields off.
	v.gpusAll.SetChecked(true)
	v.idleOn.SetChecked(false)
	v.powerOff.SetChecked(true)
	if !v.gpuChecks["GPU-a"].Disabled() || !v.idleMin.Disabled() || !v.pauseW.Disabled() || !v.resumeW.Disabled() {
		t.Error("fields turned off stay editable")
	}
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if got, _ := api.StoredSettings(); got.GPUs != nil || got.IdleAfterMin != 0 || got.PauseAboveW != 0 || got.ResumeBelowW != 0 {
		t.Errorf("stored %+v", got)
	}
	if v.status.Text != "Saved." {
		t.Errorf("status %q; the language did not change this time", v.status.Text)
	}
}

func TestSettingsViewAddedFieldsRefused(t *testing.T) {
	idx := 0
	st := engine.State{GPUs: gpu.Inventory{GPUs: []gpu.GPU{{Index: &idx, UUID: "GPU-a"}}}}
	v, api := newTestSettingsViewOn(t, st, engine.DefaultSettings(), nil)
	if !v.gpusAll.Checked || v.idleOn.Checked || v.busyOn.Checked || !v.powerOff.Checked || v.dataDir.Text != "unknown" {
		t.Fatalf("defaults not shown: %+v", v.form())
	}
	for _, tc := range []struct {
		edit func()
		want string
	}{
		{func() { v.gpusAll.SetChecked(false) }, "tick at least one GPU to use"},
		{func() {
			v.gpuChecks["GPU-a"].SetChecked(true)
			v.idleOn.SetChecked(true)
			v.idleMin.SetText("soon")
		}, "idle time must be a whole number of minutes"},
		{func() { v.idleMin.SetText("2000") }, "idle time must be 1 to 1440 minutes"},
		{func() {
			v.idleMin.SetText("15")
			v.powerOff.SetChecked(false)
			v.pauseW.SetText("lots")
		}, "power limit must be a whole number of watts"},
		{func() {
			v.pauseW.SetText("400")
			v.resumeW.SetText("395")
		}, "at least 10 W under the power limit (400 W)"},
		{func() {
			v.resumeW.SetText("300")
			v.liteCfg.SetText("global.config.json")
		}, "must be an absolute path"},
	} {
		tc.edit()
		saveRefused(t, v, api, tc.want)
	}
	v.liteCfg.SetText("")
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if got, n := api.StoredSettings(); n != 2 || len(got.GPUs) != 1 || got.IdleAfterMin != 15 || got.PauseAboveW != 400 || got.ResumeBelowW != 300 {
		t.Errorf("stored %+v after %d saves", got, n)
	}
}

// TestApplyLanguage: the language chosen in the tab is the UI's at the
// next start, for each of the five, and the environment is left as it was.
func TestApplyLanguage(t *testing.T) {
	app := test.NewTempApp(t)
	t.Cleanup(func() {
		if err := lang.AddTranslationsFS(translations, "translations"); err != nil {
			t.Error(err)
		}
	})
	want := map[string]string{"en": "Run only when the computer is not in use", "ru": "Работать, только когда компьютер не используется",
		"uk": "Працювати, лише коли комп'ютер не використовується", "fr": "Travailler seulement quand l'ordinateur n'est pas utilisé",
		"ar": "العمل فقط عندما لا يكون الحاسوب قيد الاستخدام"}
	for _, l := range settingsLanguages()[1:] {
		app.Preferences().SetString(prefLanguage, l.code)
		applyLanguage(app.Preferences())
		if got := lang.L("Run only when the computer is not in use"); got != want[l.code] {
			t.Errorf("%s (%s): %q, want %q", l.code, l.name, got, want[l.code])
		}
		if os.Getenv("LANGUAGE") != "en" { // as the tests' init set it
			t.Errorf("LANGUAGE left at %q", os.Getenv("LANGUAGE"))
		}
	}
}

func TestSettingsViewTelegram(t *testing.T) {
	const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
	v, api := newTestSettingsView(t, engine.DefaultSettings(), nil)
	ctx := context.Background()
	if v.tgOn.Checked || v.tgChat.Text != "" || v.tgTokenSet || !v.tgRemove.Disabled() || v.tgStore.Text != "Store token" {
		t.Fatalf("fresh form: on %v chat %q token set %v", v.tgOn.Checked, v.tgChat.Text, v.tgTokenSet)
	}

	// The chat id and the check are saved with the form.
	test.Type(v.tgChat, "-1001234567890")
	v.tgOn.SetChecked(true)
	if v.save.Disabled() {
		t.Fatal("Save stays disabled after a Telegram edit")
	}
	// A test before saving says to save first, and asks nothing.
	test.Tap(v.tgTest)
	waitDone(t, v.tgDone, "the test message")
	if api.TelegramTests != 0 || !strings.Contains(v.tgResult.Text, "Save the settings first") {
		t.Fatalf("test before saving: %d calls, %q", api.TelegramTests, v.tgResult.Text)
	}
	test.Tap(v.save)
	waitDone(t, v.done, "saving")
	if got, _ := api.StoredSettings(); !got.TelegramEnabled || got.TelegramChatID != "-1001234567890" {
		t.Fatalf("stored %+v", got)
	}

	// The token: stored at once, then shown as stored only.
	test.Type(v.tgToken, token)
	test.Tap(v.tgStore)
	waitDone(t, v.tgDone, "storing the token")
	if api.TelegramToken() != token || v.tgToken.Text != "" || !v.tgTokenSet || v.tgStore.Text != "Replace" || v.tgRemove.Disabled() ||
		!strings.Contains(v.tgState.Text, "A token is stored") {
		t.Fatalf("after storing: engine %q, entry %q, state %q, button %q", api.TelegramToken(), v.tgToken.Text, v.tgState.Text, v.tgStore.Text)
	}
	if !v.tgToken.Password {
		t.Error("the token entry is not a password entry")
	}
	// A bad token is refused with the engine's sentence.
	test.Type(v.tgToken, "nonsense")
	test.Tap(v.tgStore)
	waitDone(t, v.tgDone, "storing a bad token")
	if api.TelegramToken() != token || !strings.Contains(v.tgResult.Text, "not a Telegram bot token") || !v.tgTokenSet {
		t.Fatalf("bad token: engine %q, result %q", api.TelegramToken(), v.tgResult.Text)
	}

	// The test message, and its failure.
	test.Tap(v.tgTest)
	waitDone(t, v.tgDone, "the test message")
	if api.TelegramTests != 1 || v.tgResult.Text != "Test message sent: check the chat." {
		t.Fatalf("test: %d calls, %q", api.TelegramTests, v.tgResult.Text)
	}
	api.FailTelegram(errors.New("chat not found: send /start to the bot from that chat first"))
	test.Tap(v.tgTest)
	waitDone(t, v.tgDone, "the failing test message")
	if !strings.Contains(v.tgResult.Text, "send /start to the bot") || v.tgResult.Importance != widget.DangerImportance {
		t.Fatalf("failed test: %q", v.tgResult.Text)
	}

	// A reload shows the token as stored, never the token.
	v.shown = v.load(ctx)
	waitDone(t, v.shown, "reloading")
	if !v.tgTokenSet || v.tgToken.Text != "" || v.tgChat.Text != "-1001234567890" || !v.tgOn.Checked {
		t.Fatalf("reloaded: set %v entry %q chat %q", v.tgTokenSet, v.tgToken.Text, v.tgChat.Text)
	}

	// Remove.
	test.Tap(v.tgRemove)
	waitDone(t, v.tgDone, "removing the token")
	if api.TelegramToken() != "" || v.tgTokenSet || !v.tgRemove.Disabled() || v.tgState.Text != "No token is stored." {
		t.Fatalf("after removal: engine %q, state %q", api.TelegramToken(), v.tgState.Text)
	}
}

// saveRefused taps Save and checks that the form says why (want) and
// that nothing beyond the first stored settings was saved.
func saveRefused(t *testing.T, v *settingsView, api *enginetest.Fake, want string) {
	t.Helper()
	test.Tap(v.save)
	waitDone(t, v.done, "checking")
	if !strings.Contains(strings.ToLower(v.status.Text), strings.ToLower(want)) || v.status.Importance != widget.DangerImportance {
		t.Errorf("status %q, want an error with %q", v.status.Text, want)
	}
	if _, n := api.StoredSettings(); n != 1 {
		t.Fatalf("invalid settings were saved (%s)", want)
	}
}
