package helper

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// fn is one PCI function of a fixture sysfs tree. Ids are hex without
// "0x"; an empty driver or group leaves that symlink out.
type fn struct {
	addr, vendor, device, class, driver, group string
	bootVGA                                    bool
	override                                   string
}

// tree is an on-disk fixture sysfs, laid out as engine/gpu's in-memory
// fixtures are (one flattened root complex):
//
//	sys/devices/pci0000:00/ADDR/{vendor,device,class,driver_override[,boot_vga]}
//	sys/devices/pci0000:00/ADDR/driver      -> ../../../bus/pci/drivers/DRIVER
//	sys/devices/pci0000:00/ADDR/iommu_group -> ../../../kernel/iommu_groups/N
//	sys/bus/pci/devices/ADDR                -> ../../../devices/pci0000:00/ADDR
//	sys/kernel/iommu_groups/N/devices/ADDR  -> ../../../../devices/pci0000:00/ADDR
//	sys/bus/pci/drivers/DRIVER/{bind,unbind} and sys/bus/pci/drivers_probe: plain files
//
// The drivers vfio-pci and nvidia are always "loaded" unless dropped.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T, fns ...fn) *tree {
	t.Helper()
	tr := &tree{t: t, root: t.TempDir()}
	tr.file("sys/bus/pci/drivers_probe", "")
	tr.driver(driverVFIO)
	tr.driver(driverNVIDIA)
	for _, f := range fns {
		tr.add(f)
	}
	return tr
}

func (tr *tree) file(rel, content string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) link(rel, target string) {
	tr.t.Helper()
	p := filepath.Join(tr.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) driver(name string) {
	d := "sys/bus/pci/drivers/" + name
	if _, err := os.Stat(filepath.Join(tr.root, d)); err == nil {
		return
	}
	tr.file(d+"/bind", "")
	tr.file(d+"/unbind", "")
}

func (tr *tree) dropDriver(name string) {
	tr.t.Helper()
	if err := os.RemoveAll(filepath.Join(tr.root, "sys/bus/pci/drivers", name)); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) add(f fn) {
	dev := "sys/devices/pci0000:00/" + f.addr
	tr.link("sys/bus/pci/devices/"+f.addr, "../../../devices/pci0000:00/"+f.addr)
	tr.file(dev+"/vendor", "0x"+f.vendor+"\n")
	tr.file(dev+"/device", "0x"+f.device+"\n")
	tr.file(dev+"/class", "0x"+f.class+"\n")
	override := "(null)\n"
	if f.override != "" {
		override = f.override + "\n"
	}
	tr.file(dev+"/driver_override", override)
	if f.class[:4] == "0300" {
		b := "0\n"
		if f.bootVGA {
			b = "1\n"
		}
		tr.file(dev+"/boot_vga", b)
	}
	if f.driver != "" {
		tr.driver(f.driver)
		tr.link(dev+"/driver", "../../../bus/pci/drivers/"+f.driver)
	}
	if f.group != "" {
		tr.link(dev+"/iommu_group", "../../../kernel/iommu_groups/"+f.group)
		tr.link("sys/kernel/iommu_groups/"+f.group+"/devices/"+f.addr, "../../../../devices/pci0000:00/"+f.addr)
	}
}

// read returns a fixture file's content ("" and a failure when missing).
func (tr *tree) read(rel string) string {
	tr.t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.root, filepath.FromSlash(rel)))
	if err != nil {
		tr.t.Fatalf("read fixture %s: %v", rel, err)
	}
	return string(b)
}

// snapshot maps every entry of the tree (not following links) to its
// type and content or link target.
func (tr *tree) snapshot() map[string]string {
	tr.t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(tr.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tr.root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m[rel] = "link " + target
		case d.IsDir():
			m[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			m[rel] = fmt.Sprintf("file %v %q", info.Mode(), b)
		}
		return nil
	})
	if err != nil {
		tr.t.Fatal(err)
	}
	return m
}

// checksum is a SHA-256 over the sorted snapshot.
func (tr *tree) checksum() string {
	snap := tr.snapshot()
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, snap[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// changed lists the entries that differ between two snapshots.
func changed(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (tr *tree) openRoot() *os.Root {
	tr.t.Helper()
	r, err := os.OpenRoot(tr.root)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.t.Cleanup(func() { r.Close() })
	return r
}

// Fixture devices.
func h100(addr, driver, group string) fn {
	return fn{addr: addr, vendor: "10de", device: "2330", class: "030200", driver: driver, group: group}
}

func rtx4090(addr, driver, group string) fn {
	return fn{addr: addr, vendor: "10de", device: "2684", class: "030000", driver: driver, group: group}
}

func rtxAudio(addr, driver, group string) fn {
	return fn{addr: addr, vendor: "10de", device: "22ba", class: "040300", driver: driver, group: group}
}

func rootPort(addr, group string) fn {
	return fn{addr: addr, vendor: "8086", device: "a70d", class: "060400", driver: "pcieport", group: group}
}

// hgxSlots are the GPU addresses of an 8x H100 HGX board.
var hgxSlots = []string{
	"0000:1b:00.0", "0000:43:00.0", "0000:52:00.0", "0000:61:00.0",
	"0000:9d:00.0", "0000:c3:00.0", "0000:d1:00.0", "0000:df:00.0",
}

// hgxHost is an 8x H100 host: each GPU alone in its IOMMU group, plus
// ConnectX-7 NICs, NVSwitches, an NVMe drive and the BMC's VGA (the boot
// VGA device).
func hgxHost(t *testing.T) *tree {
	tr := newTree(t,
		fn{addr: "0000:03:00.0", vendor: "1a03", device: "2000", class: "030000", driver: "ast", group: "5", bootVGA: true},
		fn{addr: "0000:04:00.0", vendor: "144d", device: "a80a", class: "010802", driver: "nvme", group: "6"},
	)
	for i, a := range hgxSlots {
		tr.add(h100(a, "nvidia", fmt.Sprint(20+i)))
		tr.add(fn{addr: fmt.Sprintf("0000:%02x:00.0", 0x20+i), vendor: "15b3", device: "1021", class: "020000", driver: "mlx5_core", group: fmt.Sprint(40 + i)})
	}
	for i := range 4 {
		tr.add(fn{addr: fmt.Sprintf("0000:%02x:00.0", 0x05+i), vendor: "10de", device: "22a3", class: "068000", driver: "nvidia", group: fmt.Sprint(60 + i)})
	}
	return tr
}

// consumerHost is a desktop: an Intel iGPU drives the console, an RTX
// 4090 and its audio function share IOMMU group 14 with their root port.
func consumerHost(t *testing.T) *tree {
	return newTree(t,
		fn{addr: "0000:00:02.0", vendor: "8086", device: "a780", class: "030000", driver: "i915", group: "0", bootVGA: true},
		rootPort("0000:00:01.0", "14"),
		rtx4090("0000:01:00.0", "nvidia", "14"),
		rtxAudio("0000:01:00.1", "snd_hda_intel", "14"),
		fn{addr: "0000:00:14.0", vendor: "8086", device: "7ae0", class: "0c0330", driver: "xhci_hcd", group: "9"},
	)
}

// sharedGroupHost has an Intel NIC in the RTX card's IOMMU group (a board
// without ACS on that bridge).
func sharedGroupHost(t *testing.T) *tree {
	return newTree(t,
		rtx4090("0000:01:00.0", "nvidia", "14"),
		rtxAudio("0000:01:00.1", "snd_hda_intel", "14"),
		fn{addr: "0000:02:00.0", vendor: "8086", device: "15f3", class: "020000", driver: "igc", group: "14"},
	)
}

// bootVGAHost has one NVIDIA card, and it drives the console.
func bootVGAHost(t *testing.T) *tree {
	g := rtx4090("0000:01:00.0", "nvidia", "1")
	g.bootVGA = true
	return newTree(t, g, rtxAudio("0000:01:00.1", "snd_hda_intel", "1"))
}
