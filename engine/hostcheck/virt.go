package hostcheck

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

func (h *host) checkKVMDevice() Check {
	c := Check{ID: "kvm_device", Title: "KVM device",
		Why: "QEMU needs /dev/kvm to run the worker VM with hardware virtualisation; without it dev mode falls back to slower software emulation."}
	if !h.exists("/dev/kvm") {
		c.Status, c.DevStatus = StatusFail, StatusWarn
		c.Observed = "/dev/kvm is missing"
		c.fix("missing", "Enable Intel VT-x (and VT-d) in the BIOS, then load KVM: sudo modprobe kvm_intel")
		return c
	}
	if err := h.accessRW("/dev/kvm"); err != nil {
		c.Status, c.DevStatus = StatusFail, StatusWarn
		c.Observed = "/dev/kvm exists but this user cannot open it read-write"
		c.fix("no_access", "Add your user to the kvm group (sudo usermod -aG kvm $USER) and log in again.")
		return c
	}
	c.Status, c.DevStatus = StatusOK, StatusOK
	c.Observed = "/dev/kvm is present and accessible"
	return c
}

func (h *host) checkKVMGuest() Check {
	c := Check{ID: "kvm_guest", Title: "KVM runs a guest",
		Why: "A KVM device can exist while guests cannot run (for example inside a VM without nested virtualisation); a tiny test guest shows whether KVM really works."}
	p := h.in.KVM
	switch {
	case !p.Ran:
		c.Status, c.DevStatus = StatusUnknown, StatusWarn
		c.Observed = "not probed: " + nonEmpty(p.Reason, "KVM or QEMU is not available")
		c.fix("not_probed", "Fix the KVM device and QEMU items first.")
	case p.OK:
		c.Status, c.DevStatus = StatusOK, StatusOK
		c.Observed = fmt.Sprintf("a test guest ran under KVM in %s", roundDur(p.Duration))
	default:
		c.Status, c.DevStatus = StatusFail, StatusWarn
		c.Observed = "KVM present but unusable: " + p.Reason + "; dev mode will use software emulation"
		c.fix("unusable", "On a bare-metal host, enable VT-x in the BIOS; inside a VM, turn on nested virtualisation for it (kvm_intel nested=1 on the outer host).")
	}
	return c
}

func (h *host) checkTCGGuest() Check {
	c := Check{ID: "tcg_guest", Title: "Software emulation runs a guest",
		Why: "When KVM is unusable, dev mode runs its stand-in VM under QEMU's software emulation (TCG)."}
	p := h.in.TCG
	switch {
	case !p.Ran:
		c.DevStatus = StatusUnknown
		c.Observed = "not probed: " + nonEmpty(p.Reason, "QEMU is not available")
		c.fix("not_probed", "Install QEMU: sudo apt install qemu-system-x86")
	case p.OK:
		c.DevStatus = StatusOK
		c.Observed = fmt.Sprintf("a test guest ran under TCG in %s", roundDur(p.Duration))
	default:
		c.DevStatus = StatusFail
		c.Observed = "TCG failed: " + p.Reason
		c.fix("failed", "Reinstall QEMU's x86 system emulator and firmware: sudo apt install --reinstall qemu-system-x86 seabios")
	}
	if h.in.KVM.OK && c.DevStatus != StatusOK {
		c.DevStatus = StatusNone // KVM covers dev mode
	}
	return c
}

func (h *host) checkTDXHost() Check {
	c := Check{ID: "tdx", Title: "TDX enabled in KVM",
		Why: "The worker VM is an Intel TDX trust domain: without TDX the network cannot verify that nobody, not even you, can read the prompts."}
	var seen []string
	cpuFlag := h.cpu.flags["tdx_host_platform"]
	if h.cpu.err == nil {
		seen = append(seen, "CPU flag tdx_host_platform "+presentWord(cpuFlag))
	}
	param, perr := h.readTrim("/sys/module/kvm_intel/parameters/tdx")
	switch {
	case perr == nil:
		seen = append(seen, "kvm_intel.tdx="+param)
	case missing(perr):
		seen = append(seen, "kvm_intel has no tdx parameter")
	default:
		seen = append(seen, "kvm_intel.tdx unreadable")
	}
	if keys := h.tdxKeyIDs(); keys >= 0 {
		seen = append(seen, fmt.Sprintf("%d TDX key IDs", keys))
	}
	c.Observed = strings.Join(seen, ", ")
	switch {
	case param == "Y":
		c.Status = StatusOK
	case perr != nil && !missing(perr):
		c.Status = StatusUnknown
		c.fix("unreadable", "Run the doctor as a user who can read /sys/module/kvm_intel/parameters/tdx.")
	case h.cpu.err == nil && !cpuFlag:
		c.Status = StatusFail
		c.fix("no_cpu", "This CPU or BIOS does not offer TDX: use a 4th-generation Xeon Scalable or newer, enable TME, TME-MT, TDX and the SEAM loader in the BIOS, and boot a kernel 6.16+.")
	default:
		c.Status = StatusFail
		c.fix("off", "Boot with kvm_intel.tdx=1 (add it to GRUB_CMDLINE_LINUX in /etc/default/grub, run sudo update-grub, reboot). If it stays N, check the BIOS TDX settings and `sudo dmesg | grep -i tdx`.")
	}
	return c
}

// tdxKeyIDs reads the cgroup misc controller's TDX capacity, or -1.
func (h *host) tdxKeyIDs() int {
	s, err := h.readTrim("/sys/fs/cgroup/misc.capacity")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "tdx" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				return n
			}
		}
	}
	return -1
}

func (h *host) checkSGX() Check {
	c := Check{ID: "sgx", Title: "SGX for the seal server",
		Why: "The seal server derives the worker VM's persistent disk key with an SGX enclave on this CPU; without it the production VM stops during start-up."}
	var seen, missingParts []string
	for _, fl := range []string{"sgx", "sgx_lc"} {
		if h.cpu.flags[fl] {
			seen = append(seen, "flag "+fl)
		} else {
			missingParts = append(missingParts, "CPU flag "+fl)
		}
	}
	for _, dev := range []string{"/dev/sgx_enclave", "/dev/sgx_provision"} {
		switch {
		case !h.exists(dev):
			missingParts = append(missingParts, dev)
		case h.accessRW(dev) != nil:
			missingParts = append(missingParts, dev+" (no access for this user)")
		default:
			seen = append(seen, dev)
		}
	}
	epc := h.sgxEPC()
	if epc > 0 {
		seen = append(seen, "EPC "+humanBytes(epc))
	} else {
		missingParts = append(missingParts, "EPC memory")
	}
	if len(missingParts) == 0 {
		c.Status = StatusOK
		c.Observed = strings.Join(seen, ", ")
		return c
	}
	c.Status = StatusFail
	c.Observed = "missing: " + strings.Join(missingParts, ", ")
	c.fix("missing", "Enable SGX with flexible launch control and an EPC (PRMRR) size in the BIOS, boot a kernel with the in-tree SGX driver, and give this user access to /dev/sgx_enclave and /dev/sgx_provision (groups sgx and sgx_prv).")
	return c
}

// sgxEPC sums the SGX EPC size of every NUMA node.
func (h *host) sgxEPC() uint64 {
	var total uint64
	nodes, _ := fs.Glob(h.fsys, "sys/devices/system/node/node*/x86/sgx_total_bytes")
	for _, n := range nodes {
		if s, err := h.readTrim("/" + n); err == nil {
			if v, err := strconv.ParseUint(s, 10, 64); err == nil {
				total += v
			}
		}
	}
	return total
}

func (h *host) checkIOMMU() Check {
	c := Check{ID: "iommu", Title: "IOMMU active",
		Why: "Passing the GPU into the confidential VM (VFIO) needs the IOMMU (Intel VT-d) turned on."}
	cmdline, _ := h.readTrim("/proc/cmdline")
	units, groups := h.nonEmptyDir("/sys/class/iommu"), h.nonEmptyDir("/sys/kernel/iommu_groups")
	var seen []string
	if units {
		seen = append(seen, "IOMMU units present")
	}
	if groups {
		n, _ := fs.ReadDir(h.fsys, "sys/kernel/iommu_groups")
		seen = append(seen, fmt.Sprintf("%d IOMMU groups", len(n)))
	}
	if strings.Contains(" "+cmdline+" ", " intel_iommu=on ") {
		seen = append(seen, "intel_iommu=on")
	}
	if units && groups {
		c.Status, c.Observed = StatusOK, strings.Join(seen, ", ")
		return c
	}
	c.Status = StatusFail
	c.Observed = "no IOMMU groups: the IOMMU is off"
	c.fix("off", "Enable VT-d in the BIOS and boot with intel_iommu=on iommu=pt (GRUB_CMDLINE_LINUX in /etc/default/grub, sudo update-grub, reboot).")
	return c
}

func (h *host) checkIOMMUFD() Check {
	c := Check{ID: "iommufd", Title: "iommufd",
		Why: "The official launcher attaches the GPU through iommufd (-object iommufd), which needs /dev/iommu."}
	if h.exists("/dev/iommu") {
		c.Status, c.Observed = StatusOK, "/dev/iommu is present"
		return c
	}
	c.Status, c.Observed = StatusFail, "/dev/iommu is missing"
	c.fix("missing", "Load it: sudo modprobe iommufd (the kernel needs CONFIG_IOMMUFD).")
	return c
}

func (h *host) checkVFIO() Check {
	c := Check{ID: "vfio_pci", Title: "vfio-pci driver",
		Why: "The GPU is handed to the VM by binding it to vfio-pci."}
	switch {
	case h.exists("/sys/bus/pci/drivers/vfio-pci"):
		c.Status, c.Observed = StatusOK, "vfio-pci is loaded"
	case h.moduleAvailable("vfio-pci"):
		c.Status, c.Observed = StatusWarn, "vfio-pci is available but not loaded"
		c.fix("not_loaded", "Load it: sudo modprobe vfio-pci (add vfio-pci to /etc/modules-load.d/ to load it at boot).")
	default:
		c.Status, c.Observed = StatusFail, "vfio-pci is neither loaded nor installed as a module"
		c.fix("not_installed", "Install a kernel built with CONFIG_VFIO_PCI (any distribution kernel has it) and load it: sudo modprobe vfio-pci")
	}
	return c
}

func (h *host) checkVsock() Check {
	c := Check{ID: "vhost_vsock", Title: "vhost-vsock",
		Why: "The worker VM reaches the seal server and the host's health checks over vsock (QEMU vhost-vsock-pci needs /dev/vhost-vsock)."}
	switch {
	case h.exists("/dev/vhost-vsock"):
		c.Status, c.Observed = StatusOK, "/dev/vhost-vsock is present"
	case h.moduleAvailable("vhost_vsock"):
		c.Status, c.Observed = StatusFail, "/dev/vhost-vsock is missing; the module is installed but not loaded"
		c.fix("not_loaded", "Load it: sudo modprobe vhost_vsock (add vhost_vsock to /etc/modules-load.d/ to load it at boot).")
	default:
		c.Status, c.Observed = StatusFail, "/dev/vhost-vsock is missing"
		c.fix("not_installed", "Install a kernel built with CONFIG_VHOST_VSOCK and load it: sudo modprobe vhost_vsock")
	}
	return c
}

// moduleAvailable reports whether the running kernel ships a module
// (names compare with '-' and '_' as equal, as modprobe does).
func (h *host) moduleAvailable(name string) bool {
	if h.exists("/sys/module/" + strings.ReplaceAll(name, "-", "_")) {
		return true
	}
	release, err := h.readTrim("/proc/sys/kernel/osrelease")
	if err != nil {
		return false
	}
	want := strings.ReplaceAll(name, "-", "_")
	for _, list := range []string{"modules.dep", "modules.builtin"} {
		b, err := fs.ReadFile(h.fsys, path.Join("lib/modules", release, list))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			mod, _, _ := strings.Cut(line, ":")
			base := path.Base(strings.TrimSpace(mod))
			base = strings.TrimSuffix(base, path.Ext(base)) // .xz, .zst, .gz or .ko
			base = strings.TrimSuffix(base, ".ko")
			if strings.ReplaceAll(base, "-", "_") == want {
				return true
			}
		}
	}
	return false
}

func presentWord(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func nonEmpty(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
