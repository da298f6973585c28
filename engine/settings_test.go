package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

func TestSettingsValidate(t *testing.T) {
	ok := DefaultSettings()
	week := &Schedule{Days: [7]bool{1: true, 2: true}, From: "22:00", To: "06:30"}
	tests := []struct {
		name string
		s    Settings
		err  string // "" is valid
	}{
		{"defaults", ok, ""},
		{"pause with margin", Settings{GPUTempLimitC: 85, PauseAboveC: 83, ResumeBelowC: 80}, ""},
		{"schedule overnight", Settings{GPUTempLimitC: 85, Schedule: week, UpdateFeedURL: " https://mirror.example/releases.json "}, ""},
		{"limit low", Settings{GPUTempLimitC: 30}, "alert limit must be 40 to 120 °C"},
		{"limit zero", Settings{}, "alert limit must be 40 to 120 °C"},
		{"pause high", Settings{GPUTempLimitC: 85, PauseAboveC: 130, ResumeBelowC: 70}, "pause above must be 40 to 120 °C"},
		{"no margin", Settings{GPUTempLimitC: 85, PauseAboveC: 83, ResumeBelowC: 81}, "resume below must be at least 3 °C under pause above"},
		{"resume above pause", Settings{GPUTempLimitC: 85, PauseAboveC: 80, ResumeBelowC: 90}, "resume below must be at least 3 °C under pause above"},
		{"resume too low", Settings{GPUTempLimitC: 85, PauseAboveC: 80, ResumeBelowC: 5}, "resume below must be at least 20 °C"},
		{"no days", Settings{GPUTempLimitC: 85, Schedule: &Schedule{From: "08:00", To: "18:00"}}, "at least one day"},
		{"bad from", Settings{GPUTempLimitC: 85, Schedule: &Schedule{Days: [7]bool{true}, From: "8", To: "18:00"}}, "schedule from"},
		{"bad to", Settings{GPUTempLimitC: 85, Schedule: &Schedule{Days: [7]bool{true}, From: "08:00", To: "24:00"}}, "schedule to"},
		{"same times", Settings{GPUTempLimitC: 85, Schedule: &Schedule{Days: [7]bool{true}, From: "08:00", To: "08:00"}}, "both 08:00"},
		{"feed scheme", Settings{GPUTempLimitC: 85, UpdateFeedURL: "ftp://x/y"}, "update feed URL"},
		{"all added", Settings{GPUTempLimitC: 85, GPUs: []string{"GPU-0f1e", "pci:0000:17:00.0"}, IdleAfterMin: 10, PauseWhenGPUBusy: true,
			PauseAboveW: 400, ResumeBelowW: 350, LiteserverConfig: "https://ton.org/global.config.json"}, ""},
		{"config file", Settings{GPUTempLimitC: 85, LiteserverConfig: "/etc/ton/global.config.json"}, ""},
		{"power with margin", Settings{GPUTempLimitC: 85, PauseAboveW: 400, ResumeBelowW: 390}, ""},
		{"empty GPU key", Settings{GPUTempLimitC: 85, GPUs: []string{""}}, "give its UUID or pci: and its bus id"},
		{"spaced GPU key", Settings{GPUTempLimitC: 85, GPUs: []string{" GPU-1"}}, "give its UUID"},
		{"GPU twice", Settings{GPUTempLimitC: 85, GPUs: []string{"GPU-1", "GPU-1"}}, "the GPU GPU-1 is listed twice"},
		{"idle negative", Settings{GPUTempLimitC: 85, IdleAfterMin: -1}, "the idle time must be 1 to 1440 minutes (or off), not -1"},
		{"idle too long", Settings{GPUTempLimitC: 85, IdleAfterMin: 1441}, "the idle time must be 1 to 1440 minutes"},
		{"power low", Settings{GPUTempLimitC: 85, PauseAboveW: 5, ResumeBelowW: 1}, "the power limit to pause above must be 10 to 5000 W (or off), not 5"},
		{"power high", Settings{GPUTempLimitC: 85, PauseAboveW: 9000, ResumeBelowW: 100}, "power limit to pause above must be 10 to 5000 W"},
		{"power resume low", Settings{GPUTempLimitC: 85, PauseAboveW: 400, ResumeBelowW: 0}, "the power to resume below must be at least 10 W, not 0"},
		{"power no margin", Settings{GPUTempLimitC: 85, PauseAboveW: 400, ResumeBelowW: 395}, "the power to resume below must be at least 10 W under the power limit (400 W), not 395"},
		{"power resume without pause", Settings{GPUTempLimitC: 85, ResumeBelowW: 300}, "the power limit is off; set both or neither"},
		{"config scheme", Settings{GPUTempLimitC: 85, LiteserverConfig: "ftp://ton.org/global.config.json"}, "must be a file path or an address"},
		{"config relative", Settings{GPUTempLimitC: 85, LiteserverConfig: "global.config.json"}, "must be an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("Validate() = %v, want an ErrInvalidSettings with %q", err, tt.err)
			}
		})
	}
}

func TestScheduleInsideBoundaries(t *testing.T) {
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, 22+day, h, m, 0, 0, time.UTC) } // 22 Nov 2026 is a Sunday
	weekdays := Schedule{Days: [7]bool{1: true, 2: true, 3: true, 4: true, 5: true}, From: "08:00", To: "18:00"}
	night := Schedule{Days: [7]bool{0: true}, From: "23:30", To: "01:00"} // Sunday night only
	tests := []struct {
		sc   Schedule
		t    time.Time
		want bool
	}{
		{weekdays, at(1, 8, 0), true},
		{weekdays, at(1, 7, 59), false},
		{weekdays, at(1, 17, 59), true},
		{weekdays, at(1, 18, 0), false},
		{weekdays, at(0, 12, 0), false}, // Sunday
		{weekdays, at(6, 12, 0), false}, // Saturday
		{night, at(0, 23, 29), false},
		{night, at(0, 23, 30), true},
		{night, at(1, 0, 59), true}, // Monday morning: Sunday's night
		{night, at(1, 1, 0), false},
		{night, at(1, 23, 45), false}, // Monday night: no Monday
		{night, at(0, 0, 30), false},  // Sunday morning: Saturday's night, no Saturday
	}
	for _, tt := range tests {
		if got := tt.sc.Inside(tt.t); got != tt.want {
			t.Errorf("%+v at %s: %v, want %v", tt.sc, tt.t.Format("Mon 15:04"), got, tt.want)
		}
	}
}

func openSettingsStore(t *testing.T) *store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSettingsStorage(t *testing.T) {
	ctx := context.Background()
	db := openSettingsStore(t)
	if s, err := ReadSettings(ctx, db); err != nil || !reflect.DeepEqual(s, DefaultSettings()) {
		t.Fatalf("nothing stored: %+v, %v", s, err)
	}
	// Before the first save the older single settings are read in.
	if err := db.SetSetting(ctx, SettingAlertGPUTempC, "78"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSetting(ctx, SettingUpdateFeedURL, "https://old.example/feed.json"); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadSettings(ctx, db); err != nil || s.GPUTempLimitC != 78 || s.UpdateFeedURL != "https://old.example/feed.json" {
		t.Fatalf("older settings: %+v, %v", s, err)
	}
	want := Settings{GPUTempLimitC: 90, PauseAboveC: 86, ResumeBelowC: 80, UpdateFeedURL: "https://mirror.example/feed.json",
		Schedule: &Schedule{Days: [7]bool{true, false, true}, From: "22:00", To: "06:00"}}
	if err := WriteSettings(ctx, db, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSettings(ctx, db)
	if err != nil || got.Schedule == nil || *got.Schedule != *want.Schedule {
		t.Fatalf("ReadSettings() = %+v, %v", got, err)
	}
	got.Schedule, want.Schedule = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadSettings() = %+v, want %+v", got, want)
	}
	for k, v := range map[string]string{SettingAlertGPUTempC: "90", SettingUpdateFeedURL: "https://mirror.example/feed.json"} {
		if s, _, _ := db.Setting(ctx, k); s != v {
			t.Errorf("%s = %q, want %q (kept in step)", k, s, v)
		}
	}
	if err := WriteSettings(ctx, db, Settings{GPUTempLimitC: 85, PauseAboveC: 80, ResumeBelowC: 79}); !errors.Is(err, ErrInvalidSettings) {
		t.Fatalf("invalid settings were stored: %v", err)
	}
	if s, _ := ReadSettings(ctx, db); s.GPUTempLimitC != 90 {
		t.Errorf("a refused save changed the settings: %+v", s)
	}
}

func TestServiceSetSettingsIsLive(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Root: t.TempDir(), NVML: noNVML()})
	defer s.Close()
	if _, err := s.Settings(ctx); err == nil {
		t.Error("Settings without a database answered")
	}
	db := openSettingsStore(t)
	s.mu.Lock()
	s.store = db
	s.mu.Unlock()
	if err := s.SetSettings(ctx, Settings{GPUTempLimitC: 30}); !errors.Is(err, ErrInvalidSettings) {
		t.Fatalf("SetSettings(invalid) = %v", err)
	}
	set := Settings{GPUTempLimitC: 72, PauseAboveC: 90, ResumeBelowC: 80}
	if err := s.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Settings(ctx); err != nil || !reflect.DeepEqual(got, set) {
		t.Fatalf("Settings() = %+v, %v", got, err)
	}
	s.mu.Lock()
	limit := s.alerts.gpuLimitC
	s.mu.Unlock()
	if limit != 72 || !reflect.DeepEqual(s.currentSettings(), set) {
		t.Errorf("not applied: alert limit %d, settings %+v", limit, s.currentSettings())
	}
}

func TestAutoPauseThroughTheService(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := New(Options{Root: t.TempDir(), DataDir: t.TempDir(), NVML: noNVML(), Now: func() time.Time { return now }})
	defer s.Close()
	db := openSettingsStore(t)
	s.mu.Lock()
	s.store = db
	s.mu.Unlock()
	if err := s.SetSettings(ctx, Settings{GPUTempLimitC: 85, Schedule: &Schedule{Days: [7]bool{true}, From: "08:00", To: "09:00"}}); err != nil {
		t.Fatal(err)
	}
	s.autoPause(ctx) // Monday noon: outside the Sunday-only schedule
	p := s.State().Pause
	if p == nil || !p.Auto || p.Reason != ReasonOutsideSchedule {
		t.Fatalf("pause %+v, want an automatic one", p)
	}
	stored, err := ReadPause(ctx, db)
	if err != nil || stored == nil || !samePause(*stored, *p) {
		t.Fatalf("stored pause %+v, %v", stored, err)
	}
	evs, err := db.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || (e.Kind == "worker.pause" && strings.Contains(e.Message, ReasonOutsideSchedule))
	}
	if !found {
		t.Errorf("no pause event among %+v", evs)
	}
	// The user's resume wins; an automatic pause asked for over the API is the user's.
	if err := s.SetPause(ctx, &Pause{Auto: true, Reason: "mine"}); err != nil {
		t.Fatal(err)
	}
	if p := s.State().Pause; p == nil || p.Auto {
		t.Errorf("an API pause kept Auto: %+v", p)
	}
	s.syncPause(ctx)
	if p, _ := ReadPause(ctx, db); p == nil || p.Auto || p.Reason != "mine" {
		t.Errorf("stored user pause %+v", p)
	}
}

// TestSettingsJSON: the added fields survive the stored form, and JSON
// written before they existed reads with them off.
func TestSettingsJSON(t *testing.T) {
	ctx := context.Background()
	db := openSettingsStore(t)
	want := Settings{GPUTempLimitC: 85, GPUs: []string{"GPU-0f1e", "pci:0000:17:00.0"}, IdleAfterMin: 15, PauseWhenGPUBusy: true,
		PauseAboveW: 400, ResumeBelowW: 350, LiteserverConfig: " /etc/ton/global.config.json "}
	if err := WriteSettings(ctx, db, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSettings(ctx, db)
	want.LiteserverConfig = "/etc/ton/global.config.json" // trimmed when written
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadSettings() = %+v, %v; want %+v", got, err, want)
	}

	old := `{"gpu_temp_limit_c":80,"pause_above_c":86,"resume_below_c":78,"update_feed_url":"https://mirror.example/feed.json","worker_coefficient":1200}`
	if err := db.SetSetting(ctx, SettingApp, old); err != nil {
		t.Fatal(err)
	}
	got, err = ReadSettings(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	wantOld := Settings{GPUTempLimitC: 80, PauseAboveC: 86, ResumeBelowC: 78, UpdateFeedURL: "https://mirror.example/feed.json", WorkerCoefficient: 1200}
	if !reflect.DeepEqual(got, wantOld) || got.Validate() != nil {
		t.Fatalf("older JSON read as %+v (valid: %v), want %+v", got, got.Validate(), wantOld)
	}
	if !got.UsesGPU("GPU-any") {
		t.Error("older settings (no GPUs listed) do not use every GPU")
	}
	if want.UsesGPU("GPU-other") || !want.UsesGPU("pci:0000:17:00.0") {
		t.Error("UsesGPU does not follow the list")
	}
	// Off fields are left out of the JSON, as older versions wrote it.
	b, err := json.Marshal(DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"gpus", "idle_after_min", "pause_when_gpu_busy", "pause_above_w", "resume_below_w", "liteserver_config"} {
		if strings.Contains(string(b), k) {
			t.Errorf("the defaults' JSON %s has %q", b, k)
		}
	}
}
