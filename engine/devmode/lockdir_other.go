//go:build !unix

package devmode

import (
	"context"

	"github.com/cocoon-provider/cocoon-provider/internal/hostos"
)

// lockDir fails here: the stand-in image is built and run on Linux only.
func lockDir(context.Context, string) (func(), error) { return nil, hostos.ErrNotLinux }
