package helper

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder is a fake CC tool runner: it records each argv and answers
// with out.
type recorder struct {
	mu   sync.Mutex
	runs [][]string
	out  string
	err  error
}

func (r *recorder) run(_ context.Context, argv []string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, append([]string(nil), argv...))
	return []byte(r.out), r.err
}

// fakeCC is a CC tool installed in a temporary directory, owned by the
// test's user; rec (if not nil) stands in for running it.
func fakeCC(t *testing.T, rec *recorder) CCTool {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	py := filepath.Join(dir, "python3")
	script := filepath.Join(dir, "gpu-admin-tools", ccToolName)
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{py, script} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cc := CCTool{Python: py, Scripts: []string{script}, OwnerUID: os.Getuid()}
	if rec != nil {
		cc.Run = rec.run
	}
	return cc
}

func TestCCToolFind(t *testing.T) {
	cc := fakeCC(t, nil)
	if s, err := cc.Find(); err != nil || s != cc.Scripts[0] {
		t.Fatalf("Find: %q, %v", s, err)
	}
	// The first present path wins.
	two := cc
	two.Scripts = []string{"/nonexistent/" + ccToolName, cc.Scripts[0]}
	if s, err := two.Find(); err != nil || s != cc.Scripts[0] {
		t.Errorf("Find with a missing first path: %q, %v", s, err)
	}

	owner := cc
	owner.OwnerUID = os.Getuid() + 1
	if _, err := owner.Find(); err == nil || !strings.Contains(err.Error(), "not owned by uid") {
		t.Errorf("another owner: %v", err)
	}

	writable := fakeCC(t, nil)
	if err := os.Chmod(writable.Scripts[0], 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := writable.Find(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable script: %v", err)
	}

	dirWritable := fakeCC(t, nil)
	if err := os.Chmod(filepath.Dir(dirWritable.Scripts[0]), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := dirWritable.Find(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable directory: %v", err)
	}

	link := fakeCC(t, nil)
	l := filepath.Join(t.TempDir(), ccToolName)
	if err := os.Symlink(link.Scripts[0], l); err != nil {
		t.Fatal(err)
	}
	link.Scripts = []string{l}
	if _, err := link.Find(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlinked script: %v", err)
	}

	if _, err := noCC().Find(); err == nil || !IsRefusal(err) || !strings.Contains(err.Error(), "gpu-admin-tools") {
		t.Errorf("missing tool: %v", err)
	}
}

func TestParseCCMode(t *testing.T) {
	tests := []struct{ out, want string }{
		{"2024-01-01 INFO GPU 0000:1b:00.0 H100 ... CC mode is on\n", ModeOn},
		{"CC mode is OFF", ModeOff},
		{"cc mode: devtools", ModeDevTools},
		{"mode=on", ModeOn},
		{"PPCIe mode is off\nCC mode is on", ModeOn},
		{"PPCIe mode is on", ""},
		{"error: no GPU", ""},
		{"mode is onwards", ""},
	}
	for _, tt := range tests {
		if got := ParseCCMode(tt.out); got != tt.want {
			t.Errorf("ParseCCMode(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

func TestQueryCCMode(t *testing.T) {
	rec := &recorder{out: "GPU 0000:1b:00.0 H100 CC mode is on\n"}
	cc := fakeCC(t, rec)
	mode, err := cc.QueryCCMode(context.Background(), "0000:1b:00.0")
	if err != nil || mode != ModeOn {
		t.Fatalf("QueryCCMode: %q, %v", mode, err)
	}
	want := []string{cc.Python, "-E", "-s", cc.Scripts[0], "--gpu-bdf=0000:1b:00.0", "--query-cc-mode"}
	if len(rec.runs) != 1 || strings.Join(rec.runs[0], " ") != strings.Join(want, " ") {
		t.Errorf("ran %q, want %q", rec.runs, want)
	}
	rec.out = "something else"
	if _, err := cc.QueryCCMode(context.Background(), "0000:1b:00.0"); err == nil || !strings.Contains(err.Error(), "stated no CC mode: something else") {
		t.Errorf("no mode: %v", err)
	}
	if _, err := cc.QueryCCMode(context.Background(), "0000:1b:00.0;reboot"); err == nil {
		t.Error("bad address accepted")
	}
}

// TestCCToolExec runs the tool for real: a stand-in interpreter that
// prints its arguments, one per line, and the environment it got.
func TestCCToolExec(t *testing.T) {
	cc := fakeCC(t, nil)
	if err := os.WriteFile(cc.Python, []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; done\necho \"CC mode is devtools\"\nenv | sort\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", "/tmp/evil")
	out, err := cc.run(context.Background(), cc.argv(cc.Scripts[0], "0000:1b:00.0", flagsQuery...))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"arg:-E\n", "arg:-s\n", "arg:" + cc.Scripts[0] + "\n", "arg:--gpu-bdf=0000:1b:00.0\n", "arg:--query-cc-mode\n", "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "PYTHONPATH") {
		t.Errorf("the tool inherited PYTHONPATH:\n%s", s)
	}
	if ParseCCMode(s) != ModeDevTools {
		t.Errorf("mode not parsed from %q", s)
	}

	if err := os.WriteFile(cc.Python, []byte("#!/bin/sh\necho 'first'\necho 'ERROR: GPU is busy'\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = cc.run(context.Background(), cc.argv(cc.Scripts[0], "0000:1b:00.0", flagsCC(ModeOn)...))
	if err == nil || !strings.Contains(err.Error(), "exit status 3: first / ERROR: GPU is busy") {
		t.Errorf("failing tool: %v", err)
	}
}
