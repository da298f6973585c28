package vm

import (
	"fmt"
	"strconv"
)

// tdxGuestObject is spec §3.1 item 6, byte for byte: QEMU reaches the host's
// quote-generation service on vsock CID 2, port 4050.
const tdxGuestObject = `{"qom-type":"tdx-guest","id":"tdx","quote-generation-socket":{"type":"vsock","cid":"2","port":"4050"}}`

// Command returns the QEMU executable and its arguments for s. The
// arguments do not repeat the executable (as exec.Command expects).
func (s Spec) Command() (exe string, args []string, err error) {
	args, err = s.Args()
	if err != nil {
		return "", nil, err
	}
	return s.withDefaults().Binary, args, nil
}

// Args builds QEMU's arguments (without the executable) after Validate.
//
// For AccelTDX the list is the official launcher's (spec §3.1), item by
// item and in order. AccelKVM is the launcher's --no-tdx made to run on
// QEMU 7.2 (Debian 12): no tdx-guest object and no confidential-guest-
// support, and no iommufd object (it exists from QEMU 9.0), so a GPU is
// attached through the legacy VFIO container. AccelTCG is the closest
// software-emulated equivalent: plain "-machine q35" with "-m", "-cpu max",
// no VFIO. Items the Spec leaves out in dev mode (firmware, disks, model,
// spec share, vsock) are omitted; everything else keeps §3.1's order.
//
// The app's own additions, QMP socket and pidfile, follow the §3.1 items
// and precede Extra (item 21), because the official launcher creates
// neither.
func (s Spec) Args() ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	var a []string
	add := func(args ...string) { a = append(a, args...) }

	// 1: the executable is returned by Command, not in the list.

	// 2
	switch s.Accel {
	case AccelTDX:
		add("-machine", "q35,kernel-irqchip=split,memory-backend=mem0,confidential-guest-support=tdx")
	case AccelKVM:
		add("-machine", "q35,kernel-irqchip=split,memory-backend=mem0")
	case AccelTCG:
		add("-machine", "q35")
	}
	// 3
	if s.Firmware != "" {
		add("-bios", s.Firmware)
	}
	// 4
	smp := strconv.Itoa(s.CPUs)
	if s.Accel == AccelTCG {
		add("-accel", "tcg", "-cpu", "max", "-smp", smp)
	} else {
		add("-accel", "kvm", "-cpu", "host", "-smp", smp)
	}
	// 5
	add("-vga", "none")
	// 6
	if s.Accel == AccelTDX {
		add("-object", tdxGuestObject)
	}
	// 7
	if s.Accel == AccelTCG {
		add("-m", memSize(s.MemoryMiB))
	} else {
		add("-object", "memory-backend-ram,id=mem0,size="+memSize(s.MemoryMiB))
	}
	// 8
	if s.Vsock {
		add("-device", fmt.Sprintf("vhost-vsock-pci,guest-cid=%d", GuestCID(s.Instance)))
	}
	// 9
	if s.Accel == AccelTDX {
		add("-object", "iommufd,id=iommufd0")
	}
	// 10
	add("-device", "pcie-root-port,id=pci.0,bus=pcie.0")
	// 11: no format= (as the official launcher; QEMU probes it).
	if s.RootImage != "" {
		add("-drive", "cache=writeback,file="+s.RootImage+",readonly=on,id=drive1,if=none,index=1,werror=report",
			"-device", "virtio-blk-pci,bootindex=1,drive=drive1,serial=root")
	}
	// 12
	if s.PersistentDisk != "" {
		add("-drive", "cache=writeback,file="+s.PersistentDisk+",format=raw,id=drive2,if=none,index=2,werror=report",
			"-device", "virtio-blk-pci,bootindex=2,drive=drive2,serial=persistent")
	}
	// 13, 14
	if s.ModelTar != "" {
		add("-drive", "readonly=on,file="+s.ModelTar+",id=drivecache,if=none,index=3,werror=report",
			"-device", "virtio-blk-pci,drive=drivecache,serial=model-tar")
		add("-drive", "readonly=on,file="+s.ModelVerityPath()+",id=drivecacheverity,if=none,index=4,werror=report",
			"-device", "virtio-blk-pci,drive=drivecacheverity,serial=model-tar-verity")
	}
	// 15: the guest console hvc0 on QEMU's stdin/stdout.
	add("-chardev", "stdio,id=char0", "-device", "virtio-serial-pci,id=virtio-serial0", "-device", "virtconsole,chardev=char0")
	// 16
	add("-kernel", s.Kernel)
	if s.Initrd != "" {
		add("-initrd", s.Initrd)
	}
	add("-append", s.KernelCmdline())
	// 17
	if s.SpecDir != "" {
		add("-virtfs", "local,path="+s.SpecDir+",mount_tag=spec,security_model=mapped,readonly=on")
	}
	// 18
	netdev := "user,id=user.0" +
		hostfwd(s.ForwardAddr, SSHPort(s.Instance), GuestSSHPort) +
		hostfwd(s.ForwardAddr, StatsPort(s.Instance), GuestStatsPort)
	if !s.Vsock {
		netdev += hostfwd(s.ForwardAddr, HealthPort(s.Instance), GuestHealthPort)
	}
	add("-net", "nic,netdev=user.0,model=virtio", "-netdev", netdev)
	// 19
	add("-nographic", "-serial", "null", "-monitor", "null")
	// 20
	if s.GPU != "" {
		bdf, _ := NormalizeBDF(s.GPU) // checked by Validate
		if s.Accel == AccelTDX {
			add("-device", "vfio-pci,host="+bdf+",bus=pci.0,iommufd=iommufd0")
		} else {
			add("-device", "vfio-pci,host="+bdf+",bus=pci.0")
		}
	}
	// App additions, not in the official launcher: QMP and pidfile.
	if s.QMPSocket != "" {
		add("-qmp", "unix:"+s.QMPSocket+",server=on,wait=off")
	}
	if s.PidFile != "" {
		add("-pidfile", s.PidFile)
	}
	// 21
	add(s.Extra...)
	return a, nil
}

// hostfwd is one slirp forward; an empty addr binds all host interfaces.
func hostfwd(addr string, hostPort, guestPort int) string {
	return fmt.Sprintf(",hostfwd=tcp:%s:%d-:%d", addr, hostPort, guestPort)
}

// memSize writes MiB as QEMU's size syntax, whole GiB as "<n>G" (so the
// production 100 GiB reads "100G" exactly as the launcher writes it).
func memSize(mib int) string {
	if mib%1024 == 0 {
		return strconv.Itoa(mib/1024) + "G"
	}
	return strconv.Itoa(mib) + "M"
}
