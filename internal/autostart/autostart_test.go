package autostart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	env := map[string]string{"HOME": "/Users/u"}
	get := func(k string) string { return env[k] }
	if d, _ := Dir(get); d != "/Users/u/.config/autostart" {
		t.Errorf("HOME only: %s", d)
	}
	env["XDG_CONFIG_HOME"] = "/cfg"
	if d, _ := Dir(get); d != "/cfg/autostart" {
		t.Errorf("XDG_CONFIG_HOME: %s", d)
	}
	env["XDG_CONFIG_HOME"] = "relative" // the specification ignores relative paths
	if d, _ := Dir(get); d != "/Users/u/.config/autostart" {
		t.Errorf("relative XDG_CONFIG_HOME: %s", d)
	}
	if _, err := Dir(func(string) string { return "" }); err == nil {
		t.Error("no HOME: no error")
	}
}

func TestSetEnabled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart")
	e := Entry{Dir: dir, Exec: "/opt/Cocoon Provider/cocoon-provider"}
	if e.Enabled() {
		t.Fatal("enabled before Set")
	}
	if err := e.Set(true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Exec=\"/opt/Cocoon Provider/cocoon-provider\" --hidden\n") || !strings.HasPrefix(string(b), "[Desktop Entry]\n") {
		t.Errorf("entry:\n%s", b)
	}
	if !e.Enabled() {
		t.Error("not enabled after Set(true)")
	}
	// A desktop's settings tool switches it off with Hidden=true.
	if err := os.WriteFile(filepath.Join(dir, FileName), append(b, []byte("Hidden=true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if e.Enabled() {
		t.Error("enabled although Hidden=true")
	}
	if err := e.Set(false); err != nil {
		t.Fatal(err)
	}
	if e.Enabled() {
		t.Error("enabled after Set(false)")
	}
	if err := e.Set(false); err != nil {
		t.Errorf("Set(false) twice: %v", err)
	}
	if err := (Entry{Dir: dir, Exec: "cocoon-provider"}).Set(true); err == nil {
		t.Error("relative program path accepted")
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}

func TestQuoteExec(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/cocoon-provider": "/usr/bin/cocoon-provider",
		"/a b/c":                   `"/a b/c"`,
		`/a$b`:                     `"/a\\$b"`,
		"/50%/x":                   `"/50%%/x"`,
	} {
		if got := quoteExec(in); got != want {
			t.Errorf("quoteExec(%q) = %q, want %q", in, got, want)
		}
	}
}
