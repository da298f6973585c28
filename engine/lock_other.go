//go:build !unix

package engine

import "github.com/cocoon-provider/cocoon-provider/internal/hostos"

// The single-instance lock is flock(2)'s; it guards a data directory whose
// worker VMs only a Linux host runs.

// AcquireLock fails here: this system runs no worker VMs.
func AcquireLock(string) (*Lock, error) { return nil, hostos.ErrNotLinux }

// Release has nothing to give up.
func (l *Lock) Release() error { return nil }

// ReadLockHolder fails here: no process holds a lock on this system.
func ReadLockHolder(string) (Holder, error) { return Holder{}, hostos.ErrNotLinux }
