//go:build !linux

package launch

import "github.com/cocoon-provider/cocoon-provider/internal/hostos"

// NewHostRunner fails: worker VMs run on Linux only.
func NewHostRunner(RunnerOptions) (Runner, error) { return nil, hostos.ErrNotLinux }
