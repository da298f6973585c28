//go:build !linux

package vm

import (
	"os/exec"

	"github.com/cocoon-provider/cocoon-provider/internal/hostos"
)

// Process.Start fails here: QEMU's worker VMs run on Linux only.

func newProcessGroup(*exec.Cmd) error { return hostos.ErrNotLinux }

func killProcessGroup(int) error { return hostos.ErrNotLinux }
