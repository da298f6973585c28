package worker

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeTONSpec is a small worker spec template shaped like the release's
// spec/spec-worker (§2.3, §2.9).
func fakeTONSpec(init string) fstest.MapFS {
	return fstest.MapFS{
		".gitignore":         {Data: []byte("runtime\n"), Mode: 0o644},
		"init":               {Data: []byte(init), Mode: 0o755},
		"worker-config.json": {Data: []byte(`{"http_port": 12000}` + "\n"), Mode: 0o644},
		"cocoon-worker-runner.service": {Data: []byte("[Service]\n" +
			"ExecStartPre=/usr/bin/true\n" +
			"ExecStart=/usr/bin/worker-runner --config /run/spec/worker-config.json\n"), Mode: 0o644},
		"cocoon-router.service": {Data: []byte("[Service]\nExecStart=/usr/bin/router --port 8116\n"), Mode: 0o644},
		// ExecStart= without -runner, and -runner outside ExecStart=.
		"cocoon-sglang.service": {Data: []byte("[Unit]\nDescription=not a -runner\n[Service]\nExecStart=/usr/bin/docker run sglang\n"), Mode: 0o644},
		// A unit in runtime/ is not part of the template's static files.
		"runtime/x.service": {Data: []byte("ExecStart=/usr/bin/worker-runner\n"), Mode: 0o600},
	}
}

const fakeTONConfigJSON = `{"root": "fake"}` + "\n"

const initWithTON = `#!/bin/sh
set -e
cocoon-render-config worker-config.json
cocoon-render-ton-config
echo rendered # after cocoon-render-ton-config
systemctl enable cocoon-router
systemctl start cocoon-worker-runner
`

func TestRewriteSpecForFakeTON(t *testing.T) {
	rw, err := RewriteSpecForFakeTON(fakeTONSpec(initWithTON), []byte(fakeTONConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	wantInit := `#!/bin/sh
set -e
cocoon-render-config worker-config.json
cocoon-render-config fake-ton-config.json
systemctl enable cocoon-router
systemctl start cocoon-worker-runner
`
	if got := string(rw.Files["init"]); got != wantInit {
		t.Errorf("init =\n%s\nwant\n%s", got, wantInit)
	}
	wantRunner := "[Service]\nExecStartPre=/usr/bin/true\n" +
		"ExecStart=/usr/bin/worker-runner --config /run/spec/worker-config.json --disable-ton /run/spec/fake-ton-config.json\n"
	if got := string(rw.Files["cocoon-worker-runner.service"]); got != wantRunner {
		t.Errorf("runner unit =\n%s\nwant\n%s", got, wantRunner)
	}
	if got := string(rw.Files[FakeTONConfigFile]); got != fakeTONConfigJSON {
		t.Errorf("%s = %q", FakeTONConfigFile, got)
	}
	// Only what changes is returned: units without a runner's ExecStart=
	// and runtime/ stay the template's.
	if got, want := slices.Sorted(maps.Keys(rw.Files)), []string{"cocoon-worker-runner.service", "fake-ton-config.json", "init"}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	if !slices.Equal(rw.Executables, []string{"init"}) {
		t.Errorf("executables = %q", rw.Executables)
	}
	var sums []string
	for _, e := range rw.Edits {
		sums = append(sums, e.Summary())
	}
	wantSums := []string{
		"cocoon-worker-runner.service: 1 line removed, 1 added",
		"fake-ton-config.json: added",
		"init: 2 lines removed, 1 added",
	}
	if !slices.Equal(sums, wantSums) {
		t.Errorf("summaries = %q, want %q", sums, wantSums)
	}
	wantDiff := []string{"- cocoon-render-ton-config", "- echo rendered # after cocoon-render-ton-config", "+ cocoon-render-config fake-ton-config.json"}
	if got := rw.Edits[2].Diff(); !slices.Equal(got, wantDiff) {
		t.Errorf("init diff = %q, want %q", got, wantDiff)
	}
}

func TestRewriteSpecForFakeTONInit(t *testing.T) {
	tests := []struct {
		name, in, want string
		removed        int
		err            string
	}{
		{
			name: "no TON render lines",
			in:   "#!/bin/sh\nsystemctl start a\n",
			want: "#!/bin/sh\ncocoon-render-config fake-ton-config.json\nsystemctl start a\n",
		},
		{
			// Inserted before the first systemctl after the drop, once.
			name:    "render line before systemctl, dropped",
			in:      "cocoon-render-ton-config && systemctl start x\nsystemctl a\nsystemctl b\n",
			want:    "cocoon-render-config fake-ton-config.json\nsystemctl a\nsystemctl b\n",
			removed: 1,
		},
		{
			name: "indented systemctl, no final newline",
			in:   "if true; then\n  /bin/systemctl start a\nfi",
			want: "if true; then\ncocoon-render-config fake-ton-config.json\n  /bin/systemctl start a\nfi",
		},
		{
			name:    "CRLF kept",
			in:      "a\r\ncocoon-render-ton-config\r\nsystemctl b\r\n",
			want:    "a\r\ncocoon-render-config fake-ton-config.json\r\nsystemctl b\r\n",
			removed: 1,
		},
		{name: "no systemctl", in: "#!/bin/sh\ncocoon-render-ton-config\n", err: "no line contains systemctl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw, err := RewriteSpecForFakeTON(fakeTONSpec(tt.in), []byte(fakeTONConfigJSON))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(rw.Files["init"]); got != tt.want {
				t.Errorf("init = %q, want %q", got, tt.want)
			}
			i := slices.IndexFunc(rw.Edits, func(e SpecEdit) bool { return e.File == "init" })
			if e := rw.Edits[i]; len(e.Removed) != tt.removed || len(e.Added) != 1 {
				t.Errorf("init edit = %+v", e)
			}
		})
	}
}

func TestRewriteSpecForFakeTONUnits(t *testing.T) {
	spec := fakeTONSpec(initWithTON)
	spec["cocoon-proxy.service"] = &fstest.MapFile{Data: []byte("ExecStart=/usr/bin/proxy-runner -c x\r\n  ExecStart=/usr/bin/client-runner\n# ExecStart=-runner comment? no: a comment starts with #\n")}
	rw, err := RewriteSpecForFakeTON(spec, []byte(fakeTONConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := "ExecStart=/usr/bin/proxy-runner -c x --disable-ton /run/spec/fake-ton-config.json\r\n" +
		"  ExecStart=/usr/bin/client-runner --disable-ton /run/spec/fake-ton-config.json\n" +
		"# ExecStart=-runner comment? no: a comment starts with #\n"
	if got := string(rw.Files["cocoon-proxy.service"]); got != want {
		t.Errorf("unit = %q, want %q", got, want)
	}
	for _, name := range []string{"cocoon-router.service", "cocoon-sglang.service", "runtime/x.service", "worker-config.json"} {
		if _, ok := rw.Files[name]; ok {
			t.Errorf("%s was rewritten", name)
		}
	}
}

// TestRewriteSpecForFakeTONTwice: the rewrite applies to the release's
// template once; a rewritten spec is refused, whichever mark it carries.
func TestRewriteSpecForFakeTONTwice(t *testing.T) {
	spec := fakeTONSpec(initWithTON)
	rw, err := RewriteSpecForFakeTON(spec, []byte(fakeTONConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	overlay := func(drop ...string) fstest.MapFS {
		out := fstest.MapFS{}
		maps.Copy(out, spec)
		for name, data := range rw.Files {
			out[name] = &fstest.MapFile{Data: data, Mode: 0o644}
		}
		for _, name := range drop {
			delete(out, name)
		}
		return out
	}
	for name, fsys := range map[string]fstest.MapFS{
		"all":                    overlay(),
		"without the config":     overlay(FakeTONConfigFile),
		"only the runner's unit": func() fstest.MapFS { f := overlay(FakeTONConfigFile); f["init"] = spec["init"]; return f }(),
	} {
		if _, err := RewriteSpecForFakeTON(fsys, []byte(fakeTONConfigJSON)); !errors.Is(err, ErrFakeTONApplied) {
			t.Errorf("%s: err = %v, want ErrFakeTONApplied", name, err)
		}
	}
	// The template itself is untouched.
	if string(spec["init"].Data) != initWithTON {
		t.Error("the template changed")
	}
}

func TestRewriteSpecForFakeTONRefuses(t *testing.T) {
	if _, err := RewriteSpecForFakeTON(fakeTONSpec(initWithTON), nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty config: %v", err)
	}
	spec := fakeTONSpec(initWithTON)
	delete(spec, "init")
	if _, err := RewriteSpecForFakeTON(spec, []byte(fakeTONConfigJSON)); err == nil || !strings.Contains(err.Error(), "read init") {
		t.Errorf("no init: %v", err)
	}
}

// TestRewriteSpecForFakeTONRender: the rewrite's files go through
// RenderSpec as StaticFiles, and init stays executable.
func TestRewriteSpecForFakeTONRender(t *testing.T) {
	spec := fakeTONSpec(initWithTON)
	delete(spec, "runtime/x.service")
	rw, err := RewriteSpecForFakeTON(spec, []byte(fakeTONConfigJSON))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "spec")
	if err := RenderSpec(dst, spec, testVars(t), RenderOptions{StaticFiles: rw.Files, Executables: rw.Executables}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"init": 0o755, FakeTONConfigFile: 0o644, "cocoon-worker-runner.service": 0o644} {
		info, err := os.Stat(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), want)
		}
		b, _ := os.ReadFile(filepath.Join(dst, name))
		if string(b) != string(rw.Files[name]) {
			t.Errorf("%s: content %q", name, b)
		}
	}
}
