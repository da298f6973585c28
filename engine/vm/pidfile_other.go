//go:build !linux

package vm

import (
	"syscall"

	"github.com/cocoon-provider/cocoon-provider/internal/hostos"
)

// QEMU's pid file lock, pidfds and process groups are Linux's: on other
// systems Adopt and CheckPIDFile fail with hostos.ErrNotLinux.

func pidFileLockHolder(string) (int, error) { return 0, hostos.ErrNotLinux }

func watchPID(int, AdoptOptions) (*pidWatch, error) { return nil, hostos.ErrNotLinux }

func (w *pidWatch) signal(syscall.Signal) error { return hostos.ErrNotLinux }

func (w *pidWatch) killGroup() error { return hostos.ErrNotLinux }
