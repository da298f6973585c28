//go:build linux

package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLogindHints(t *testing.T) {
	since := time.Date(2026, 11, 23, 11, 50, 0, 0, time.UTC)
	props := func(hint, since any, err error) func(string) (any, error) {
		return func(p string) (any, error) {
			if err != nil {
				return nil, err
			}
			if p == "IdleHint" {
				return hint, nil
			}
			return since, nil
		}
	}
	tests := []struct {
		name string
		get  func(string) (any, error)
		want IdleState
		why  string
	}{
		{"idle", props(true, uint64(since.UnixMicro()), nil), IdleState{Known: true, Idle: true, Since: since}, ""},
		{"active", props(false, uint64(since.UnixMicro()), nil), IdleState{Known: true, Since: since}, ""},
		{"idle since ever", props(true, uint64(0), nil), IdleState{Known: true, Idle: true}, ""},
		{"no logind", props(nil, nil, errors.New("The name org.freedesktop.login1 was not provided")), IdleState{}, "logind does not answer"},
		{"odd hint", props("yes", uint64(0), nil), IdleState{}, "IdleHint is a string"},
		{"odd since", props(true, int32(4), nil), IdleState{}, "IdleSinceHint is a int32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logindHints(tt.get)
			if tt.why != "" {
				if got.Known || !strings.Contains(got.Why, tt.why) || !strings.HasPrefix(got.Why, "idle detection is unavailable: ") {
					t.Fatalf("got %+v, want unknown with %q", got, tt.why)
				}
				return
			}
			if got.Known != tt.want.Known || got.Idle != tt.want.Idle || !got.Since.Equal(tt.want.Since) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if d := (IdleState{Known: true, Idle: true}).idleFor(since); d < 100*365*24*time.Hour {
		t.Errorf("idle since ever counts as %s", d)
	}
}
