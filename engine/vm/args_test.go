package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// prodCmdline is image.cmdline of a production image (spec §1.2) with a
// made-up root hash.
const prodCmdline = "roothash=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 systemd.verity_root_options=panic-on-corruption systemd.verity=1 rd.live.overlay.overlayfs=1 loglevel=7 rd.live.overlay.size=1536m audit=0 console=hvc0 swiotlb=1048576 systemd.getty_auto=no rd.shell=0"

const imageDir = "/srv/cocoon/release/images/prod"

// prodSpec is a production worker as the official launcher starts it with a
// GPU and a model, plus the app's QMP socket and pidfile.
func prodSpec(instance int) Spec {
	return Spec{
		Instance:       instance,
		Accel:          AccelTDX,
		Firmware:       imageDir + "/OVMF.fd",
		Kernel:         imageDir + "/image.vmlinuz",
		Initrd:         imageDir + "/image.initrd",
		Cmdline:        prodCmdline + "\n", // as read from the file
		RootImage:      imageDir + "/image.img",
		PersistentDisk: "/var/lib/cocoon/" + PersistentDiskName(instance),
		ModelTar:       "/srv/cocoon/release/images/Qwen_Qwen3_8B.tar",
		SpecDir:        "/tmp/cocoon-spec-a1b2c3/spec",
		GPU:            fmt.Sprintf("0000:%02x:00.0", (0xab+instance)&0xff),
		Vsock:          true,
		QMPSocket:      fmt.Sprintf("/run/cocoon/vm%d/qmp.sock", instance),
		PidFile:        fmt.Sprintf("/run/cocoon/vm%d/qemu.pid", instance),
	}
}

// devSpec is a dev-mode stand-in worker: small, forwards on loopback, no
// vsock device, no GPU.
func devSpec(accel Accel, instance int) Spec {
	const dir = "/srv/cocoon/standin"
	s := Spec{
		Instance:       instance,
		Accel:          accel,
		Kernel:         dir + "/image.vmlinuz",
		Initrd:         dir + "/image.initrd",
		Cmdline:        "console=hvc0 loglevel=4",
		RootImage:      dir + "/image.img",
		PersistentDisk: fmt.Sprintf("/var/lib/cocoon/%s", PersistentDiskName(instance)),
		SpecDir:        fmt.Sprintf("/var/lib/cocoon/spec-%d", instance),
		CPUs:           4,
		MemoryMiB:      4096,
		ForwardAddr:    "127.0.0.1",
		QMPSocket:      fmt.Sprintf("/run/user/1000/cocoon/vm%d/qmp.sock", instance),
		PidFile:        fmt.Sprintf("/run/user/1000/cocoon/vm%d/qemu.pid", instance),
	}
	if accel == AccelKVM {
		s.Firmware = dir + "/OVMF.fd"
		s.Test = true
	} else {
		s.CPUs, s.MemoryMiB = 2, 1536
	}
	return s
}

func TestArgsGolden(t *testing.T) {
	specs := map[string]func(int) Spec{
		"tdx": prodSpec,
		"kvm": func(i int) Spec { return devSpec(AccelKVM, i) },
		"tcg": func(i int) Spec { return devSpec(AccelTCG, i) },
	}
	for name, spec := range specs {
		for i := range 2 {
			file := filepath.Join("testdata", "golden", fmt.Sprintf("%s-instance%d.args", name, i))
			t.Run(filepath.Base(file), func(t *testing.T) {
				args, err := spec(i).Args()
				if err != nil {
					t.Fatalf("Args: %v", err)
				}
				got := strings.Join(args, "\n") + "\n"
				if *updateGolden {
					if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run `go test ./engine/vm -run TestArgsGolden -update` to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs (check, then rerun with -update):\n%s", file, lineDiff(string(want), got))
				}
			})
		}
	}
}

// TestTDXArgsMatchSpec checks the production list against spec §3.1,
// written out here from the spec's table, not from the builder.
func TestTDXArgsMatchSpec(t *testing.T) {
	s := prodSpec(0)
	s.GPU = "0000:ab:00.0"
	s.Extra = []string{"-d", "guest_errors"}
	want := []string{
		// 1: qemu-system-x86_64 (returned by Command, checked below)
		"-machine", "q35,kernel-irqchip=split,memory-backend=mem0,confidential-guest-support=tdx", // 2
		"-bios", imageDir + "/OVMF.fd", // 3
		"-accel", "kvm", "-cpu", "host", "-smp", "32", // 4
		"-vga", "none", // 5
		"-object", `{"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}}`, // 6
		"-object", "memory-backend-ram,id=mem0,size=100G", // 7
		"-device", "vhost-vsock-pci,guest-cid=6", // 8
		"-object", "iommufd,id=iommufd0", // 9
		"-device", "pcie-root-port,id=pci.0,bus=pcie.0", // 10
		"-drive", "cache=writeback,file=" + imageDir + "/image.img,readonly=on,id=drive1,if=none,index=1,werror=report", // 11
		"-device", "virtio-blk-pci,bootindex=1,drive=drive1,serial=root", // 11
		"-drive", "cache=writeback,file=/var/lib/cocoon/persistent-worker-0.img,format=raw,id=drive2,if=none,index=2,werror=report", // 12
		"-device", "virtio-blk-pci,bootindex=2,drive=drive2,serial=persistent", // 12
		"-drive", "readonly=on,file=/srv/cocoon/release/images/Qwen_Qwen3_8B.tar,id=drivecache,if=none,index=3,werror=report", // 13
		"-device", "virtio-blk-pci,drive=drivecache,serial=model-tar", // 13
		"-drive", "readonly=on,file=/srv/cocoon/release/images/Qwen_Qwen3_8B.tar.verity,id=drivecacheverity,if=none,index=4,werror=report", // 14
		"-device", "virtio-blk-pci,drive=drivecacheverity,serial=model-tar-verity", // 14
		"-chardev", "stdio,id=char0", "-device", "virtio-serial-pci,id=virtio-serial0", "-device", "virtconsole,chardev=char0", // 15
		"-kernel", imageDir + "/image.vmlinuz", "-initrd", imageDir + "/image.initrd", "-append", prodCmdline + " cocoon_gpu", // 16
		"-virtfs", "local,path=/tmp/cocoon-spec-a1b2c3/spec,mount_tag=spec,security_model=mapped,readonly=on", // 17
		"-net", "nic,netdev=user.0,model=virtio", "-netdev", "user,id=user.0,hostfwd=tcp::12005-:22,hostfwd=tcp::12000-:12000", // 18
		"-nographic", "-serial", "null", "-monitor", "null", // 19
		"-device", "vfio-pci,host=0000:ab:00.0,bus=pci.0,iommufd=iommufd0", // 20
		// The app's additions, not in the official launcher:
		"-qmp", "unix:/run/cocoon/vm0/qmp.sock,server=on,wait=off",
		"-pidfile", "/run/cocoon/vm0/qemu.pid",
		"-d", "guest_errors", // 21
	}
	exe, got, err := s.Command()
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	if exe != "qemu-system-x86_64" {
		t.Errorf("exe = %q, want qemu-system-x86_64", exe)
	}
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("argument %d = %q, want %q", i, g, w)
		}
	}
}

func TestPerInstanceValues(t *testing.T) {
	tests := []struct {
		i                           int
		stats, ssh, health          int
		cid                         uint32
		disk                        string
		sshFwd, statsFwd, healthFwd string
	}{
		{0, 12000, 12005, 12009, 6, "persistent-worker-0.img", "hostfwd=tcp::12005-:22", "hostfwd=tcp::12000-:12000", "hostfwd=tcp::12009-:9999"},
		{1, 12010, 12015, 12019, 16, "persistent-worker-1.img", "hostfwd=tcp::12015-:22", "hostfwd=tcp::12010-:12000", "hostfwd=tcp::12019-:9999"},
		{7, 12070, 12075, 12079, 76, "persistent-worker-7.img", "hostfwd=tcp::12075-:22", "hostfwd=tcp::12070-:12000", "hostfwd=tcp::12079-:9999"},
		{MaxInstance, 65520, 65525, 65529, 53526, "persistent-worker-5352.img", "hostfwd=tcp::65525-:22", "hostfwd=tcp::65520-:12000", "hostfwd=tcp::65529-:9999"},
	}
	for _, tt := range tests {
		if got := StatsPort(tt.i); got != tt.stats {
			t.Errorf("StatsPort(%d) = %d, want %d", tt.i, got, tt.stats)
		}
		if got := SSHPort(tt.i); got != tt.ssh {
			t.Errorf("SSHPort(%d) = %d, want %d", tt.i, got, tt.ssh)
		}
		if got := HealthPort(tt.i); got != tt.health {
			t.Errorf("HealthPort(%d) = %d, want %d", tt.i, got, tt.health)
		}
		if got := GuestCID(tt.i); got != tt.cid {
			t.Errorf("GuestCID(%d) = %d, want %d", tt.i, got, tt.cid)
		}
		if got := PersistentDiskName(tt.i); got != tt.disk {
			t.Errorf("PersistentDiskName(%d) = %q, want %q", tt.i, got, tt.disk)
		}

		// With vsock: the CID device, and no health forward.
		args, err := prodSpec(tt.i).Args()
		if err != nil {
			t.Fatalf("instance %d: %v", tt.i, err)
		}
		netdev := "user,id=user.0," + tt.sshFwd + "," + tt.statsFwd
		if !slices.Contains(args, netdev) {
			t.Errorf("instance %d: no -netdev %q in %q", tt.i, netdev, args)
		}
		if vs := fmt.Sprintf("vhost-vsock-pci,guest-cid=%d", tt.cid); !slices.Contains(args, vs) {
			t.Errorf("instance %d: no -device %q", tt.i, vs)
		}

		// Without vsock: the health port forward instead of the device.
		s := devSpec(AccelTCG, tt.i)
		s.ForwardAddr = ""
		args, err = s.Args()
		if err != nil {
			t.Fatalf("instance %d: %v", tt.i, err)
		}
		netdev += "," + tt.healthFwd
		if !slices.Contains(args, netdev) {
			t.Errorf("instance %d without vsock: no -netdev %q in %q", tt.i, netdev, args)
		}
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "vhost-vsock-pci") }) {
			t.Errorf("instance %d without vsock: has a vhost-vsock-pci device", tt.i)
		}
	}
}

func TestForwardAddr(t *testing.T) {
	s := devSpec(AccelKVM, 1)
	s.ForwardAddr = "127.0.0.1"
	args, err := s.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := "user,id=user.0,hostfwd=tcp:127.0.0.1:12015-:22,hostfwd=tcp:127.0.0.1:12010-:12000,hostfwd=tcp:127.0.0.1:12019-:9999"
	if !slices.Contains(args, want) {
		t.Errorf("no -netdev %q in %q", want, args)
	}
}

func TestKernelCmdlineOrder(t *testing.T) {
	const base = "roothash=ab console=hvc0"
	tests := []struct {
		test, fakeTON bool
		gpu           string
		want          string
	}{
		{false, false, "", base + " modprobe.blacklist=nvidia"},
		{false, false, "ab:00.0", base + " cocoon_gpu"},
		{true, false, "ab:00.0", base + " cocoon_debug cocoon_gpu"},
		{false, true, "ab:00.0", base + " cocoon_fake_ton cocoon_gpu"},
		{true, true, "ab:00.0", base + " cocoon_debug cocoon_fake_ton cocoon_gpu"},
		{true, true, "", base + " cocoon_debug cocoon_fake_ton modprobe.blacklist=nvidia"},
	}
	for _, tt := range tests {
		// The base line is stripped first, as the launcher does.
		s := Spec{Cmdline: "  " + base + " \n", Test: tt.test, FakeTON: tt.fakeTON, GPU: tt.gpu}
		if got := s.KernelCmdline(); got != tt.want {
			t.Errorf("KernelCmdline(test=%v fake=%v gpu=%q) = %q, want %q", tt.test, tt.fakeTON, tt.gpu, got, tt.want)
		}
	}
	if got := (Spec{}).KernelCmdline(); got != "modprobe.blacklist=nvidia" {
		t.Errorf("empty base: KernelCmdline() = %q", got)
	}
}

func TestNormalizeBDF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0000:ab:00.0", "0000:ab:00.0"},
		{"ab:00.0", "0000:ab:00.0"},
		{"0000:AB:00.0", "0000:ab:00.0"},
		{"0000:ab:00.00", "0000:ab:00.0"}, // worker.conf.example's form
		{"ab:00.03", "0000:ab:00.3"},
		{" 0001:3b:1f.7 ", "0001:3b:1f.7"},
		{"0000:ab:00.8", ""},
		{"0000:ab:00", ""},
		{"ab.00.0", ""},
		{"gpu0", ""},
		{"0000:ab:00.0,x-vga=on", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeBDF(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("NormalizeBDF(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	long := "/" + strings.Repeat("d", 110) + "/qmp.sock"
	tests := []struct {
		name   string
		modify func(*Spec)
		want   string // a substring of the error; "" = valid
	}{
		{"production", func(*Spec) {}, ""},
		{"no GPU", func(s *Spec) { s.GPU = "" }, ""},
		{"GPU without domain", func(s *Spec) { s.GPU = "ab:00.0" }, ""},
		{"no model", func(s *Spec) { s.ModelTar = "" }, ""},
		{"explicit verity", func(s *Spec) { s.ModelVerity = "/x/model.verity" }, ""},
		{"loopback forwards", func(s *Spec) { s.ForwardAddr = "127.0.0.1" }, ""},
		{"max instance", func(s *Spec) { s.Instance = MaxInstance }, ""},
		{"no accel", func(s *Spec) { s.Accel = "" }, "no accelerator set"},
		{"unknown accel", func(s *Spec) { s.Accel = "hvf" }, `unknown accelerator "hvf"`},
		{"negative instance", func(s *Spec) { s.Instance = -1 }, "instance -1 is out of range"},
		{"huge instance", func(s *Spec) { s.Instance = MaxInstance + 1 }, "instance 5353 is out of range"},
		{"no kernel", func(s *Spec) { s.Kernel = "" }, "Kernel (image.vmlinuz) is required"},
		{"TDX without firmware", func(s *Spec) { s.Firmware = "" }, "Firmware (OVMF.fd) is required for a TDX guest"},
		{"TDX without initrd", func(s *Spec) { s.Initrd = "" }, "Initrd (image.initrd) is required"},
		{"TDX without root image", func(s *Spec) { s.RootImage = "" }, "RootImage (image.img) is required"},
		{"TDX without persistent disk", func(s *Spec) { s.PersistentDisk = "" }, "PersistentDisk is required"},
		{"TDX without spec dir", func(s *Spec) { s.SpecDir = "" }, "SpecDir (the prepared spec directory) is required"},
		{"TDX without cmdline", func(s *Spec) { s.Cmdline = " \n" }, "Cmdline is required for a TDX guest"},
		{"TDX without vsock", func(s *Spec) { s.Vsock = false }, "a TDX guest needs its vsock device"},
		{"two-line cmdline", func(s *Spec) { s.Cmdline = "a\nb" }, "Cmdline must be a single line"},
		{"verity without tar", func(s *Spec) { s.ModelTar, s.ModelVerity = "", "/x/m.verity" }, "ModelVerity is set without ModelTar"},
		{"comma in firmware", func(s *Spec) { s.Firmware = "/a,b/OVMF.fd" }, `Firmware path "/a,b/OVMF.fd" contains a comma`},
		{"comma in kernel", func(s *Spec) { s.Kernel = "/a,b/k" }, "Kernel path"},
		{"comma in initrd", func(s *Spec) { s.Initrd = "/a,b/i" }, "Initrd path"},
		{"comma in root image", func(s *Spec) { s.RootImage = "/a,b/image.img" }, "RootImage path"},
		{"comma in persistent disk", func(s *Spec) { s.PersistentDisk = "disk,format=qcow2" }, "PersistentDisk path"},
		{"comma in model tar", func(s *Spec) { s.ModelTar = "/m,1.tar" }, "ModelTar path"},
		{"comma in derived verity", func(s *Spec) { s.ModelTar = "/m,1.tar" }, `ModelVerity path "/m,1.tar.verity"`},
		{"comma in explicit verity", func(s *Spec) { s.ModelVerity = "/v,1" }, "ModelVerity path"},
		{"comma in spec dir", func(s *Spec) { s.SpecDir = "/tmp/s,readonly=off" }, "SpecDir path"},
		{"comma in QMP socket", func(s *Spec) { s.QMPSocket = "/run/q,s" }, "QMPSocket path"},
		{"comma in pidfile", func(s *Spec) { s.PidFile = "/run/p,id" }, "PidFile path"},
		{"long QMP socket", func(s *Spec) { s.QMPSocket = long }, "unix socket paths must be at most 107"},
		{"bad GPU", func(s *Spec) { s.GPU = "0000:ab:00.9" }, `GPU address "0000:ab:00.9" is not a PCI address`},
		{"GPU option injection", func(s *Spec) { s.GPU = "0000:ab:00.0,x-vga=on" }, "is not a PCI address"},
		{"GPU with TCG", func(s *Spec) { s.Accel, s.Vsock = AccelTCG, false }, "GPU passthrough needs KVM"},
		{"negative CPUs", func(s *Spec) { s.CPUs = -1 }, "CPUs = -1 is out of range"},
		{"too many CPUs", func(s *Spec) { s.CPUs = MaxCPUs + 1 }, "CPUs = 257 is out of range"},
		{"negative memory", func(s *Spec) { s.MemoryMiB = -1 }, "MemoryMiB = -1 is out of range"},
		{"too little memory", func(s *Spec) { s.MemoryMiB = MinMemoryMiB - 1 }, "MemoryMiB = 255 is out of range"},
		{"too much memory", func(s *Spec) { s.MemoryMiB = MaxMemoryMiB + 1 }, "is out of range"},
		{"host name forward", func(s *Spec) { s.ForwardAddr = "localhost" }, `ForwardAddr "localhost" is not an IPv4 address`},
		{"IPv6 forward", func(s *Spec) { s.ForwardAddr = "::1" }, `ForwardAddr "::1" is not an IPv4 address`},
		{"forward with port", func(s *Spec) { s.ForwardAddr = "127.0.0.1:80" }, "is not an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := prodSpec(0)
			tt.modify(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := s.Args(); err == nil {
				t.Fatal("Args() succeeded on an invalid spec")
			}
		})
	}
}

func TestValidateDev(t *testing.T) {
	// Dev mode needs only a kernel; firmware, disks, spec share and vsock
	// are optional.
	for _, accel := range []Accel{AccelKVM, AccelTCG} {
		s := Spec{Accel: accel, Kernel: "/k"}
		args, err := s.Args()
		if err != nil {
			t.Fatalf("%s minimal spec: %v", accel, err)
		}
		for _, absent := range []string{"-bios", "-initrd", "-virtfs", "-drive", "-qmp", "-pidfile"} {
			if slices.Contains(args, absent) {
				t.Errorf("%s minimal spec has %s: %q", accel, absent, args)
			}
		}
	}
	// Several problems are all reported at once.
	err := Spec{Accel: AccelTDX, Instance: -2}.Validate()
	for _, want := range []string{"instance -2", "Kernel", "Firmware", "Initrd", "RootImage", "PersistentDisk", "SpecDir", "Cmdline", "vsock"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty TDX spec: error %v does not mention %s", err, want)
		}
	}
}

func TestCommandDefaults(t *testing.T) {
	s := devSpec(AccelTCG, 0)
	exe, args, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	if exe != DefaultBinary || args[0] == DefaultBinary {
		t.Errorf("Command() = %q, %q…: want the default binary apart from the arguments", exe, args[0])
	}
	s.Binary = "/opt/qemu-10.1/bin/qemu-system-x86_64"
	if exe, _, _ := s.Command(); exe != s.Binary {
		t.Errorf("Command() exe = %q, want %q", exe, s.Binary)
	}
	if _, _, err := (Spec{}).Command(); err == nil {
		t.Error("Command() of an empty spec succeeded")
	}

	// Zero sizes: production for TDX, small for dev.
	for _, tt := range []struct {
		accel     Accel
		smp, size string
	}{
		{AccelTDX, "32", "memory-backend-ram,id=mem0,size=100G"},
		{AccelKVM, "2", "memory-backend-ram,id=mem0,size=2G"},
		{AccelTCG, "2", "2G"},
	} {
		s := prodSpec(0)
		s.Accel = tt.accel
		if tt.accel == AccelTCG {
			s.GPU = ""
		}
		args, err := s.Args()
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(args, "-smp"); i < 0 || args[i+1] != tt.smp {
			t.Errorf("%s: -smp not %s in %q", tt.accel, tt.smp, args)
		}
		if !slices.Contains(args, tt.size) {
			t.Errorf("%s: memory %q not in %q", tt.accel, tt.size, args)
		}
	}
	if got := memSize(1536); got != "1536M" {
		t.Errorf("memSize(1536) = %q", got)
	}
}

func TestArgsDevVariants(t *testing.T) {
	// KVM with a GPU: legacy VFIO (QEMU 7.2 has no iommufd), same bus.
	s := devSpec(AccelKVM, 0)
	s.GPU = "AB:00.00"
	s.Extra = []string{"-S"}
	args, err := s.Args()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(args, "iommufd,id=iommufd0") {
		t.Error("KVM args create an iommufd object")
	}
	gpu := slices.Index(args, "vfio-pci,host=0000:ab:00.0,bus=pci.0")
	qmp := slices.Index(args, "-qmp")
	pid := slices.Index(args, "-pidfile")
	extra := slices.Index(args, "-S")
	nographic := slices.Index(args, "-nographic")
	if gpu < 0 || !(nographic < gpu && gpu < qmp && qmp < pid && pid < extra && extra == len(args)-1) {
		t.Errorf("want … -nographic … vfio-pci, -qmp, -pidfile, extra last; got %q", args)
	}
	if app := args[slices.Index(args, "-append")+1]; app != "console=hvc0 loglevel=4 cocoon_debug cocoon_gpu" {
		t.Errorf("KVM test spec with GPU: -append %q", app)
	}

	// An explicit verity file name replaces the derived one.
	s = devSpec(AccelTCG, 0)
	s.ModelTar, s.ModelVerity = "/m/model.tar", "/m/model.hashtree"
	args, err = s.Args()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "readonly=on,file=/m/model.hashtree,id=drivecacheverity,if=none,index=4,werror=report") {
		t.Errorf("explicit verity path not used: %q", args)
	}
	// TCG never asks for KVM-only pieces.
	for _, a := range args {
		if a == "host" || strings.Contains(a, "kernel-irqchip") || strings.Contains(a, "memory-backend") || strings.Contains(a, "iommufd") {
			t.Errorf("TCG args contain %q", a)
		}
	}
}

// TestArgsAcceptedByQEMU starts QEMU 7.2-era binaries paused (-S) with the
// dev-mode KVM and TCG lists and dummy files, asks over QMP whether the
// machine was created, and quits it. TDX lists need QEMU 10.1 with TDX and
// are checked only against the golden files and the spec.
func TestArgsAcceptedByQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("starts QEMU; skipped with -short")
	}
	info, err := Inspect(context.Background(), "")
	if err != nil {
		t.Skipf("needs QEMU: %v", err)
	}
	t.Run("tcg", func(t *testing.T) { runPaused(t, info.Path, AccelTCG, nil) })
	t.Run("kvm", func(t *testing.T) {
		if res := Probe(context.Background(), info.Path, AccelKVM, 0); !res.OK {
			t.Skipf("KVM cannot run a guest here: %s", res.Reason)
		}
		runPaused(t, info.Path, AccelKVM, nil)
	})
	// The KVM list with only its accelerator swapped for TCG: checks the
	// machine options, memory backend and devices where KVM is unusable.
	t.Run("kvm-layout-under-tcg", func(t *testing.T) {
		runPaused(t, info.Path, AccelKVM, func(args []string) []string {
			i := slices.Index(args, "-accel")
			if i < 0 || !slices.Equal(args[i:i+4], []string{"-accel", "kvm", "-cpu", "host"}) {
				t.Fatalf("KVM args without -accel kvm -cpu host: %q", args)
			}
			return slices.Concat(args[:i], []string{"-accel", "tcg", "-cpu", "max"}, args[i+4:])
		})
	})
}

// runPaused starts QEMU with the spec's list for accel (passed through
// edit when not nil) and checks over QMP that the machine was created.
func runPaused(t *testing.T, qemu string, accel Accel, edit func([]string) []string) {
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	disk := make([]byte, 1<<20)
	specDir := filepath.Join(dir, "spec")
	if err := os.Mkdir(specDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := Spec{
		Instance:       freeInstance(t),
		Accel:          accel,
		Binary:         qemu,
		Kernel:         file("image.vmlinuz", fakeBzImage()),
		Initrd:         file("image.initrd", make([]byte, 4096)),
		Cmdline:        "console=hvc0",
		RootImage:      file("image.img", disk),
		PersistentDisk: file("persistent.img", disk),
		ModelTar:       file("model.tar", make([]byte, 8192)),
		SpecDir:        specDir,
		CPUs:           1,
		MemoryMiB:      512,
		ForwardAddr:    "127.0.0.1",
		QMPSocket:      filepath.Join(dir, "qmp.sock"),
		PidFile:        filepath.Join(dir, "qemu.pid"),
	}
	file("model.tar.verity", make([]byte, 4096))

	// The test's own QMP connection: QEMU connects to this listener at
	// start-up, so nothing has to wait for a socket file to appear.
	ctlPath := filepath.Join(dir, "ctl.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: ctlPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s.Extra = []string{"-S", "-chardev", "socket,id=testqmp,path=" + ctlPath, "-mon", "chardev=testqmp,mode=control"}

	exe, args, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		args = edit(args)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	type accepted struct {
		c   *net.UnixConn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		_ = ln.SetDeadline(time.Now().Add(15 * time.Second))
		c, err := ln.AcceptUnix()
		acc <- accepted{c, err}
	}()
	var conn *net.UnixConn
	select {
	case err := <-exited:
		t.Fatalf("QEMU rejected the %s arguments (%v):\n%s\nargs: %q", accel, err, out.String(), args)
	case a := <-acc:
		if a.err != nil {
			t.Fatalf("QEMU did not connect its monitor: %v\n%s", a.err, out.String())
		}
		conn = a.c
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))

	dec := json.NewDecoder(conn)
	var greeting map[string]json.RawMessage
	if err := dec.Decode(&greeting); err != nil || greeting["QMP"] == nil {
		t.Fatalf("no QMP greeting (%v): %v", err, greeting)
	}
	qmp := func(command string) json.RawMessage {
		t.Helper()
		if _, err := fmt.Fprintf(conn, `{"execute":%q}`+"\n", command); err != nil {
			t.Fatalf("QMP %s: %v", command, err)
		}
		for {
			var msg map[string]json.RawMessage
			if err := dec.Decode(&msg); err != nil {
				t.Fatalf("QMP %s: %v\n%s", command, err, out.String())
			}
			if msg["error"] != nil {
				t.Fatalf("QMP %s: %s", command, msg["error"])
			}
			if r, ok := msg["return"]; ok {
				return r
			}
		}
	}
	qmp("qmp_capabilities")
	if status := string(qmp("query-status")); !strings.Contains(status, `"prelaunch"`) {
		t.Errorf("query-status = %s, want prelaunch (paused by -S)", status)
	}
	// The app's QMP server socket and pidfile exist once QEMU is up.
	for _, p := range []string{s.QMPSocket, s.PidFile} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("QEMU did not create %s: %v", p, err)
		}
	}
	qmp("quit")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("QEMU exited with %v after quit:\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatal("QEMU did not exit after quit")
	}
}

// fakeBzImage is just enough of a Linux boot-protocol 2.15 header for QEMU
// to load it; the guest never runs it (-S).
func fakeBzImage() []byte {
	b := make([]byte, 8192)
	b[0x1f1] = 1                 // setup_sects: setup is 2×512 bytes
	copy(b[0x202:], "HdrS")      // header magic
	b[0x206], b[0x207] = 0x0f, 2 // protocol 2.15
	b[0x211] = 0x01              // LOADED_HIGH
	copy(b[0x22c:], []byte{0xff, 0xff, 0xff, 0x7f})
	copy(b[0x238:], []byte{0x00, 0x08, 0, 0}) // cmdline_size 2048
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	return b
}

// freeInstance picks a high instance number whose loopback host ports are
// free now, so the test does not collide with a running worker.
func freeInstance(t *testing.T) int {
	t.Helper()
	for i := 5000; i <= MaxInstance; i++ {
		free := true
		for _, port := range []int{SSHPort(i), StatsPort(i), HealthPort(i)} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return i
		}
	}
	t.Skip("no free block of loopback ports above 62000")
	return 0
}

// lineDiff lists the lines that differ between two line-per-argument texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n   got %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

func TestCheckQEMU(t *testing.T) {
	debian12 := QEMUInfo{Path: "/usr/bin/qemu-system-x86_64", Version: Version{7, 2, 22}}
	tdxQEMU := QEMUInfo{Path: "/opt/qemu/bin/qemu-system-x86_64", Version: Version{10, 1, 0}, TDX: true}
	noTDXBuild := QEMUInfo{Path: "/usr/bin/qemu-system-x86_64", Version: Version{10, 1, 0}}
	for _, tt := range []struct {
		accel Accel
		info  QEMUInfo
		ok    bool
	}{
		{AccelTDX, tdxQEMU, true},
		{AccelTDX, debian12, false},
		{AccelTDX, noTDXBuild, false},
		{AccelKVM, debian12, true},
		{AccelTCG, debian12, true},
	} {
		err := Spec{Accel: tt.accel}.CheckQEMU(tt.info)
		if (err == nil) != tt.ok {
			t.Errorf("CheckQEMU(%s, %s tdx=%v) = %v", tt.accel, tt.info.Version, tt.info.TDX, err)
		}
	}
}
