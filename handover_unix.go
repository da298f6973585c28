//go:build unix

package main

import (
	"os"
	"syscall"
)

// startHeadless starts `cocoon-provider run --headless` for dataDir in its
// own session, detached from the desktop app that is quitting; it logs to
// the data directory's log file. It returns the new process's PID.
func startHeadless(dataDir, qemu string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := []string{"run", "--headless", "--data-dir", dataDir}
	if qemu != "" {
		args = append(args, "--qemu", qemu)
	}
	cmd := headlessCommand(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// No stdin, stdout or stderr: it outlives the terminal, if any.
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	return pid, cmd.Process.Release()
}
