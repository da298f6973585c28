package sealserver

import (
	"context"
	"errors"
	"os/exec"
	"syscall"

	"github.com/mdlayher/vsock"
)

// setProcAttr puts seal-server in a process group of its own (a
// terminal's Ctrl-C is the app's to handle) and has the kernel send it
// SIGTERM if the app dies without stopping it, so that no orphan keeps
// the vsock port.
func setProcAttr(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	return nil
}

// killGroup kills the process group pid leads.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// VsockProbe returns a probe that connects to port on this host's own
// vsock address (the loopback CID). It returns ErrProbeUnsupported when
// the host cannot dial its own vsock ports (no vsock_loopback module).
func VsockProbe(port uint32) Probe {
	return func(ctx context.Context) error {
		c, err := vsock.DialContext(ctx, vsock.Local, port, nil)
		if err != nil {
			if vsockUnsupported(err) {
				return errors.Join(ErrProbeUnsupported, err)
			}
			return err
		}
		return c.Close()
	}
}

func vsockUnsupported(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENODEV, syscall.EAFNOSUPPORT, syscall.EPROTONOSUPPORT, syscall.ENETUNREACH, syscall.EHOSTUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
