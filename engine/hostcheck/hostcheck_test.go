package hostcheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func fixedDisk(free uint64) func(context.Context, string) (uint64, string, error) {
	return func(context.Context, string) (uint64, string, error) { return free, "/srv", nil }
}

// h100 is an H100 whose CC mode the engine read as cc ("" for unknown),
// with the engine's reasons against it.
func h100(driver, cc string, reasons ...string) GPU {
	return GPU{PCIBusID: "0000:17:00.0", Name: "NVIDIA H100 80GB HBM3", VendorID: "10de", DeviceID: "2330",
		Driver: driver, CCCapable: true, CCMode: cc, CCReasons: reasons, MemoryMiB: 81559, IOMMUGroup: "30"}
}

// eligibleInputs is the fully eligible TDX + H100 host.
func eligibleInputs(t *testing.T) Inputs {
	return Inputs{
		Root:     "testdata/hosts/tdx-h100",
		DataDir:  t.TempDir(),
		DiskFree: fixedDisk(2 << 40),
		QEMU:     QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 10.1.0", Major: 10, Minor: 1, TDX: true},
		KVM:      ProbeFacts{Ran: true, OK: true, Duration: 40 * time.Millisecond},
		TCG:      ProbeFacts{Ran: true, OK: true, Duration: 100 * time.Millisecond},
		NVML:     NVMLFacts{Reason: "NVIDIA library not found"},
		GPUs:     []GPU{h100("vfio-pci", "on")},
	}
}

// nestedInputs is this kind of machine: a cloud VM, no GPU, /dev/kvm present but nested KVM unusable.
func nestedInputs(t *testing.T) Inputs {
	return Inputs{
		Root:     "testdata/hosts/devbox-nested-kvm",
		DataDir:  t.TempDir(),
		DiskFree: fixedDisk(80 << 30),
		QEMU:     QEMUFacts{Found: true, Path: "/usr/bin/qemu-system-x86_64", Banner: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", Major: 7, Minor: 2},
		KVM:      ProbeFacts{Ran: true, Reason: "QEMU failed: error: failed to set MSR 0x10a to 0x69"},
		TCG:      ProbeFacts{Ran: true, OK: true, Duration: 110 * time.Millisecond},
		NVML:     NVMLFacts{Reason: "NVIDIA library not found"},
	}
}

func statuses(r Report, m Mode) map[string]Status {
	out := map[string]Status{}
	for _, c := range r.Checks {
		out[c.ID] = c.For(m)
	}
	return out
}

func TestEligibleTDXHost(t *testing.T) {
	r := Run(context.Background(), eligibleInputs(t))
	for _, c := range r.Checks {
		if c.Status == StatusFail || c.Status == StatusUnknown {
			t.Errorf("check %s = %s (%s), want ok or warn", c.ID, c.Status, c.Observed)
		}
	}
	if !r.Production.Ready || len(r.Production.Unconfirmed) != 0 {
		t.Fatalf("production verdict = %+v, want ready and confirmed", r.Production)
	}
	if r.Production.Summary != "This machine can earn on COCOON." {
		t.Errorf("summary = %q", r.Production.Summary)
	}
	if !r.Dev.Ready || r.DevAccel != "kvm" {
		t.Errorf("dev verdict = %+v accel %q, want ready with kvm", r.Dev, r.DevAccel)
	}
	if c, _ := r.Check("gpu"); c.Status != StatusOK {
		t.Errorf("gpu check of an H100 80 GB (NVML: 81559 MiB) = %s (%s), want ok", c.Status, c.Fix)
	}
	c, _ := r.Check("cores")
	if c.Observed != "64 logical CPUs" {
		t.Errorf("cores observed %q", c.Observed)
	}
	if c, _ := r.Check("sgx"); !strings.Contains(c.Observed, "EPC 127.5 GiB") {
		t.Errorf("sgx observed %q", c.Observed)
	}
	if c, _ := r.Check("tdx"); !strings.Contains(c.Observed, "63 TDX key IDs") {
		t.Errorf("tdx observed %q", c.Observed)
	}
	if r.Host.OS != "Debian GNU/Linux 13 (trixie)" || r.Host.Kernel != "6.16.3+deb13-amd64" {
		t.Errorf("host = %+v", r.Host)
	}
}

func TestNestedKVMDevBox(t *testing.T) {
	r := Run(context.Background(), nestedInputs(t))
	if r.Production.Ready {
		t.Fatal("a machine without TDX or GPU must not be eligible for earning")
	}
	for _, id := range []string{"cpu", "memory", "disk", "kvm_guest", "tdx", "sgx", "iommu", "iommufd", "vfio_pci", "vhost_vsock", "qemu", "qemu_tdx", "gpu"} {
		if !slices.Contains(r.Production.Blocking, id) {
			t.Errorf("production blocking %v lacks %s", r.Production.Blocking, id)
		}
	}
	if !r.Dev.Ready || r.DevAccel != "tcg" {
		t.Fatalf("dev verdict = %+v accel %q, want ready with tcg", r.Dev, r.DevAccel)
	}
	if !strings.Contains(r.Dev.Summary, "software emulation") {
		t.Errorf("dev summary %q", r.Dev.Summary)
	}
	kvm, _ := r.Check("kvm_guest")
	if kvm.DevStatus != StatusWarn || !strings.HasPrefix(kvm.Observed, "KVM present but unusable") || !strings.Contains(kvm.Observed, "dev mode will use software emulation") {
		t.Errorf("kvm_guest = %+v", kvm)
	}
	if !strings.HasPrefix(r.Production.Summary, "This machine cannot earn on COCOON, because of: ") || !strings.HasSuffix(r.Production.Summary, "You can still try dev mode.") {
		t.Errorf("production summary %q", r.Production.Summary)
	}
	for _, c := range r.Checks {
		if c.Status == StatusFail && c.Fix == "" {
			t.Errorf("failed check %s has no fix", c.ID)
		}
		if c.Why == "" {
			t.Errorf("check %s has no why", c.ID)
		}
	}
}

func TestCheckVariants(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Inputs)
		id     string
		prod   Status
		dev    Status
		fix    string
	}{
		{"no qemu", func(in *Inputs) { in.QEMU = QEMUFacts{Err: "qemu-system-x86_64 not found in PATH"} }, "qemu", StatusFail, StatusFail, "apt install qemu-system-x86"},
		{"old qemu", func(in *Inputs) { in.QEMU.Major, in.QEMU.Minor = 9, 2 }, "qemu", StatusFail, StatusOK, "10.1+"},
		{"qemu without tdx", func(in *Inputs) { in.QEMU.TDX = false }, "qemu_tdx", StatusFail, StatusNone, "TDX support"},
		{"kvm hangs", func(in *Inputs) {
			in.KVM = ProbeFacts{Ran: true, Reason: "the test guest did not finish within 3s"}
		}, "kvm_guest", StatusFail, StatusWarn, "nested virtualisation"},
		{"tcg broken, kvm fine", func(in *Inputs) { in.TCG = ProbeFacts{Ran: true, Reason: "QEMU failed"} }, "tcg_guest", StatusNone, StatusNone, ""},
		{"cc off", func(in *Inputs) { in.GPUs = []GPU{h100("nvidia", "off", "CC mode is off. Switch it on.")} }, "gpu_cc", StatusFail, StatusNone, "CC mode is off. Switch it on."},
		{"cc on, ppcie", func(in *Inputs) { in.GPUs = []GPU{h100("nvidia", "on", "multi-GPU CC mode is protected-pcie.")} }, "gpu_cc", StatusFail, StatusNone, "protected-pcie"},
		{"cc unreadable", func(in *Inputs) { in.GPUs = []GPU{h100("vfio-pci", "", "Query it.")} }, "gpu_cc", StatusUnknown, StatusNone, "Query it."},
		{"cc off and unreadable", func(in *Inputs) {
			other := h100("vfio-pci", "", "Query it.")
			other.PCIBusID = "0000:18:00.0"
			in.GPUs = []GPU{h100("nvidia", "off", "Switch it on."), other}
		}, "gpu_cc", StatusFail, StatusNone, "Switch it on. Query it."},
		{"gpu on nvidia driver", func(in *Inputs) { in.GPUs = []GPU{h100("nvidia", "on")} }, "gpu_vfio", StatusWarn, StatusNone, "driver_override"},
		{"shared iommu group", func(in *Inputs) {
			g := h100("vfio-pci", "on")
			g.IOMMUPeers = []PCIPeer{{Address: "0000:18:00.0", VendorID: "8086", Class: "020000", Driver: "ice"}}
			in.GPUs = []GPU{g}
		}, "gpu_vfio", StatusFail, StatusNone, "ACS"},
		{"own audio function on host driver", func(in *Inputs) {
			g := h100("vfio-pci", "on")
			g.SlotPeers = []PCIPeer{{Address: "0000:17:00.1", VendorID: "10de", Class: "040300", Driver: "snd_hda_intel"}}
			in.GPUs = []GPU{g}
		}, "gpu_vfio", StatusWarn, StatusNone, "0000:17:00.1"},
		{"consumer gpu", func(in *Inputs) {
			in.GPUs = []GPU{{PCIBusID: "0000:01:00.0", Name: "NVIDIA GeForce RTX 4090", VendorID: "10de", DeviceID: "2684", Driver: "nvidia"}}
		}, "gpu", StatusFail, StatusOK, "confidential computing"},
		{"no gpu", func(in *Inputs) { in.GPUs = nil }, "gpu", StatusFail, StatusOK, "dev mode"},
		{"small disk", func(in *Inputs) { in.DiskFree = fixedDisk(50 << 30) }, "disk", StatusFail, StatusOK, "--data-dir"},
		{"tiny disk", func(in *Inputs) { in.DiskFree = fixedDisk(1 << 30) }, "disk", StatusFail, StatusFail, "2 GiB"},
		{"disk unreadable", func(in *Inputs) {
			in.DiskFree = func(context.Context, string) (uint64, string, error) { return 0, "", errors.New("permission denied") }
		}, "disk", StatusUnknown, StatusUnknown, ""},
		{"missing root", func(in *Inputs) { in.Root = "testdata/hosts/does-not-exist" }, "cpu", StatusUnknown, StatusUnknown, ""},
		{"nvml loaded", func(in *Inputs) { in.NVML = NVMLFacts{Loaded: true, DriverVersion: "580.95.05", CUDAVersion: "13.0"} }, "nvidia_driver", StatusOK, StatusNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := eligibleInputs(t)
			tt.mutate(&in)
			r := Run(context.Background(), in)
			c, ok := r.Check(tt.id)
			if !ok {
				t.Fatalf("no check %s", tt.id)
			}
			if c.Status != tt.prod || c.DevStatus != tt.dev {
				t.Errorf("%s = prod %q dev %q (%s), want %q %q", tt.id, c.Status, c.DevStatus, c.Observed, tt.prod, tt.dev)
			}
			if !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("%s fix %q lacks %q", tt.id, c.Fix, tt.fix)
			}
			for _, c := range r.Checks {
				if c.Fix != "" && c.ID != "gpu_cc" && !strings.HasPrefix(c.FixKey, "check."+c.ID+".fix.") {
					t.Errorf("%s: fix %q has the key %q", c.ID, c.Fix, c.FixKey)
				}
			}
			if tt.prod == StatusFail && r.Production.Ready {
				t.Errorf("production ready despite failing %s", tt.id)
			}
		})
	}
}

func TestDataDir(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		want Status
		obs  string
	}{
		{base, StatusOK, "is writable"},
		{filepath.Join(base, "new", "deeper"), StatusOK, "will be created"},
		{filepath.Join(file, "data"), StatusFail, "is a file"},
		{"", StatusFail, "no data directory"},
	}
	for _, tt := range tests {
		in := nestedInputs(t)
		in.DataDir = tt.dir
		c := newHost(context.Background(), in).checkDataDir()
		if c.Status != tt.want || c.DevStatus != tt.want || !strings.Contains(c.Observed, tt.obs) {
			t.Errorf("data dir %q: %+v, want %s %q", tt.dir, c, tt.want, tt.obs)
		}
	}
}

func TestMalformedProcFiles(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/cpuinfo", "garbage without colons\n\x00\x01\n")
	write("proc/meminfo", "MemTotal: lots\n")
	write("proc/sys/kernel/osrelease", "not-a-version\n")
	write("sys/fs/cgroup/misc.capacity", "tdx many\n")
	write("sys/devices/system/node/node0/x86/sgx_total_bytes", "-1\n")
	write("sys/module/kvm_intel/parameters/tdx", "N\n")
	in := nestedInputs(t)
	in.Root = root
	r := Run(context.Background(), in)
	st := statuses(r, ModeProduction)
	if st["cpu"] != StatusUnknown || st["kernel"] != StatusUnknown {
		t.Errorf("malformed files: cpu %s kernel %s, want unknown", st["cpu"], st["kernel"])
	}
	if st["tdx"] != StatusFail {
		t.Errorf("tdx with kvm_intel.tdx=N = %s, want fail", st["tdx"])
	}
	if c, _ := r.Check("memory"); c.Status != StatusUnknown || c.DevStatus != StatusUnknown {
		t.Errorf("memory with malformed meminfo = %+v, want unknown", c)
	}
}

func TestModuleAvailable(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc/sys/kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/sys/kernel/osrelease"), []byte("6.1.0-26-amd64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mods := filepath.Join(root, "lib/modules/6.1.0-26-amd64")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	dep := "kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/pci/vfio-pci-core.ko.xz\nkernel/drivers/vhost/vhost_vsock.ko: kernel/drivers/vhost/vhost.ko\n"
	if err := os.WriteFile(filepath.Join(mods, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost(context.Background(), Inputs{Root: root})
	for name, want := range map[string]bool{"vfio-pci": true, "vfio_pci": true, "vhost_vsock": true, "vfio-pci-core": false, "kvm_intel": false} {
		if got := h.moduleAvailable(name); got != want {
			t.Errorf("moduleAvailable(%s) = %v, want %v", name, got, want)
		}
	}
	if c := h.checkVFIO(); c.Status != StatusWarn || !strings.Contains(c.Fix, "modprobe vfio-pci") {
		t.Errorf("vfio check = %+v", c)
	}
}
