package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
)

// diagDataDir is a data directory with a database holding one setting and
// an app log naming the owner's address.
func diagDataDir(t *testing.T) (dir, owner string) {
	t.Helper()
	dir = t.TempDir()
	owner = "UQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJKZ"
	st, err := store.Open(t.Context(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(t.Context(), "wallet.config", `{"network":"mainnet","owner":"`+owner+`"}`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logs", "app.log"), []byte("level=INFO msg=started owner="+owner+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, owner
}

func runDiag(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cmdDiag(t.Context(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestCLIDiag(t *testing.T) {
	dataDir, owner := diagDataDir(t)
	cwd := t.TempDir()
	t.Chdir(cwd)
	common := []string{"--data-dir", dataDir, "--qemu", "/nonexistent/qemu"}

	// The default name, in the current directory.
	out, stderr, err := runDiag(t, common...)
	if err != nil {
		t.Fatalf("diag: %v\nstderr: %s", err, stderr)
	}
	made, _ := filepath.Glob(filepath.Join(cwd, "cocoon-provider-diag-*.zip"))
	if len(made) != 1 {
		t.Fatalf("bundles in the current directory: %v", made)
	}
	path := made[0]
	if base := filepath.Base(path); len(base) != len("cocoon-provider-diag-20060102-150405.zip") {
		t.Errorf("default name %q is not cocoon-provider-diag-YYYYMMDD-HHMMSS.zip", base)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode %s, want 0600", fi.Mode().Perm())
	}
	for _, want := range []string{path, "manifest.txt", "settings.json", "logs/app.log", "redacted: address 2", "--include-addresses"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, err = b.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), owner) {
			t.Errorf("%s holds the owner's address", f.Name)
		}
	}
	for _, want := range []string{"manifest.txt", "system.txt", "doctor.json", "gpus.json", "settings.json", "logs/app.log"} {
		if !slices.Contains(names, want) {
			t.Errorf("bundle lacks %s: %v", want, names)
		}
	}

	// -o naming an existing file: refused, the file left as it was.
	_, _, err = runDiag(t, append(common, "-o", path)...)
	if err == nil || !strings.Contains(err.Error(), "exists") || !strings.Contains(err.Error(), "-o") {
		t.Errorf("diag -o EXISTING = %v, want a refusal naming -o", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
		t.Error("the existing bundle was changed")
	}
	precious := filepath.Join(cwd, "notes.zip")
	if err := os.WriteFile(precious, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runDiag(t, append(common, "-o", precious)...); err == nil {
		t.Error("diag overwrote an unrelated file")
	}
	if b, _ := os.ReadFile(precious); string(b) != "precious" {
		t.Errorf("notes.zip now holds %q", b)
	}

	// --json and --include-addresses.
	jsonPath := filepath.Join(cwd, "bundle.zip")
	out, stderr, err = runDiag(t, append(common, "-o", jsonPath, "--json", "--include-addresses")...)
	if err != nil {
		t.Fatalf("diag --json: %v\nstderr: %s", err, stderr)
	}
	var res diagResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if res.Path != jsonPath || !res.Manifest.AddressesKept || len(res.Manifest.Files) == 0 || res.Manifest.Files[0].Name != "manifest.txt" {
		t.Errorf("--json result: path %q, addresses kept %v, files %v", res.Path, res.Manifest.AddressesKept, res.Manifest.Files)
	}
	if fi, err := os.Stat(jsonPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle.zip: %v, %v", fi, err)
	}
}

func TestCLIDiagUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--data-dir", dir, "extra"}, "takes no arguments"},
		{[]string{"--data-dir", dir, "--log-level", "loud"}, "--log-level"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
	} {
		_, stderr, err := runDiag(t, tc.args...)
		if err == nil || !strings.Contains(err.Error()+stderr, tc.msg) {
			t.Errorf("diag %v = %v (stderr %q), want %q", tc.args, err, stderr, tc.msg)
		}
	}
	if made, _ := filepath.Glob(filepath.Join(dir, "*.zip")); len(made) != 0 {
		t.Errorf("a failed diag left %v", made)
	}
}
