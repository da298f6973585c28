package remote

import (
	"context"
	"errors"
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
			if err != nil || got != engine.DefaultSettings() {
				t.Fatalf("Settings() = %+v, %v", got, err)
			}
			want := engine.Settings{GPUTempLimitC: 80, PauseAboveC: 84, ResumeBelowC: 78, UpdateFeedURL: "https://mirror.example/feed.json",
				Schedule: &engine.Schedule{Days: [7]bool{false, true, true, true, true, true, false}, From: "22:00", To: "06:00"}}
			if err := c.SetSettings(ctx, want); err != nil {
				t.Fatalf("SetSettings: %v", err)
			}
			stored, n := api.StoredSettings()
			if n != 1 || stored.Schedule == nil || *stored.Schedule != *want.Schedule || stored.UpdateFeedURL != want.UpdateFeedURL {
				t.Fatalf("the engine holds %+v after %d saves", stored, n)
			}
			got, err = c.Settings(ctx)
			if err != nil || got.Schedule == nil || *got.Schedule != *want.Schedule || got.PauseAboveC != 84 || got.ResumeBelowC != 78 {
				t.Fatalf("Settings() = %+v, %v", got, err)
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
