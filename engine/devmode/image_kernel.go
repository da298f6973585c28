package devmode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/kmod"
)

// kernelMeta is the metapackage whose dependency names the current kernel.
const kernelMeta = "linux-image-amd64"

var kernelPkgRe = regexp.MustCompile(`^linux-image-(\d[^\s]*-amd64)$`)

// parseAptDepends finds the kernel package in `apt-cache depends
// linux-image-amd64` output ("  Depends: linux-image-6.1.0-56-amd64").
func parseAptDepends(out string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends:")
		if !ok {
			continue
		}
		dep = strings.Trim(strings.TrimSpace(dep), "<>")
		if kernelPkgRe.MatchString(dep) {
			return dep, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s names no linux-image-<version>-amd64 package; run `apt-get update`, or pass a kernel .deb (Options.KernelDeb / -kernel-deb)", kernelMeta)
}

// kernelVersionFromDeb reads the kernel version from a package file name:
// linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb → 6.1.0-56-amd64. Empty
// when the name does not follow Debian's pattern.
func kernelVersionFromDeb(name string) string {
	pkg, _, _ := strings.Cut(name, "_")
	if m := kernelPkgRe.FindStringSubmatch(pkg); m != nil {
		return m[1]
	}
	return ""
}

// kernelDeb returns the kernel package to build from: opts.KernelDeb, or
// the cached download of linux-image-amd64's current dependency, fetched
// with apt-get download when it is not cached yet.
func kernelDeb(ctx context.Context, opts Options) (string, error) {
	if opts.KernelDeb != "" {
		if _, err := os.Stat(opts.KernelDeb); err != nil {
			return "", fmt.Errorf("kernel package %s: %w", opts.KernelDeb, err)
		}
		return filepath.Abs(opts.KernelDeb)
	}
	debs := filepath.Join(opts.CacheDir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	out, err := runCmd(ctx, "", "apt-cache", "depends", kernelMeta)
	if err != nil {
		// Offline without apt: fall back to the newest cached package.
		if cached := newestCachedDeb(debs, "linux-image-"); cached != "" {
			opts.Log.Warn("apt-cache failed; using the cached kernel package", "deb", cached, "err", err)
			return cached, nil
		}
		return "", fmt.Errorf("find the kernel package: %w; install apt or pass a kernel .deb (Options.KernelDeb / -kernel-deb)", err)
	}
	pkg, err := parseAptDepends(string(out))
	if err != nil {
		return "", err
	}
	if cached := newestCachedDeb(debs, pkg+"_"); cached != "" {
		return cached, nil
	}
	opts.Log.Info("downloading the kernel package", "package", pkg)
	tmp, err := os.MkdirTemp(debs, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if _, err := runCmd(ctx, tmp, "apt-get", "download", pkg); err != nil {
		return "", fmt.Errorf("download %s: %w; check the apt sources and network, or pass a kernel .deb (Options.KernelDeb / -kernel-deb)", pkg, err)
	}
	got, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(got) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d .deb files, want 1", pkg, len(got))
	}
	dst := filepath.Join(debs, filepath.Base(got[0]))
	if err := os.Rename(got[0], dst); err != nil {
		return "", err
	}
	return dst, nil
}

func newestCachedDeb(dir, prefix string) string {
	got, _ := filepath.Glob(filepath.Join(dir, prefix+"*.deb"))
	if len(got) == 0 {
		return ""
	}
	sort.Strings(got)
	return got[len(got)-1]
}

// extractedKernel is what Build takes from the kernel package.
type extractedKernel struct {
	Version    string // e.g. 6.1.0-56-amd64
	Vmlinuz    string
	ModulesDir string // lib/modules/<version>
}

// extractKernel unpacks deb into dst with dpkg-deb -x.
func extractKernel(ctx context.Context, deb, dst string) (extractedKernel, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return extractedKernel{}, err
	}
	if _, err := runCmd(ctx, "", "dpkg-deb", "-x", deb, dst); err != nil {
		return extractedKernel{}, fmt.Errorf("unpack kernel package %s: %w (is dpkg-deb installed and the .deb complete?)", deb, err)
	}
	kernels, _ := filepath.Glob(filepath.Join(dst, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return extractedKernel{}, fmt.Errorf("kernel package %s has %d boot/vmlinuz-* files, want 1; pass a linux-image-<version>-amd64 .deb", deb, len(kernels))
	}
	version := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	mods := filepath.Join(dst, "lib", "modules", version)
	if _, err := os.Stat(mods); err != nil {
		return extractedKernel{}, fmt.Errorf("kernel package %s has no lib/modules/%s: %w", deb, version, err)
	}
	return extractedKernel{Version: version, Vmlinuz: kernels[0], ModulesDir: mods}, nil
}

// moduleFile is a module chosen for the initramfs.
type moduleFile struct {
	Name string
	Path string
}

// selectModules picks roots and their dependencies from modulesDir, in
// load order. Modules the kernel has built in (modules.builtin) need no
// file and are left out.
func selectModules(modulesDir string, roots []string) ([]moduleFile, error) {
	paths := map[string]string{}
	err := filepath.WalkDir(filepath.Join(modulesDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			paths[kmod.NameFromFile(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list kernel modules in %s: %w", modulesDir, err)
	}
	builtin := builtinModules(modulesDir)
	g := kmod.Graph{}
	var add func(name string) error
	add = func(name string) error {
		if _, done := g[name]; done || builtin[name] {
			return nil
		}
		p, ok := paths[name]
		if !ok {
			return nil // Closure reports it with the chain that needs it.
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		info, err := kmod.Parse(f, p)
		f.Close()
		if err != nil {
			return err
		}
		var deps []string
		for _, d := range info.Depends {
			if !builtin[d] {
				deps = append(deps, d)
			}
		}
		g[name] = deps
		for _, d := range deps {
			if err := add(d); err != nil {
				return err
			}
		}
		return nil
	}
	var want []string
	for _, r := range roots {
		r = kmod.Normalize(r)
		if builtin[r] {
			continue
		}
		want = append(want, r)
		if err := add(r); err != nil {
			return nil, err
		}
	}
	order, err := kmod.Closure(g, want)
	if err != nil {
		var missing *kmod.MissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("the kernel package lacks a module the stand-in needs: %w", err)
		}
		return nil, err
	}
	out := make([]moduleFile, 0, len(order))
	for _, name := range order {
		out = append(out, moduleFile{Name: name, Path: paths[name]})
	}
	return out, nil
}

// builtinModules reads modules.builtin (paths of modules built into the
// kernel), when the package has it.
func builtinModules(modulesDir string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(modulesDir, "modules.builtin"))
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out[kmod.NameFromFile(line)] = true
		}
	}
	return out
}

// runCmd runs name with args in dir and returns stdout; a failure carries
// the command's stderr.
func runCmd(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		if msg != "" {
			return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}
