package hostcheck

import (
	"fmt"
	"time"
)

func (h *host) checkQEMU() Check {
	c := Check{ID: "qemu", Title: "QEMU",
		Why: fmt.Sprintf("The worker VM is launched with QEMU; hosting TDX guests needs QEMU %d.%d or newer.", ProdQEMUMajor, ProdQEMUMinor)}
	q := h.in.QEMU
	if !q.Found {
		c.Status, c.DevStatus = StatusFail, StatusFail
		c.Observed = nonEmpty(q.Err, "qemu-system-x86_64 not found")
		c.fix("install", "Install QEMU: sudo apt install qemu-system-x86")
		return c
	}
	c.Observed = fmt.Sprintf("%s (%s)", q.Banner, q.Path)
	c.DevStatus = StatusOK
	if q.Major > ProdQEMUMajor || (q.Major == ProdQEMUMajor && q.Minor >= ProdQEMUMinor) {
		c.Status = StatusOK
	} else {
		c.Status = StatusFail
		c.fix("old", fmt.Sprintf("Earning needs QEMU %d.%d+ with TDX support (for example Debian trixie-backports or Ubuntu 25.10), or point the app at such a build with --qemu.", ProdQEMUMajor, ProdQEMUMinor))
	}
	return c
}

func (h *host) checkQEMUTDX() Check {
	c := Check{ID: "qemu_tdx", Title: "QEMU supports TDX",
		Why: "The worker VM is started as a TDX guest (-object tdx-guest); a QEMU built without TDX cannot start it."}
	q := h.in.QEMU
	switch {
	case !q.Found:
		c.Status, c.Observed = StatusUnknown, "QEMU not found"
		c.fix("no_qemu", "Install QEMU first.")
	case q.TDX:
		c.Status, c.Observed = StatusOK, "tdx-guest object available"
	default:
		c.Status, c.Observed = StatusFail, "this QEMU has no tdx-guest object"
		c.fix("no_tdx", fmt.Sprintf("Install QEMU %d.%d+ built with TDX support.", ProdQEMUMajor, ProdQEMUMinor))
	}
	return c
}

func roundDur(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
