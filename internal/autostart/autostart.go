// Package autostart starts the desktop app with the user's session, the
// freedesktop way: a desktop entry in $XDG_CONFIG_HOME/autostart.
package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the entry's name in the autostart directory.
const FileName = "cocoon-provider.desktop"

// Entry manages one autostart entry.
type Entry struct {
	// Dir is the autostart directory; see Dir.
	Dir string
	// Exec is the program to start (an absolute path).
	Exec string
}

// Dir is $XDG_CONFIG_HOME/autostart, else ~/.config/autostart.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "autostart"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("autostart: neither $XDG_CONFIG_HOME nor $HOME is set")
	}
	return filepath.Join(home, ".config", "autostart"), nil
}

func (e Entry) path() string { return filepath.Join(e.Dir, FileName) }

// Enabled reports whether the entry exists and is not switched off
// (Hidden=true, as desktop settings tools do it).
func (e Entry) Enabled() bool {
	b, err := os.ReadFile(e.path())
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.TrimSpace(k) == "Hidden" && strings.TrimSpace(v) == "true" {
			return false
		}
	}
	return true
}

// Set writes (on) or removes (off) the entry. The app starts in the tray
// (--hidden); the session must not wait for it.
func (e Entry) Set(on bool) error {
	if !on {
		if err := os.Remove(e.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("autostart: %w", err)
		}
		return nil
	}
	if !filepath.IsAbs(e.Exec) {
		return fmt.Errorf("autostart: the program path %q is not absolute", e.Exec)
	}
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	content := "[Desktop Entry]\nType=Application\nName=Cocoon Provider\n" +
		"Comment=Rent spare GPU time to the COCOON network (starts in the tray)\n" +
		"Exec=" + quoteExec(e.Exec) + " --hidden\nIcon=cocoon-provider\nTerminal=false\n" +
		"X-GNOME-Autostart-enabled=true\nX-GNOME-Autostart-Delay=10\n"
	tmp, err := os.CreateTemp(e.Dir, ".cocoon-provider-*.desktop")
	if err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("autostart: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("autostart: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	if err := os.Rename(tmp.Name(), e.path()); err != nil {
		return fmt.Errorf("autostart: %w", err)
	}
	return nil
}

// quoteExec quotes a path for a desktop entry's Exec key (the
// specification's reserved characters inside double quotes, with %
// doubled as field codes require).
func quoteExec(p string) string {
	if !strings.ContainsAny(p, " \t\n\"'\\><~|&;$*?#()`%") {
		return p
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range p {
		switch r {
		case '"', '`', '$', '\\':
			b.WriteString(`\\`)
			b.WriteRune(r)
		case '%':
			b.WriteString("%%")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
