package hostcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v3/common"
	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"
)

type cpuFacts struct {
	err     error
	vendor  string
	model   string
	logical int
	flags   map[string]bool
}

// psCtx points gopsutil at the root's /proc and /sys.
func (h *host) psCtx() context.Context {
	return context.WithValue(h.ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: filepath.Join(h.in.Root, "proc"),
		common.HostSysEnvKey:  filepath.Join(h.in.Root, "sys"),
		common.HostEtcEnvKey:  filepath.Join(h.in.Root, "etc"),
	})
}

func (h *host) readCPU() cpuFacts {
	ctx := h.psCtx()
	infos, err := cpu.InfoWithContext(ctx)
	if err == nil && len(infos) == 0 {
		err = fmt.Errorf("no processor entries in /proc/cpuinfo")
	}
	if err != nil {
		return cpuFacts{err: err}
	}
	f := cpuFacts{vendor: infos[0].VendorID, model: infos[0].ModelName, flags: map[string]bool{}}
	for _, fl := range infos[0].Flags {
		f.flags[fl] = true
	}
	if f.logical, err = cpu.CountsWithContext(ctx, true); err != nil {
		f.logical = len(infos)
	}
	return f
}

func (h *host) info() HostInfo {
	var i HostInfo
	i.Hostname, _ = h.readTrim("/proc/sys/kernel/hostname")
	i.Kernel, _ = h.readTrim("/proc/sys/kernel/osrelease")
	if osr, err := h.readTrim("/etc/os-release"); err == nil {
		for _, line := range strings.Split(osr, "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				i.OS = strings.Trim(v, `"'`)
			}
		}
	}
	return i
}

func (h *host) checkCPU() Check {
	c := Check{ID: "cpu", Title: "CPU",
		Why: "COCOON workers run inside Intel TDX confidential VMs, so the CPU must be an Intel Xeon with TDX (4th generation Xeon Scalable or newer)."}
	if h.cpu.err != nil {
		c.Status, c.DevStatus = StatusUnknown, StatusUnknown
		c.Observed = "cannot read /proc/cpuinfo: " + h.cpu.err.Error()
		return c
	}
	c.Observed = fmt.Sprintf("%s (%s)", h.cpu.model, h.cpu.vendor)
	c.DevStatus = StatusOK
	if h.cpu.vendor == "GenuineIntel" {
		c.Status = StatusOK
	} else {
		c.Status = StatusFail
		c.fix("not_intel", "Earning needs a host with an Intel Xeon CPU that supports TDX; this CPU can still run dev mode.")
	}
	return c
}

func (h *host) checkCores() Check {
	c := Check{ID: "cores", Title: "CPU threads",
		Why: fmt.Sprintf("The official launcher gives the worker VM %d virtual CPUs; with fewer host threads they are overcommitted and inference slows down.", ProdVCPUs)}
	if h.cpu.err != nil {
		c.Status, c.DevStatus, c.Observed = StatusUnknown, StatusUnknown, "cannot read /proc/cpuinfo"
		return c
	}
	n := h.cpu.logical
	c.Observed = fmt.Sprintf("%d logical CPUs", n)
	c.Status, c.DevStatus = StatusOK, StatusOK
	if n < ProdVCPUs {
		c.Status = StatusWarn
		c.fix("few", fmt.Sprintf("Use a host with at least %d CPU threads for earning.", ProdVCPUs))
	}
	if n < 2 {
		c.DevStatus = StatusWarn
	}
	return c
}

func (h *host) checkMemory() Check {
	c := Check{ID: "memory", Title: "Memory",
		Why: fmt.Sprintf("The worker VM is given %d GiB of RAM (fixed by the official launcher) and the host needs some for itself; dev mode's stand-in VM needs about 512 MiB.", ProdVMMemGiB)}
	vm, err := mem.VirtualMemoryWithContext(h.psCtx())
	if err == nil && vm.Total == 0 {
		err = fmt.Errorf("no MemTotal")
	}
	if err != nil {
		c.Status, c.DevStatus = StatusUnknown, StatusUnknown
		c.Observed = "cannot read /proc/meminfo: " + err.Error()
		return c
	}
	c.Observed = fmt.Sprintf("%s total, %s available", humanBytes(vm.Total), humanBytes(vm.Available))
	need := uint64(ProdVMMemGiB+ProdHostHeadroomGiB) * gib
	c.Status = StatusOK
	if vm.Total < need {
		c.Status = StatusFail
		c.fix("earn", fmt.Sprintf("Earning needs at least %d GiB of RAM (%d for the VM + %d for the host).", ProdVMMemGiB+ProdHostHeadroomGiB, ProdVMMemGiB, ProdHostHeadroomGiB))
	}
	switch {
	case vm.Available >= DevMemMiB<<20:
		c.DevStatus = StatusOK
	case vm.Available >= 600<<20:
		c.DevStatus = StatusWarn
		if c.Fix == "" {
			c.fix("dev_low", "Close other programs: dev mode's VM needs about 512 MiB free.")
		}
	default:
		c.DevStatus = StatusFail
		if c.Fix == "" {
			c.fix("dev", "Free at least 600 MiB of RAM for dev mode's VM (close other programs).")
		} else {
			c.fix("earn_dev", c.Fix+" Free at least 600 MiB of RAM for dev mode's VM (close other programs).")
		}
	}
	return c
}

func (h *host) checkDisk() Check {
	c := Check{ID: "disk", Title: "Free disk space",
		Why: "The worker's persistent disk grows to 100 GiB, and model archives and worker releases need room besides; dev mode needs about 2 GiB."}
	dir := h.in.DataDir
	if dir == "" {
		c.Status, c.DevStatus, c.Observed = StatusUnknown, StatusUnknown, "no data directory given"
		return c
	}
	// The data directory may not exist yet: measure the filesystem it will be on.
	dir = existingAncestor(dir)
	measure := h.in.DiskFree
	if measure == nil {
		measure = statfs
	}
	free, mount, err := measure(h.ctx, dir)
	if err != nil {
		c.Status, c.DevStatus = StatusUnknown, StatusUnknown
		c.Observed = fmt.Sprintf("cannot measure %s: %v", dir, err)
		return c
	}
	c.Observed = fmt.Sprintf("%s free on %s (data directory %s)", humanBytes(free), mount, h.in.DataDir)
	switch {
	case free >= ProdDiskGiB*gib:
		c.Status = StatusOK
	case free >= ProdDiskMinGiB*gib:
		c.Status = StatusWarn
		c.fix("low", fmt.Sprintf("Free space for model archives: %d GiB or more is recommended for earning.", ProdDiskGiB))
	default:
		c.Status = StatusFail
		c.fix("earn", fmt.Sprintf("Earning needs at least %d GiB free in the data directory (%d recommended): free space or choose another directory with --data-dir.", ProdDiskMinGiB, ProdDiskGiB))
	}
	c.DevStatus = StatusOK
	if free < DevDiskMiB<<20 {
		c.DevStatus = StatusFail
		c.fix("dev", "Dev mode needs about 2 GiB free in the data directory: free space or choose another directory with --data-dir.")
	}
	return c
}

func (h *host) checkDataDir() Check {
	c := Check{ID: "data_dir", Title: "Data directory",
		Why: "The app keeps its database, worker images and VM disks in the data directory, so it must be writable."}
	dir := h.in.DataDir
	if dir == "" {
		c.Status, c.DevStatus, c.Observed = StatusFail, StatusFail, "no data directory set"
		c.fix("unset", "Set one with --data-dir, or set $HOME.")
		return c
	}
	existing := existingAncestor(dir)
	st, err := os.Stat(existing)
	switch {
	case err != nil:
		c.Status, c.DevStatus = StatusUnknown, StatusUnknown
		c.Observed = fmt.Sprintf("cannot inspect %s: %v", existing, err)
	case !st.IsDir():
		c.Status, c.DevStatus = StatusFail, StatusFail
		c.Observed = fmt.Sprintf("%s is a file, not a directory", existing)
		c.fix("file", "Move that file away or choose another directory with --data-dir.")
	case access(existing, accW|accX) != nil:
		c.Status, c.DevStatus = StatusFail, StatusFail
		c.Observed = fmt.Sprintf("%s is not writable by this user", existing)
		c.fix("not_writable", "Fix its permissions or choose another directory with --data-dir.")
	case existing == dir:
		c.Status, c.DevStatus, c.Observed = StatusOK, StatusOK, dir+" is writable"
	default:
		c.Status, c.DevStatus, c.Observed = StatusOK, StatusOK, dir+" will be created (its parent is writable)"
	}
	return c
}

var kernelRe = regexp.MustCompile(`^(\d+)\.(\d+)`)

func (h *host) checkKernel() Check {
	c := Check{ID: "kernel", Title: "Linux kernel",
		Why: fmt.Sprintf("Hosting TDX guests needs Linux %d.%d or newer (KVM TDX support).", ProdKernelMajor, ProdKernelMinor)}
	rel, err := h.readTrim("/proc/sys/kernel/osrelease")
	m := kernelRe.FindStringSubmatch(rel)
	if err != nil || m == nil {
		c.Status, c.DevStatus = StatusUnknown, StatusUnknown
		c.Observed = fmt.Sprintf("cannot read the kernel version (%q, %v)", rel, err)
		return c
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	c.Observed = rel
	c.DevStatus = StatusOK
	if major > ProdKernelMajor || (major == ProdKernelMajor && minor >= ProdKernelMinor) {
		c.Status = StatusOK
	} else {
		c.Status = StatusFail
		c.fix("old", fmt.Sprintf("Install a kernel %d.%d or newer with TDX host support (for example Debian trixie-backports or Ubuntu 25.10 kernels) and reboot into it.", ProdKernelMajor, ProdKernelMinor))
	}
	return c
}

// humanBytes formats a byte count in binary units.
func humanBytes(b uint64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(b)/(1<<40))
	case b >= gib:
		return fmt.Sprintf("%.1f GiB", float64(b)/gib)
	default:
		return fmt.Sprintf("%d MiB", b>>20)
	}
}

func statfs(ctx context.Context, dir string) (uint64, string, error) {
	u, err := disk.UsageWithContext(ctx, dir)
	if err != nil {
		return 0, "", err
	}
	return u.Free, u.Path, nil
}

// existingAncestor returns dir, or its nearest parent that exists.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}
