package vm

import (
	"os/exec"
	"syscall"
)

// newProcessGroup makes QEMU lead a process group of its own: it outlives
// the app, and killProcessGroup takes its helpers with it.
func newProcessGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return nil
}

// killProcessGroup kills the process group pid leads.
func killProcessGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
