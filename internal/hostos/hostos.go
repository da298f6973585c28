// Package hostos names what only a Linux host can do. Worker VMs run
// under QEMU with KVM on Linux; the app also builds for other systems,
// where it monitors a remote Linux host and the Linux-only parts of the
// engine return ErrNotLinux.
package hostos

import "errors"

// ErrNotLinux is returned by what runs or watches worker VMs on a system
// other than Linux.
var ErrNotLinux = errors.New("running worker VMs needs Linux; on this system Cocoon Provider can only monitor a remote host")
