package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// sysfs paths, relative to the root of the injected fs.FS.
const (
	pciDevicesDir  = "sys/bus/pci/devices"
	iommuGroupsDir = "sys/kernel/iommu_groups"
)

// classDisplay is the PCI base class of display controllers (VGA 0300xx,
// XGA 0301xx, 3D 0302xx, other 0380xx).
const classDisplay = "03"

// classPCIBridge is the PCI class prefix of PCI-to-PCI bridges.
const classPCIBridge = "0604"

// scanSysfs returns every PCI display controller, in address order, with
// notes about devices it could not classify. It fails only when ctx ends.
func scanSysfs(ctx context.Context, fsys fs.FS) ([]GPU, []string, error) {
	entries, err := fs.ReadDir(fsys, pciDevicesDir)
	if err != nil {
		return nil, []string{fmt.Sprintf("sysfs: %s: %s", pciDevicesDir, errText(err))}, nil
	}
	var gpus []GPU
	var notes []string
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		addr := e.Name()
		dir := path.Join(pciDevicesDir, addr)
		class, err := readHexFile(fsys, path.Join(dir, "class"), 6)
		if err != nil {
			notes = append(notes, fmt.Sprintf("sysfs %s: class: %s", addr, errText(err)))
			continue
		}
		if strings.HasPrefix(class, classDisplay) {
			gpus = append(gpus, sysfsGPU(fsys, dir, addr, class))
		}
	}
	return gpus, notes, nil
}

// sysfsGPU reads the facts sysfs holds about one display controller.
func sysfsGPU(fsys fs.FS, dir, addr, class string) GPU {
	var notes []string
	dev := readPCIDevice(fsys, dir, addr, &notes)
	g := GPU{
		Source:       SourceSysfs,
		BusID:        NormalizeBusID(addr),
		VendorID:     dev.VendorID,
		DeviceID:     dev.DeviceID,
		Class:        class,
		KernelDriver: dev.Driver,
		Model:        lookupModelPtr(dev.VendorID, dev.DeviceID),
	}
	if g.Model != nil {
		g.Name = VendorName(g.VendorID) + " " + g.Model.Name
		g.Architecture = g.Model.Architecture
	}
	group, err := readLinkBase(fsys, path.Join(dir, "iommu_group"))
	switch {
	case err != nil:
		notes = append(notes, "sysfs iommu_group: "+errText(err))
	case group != "":
		g.IOMMUGroup = group
		g.IOMMUPeers = readIOMMUPeers(fsys, group, addr, &notes)
	}
	g.Notes = notes
	return g
}

// readIOMMUPeers lists the devices of an IOMMU group other than self.
func readIOMMUPeers(fsys fs.FS, group, self string, notes *[]string) []PCIDevice {
	dir := path.Join(iommuGroupsDir, group, "devices")
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("sysfs iommu group %s: %s", group, errText(err)))
		return nil
	}
	var peers []PCIDevice
	for _, e := range entries {
		if e.Name() == self {
			continue
		}
		var peerNotes []string
		p := readPCIDevice(fsys, path.Join(dir, e.Name()), e.Name(), &peerNotes)
		class, err := readHexFile(fsys, path.Join(dir, e.Name(), "class"), 6)
		if err != nil {
			peerNotes = append(peerNotes, "sysfs class: "+errText(err))
		}
		p.Class = class
		for _, n := range peerNotes {
			*notes = append(*notes, "iommu peer "+e.Name()+": "+n)
		}
		peers = append(peers, p)
	}
	return peers
}

// readPCIDevice reads vendor, device and bound driver of the PCI function
// in dir. Fields it cannot read stay empty and are noted.
func readPCIDevice(fsys fs.FS, dir, addr string, notes *[]string) PCIDevice {
	d := PCIDevice{Address: NormalizeBusID(addr)}
	var err error
	if d.VendorID, err = readHexFile(fsys, path.Join(dir, "vendor"), 4); err != nil {
		*notes = append(*notes, "sysfs vendor: "+errText(err))
	}
	if d.DeviceID, err = readHexFile(fsys, path.Join(dir, "device"), 4); err != nil {
		*notes = append(*notes, "sysfs device: "+errText(err))
	}
	if d.Driver, err = readLinkBase(fsys, path.Join(dir, "driver")); err != nil {
		*notes = append(*notes, "sysfs driver: "+errText(err))
	}
	return d
}

// readHexFile reads a sysfs hex value such as "0x10de\n" and returns it
// lowercase without "0x". It must have exactly digits hex digits.
func readHexFile(fsys fs.FS, name string, digits int) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", err
	}
	raw := strings.TrimSpace(string(b))
	v := normalizeID(raw)
	if len(v) != digits || strings.Trim(v, "0123456789abcdef") != "" {
		if len(raw) > 32 {
			raw = raw[:32] + "..."
		}
		return "", fmt.Errorf("malformed %q", raw)
	}
	return v, nil
}

// readLinkBase returns the last element of a symlink's target, or "" with
// no error when the link does not exist (no driver bound, IOMMU off).
func readLinkBase(fsys fs.FS, name string) (string, error) {
	target, err := fs.ReadLink(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	base := path.Base(strings.TrimRight(target, "/"))
	if base == "." || base == "/" || base == ".." {
		return "", fmt.Errorf("malformed link target %q", target)
	}
	return base, nil
}

// errText is an error without the path an fs.PathError repeats; the
// caller's note already names the file.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
