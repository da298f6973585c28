package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Info is what a module's .modinfo section says about it.
type Info struct {
	// Name is the module name ("name=" in .modinfo, else derived from the
	// file name), with '-' normalised to '_' as the kernel does.
	Name string
	// Depends are the modules that must be loaded first, normalised the
	// same way. Empty when the module depends on nothing.
	Depends []string
}

// ErrNoModinfo says an ELF file has no .modinfo section, so it is not a
// kernel module.
var ErrNoModinfo = errors.New("no .modinfo section (not a kernel module)")

// Parse reads the .modinfo section of the kernel module r (an uncompressed
// .ko file). file is the module's path or file name; it names the module
// when .modinfo has no "name=" entry, and it appears in errors.
func Parse(r io.ReaderAt, file string) (Info, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Info{}, fmt.Errorf("read kernel module %s: %w (compressed modules are not supported; use the uncompressed .ko)", file, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Info{}, fmt.Errorf("kernel module %s: %w", file, ErrNoModinfo)
	}
	data, err := sec.Data()
	if err != nil {
		return Info{}, fmt.Errorf("kernel module %s: read .modinfo: %w", file, err)
	}
	return ParseSection(data, file), nil
}

// ParseBytes is Parse over a module held in memory.
func ParseBytes(ko []byte, file string) (Info, error) {
	return Parse(bytes.NewReader(ko), file)
}

// ParseSection reads raw .modinfo content: NUL-separated "key=value"
// strings. file names the module when there is no "name=" entry.
func ParseSection(data []byte, file string) Info {
	info := Info{Name: NameFromFile(file)}
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		switch key {
		case "name":
			if value != "" {
				info.Name = Normalize(value)
			}
		case "depends":
			for _, d := range strings.Split(value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					info.Depends = append(info.Depends, Normalize(d))
				}
			}
		}
	}
	return info
}

// NameFromFile derives a module name from its file name:
// "kernel/net/9p/9pnet_virtio.ko" → "9pnet_virtio".
func NameFromFile(file string) string {
	base := path.Base(strings.ReplaceAll(file, "\\", "/"))
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return Normalize(strings.TrimSuffix(base, ".ko"))
}

// Normalize maps a module name to the kernel's canonical form ('-' → '_').
func Normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}
