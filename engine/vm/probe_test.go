package vm

import (
	"context"
	"os/exec"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		out  string
		want Version
		bad  bool
	}{
		{out: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022", want: Version{7, 2, 22}},
		{out: "QEMU emulator version 10.1.0\n", want: Version{10, 1, 0}},
		{out: "QEMU emulator version 9.2 (custom)", want: Version{9, 2, 0}},
		{out: "bash: qemu: command not found", bad: true},
		{out: "", bad: true},
	}
	for _, tt := range tests {
		got, _, err := ParseVersion(tt.out)
		if (err != nil) != tt.bad {
			t.Fatalf("ParseVersion(%q) err = %v, want error %v", tt.out, err, tt.bad)
		}
		if got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	v := Version{10, 1, 0}
	for _, tt := range []struct {
		maj, min int
		want     bool
	}{{10, 1, true}, {10, 0, true}, {9, 9, true}, {10, 2, false}, {11, 0, false}} {
		if got := v.AtLeast(tt.maj, tt.min); got != tt.want {
			t.Errorf("%v.AtLeast(%d,%d) = %v", v, tt.maj, tt.min, got)
		}
	}
}

func TestHasObjectType(t *testing.T) {
	help := "List of user creatable objects:\n  memory-backend-ram\n  sev-guest\n  tdx-guest\n"
	if !HasObjectType(help, "tdx-guest") || HasObjectType(help, "tdx") || HasObjectType("  sev-guest\n", "tdx-guest") {
		t.Fatal("HasObjectType matched wrongly")
	}
}

func TestProbeBootSector(t *testing.T) {
	if len(probeBootSector) != 512 || probeBootSector[510] != 0x55 || probeBootSector[511] != 0xAA {
		t.Fatal("probe boot sector is not a valid MBR")
	}
}

func TestQEMUFailure(t *testing.T) {
	out := "qemu-system-x86_64: warning: host doesn't support requested feature\nqemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../kvm.c:3183: Assertion failed.\n"
	got := qemuFailure(exec.ErrNotFound, out)
	want := "QEMU failed: error: failed to set MSR 0x10a to 0x69; ../kvm.c:3183: Assertion failed."
	if got != want {
		t.Errorf("qemuFailure = %q, want %q", got, want)
	}
}

// TestProbeTCG boots the probe guest for real under software emulation.
// It needs QEMU, not KVM; it is skipped (saying why) where QEMU is missing.
func TestProbeTCG(t *testing.T) {
	info, err := Inspect(context.Background(), "")
	if err != nil {
		t.Skipf("needs QEMU: %v", err)
	}
	res := Probe(context.Background(), info.Path, AccelTCG, DefaultProbeTimeout*3)
	if !res.OK {
		t.Fatalf("TCG probe failed: %s", res.Reason)
	}
}

func TestProbeMissingBinary(t *testing.T) {
	res := Probe(context.Background(), "/nonexistent/qemu-system-x86_64", AccelTCG, 0)
	if res.OK || res.Reason == "" {
		t.Fatalf("probe of a missing binary = %+v, want a failure with a reason", res)
	}
}

func TestInspectMissing(t *testing.T) {
	if _, err := Inspect(context.Background(), "no-such-qemu-binary"); err == nil {
		t.Fatal("Inspect of a missing binary succeeded")
	}
}
