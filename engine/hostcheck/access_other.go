//go:build !unix

package hostcheck

import "github.com/cocoon-provider/cocoon-provider/internal/hostos"

// access cannot judge a Linux host's devices and directories here.
func access(string, uint32) error { return hostos.ErrNotLinux }

const (
	accR = 4
	accW = 2
	accX = 1
)
