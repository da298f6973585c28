// Package kmodtest builds fake kernel modules for tests: minimal ELF64
// relocatable files whose only content is a .modinfo section, which is all
// package kmod reads.
package kmodtest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
)

// Module returns a fake .ko for name depending on depends, with the
// .modinfo entries a real Debian module carries.
func Module(name string, depends ...string) []byte {
	return WithModinfo("license=GPL", "depends="+strings.Join(depends, ","), "retpoline=Y", "name="+name, "vermagic=6.1.0-test SMP mod_unload modversions")
}

// WithModinfo returns a fake .ko whose .modinfo holds exactly entries.
func WithModinfo(entries ...string) []byte {
	modinfo := []byte(strings.Join(entries, "\x00") + "\x00")
	shstrtab := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modinfoOff := uint64(ehsize)
	shstrOff := modinfoOff + uint64(len(modinfo))
	shOff := (shstrOff + uint64(len(shstrtab)) + 7) &^ 7

	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	write := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) } // bytes.Buffer never fails
	write(hdr)
	b.Write(modinfo)
	b.Write(shstrtab)
	b.Write(make([]byte, int(shOff)-b.Len()))
	write(elf.Section64{})
	write(elf.Section64{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: modinfoOff, Size: uint64(len(modinfo)), Addralign: 1})
	write(elf.Section64{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: shstrOff, Size: uint64(len(shstrtab)), Addralign: 1})
	return b.Bytes()
}

// Executable returns a minimal static linux/amd64 ELF executable header
// (it does not run; it passes the image builder's checks).
func Executable() []byte {
	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: 0x401000, Ehsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	_ = binary.Write(&b, binary.LittleEndian, hdr)
	return b.Bytes()
}

// Debian61 is the dependency data of the stand-in's modules in Debian's
// 6.1 kernel (from their .modinfo sections).
func Debian61() map[string][]string {
	return map[string][]string{
		"virtio_ring": nil, "virtio": {"virtio_ring"},
		"virtio_pci":            {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
		"virtio_pci_modern_dev": nil, "virtio_pci_legacy_dev": nil,
		"failover": nil, "net_failover": {"failover"}, "virtio_net": {"virtio_ring", "virtio", "net_failover"},
		"netfs": nil, "fscache": {"netfs"}, "9pnet": nil, "9pnet_virtio": {"virtio", "9pnet", "virtio_ring"},
		"9p": {"9pnet", "fscache", "netfs"}, "vsock": nil,
		"vmw_vsock_virtio_transport_common": {"vsock"},
		"vmw_vsock_virtio_transport":        {"virtio", "vmw_vsock_virtio_transport_common", "virtio_ring", "vsock"},
		"virtio_console":                    {"virtio", "virtio_ring"}, "button": nil, "evdev": nil,
	}
}
