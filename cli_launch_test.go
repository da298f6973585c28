package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/launch"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// TestLaunchNotReady: on a host where the plan is blocked (this machine,
// an empty data directory), launch prints the blocked plan and starts
// nothing, with or without --yes.
func TestLaunchNotReady(t *testing.T) {
	for _, extra := range [][]string{nil, {"--yes"}} {
		var out, errb bytes.Buffer
		// A QEMU that is not there: the host check runs no test guest.
		noQEMU := filepath.Join(t.TempDir(), "no-qemu")
		args := append([]string{"launch", "--data-dir", t.TempDir(), "--qemu", noQEMU}, extra...)
		code := run(args, &out, &errb)
		if code != 3 {
			t.Fatalf("%v: exit %d, stderr %s", extra, code, errb.String())
		}
		if !strings.Contains(out.String(), "blocked because") || !strings.Contains(out.String(), "steps are blocked") {
			t.Errorf("%v: the plan is not printed:\n%s", extra, out.String())
		}
		if !strings.Contains(errb.String(), "nothing was started") || strings.Contains(errb.String(), "--yes to carry") {
			t.Errorf("%v: stderr: %s", extra, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"launch", "--dry-run", "--yes", "--data-dir", t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--dry-run does nothing") {
		t.Errorf("--dry-run --yes: exit %d, %s", code, errb.String())
	}
}

// TestLaunchAsksForYes: a ready plan is carried out only with --yes.
func TestLaunchAsksForYes(t *testing.T) {
	ready := launch.Plan{Ready: true, Steps: []launch.Step{{Number: 1, Kind: launch.KindHost, Title: "Check the host"}}}
	var errb bytes.Buffer
	if mayLaunch(ready, false, &errb) || !strings.Contains(errb.String(), "rerun this command with --yes") || !strings.Contains(errb.String(), "nothing was started") {
		t.Errorf("without --yes: %s", errb.String())
	}
	errb.Reset()
	if !mayLaunch(ready, true, &errb) || errb.Len() != 0 {
		t.Errorf("with --yes: %s", errb.String())
	}
	blocked := launch.Plan{Steps: []launch.Step{{Number: 1, Title: "x", Blocked: []string{"no TDX"}}, {Number: 2}}}
	if mayLaunch(blocked, true, &errb) || !strings.Contains(errb.String(), "1 of 2 launch steps are blocked") {
		t.Errorf("blocked: %s", errb.String())
	}
}

func TestLaunchFlags(t *testing.T) {
	tests := []struct {
		in   string
		all  bool
		idx  []int
		fail bool
	}{
		{"", false, nil, false},
		{"all", true, nil, false},
		{"0,1", false, []int{0, 1}, false},
		{" 3, 3 ,1", false, []int{3, 1}, false},
		{"-1", false, nil, true},
		{"one", false, nil, true},
	}
	for _, tt := range tests {
		all, idx, err := parseGPUs(tt.in)
		if (err != nil) != tt.fail || all != tt.all || !slices.Equal(idx, tt.idx) {
			t.Errorf("parseGPUs(%q) = %v %v %v", tt.in, all, idx, err)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"launch", "--dry-run", "--gpus", "x", "--data-dir", t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--gpus") {
		t.Errorf("bad --gpus: exit %d, %s", code, errb.String())
	}
}

// TestLaunchDebugModes: --test and --fake-ton plan a debug launch, and
// the plan says the network will not accept it. The data directory is
// empty, so the plan is blocked; it is printed all the same.
func TestLaunchDebugModes(t *testing.T) {
	for flags, want := range map[string]string{
		"--test":              "Launch plan in test mode",
		"--fake-ton":          "Launch plan in fake-TON mode",
		"--test --fake-ton":   "Launch plan in test and fake-TON mode",
		"--check-liteservers": "Production launch plan",
	} {
		var out, errb bytes.Buffer
		// A QEMU that is not there: the host check runs no test guest.
		noQEMU := filepath.Join(t.TempDir(), "no-qemu")
		args := append([]string{"launch", "--dry-run", "--data-dir", t.TempDir(), "--qemu", noQEMU}, strings.Fields(flags)...)
		run(args, &out, &errb)
		got := out.String()
		if !strings.Contains(got, want) {
			t.Errorf("%s: plan lacks %q:\n%s%s", flags, want, got, errb.String())
		}
		if debug := flags != "--check-liteservers"; debug != strings.Contains(got, "the network will not accept this worker") {
			t.Errorf("%s: debug warning shown = %v:\n%s", flags, !debug, got)
		}
		if !strings.Contains(got, "Check the TON liteservers") {
			t.Errorf("%s: no liteserver step:\n%s", flags, got)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"launch", "--dry-run", "--liteserver-timeout", "0s", "--data-dir", t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--liteserver-timeout") {
		t.Errorf("bad --liteserver-timeout: exit %d, %s", code, errb.String())
	}
}

func TestDoctorProductionFlag(t *testing.T) {
	for args, want := range map[string]bool{
		"--production": true, "--json --production": true, "-production=true": true,
		"--json": false, "--require production": false, "-- --production": false,
	} {
		if got := wantsProduction(strings.Fields(args)); got != want {
			t.Errorf("wantsProduction(%q) = %v", args, got)
		}
	}
}

func TestDoctorProductionText(t *testing.T) {
	r := hostcheck.Report{
		Production: hostcheck.Verdict{Mode: hostcheck.ModeProduction, Summary: "This machine cannot earn on COCOON, because of: TDX enabled in KVM."},
		Checks: []hostcheck.Check{
			{ID: "cpu", Title: "CPU", Status: hostcheck.StatusOK, DevStatus: hostcheck.StatusOK, Observed: "Xeon"},
			{ID: "tdx", Title: "TDX enabled in KVM", Status: hostcheck.StatusFail, Observed: "kvm_intel.tdx=N", Why: "confidential VM", Fix: "Boot with kvm_intel.tdx=1"},
			{ID: "tcg_guest", Title: "Software emulation runs a guest", DevStatus: hostcheck.StatusOK},
		},
	}
	var b bytes.Buffer
	if err := writeProduction(&b, r, false); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"LACKS    TDX enabled in KVM: kvm_intel.tdx=N", "fix: Boot with kvm_intel.tdx=1", "has      CPU: Xeon", "lacks 1 of the 2 requirements"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Software emulation") {
		t.Errorf("a dev-only check is listed:\n%s", got)
	}
}

func TestReadNodeWalletKeys(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for range 2 {
		k, err := wallet.NewNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, k.Base64())
	}
	good := filepath.Join(dir, "keys")
	if err := os.WriteFile(good, []byte("# instance 1\n"+lines[0]+"\n\n"+lines[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := readNodeWalletKeys(good)
	if err != nil || len(keys) != 2 || keys[0].Reveal() != lines[0] || keys[1].Reveal() != lines[1] {
		t.Fatalf("keys %d, %v", len(keys), err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(lines[0]+"\nnot-a-key-SECRETISH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readNodeWalletKeys(bad); err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "SECRETISH") {
		t.Errorf("bad line: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	if _, err := readNodeWalletKeys(empty); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("empty file: %v", err)
	}
}
