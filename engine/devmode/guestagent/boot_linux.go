package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/kmod"
)

// Paths inside the stand-in initramfs.
const (
	modulesDir      = "/lib/modules"
	specMountDir    = "/mnt/spec"
	specTag         = "spec"
	runtimeVarsPath = "runtime/runtime.vars"
	ninePTagsGlob   = "/sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag"
)

// modulePriority puts the console first (so the log reaches hvc0 early),
// then what the network and the spec share need. Modules not named here
// load afterwards; dependencies always load before their users.
var modulePriority = []string{
	"virtio_console", "virtio_pci", "virtio_net", "9pnet_virtio", "9p",
	"button", "evdev", "vmw_vsock_virtio_transport",
}

// mountBasics mounts what a Go init needs: proc, sys, devtmpfs on /dev and
// tmpfs on /run and /tmp. Already-mounted filesystems are fine.
func mountBasics() error {
	mounts := []struct {
		fstype, target string
		flags          uintptr
		data           string
	}{
		{"proc", "/proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	return errors.Join(errs...)
}

// loadModules loads every module in dir in dependency order, resolved from
// each module's .modinfo "depends=". A module the kernel already has
// (EEXIST) counts as loaded. It carries on past a failure and returns the
// loaded names with all errors joined.
func loadModules(dir string, log *slog.Logger) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no kernel modules in %s: the initramfs is incomplete; rebuild the stand-in image", dir)
	}
	byName := map[string]string{}
	var infos []kmod.Info
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		info, err := kmod.Parse(fh, f)
		_ = fh.Close()
		if err != nil {
			return nil, err
		}
		byName[info.Name] = f
		infos = append(infos, info)
	}
	g := kmod.GraphOf(infos)
	var first []string
	for _, m := range modulePriority {
		if _, ok := g[m]; ok {
			first = append(first, m)
		}
	}
	order, err := kmod.Order(g, first)
	if err != nil {
		return nil, err
	}
	var loaded []string
	var errs []error
	for _, name := range order {
		start := time.Now()
		if err := finitModule(byName[name]); err != nil {
			errs = append(errs, fmt.Errorf("load kernel module %s: %w", name, err))
			continue
		}
		log.Debug("module loaded", "module", name, "took", time.Since(start).Round(time.Microsecond).String())
		loaded = append(loaded, name)
	}
	return loaded, errors.Join(errs...)
}

func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// openHVC opens the virtio console hvc0 for the log when QEMU has one (the
// official layout puts the guest console there).
func openHVC() (*os.File, bool) {
	f, err := os.OpenFile("/dev/hvc0", os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, false
	}
	return f, true
}

// specTagPresent reports whether QEMU exports a 9p share tagged tag.
func specTagPresent(tag string) bool {
	files, _ := filepath.Glob(ninePTagsGlob)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.TrimRight(string(b), "\x00\n") == tag {
			return true
		}
	}
	return false
}

// mountSpec mounts the 9p share read-only at dir with the official
// options (trans=virtio, 9p2000.L, noexec, nosuid, nodev, ro).
func mountSpec(dir string) error {
	if !specTagPresent(specTag) {
		return fmt.Errorf("QEMU exports no 9p share tagged %q; start the VM with -virtfs local,path=<spec dir>,mount_tag=spec,security_model=mapped,readonly=on", specTag)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := unix.Mount(specTag, dir, "9p", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "trans=virtio,version=9p2000.L")
	if err != nil {
		return fmt.Errorf("mount 9p share %q on %s: %w", specTag, dir, err)
	}
	return nil
}
