//go:build !linux

package sealserver

import (
	"context"
	"errors"
	"os/exec"

	"github.com/cocoon-provider/cocoon-provider/internal/hostos"
)

// seal-server runs beside Linux worker VMs only.

func setProcAttr(*exec.Cmd) error { return hostos.ErrNotLinux }

func killGroup(int) error { return hostos.ErrNotLinux }

// VsockProbe cannot dial vsock here.
func VsockProbe(uint32) Probe {
	return func(context.Context) error { return errors.Join(ErrProbeUnsupported, hostos.ErrNotLinux) }
}
