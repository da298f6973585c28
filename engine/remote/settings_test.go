package remote

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine"
)

func TestWireSettingsRoundTrip(t *testing.T) {
	for name, in := range map[string]engine.Settings{"filled": filled[engine.Settings](t), "zero": {}, "defaults": engine.DefaultSettings()} {
		t.Run(name, func(t *testing.T) {
			checkSame(t, in, roundTrip(t, in, toWireSettings, wireSettings.engine))
		})
	}
	// A peer from before the added fields sends none of them: they are off.
	var w wireSettings
	old := `{"gpu_temp_limit_c":80,"pause_above_c":0,"resume_below_c":0,"schedule":null,"update_feed_url":""}`
	if err := json.Unmarshal([]byte(old), &w); err != nil {
		t.Fatal(err)
	}
	if got := w.engine(); !reflect.DeepEqual(got, engine.Settings{GPUTempLimitC: 80}) || got.Validate() != nil {
		t.Errorf("older wire settings read as %+v", got)
	}
	// The added fields are all filled (the round trip above covers them).
	if f := filled[engine.Settings](t); len(f.GPUs) == 0 || f.IdleAfterMin == 0 || !f.PauseWhenGPUBusy || f.PauseAboveW == 0 || f.ResumeBelowW == 0 || f.LiteserverConfig == "" {
		t.Fatalf("the filler left an added field empty: %+v", f)
	}
	// The pause's Auto and Reason travel with the state.
	st := filled[engine.State](t)
	if !st.Pause.Auto || st.Pause.Reason == "" {
		t.Fatal("the filler left the pause's Auto or Reason empty")
	}
}

func TestSettingsThroughTheClient(t *testing.T) {
	for _, transport := range []string{"unix", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			api := newAPI()
			srv := NewServer(api, ServerOptions{Token: testToken})
			c := clientOver(t, transport, srv)
			ctx := context.Background()
			got, err := c.Settings(ctx)
			if err != nil || !reflect.DeepEqual(got, engine.DefaultSettings()) {
				t.Fatalf("Settings() = %+v, %v", got, err)
			}
			want := engine.Settings{GPUTempLimitC: 80, PauseAboveC: 84, ResumeBelowC: 78, UpdateFeedURL: "https://mirror.example/feed.json",
				Schedule: &engine.Schedule{Days: [7]bool{false, true, true, true, true, true, false}, From: "22:00", To: "06:00"},
				GPUs:     []string{"GPU-0f1e", "pci:0000:17:00.0"}, IdleAfterMin: 15, PauseWhenGPUBusy: true, PauseAboveW: 400, ResumeBelowW: 350,
				LiteserverConfig: "https://ton.org/global.config.json"}
			if err := c.SetSettings(ctx, want); err != nil {
				t.Fatalf("SetSettings: %v", err)
			}
			stored, n := api.StoredSettings()
			if n != 1 || stored.Schedule == nil || *stored.Schedule != *want.Schedule || stored.UpdateFeedURL != want.UpdateFeedURL {
				t.Fatalf("the engine holds %+v after %d saves", stored, n)
			}
			got, err = c.Settings(ctx)
			if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(stored, want) {
				t.Fatalf("Settings() = %+v, %v; stored %+v; want %+v", got, err, stored, want)
			}
			bad := want
			bad.ResumeBelowC = 83
			err = c.SetSettings(ctx, bad)
			if !errors.Is(err, engine.ErrInvalidSettings) || !strings.Contains(err.Error(), "resume below must be at least 3 °C under pause above") {
				t.Fatalf("SetSettings(invalid) = %v", err)
			}
			if _, n := api.StoredSettings(); n != 1 {
				t.Errorf("invalid settings were stored")
			}
		})
	}
}
