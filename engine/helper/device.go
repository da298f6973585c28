package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
)

// sysfs paths, relative to the root of the filesystem that holds sys/.
const (
	pciDevicesDir = "sys/bus/pci/devices"
	pciDriversDir = "sys/bus/pci/drivers"
	driversProbe  = "sys/bus/pci/drivers_probe"
)

// Kernel driver names the helper binds to.
const (
	driverVFIO   = "vfio-pci"
	driverNVIDIA = "nvidia"
)

// Role says why a function of the GPU's IOMMU group is there.
type Role string

// Roles of IOMMU group members.
const (
	// RoleGPU is the GPU the request names.
	RoleGPU Role = "gpu"
	// RoleCompanion is another NVIDIA function of the same PCI device
	// (its audio, USB or USB-C controller): passed through with the GPU.
	RoleCompanion Role = "companion"
	// RoleBridge is a PCI bridge, which VFIO leaves alone.
	RoleBridge Role = "bridge"
	// RoleForeign is anything else: a device the host may need, which
	// refuses passthrough.
	RoleForeign Role = "foreign"
)

// Function is one PCI function of the GPU's IOMMU group.
type Function struct {
	Address  string `json:"address"`
	VendorID string `json:"vendor_id,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	Class    string `json:"class,omitempty"`
	// Driver is the bound kernel driver; empty when none.
	Driver string `json:"driver,omitempty"`
	// DriverOverride is the driver_override attribute; empty when unset.
	DriverOverride string `json:"driver_override,omitempty"`
	Role           Role   `json:"role"`
}

// Device is what sysfs says about one GPU and its IOMMU group.
type Device struct {
	Function
	// Name is the model name from engine/gpu's table, when listed.
	Name string `json:"name,omitempty"`
	// CCCapable is true when the model is known to support confidential
	// computing; CCKnown is false when the model is not in the table.
	CCCapable bool `json:"cc_capable,omitempty"`
	CCKnown   bool `json:"cc_known,omitempty"`
	// BootVGA is true when the kernel marks it as the boot VGA device.
	BootVGA bool `json:"boot_vga,omitempty"`
	// IOMMUGroup is the group number; empty when the IOMMU is off.
	IOMMUGroup string `json:"iommu_group,omitempty"`
	// Peers are the group's other functions, in address order.
	Peers []Function `json:"peers,omitempty"`
}

// Passthrough returns the functions bind-vfio and restore act on: the GPU
// and its companions, in address order.
func (d Device) Passthrough() []Function {
	out := []Function{d.Function}
	for _, p := range d.Peers {
		if p.Role == RoleCompanion {
			out = append(out, p)
		}
	}
	sortFunctions(out)
	return out
}

func sortFunctions(fns []Function) {
	for i := 1; i < len(fns); i++ {
		for j := i; j > 0 && fns[j].Address < fns[j-1].Address; j-- {
			fns[j], fns[j-1] = fns[j-1], fns[j]
		}
	}
}

// Inspect reads the GPU at pci, a canonical address, and its IOMMU group
// from fsys (rooted where sys/ lives). It refuses an address that is not a
// present PCI display controller; it does not judge whether the GPU may
// be passed through (Check does).
func Inspect(ctx context.Context, fsys fs.FS, pci string) (Device, error) {
	if err := ValidPCI(pci); err != nil {
		return Device{}, err
	}
	dir := path.Join(pciDevicesDir, pci)
	if _, err := fs.Stat(fsys, dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Device{}, refuse("there is no PCI device %s on this host (no /%s)", pci, dir)
		}
		return Device{}, fmt.Errorf("read /%s: %w", dir, err)
	}
	inv, err := gpu.Discover(ctx, gpu.Options{FS: fsys})
	if err != nil {
		return Device{}, err
	}
	var g *gpu.GPU
	for i := range inv.GPUs {
		if inv.GPUs[i].BusID == pci {
			g = &inv.GPUs[i]
			break
		}
	}
	if g == nil {
		f := readFunction(fsys, dir, pci)
		return Device{}, refuse("%s is not a GPU: it is %s", pci, describeFunction(f))
	}
	d := Device{
		Function: Function{
			Address:  pci,
			VendorID: g.VendorID,
			DeviceID: g.DeviceID,
			Class:    g.Class,
			Driver:   g.KernelDriver,
			Role:     RoleGPU,
		},
		IOMMUGroup: g.IOMMUGroup,
	}
	if g.Model != nil {
		d.Name, d.CCCapable, d.CCKnown = g.Model.Name, g.Model.CCCapable, true
	}
	if d.DriverOverride, err = readOverride(fsys, dir); err != nil {
		return Device{}, err
	}
	if d.BootVGA, err = readBootVGA(fsys, dir); err != nil {
		return Device{}, err
	}
	for _, p := range g.IOMMUPeers {
		f := Function{Address: p.Address, VendorID: p.VendorID, DeviceID: p.DeviceID, Class: p.Class, Driver: p.Driver}
		f.Role = peerRole(d.Function, f)
		if ValidPCI(f.Address) != nil {
			// A name sysfs should never hold: keep it out of every path.
			f.Role = RoleForeign
		} else if f.Role == RoleCompanion {
			if f.DriverOverride, err = readOverride(fsys, path.Join(pciDevicesDir, f.Address)); err != nil {
				return Device{}, err
			}
		}
		d.Peers = append(d.Peers, f)
	}
	sortFunctions(d.Peers)
	return d, nil
}

// peerRole classifies an IOMMU group member next to the GPU g: a bridge,
// another NVIDIA function of the same slot, or foreign (including a
// member whose ids could not be read).
func peerRole(g, p Function) Role {
	switch {
	case p.VendorID == "" || p.Class == "":
		return RoleForeign
	case strings.HasPrefix(p.Class, "0604"):
		return RoleBridge
	case p.VendorID == gpu.VendorNVIDIA && pciSlot(p.Address) == pciSlot(g.Address):
		return RoleCompanion
	}
	return RoleForeign
}

// pciSlot is "domain:bus:device" of a canonical address.
func pciSlot(addr string) string {
	if i := strings.LastIndexByte(addr, '.'); i > 0 {
		return addr[:i]
	}
	return addr
}

// Check says whether the GPU may be handed to a VM: an NVIDIA display
// controller, not the boot VGA device, in an IOMMU group with nothing the
// host needs. The error is a Refusal that names the problem.
func (d Device) Check() error {
	if d.VendorID != gpu.VendorNVIDIA {
		return refuse("%s is not an NVIDIA GPU: it is %s; the helper only acts on NVIDIA GPUs", d.Address, describeFunction(d.Function))
	}
	if !strings.HasPrefix(d.Class, "03") {
		return refuse("%s is not a display controller (class %s)", d.Address, d.Class)
	}
	if d.BootVGA {
		return refuse("%s is the boot VGA device, which the host console uses: passing it through would take the console away from the host; use a GPU that does not drive the console", d.Address)
	}
	if d.IOMMUGroup == "" {
		return refuse("%s has no IOMMU group: the IOMMU is off (enable VT-d in the firmware and boot with intel_iommu=on), or its group could not be read", d.Address)
	}
	var foreign []string
	for _, p := range d.Peers {
		if p.Role == RoleForeign {
			foreign = append(foreign, p.Address+", "+describeFunction(p))
		}
	}
	if len(foreign) > 0 {
		return refuse("IOMMU group %s of %s also holds %s, which the host may need: passing the GPU through would take it away from the host too; move the GPU to a slot with an IOMMU group of its own",
			d.IOMMUGroup, d.Address, strings.Join(foreign, "; "))
	}
	return nil
}

// classNames names PCI classes by their first two or four hex digits.
var classNames = map[string]string{
	"0100": "a SCSI controller", "0106": "a SATA controller", "0108": "an NVMe controller",
	"0200": "an Ethernet controller", "0207": "an InfiniBand controller",
	"0300": "a VGA controller", "0302": "a 3D controller",
	"0403": "an audio device", "0600": "a host bridge", "0601": "an ISA bridge",
	"0604": "a PCI bridge", "0680": "a bridge", "0c03": "a USB controller",
	"0c05": "an SMBus controller",
	"00":   "an unclassified device", "01": "a storage controller", "02": "a network controller",
	"03": "a display controller", "04": "a multimedia controller", "05": "a memory controller",
	"06": "a bridge", "07": "a communication controller", "08": "a system peripheral",
	"09": "an input device", "0b": "a processor", "0c": "a serial bus controller",
	"0d": "a wireless controller", "12": "a processing accelerator",
}

// describeFunction words a PCI function for a message, e.g. "an Ethernet
// controller (Intel 8086:15f3, driver igc)".
func describeFunction(f Function) string {
	if f.VendorID == "" || f.Class == "" {
		return "a device whose vendor or class could not be read"
	}
	kind := "a PCI device of class " + f.Class
	if len(f.Class) >= 4 {
		if n, ok := classNames[f.Class[:4]]; ok {
			kind = n
		} else if n, ok := classNames[f.Class[:2]]; ok {
			kind = n
		}
	}
	id := gpu.FormatPCIID(f.VendorID, f.DeviceID)
	if v := gpu.VendorName(f.VendorID); v != "" {
		id = v + " " + id
	}
	if f.Driver != "" {
		id += ", driver " + f.Driver
	} else {
		id += ", no driver"
	}
	return kind + " (" + id + ")"
}

// readFunction reads the ids and driver of the function in dir, for a
// message about a device that is not a GPU. Unreadable values stay empty.
func readFunction(fsys fs.FS, dir, addr string) Function {
	f := Function{Address: addr, Role: RoleForeign}
	f.VendorID, _ = readID(fsys, path.Join(dir, "vendor"), 4)
	f.DeviceID, _ = readID(fsys, path.Join(dir, "device"), 4)
	f.Class, _ = readID(fsys, path.Join(dir, "class"), 6)
	if target, err := fs.ReadLink(fsys, path.Join(dir, "driver")); err == nil {
		f.Driver = path.Base(target)
	}
	return f
}

// readID reads a sysfs hex id ("0x10de\n") as lowercase digits without
// "0x"; it must have exactly n digits.
func readID(fsys fs.FS, name string, n int) (string, error) {
	b, err := readSmall(fsys, name)
	if err != nil {
		return "", err
	}
	v := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), "0x")
	if len(v) != n || strings.Trim(v, "0123456789abcdef") != "" {
		return "", fmt.Errorf("/%s: malformed id", name)
	}
	return v, nil
}

// readOverride reads driver_override: "" when unset ("(null)") or when
// the kernel has no such attribute.
func readOverride(fsys fs.FS, dir string) (string, error) {
	b, err := readSmall(fsys, path.Join(dir, "driver_override"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "(null)" {
		v = ""
	}
	if v != "" && !validDriverName(v) {
		return "", fmt.Errorf("/%s/driver_override: unexpected value %s", dir, quote(v))
	}
	return v, nil
}

// readBootVGA reads boot_vga, which only VGA-class devices have.
func readBootVGA(fsys fs.FS, dir string) (bool, error) {
	b, err := readSmall(fsys, path.Join(dir, "boot_vga"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// readSmall reads a sysfs attribute of at most a page.
func readSmall(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return nil, fmt.Errorf("read /%s: %w", name, err)
	}
	if len(b) > 4096 {
		return nil, fmt.Errorf("read /%s: longer than a page", name)
	}
	return b, nil
}

// validDriverName is a kernel driver name as sysfs shows it.
func validDriverName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
