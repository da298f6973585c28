package applog

import (
	"bytes"
	"strings"
	"testing"
)

func TestJournalLinesCarryPriorityAndNoTime(t *testing.T) {
	var out, file bytes.Buffer
	log := New(Options{Level: -4, Stderr: &out, Journal: true, File: &file})
	log.Debug("d")
	log.Info("i", "k", "v")
	log.Warn("w")
	log.Error("e")
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{`<7>level=DEBUG msg=d`, `<6>level=INFO msg=i k=v`, `<4>level=WARN msg=w`, `<3>level=ERROR msg=e`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("journal lines:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	for _, l := range strings.Split(strings.TrimSpace(file.String()), "\n") {
		if !strings.HasPrefix(l, "time=") {
			t.Errorf("file line without time stamp: %q", l)
		}
	}
}

func TestLevelFilters(t *testing.T) {
	var out bytes.Buffer
	log := New(Options{Level: 4, Stderr: &out})
	log.Info("hidden")
	log.Warn("shown")
	if s := out.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") || !strings.HasPrefix(s, "time=") {
		t.Errorf("stderr: %q", s)
	}
}

func TestParseLevel(t *testing.T) {
	if l, err := ParseLevel("warn"); err != nil || l != 4 {
		t.Errorf("warn: %v %v", l, err)
	}
	if _, err := ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), "use debug, info, warn or error") {
		t.Errorf("loud: %v", err)
	}
}
