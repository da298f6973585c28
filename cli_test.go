package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"doctor", "--data-dir", dir, "--require", "later"}, 1, "use production or dev"},
		{[]string{"doctor", "--data-dir", dir, "--log-level", "loud"}, 1, "use debug, info, warn or error"},
		{[]string{"gpus", "--data-dir", dir, "--watch", "--interval", "1ms"}, 1, "too short"},
		{[]string{"doctor", "--no-such-flag"}, 1, "flag provided but not defined"},
		{[]string{"dev", "--data-dir", dir, "--metrics", "0.0.0.0:9310"}, 1, "add --metrics-public"},
		{[]string{"dev", "--data-dir", dir, "--metrics", ":9310"}, 1, "every interface, not loopback"},
		{[]string{"dev", "--data-dir", dir, "--metrics", "9310"}, 1, "want HOST:PORT"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.msg)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	_, out, _ := runCLI(t, "version")
	if !strings.HasPrefix(out, "cocoon-provider ") {
		t.Errorf("version output %q", out)
	}
}

// TestCLIDoctorJSON runs the doctor on this host with a QEMU that does not
// exist, so no guest is booted: dev mode must then be reported not ready.
func TestCLIDoctorJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "doctor", "--json", "--data-dir", t.TempDir(), "--qemu", "/nonexistent/qemu", "--require", "dev")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (dev not ready without QEMU); stderr %s", code, stderr)
	}
	var r hostcheck.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor --json is not JSON: %v\n%s", err, out)
	}
	q, ok := r.Check("qemu")
	if !ok || q.DevStatus != hostcheck.StatusFail || !strings.Contains(q.Observed, "/nonexistent/qemu") {
		t.Errorf("qemu check = %+v", q)
	}
	if r.Dev.Ready || len(r.Checks) < 20 {
		t.Errorf("report: dev ready %v, %d checks", r.Dev.Ready, len(r.Checks))
	}
}

func TestCLIDoctorText(t *testing.T) {
	code, out, _ := runCLI(t, "doctor", "--data-dir", t.TempDir(), "--qemu", "/nonexistent/qemu")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Cocoon Provider machine check", "✗ QEMU", "fix: Install QEMU", "Earning on COCOON (production):", "Dev mode (try it, earns nothing): NOT READY"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes written to a non-terminal")
	}
}

func TestCLIGPUsJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "gpus", "--json", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var inv gpu.Inventory
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("gpus --json is not JSON: %v\n%s", err, out)
	}
	if inv.Time.IsZero() {
		t.Error("inventory without a time")
	}
}

func TestCLIImportConf(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "import-conf", "--data-dir", dir, "engine/worker/testdata/worker.conf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"owner address   UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m", "coefficient     1500", "warning: line", "Not imported: node_wallet_key, hf_token"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=") {
		t.Error("the node key was printed")
	}
	code, _, stderr = runCLI(t, "import-conf", "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "give the worker.conf") {
		t.Errorf("no file: exit %d %q", code, stderr)
	}
}
