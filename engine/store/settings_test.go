package store

import (
	"errors"
	"testing"
)

func TestSettings(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if v, ok, err := s.Setting(ctx, "missing"); v != "" || ok || err != nil {
		t.Errorf("Setting(missing) = %q, %v, %v; want \"\", false, nil", v, ok, err)
	}
	steps := []struct {
		key, value string
	}{
		{"wallet", "UQabc"},
		{"empty", ""},
		{"wallet", "UQdef"}, // replaces
		{"unicode ключ", "значение ✓"},
	}
	want := map[string]string{}
	for _, st := range steps {
		if err := s.SetSetting(ctx, st.key, st.value); err != nil {
			t.Fatalf("SetSetting(%q): %v", st.key, err)
		}
		want[st.key] = st.value
	}
	for k, w := range want {
		v, ok, err := s.Setting(ctx, k)
		if v != w || !ok || err != nil {
			t.Errorf("Setting(%q) = %q, %v, %v; want %q, true, nil", k, v, ok, err, w)
		}
	}
	if err := s.SetSetting(ctx, "", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSetting with empty key = %v, want ErrInvalid", err)
	}
}

func TestSetSettingsTogether(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.SetSetting(ctx, "a", "old"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSettings(ctx, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatalf("SetSettings: %v", err)
	}
	for k, w := range map[string]string{"a": "1", "b": "2"} {
		if v, ok, err := s.Setting(ctx, k); v != w || !ok || err != nil {
			t.Errorf("Setting(%q) = %q, %v, %v; want %q", k, v, ok, err, w)
		}
	}
	if err := s.SetSettings(ctx, map[string]string{"a": "3", "": "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSettings with an empty key = %v, want ErrInvalid", err)
	}
	if v, _, _ := s.Setting(ctx, "a"); v != "1" {
		t.Errorf("a failed SetSettings changed a to %q", v)
	}
}
