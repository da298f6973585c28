package gpu

import (
	"errors"
	"fmt"
	"io/fs"
	"testing/fstest"
)

// pciFn describes one PCI function of a fixture sysfs tree. Ids are hex
// without "0x"; an empty driver or group leaves that symlink out.
type pciFn struct {
	addr, vendor, device, class, driver, group string
}

// sysfsTree builds a sysfs tree shaped like the real one, flattened under
// one root complex:
//
//	sys/devices/pci0000:00/ADDR/{vendor,device,class}
//	sys/devices/pci0000:00/ADDR/driver      -> ../../../bus/pci/drivers/DRIVER
//	sys/devices/pci0000:00/ADDR/iommu_group -> ../../../kernel/iommu_groups/N
//	sys/bus/pci/devices/ADDR                -> ../../../devices/pci0000:00/ADDR
//	sys/kernel/iommu_groups/N/devices/ADDR  -> ../../../../devices/pci0000:00/ADDR
func sysfsTree(fns ...pciFn) fstest.MapFS {
	m := fstest.MapFS{}
	for _, f := range fns {
		addPCI(m, f)
	}
	return m
}

func addPCI(m fstest.MapFS, f pciFn) {
	dev := "sys/devices/pci0000:00/" + f.addr
	m["sys/bus/pci/devices/"+f.addr] = symlink("../../../devices/pci0000:00/" + f.addr)
	m[dev+"/vendor"] = text("0x" + f.vendor + "\n")
	m[dev+"/device"] = text("0x" + f.device + "\n")
	m[dev+"/class"] = text("0x" + f.class + "\n")
	if f.driver != "" {
		m[dev+"/driver"] = symlink("../../../bus/pci/drivers/" + f.driver)
		m["sys/bus/pci/drivers/"+f.driver+"/bind"] = &fstest.MapFile{Mode: 0o200}
	}
	if f.group != "" {
		m[dev+"/iommu_group"] = symlink("../../../kernel/iommu_groups/" + f.group)
		m["sys/kernel/iommu_groups/"+f.group+"/devices/"+f.addr] = symlink("../../../../devices/pci0000:00/" + f.addr)
	}
}

func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func text(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o444} }

// Fixture functions for common devices.
func nvidiaGPU(addr, device, driver, group string) pciFn {
	return pciFn{addr, "10de", device, "030200", driver, group}
}

func aspeedVGA(addr, group string) pciFn {
	return pciFn{addr, "1a03", "2000", "030000", "ast", group}
}

func connectX7(addr, group string) pciFn {
	return pciFn{addr, "15b3", "1021", "020000", "mlx5_core", group}
}

func nvSwitch(addr, group string) pciFn {
	return pciFn{addr, "10de", "22a3", "068000", "nvidia", group}
}

// dgxH100Slots are the GPU addresses of a DGX H100, in sysfs form.
var dgxH100Slots = []string{
	"0000:1b:00.0", "0000:43:00.0", "0000:52:00.0", "0000:61:00.0",
	"0000:9d:00.0", "0000:c3:00.0", "0000:d1:00.0", "0000:df:00.0",
}

// dgxH100Tree is an 8x H100 SXM5 host: each GPU in its own IOMMU group,
// plus NVSwitches, NICs and the BMC's VGA.
func dgxH100Tree(driver string) fstest.MapFS {
	m := sysfsTree(aspeedVGA("0000:03:00.0", "5"))
	for i, addr := range dgxH100Slots {
		addPCI(m, nvidiaGPU(addr, "2330", driver, fmt.Sprint(20+i)))
		addPCI(m, connectX7(fmt.Sprintf("0000:%02x:00.0", 0x20+i), fmt.Sprint(40+i)))
	}
	for i := range 4 {
		addPCI(m, nvSwitch(fmt.Sprintf("0000:%02x:00.0", 0x05+i), fmt.Sprint(60+i)))
	}
	return m
}

// failFS serves a MapFS but fails opening, or reading the link at, the
// listed paths, like unreadable sysfs files. It implements only Open and
// fs.ReadLinkFS, so fs.ReadFile and fs.ReadDir go through Open.
type failFS struct {
	m    fstest.MapFS
	fail map[string]error
}

func (f failFS) Open(name string) (fs.File, error) {
	if err, ok := f.fail[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return f.m.Open(name)
}

func (f failFS) ReadLink(name string) (string, error) {
	if err, ok := f.fail[name]; ok {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return f.m.ReadLink(name)
}

func (f failFS) Lstat(name string) (fs.FileInfo, error) { return f.m.Lstat(name) }

var errIO = errors.New("input/output error")

func ptr[T any](v T) *T { return &v }
