//go:build !unix

package sealserver

import (
	"io/fs"

	"github.com/cocoon-provider/cocoon-provider/internal/hostos"
)

// accessRW cannot judge a Linux host's devices here.
func accessRW(string) error { return hostos.ErrNotLinux }

func fileGID(fs.FileInfo) (uint32, bool) { return 0, false }
