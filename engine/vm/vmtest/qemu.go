// Package vmtest holds test helpers for engine/vm and its users: a fake
// QEMU (the test binary re-executed), a manual clock, and a check that
// skips tests when QEMU is missing.
package vmtest

import (
	"os/exec"
	"testing"
)

// RequireQEMU returns the path of qemu-system-x86_64, or skips the test
// saying why.
func RequireQEMU(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts QEMU; skipped with -short")
	}
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed (Debian: apt install qemu-system-x86)")
	}
	return p
}

// IdleVMArgs are arguments for a small VM under TCG with no boot device:
// SeaBIOS finds nothing to boot and keeps running. It has no ACPI OS, so
// it ignores system_powerdown: stopping it exercises quit (or kill).
// qmpSocket and pidFile may be empty.
func IdleVMArgs(qmpSocket, pidFile string, extra ...string) []string {
	args := []string{
		"-machine", "q35,accel=tcg", "-nodefaults", "-no-user-config",
		"-display", "none", "-m", "64",
	}
	if qmpSocket != "" {
		args = append(args, "-qmp", "unix:"+qmpSocket+",server=on,wait=off")
	}
	if pidFile != "" {
		args = append(args, "-pidfile", pidFile)
	}
	return append(args, extra...)
}
