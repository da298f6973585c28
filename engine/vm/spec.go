package vm

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// AccelTDX is KVM with an Intel TDX confidential guest: the official
// worker's production mode. It needs QEMU 10.1+ built with TDX support.
const AccelTDX Accel = "tdx"

// Guest-side ports and vsock addresses fixed by the worker image
// (spec §3.1, §3.4, §7).
const (
	// GuestStatsPort is the worker's HTTP stats port inside the guest.
	GuestStatsPort = 12000
	// GuestSSHPort is the guest's SSH port (reachable in test images only).
	GuestSSHPort = 22
	// GuestHealthPort is the port of the guest's health monitor: a vsock
	// port in the official image; in dev mode without vsock the stand-in
	// image serves the same protocol on this TCP port (see HealthPort).
	GuestHealthPort = 9999
	// QuoteGenerationCID and QuoteGenerationPort are where QEMU reaches the
	// host's TDX quote-generation service (vsock CID 2 = the host).
	QuoteGenerationCID  = 2
	QuoteGenerationPort = 4050
)

// Per-instance numbering (spec §3.4): every instance owns a block of ten
// host ports starting at 12000+10·i and the guest CID 6+10·i.
const (
	baseStatsPort  = 12000
	baseSSHPort    = 12005
	baseHealthPort = 12009
	baseGuestCID   = 6
	instanceStride = 10
)

// MaxInstance is the largest instance number whose host ports
// (up to HealthPort(i) = 12009+10·i) still fit below 65536.
const MaxInstance = (65535 - baseHealthPort) / instanceStride

// Production sizes of the official launcher (spec §3.1 items 4 and 7).
const (
	ProductionCPUs      = 32
	ProductionMemoryMiB = 100 * 1024 // written "size=100G"
)

// Dev-mode sizes used when a KVM or TCG Spec leaves CPUs or MemoryMiB zero.
const (
	DevCPUs      = 2
	DevMemoryMiB = 2048
)

// Bounds Validate enforces on CPUs and MemoryMiB.
const (
	MaxCPUs      = 256
	MinMemoryMiB = 256
	MaxMemoryMiB = 4 * 1024 * 1024 // 4 TiB
)

// StatsPort is the host port forwarded to the guest's stats port 12000.
func StatsPort(instance int) int { return baseStatsPort + instanceStride*instance }

// SSHPort is the host port forwarded to the guest's SSH port 22.
func SSHPort(instance int) int { return baseSSHPort + instanceStride*instance }

// HealthPort is the host port forwarded to the guest's TCP port 9999 when
// the VM has no vsock device (Spec.Vsock false, dev mode only). The official
// launcher has no such forward; 12009+10·i is the last port of the
// instance's block of ten, which the official launcher leaves unused.
func HealthPort(instance int) int { return baseHealthPort + instanceStride*instance }

// GuestCID is the worker guest's vsock context ID.
func GuestCID(instance int) uint32 { return uint32(baseGuestCID + instanceStride*instance) }

// PersistentDiskName is the official launcher's default file name for the
// instance's persistent disk (created in its working directory).
func PersistentDiskName(instance int) string {
	return fmt.Sprintf("persistent-worker-%d.img", instance)
}

// Spec describes one worker VM as plain data. Args turns it into QEMU's
// command line; nothing in it is shell syntax. Paths may be relative (QEMU
// resolves them against its working directory) but must not contain commas.
//
// Zero values: Binary defaults to DefaultBinary; CPUs and MemoryMiB default
// to ProductionCPUs/ProductionMemoryMiB for AccelTDX and to
// DevCPUs/DevMemoryMiB for AccelKVM and AccelTCG.
//
// The guest console is always `-chardev stdio` as in the official launcher:
// the caller captures QEMU's stdout (the guest's hvc0) and owns its stdin.
type Spec struct {
	// Instance numbers this VM among several on one host (≥ 0); it picks
	// the host ports and the guest CID.
	Instance int
	// Accel is AccelTDX (production), AccelKVM (the launcher's --no-tdx)
	// or AccelTCG (software emulation, dev mode only).
	Accel Accel
	// Binary is the QEMU executable (a name looked up in PATH, or a path).
	Binary string

	// Firmware is OVMF.fd, passed with -bios. Required for AccelTDX;
	// optional for KVM and TCG (QEMU's SeaBIOS is used without it).
	Firmware string
	// Kernel and Initrd are image.vmlinuz and image.initrd. Kernel is always
	// required; Initrd is required for AccelTDX.
	Kernel string
	Initrd string
	// Cmdline is the base kernel command line (the contents of
	// image.cmdline; surrounding white space is stripped). Required for
	// AccelTDX. The flags below are appended as in spec §3.2.
	Cmdline string
	// Test appends " cocoon_debug" (the launcher's --test).
	Test bool
	// FakeTON appends " cocoon_fake_ton" (the launcher's --fake-ton).
	FakeTON bool

	// RootImage is image.img (rootfs + verity). Required for AccelTDX.
	RootImage string
	// PersistentDisk is the raw persistent disk (see PersistentDiskName).
	// Required for AccelTDX.
	PersistentDisk string
	// ModelTar is the model archive built by build-model; empty attaches
	// no model drives.
	ModelTar string
	// ModelVerity is the archive's dm-verity hash tree; empty means
	// ModelTar + ".verity".
	ModelVerity string
	// SpecDir is the prepared spec directory shared over 9p with mount
	// tag "spec". Required for AccelTDX.
	SpecDir string

	// GPU is the PCI address of the GPU passed through with VFIO, e.g.
	// "0000:ab:00.0"; "ab:00.0" and a two-digit function ".00" are accepted
	// and normalised. Empty means no GPU (and " modprobe.blacklist=nvidia"
	// on the kernel command line instead of " cocoon_gpu"). Not with TCG.
	GPU string

	// CPUs is the number of vCPUs (-smp).
	CPUs int
	// MemoryMiB is the guest memory in MiB; whole GiB are written as "<n>G".
	MemoryMiB int

	// ForwardAddr is the host address the port forwards bind: "" binds all
	// interfaces, exactly as the official launcher; dev mode uses
	// "127.0.0.1". Only IPv4 literals are accepted.
	ForwardAddr string
	// Vsock adds the vhost-vsock-pci device with guest CID GuestCID(Instance)
	// (needs /dev/vhost-vsock on the host). Required for AccelTDX. Without
	// it (dev machines lacking /dev/vhost-vsock) the VM instead gets a TCP
	// forward from HealthPort(Instance) to guest port 9999.
	Vsock bool

	// QMPSocket, if set, adds a QMP server on this unix socket path
	// (-qmp unix:<path>,server=on,wait=off). The official launcher has none.
	QMPSocket string
	// PidFile, if set, makes QEMU write its PID there (-pidfile).
	PidFile string
	// Extra is appended verbatim after everything else (the launcher's
	// "-- extra QEMU args").
	Extra []string
}

// bdfRe is a full, normalised PCI address: domain:bus:device.function.
var bdfRe = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// NormalizeBDF returns a PCI address in the form sysfs and QEMU use,
// "0000:ab:00.0": lower case, the domain "0000:" added when missing, and a
// two-digit function such as ".00" (as in the official worker.conf.example)
// shortened to one digit. The host address is not visible to the guest, so
// normalising it does not change any measurement.
func NormalizeBDF(bdf string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(bdf))
	if strings.Count(s, ":") == 1 {
		s = "0000:" + s
	}
	if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i == 3 && s[i+1] == '0' {
		s = s[:i+1] + s[i+2:]
	}
	if !bdfRe.MatchString(s) {
		return "", fmt.Errorf("GPU address %q is not a PCI address like 0000:ab:00.0; copy it from `lspci -D` (domain:bus:device.function)", bdf)
	}
	return s, nil
}

// KernelCmdline is the full kernel command line (-append) per spec §3.2:
// the stripped base line, then " cocoon_debug" (Test), " cocoon_fake_ton"
// (FakeTON), and " cocoon_gpu" with a GPU or " modprobe.blacklist=nvidia"
// without one, in this order. The whole line is measured into RTMR2.
func (s Spec) KernelCmdline() string {
	parts := make([]string, 0, 4)
	if base := strings.TrimSpace(s.Cmdline); base != "" {
		parts = append(parts, base)
	}
	if s.Test {
		parts = append(parts, "cocoon_debug")
	}
	if s.FakeTON {
		parts = append(parts, "cocoon_fake_ton")
	}
	if s.GPU != "" {
		parts = append(parts, "cocoon_gpu")
	} else {
		parts = append(parts, "modprobe.blacklist=nvidia")
	}
	return strings.Join(parts, " ")
}

// ModelVerityPath is the hash-tree file attached with the model archive:
// ModelVerity, or ModelTar + ".verity". Empty without a model.
func (s Spec) ModelVerityPath() string {
	switch {
	case s.ModelTar == "":
		return ""
	case s.ModelVerity != "":
		return s.ModelVerity
	default:
		return s.ModelTar + ".verity"
	}
}

// withDefaults fills the zero values documented on Spec.
func (s Spec) withDefaults() Spec {
	if s.Binary == "" {
		s.Binary = DefaultBinary
	}
	if s.CPUs == 0 {
		s.CPUs = DevCPUs
		if s.Accel == AccelTDX {
			s.CPUs = ProductionCPUs
		}
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = DevMemoryMiB
		if s.Accel == AccelTDX {
			s.MemoryMiB = ProductionMemoryMiB
		}
	}
	return s
}

// Validate reports every problem that would stop Args from producing a
// command line QEMU accepts, joined into one error.
func (s Spec) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	tdx := s.Accel == AccelTDX

	switch s.Accel {
	case AccelTDX, AccelKVM, AccelTCG:
	case "":
		add("no accelerator set: choose %q, %q or %q", AccelTDX, AccelKVM, AccelTCG)
	default:
		add("unknown accelerator %q: choose %q, %q or %q", s.Accel, AccelTDX, AccelKVM, AccelTCG)
	}
	if s.Instance < 0 || s.Instance > MaxInstance {
		add("instance %d is out of range: use 0 to %d", s.Instance, MaxInstance)
	}

	required := func(name, path, why string) {
		if path == "" {
			add("%s is required %s", name, why)
		}
	}
	required("Kernel (image.vmlinuz)", s.Kernel, "to boot the worker")
	if tdx {
		const why = "for a TDX guest; it comes from the worker release's image directory"
		required("Firmware (OVMF.fd)", s.Firmware, why)
		required("Initrd (image.initrd)", s.Initrd, why)
		required("RootImage (image.img)", s.RootImage, why)
		required("PersistentDisk", s.PersistentDisk, "for a TDX guest; use e.g. "+PersistentDiskName(max(s.Instance, 0)))
		required("SpecDir (the prepared spec directory)", s.SpecDir, "for a TDX guest")
		if strings.TrimSpace(s.Cmdline) == "" {
			add("Cmdline is required for a TDX guest: use the contents of image.cmdline (it carries the rootfs hash)")
		}
		if !s.Vsock {
			add("a TDX guest needs its vsock device: set Vsock and load the vhost_vsock kernel module (/dev/vhost-vsock)")
		}
	}
	if strings.ContainsAny(strings.TrimSpace(s.Cmdline), "\r\n") {
		add("Cmdline must be a single line; image.cmdline holds one line")
	}
	if s.ModelVerity != "" && s.ModelTar == "" {
		add("ModelVerity is set without ModelTar: set both or neither")
	}

	// QEMU splits option values at commas; refuse paths that would be cut.
	for _, p := range []struct{ name, path string }{
		{"Firmware", s.Firmware}, {"Kernel", s.Kernel}, {"Initrd", s.Initrd},
		{"RootImage", s.RootImage}, {"PersistentDisk", s.PersistentDisk},
		{"ModelTar", s.ModelTar}, {"ModelVerity", s.ModelVerityPath()},
		{"SpecDir", s.SpecDir}, {"QMPSocket", s.QMPSocket}, {"PidFile", s.PidFile},
	} {
		if strings.Contains(p.path, ",") {
			add("%s path %q contains a comma, which QEMU's option syntax cannot carry: rename or move it to a path without commas", p.name, p.path)
		}
	}
	if s.QMPSocket != "" && len(s.QMPSocket) > 107 {
		add("QMPSocket path is %d bytes; unix socket paths must be at most 107: use a shorter directory", len(s.QMPSocket))
	}

	if s.GPU != "" {
		if _, err := NormalizeBDF(s.GPU); err != nil {
			errs = append(errs, err)
		}
		if s.Accel == AccelTCG {
			add("GPU passthrough needs KVM: use accelerator %q or %q, or remove the GPU", AccelKVM, AccelTDX)
		}
	}

	d := s.withDefaults()
	if d.CPUs < 1 || d.CPUs > MaxCPUs {
		add("CPUs = %d is out of range: use 1 to %d (0 picks the default)", s.CPUs, MaxCPUs)
	}
	if d.MemoryMiB < MinMemoryMiB || d.MemoryMiB > MaxMemoryMiB {
		add("MemoryMiB = %d is out of range: use %d to %d (0 picks the default)", s.MemoryMiB, MinMemoryMiB, MaxMemoryMiB)
	}

	if s.ForwardAddr != "" {
		if a, err := netip.ParseAddr(s.ForwardAddr); err != nil || !a.Is4() {
			add("ForwardAddr %q is not an IPv4 address: use e.g. 127.0.0.1, or leave it empty to listen on all interfaces", s.ForwardAddr)
		}
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid VM spec: %w", errors.Join(errs...))
}

// CheckQEMU says whether the QEMU described by info (from Inspect) can run
// s: a TDX guest needs QEMU 10.1 or later built with the tdx-guest object.
func (s Spec) CheckQEMU(info QEMUInfo) error {
	if s.Accel != AccelTDX {
		return nil
	}
	if !info.Version.AtLeast(10, 1) || !info.TDX {
		return fmt.Errorf("a TDX worker needs QEMU 10.1 or later with TDX support, but %s is %s (tdx-guest: %v): install a TDX-enabled QEMU or use KVM/TCG dev mode", info.Path, info.Version, info.TDX)
	}
	return nil
}
