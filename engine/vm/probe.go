package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Accel is a QEMU accelerator.
type Accel string

// Accelerators the app can use. TDX is KVM plus a confidential guest.
const (
	AccelKVM Accel = "kvm"
	AccelTCG Accel = "tcg"
)

// DefaultProbeTimeout bounds a probe. A working KVM runs the probe guest in
// well under a second; under TCG it takes about a tenth of a second. A KVM
// device that exists while nested virtualisation is off either makes QEMU
// abort or leaves the guest hanging, which this timeout catches.
const DefaultProbeTimeout = 3 * time.Second

// probeExit is the value the probe guest writes to the isa-debug-exit port;
// QEMU then exits with status (value<<1)|1.
const probeExit = 0x31

// probeBootSector is a 512-byte MBR boot sector in 16-bit real mode:
//
//	mov al, 0x31 ; out 0xf4, al ; hlt ; jmp $-3
//
// SeaBIOS loads and runs it, and the write to the isa-debug-exit device
// ends QEMU with status 99. Reaching that status proves the accelerator
// executed guest code end to end.
var probeBootSector = func() []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xB0, probeExit, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD})
	b[510], b[511] = 0x55, 0xAA
	return b
}()

// ProbeResult says whether a tiny guest ran under an accelerator.
type ProbeResult struct {
	Accel    Accel         `json:"accel"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"duration_ns"`
	// Reason explains a failure in words: timed out (guest hung), QEMU
	// error text, or the device being unavailable.
	Reason string `json:"reason,omitempty"`
}

// ProbeArgs returns the QEMU arguments that run the probe guest from diskPath.
// KVM is probed with "-cpu host", as the worker VM is launched.
func ProbeArgs(accel Accel, diskPath string) []string {
	args := []string{
		"-machine", "pc,accel=" + string(accel),
		"-nodefaults", "-no-user-config", "-display", "none", "-m", "16",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-drive", "file=" + diskPath + ",format=raw,if=ide,index=0",
	}
	if accel == AccelKVM {
		args = append(args, "-cpu", "host")
	}
	return args
}

// Probe boots the probe guest under accel with the QEMU at qemuPath and
// reports whether it ran to completion within timeout.
func Probe(ctx context.Context, qemuPath string, accel Accel, timeout time.Duration) ProbeResult {
	res := ProbeResult{Accel: accel}
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	dir, err := os.MkdirTemp("", "cocoon-probe-")
	if err != nil {
		res.Reason = fmt.Sprintf("cannot create a temporary directory: %v", err)
		return res
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "probe.img")
	if err := os.WriteFile(disk, probeBootSector, 0o600); err != nil {
		res.Reason = fmt.Sprintf("cannot write the probe disk: %v", err)
		return res
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, qemuPath, ProbeArgs(accel, disk)...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	start := time.Now()
	err = cmd.Run()
	res.Duration = time.Since(start)

	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Reason = fmt.Sprintf("the test guest did not finish within %s (it hangs: nested virtualisation is probably off)", timeout)
	case errors.As(err, &exitErr) && exitErr.ExitCode() == probeExit<<1|1:
		res.OK = true
	case err != nil:
		res.Reason = qemuFailure(err, out.String())
	default:
		res.Reason = "QEMU exited before the test guest ran"
	}
	return res
}

// qemuFailure condenses QEMU's output into one line a user can act on.
func qemuFailure(err error, out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "qemu-system-x86_64:"))
		if l != "" && !strings.HasPrefix(l, "warning:") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return fmt.Sprintf("QEMU failed: %v", err)
	}
	if len(lines) > 2 {
		lines = lines[:2]
	}
	return "QEMU failed: " + strings.Join(lines, "; ")
}
