package devmode

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/kmod/kmodtest"
)

func TestParseAptDepends(t *testing.T) {
	tests := []struct {
		out, want string
	}{
		{"linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64"},
		{"linux-image-amd64\n  Depends: <linux-image-6.12.9-amd64>\n  Recommends: firmware\n", "linux-image-6.12.9-amd64"},
		{"linux-image-amd64\n  Depends: linux-base\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64"},
		{"linux-image-amd64\n", ""},
	}
	for _, tt := range tests {
		got, err := parseAptDepends(tt.out)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("%q: %q, %v; want %q", tt.out, got, err, tt.want)
		}
	}
	for name, want := range map[string]string{
		"linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb": "6.1.0-56-amd64",
		"kernel.deb": "",
	} {
		if got := kernelVersionFromDeb(name); got != want {
			t.Errorf("kernelVersionFromDeb(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestInputsHash(t *testing.T) {
	base := Inputs{KernelPackage: "k.deb", KernelVersion: "6.1", KernelDebSHA256: "aa", AgentHash: "bb", AgentSource: "source", BuilderVersion: 1, Cmdline: "c"}
	seen := map[string]string{base.Hash(): "base"}
	for name, mod := range map[string]func(*Inputs){
		"deb":     func(in *Inputs) { in.KernelDebSHA256 = "ab" },
		"agent":   func(in *Inputs) { in.AgentHash = "bc" },
		"builder": func(in *Inputs) { in.BuilderVersion = 2 },
		"cmdline": func(in *Inputs) { in.Cmdline = "c2" },
	} {
		in := base
		mod(&in)
		h := in.Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("changing %s gives the hash of %s", name, prev)
		}
		seen[h] = name
	}
	if base.Hash() != base.Hash() {
		t.Error("hash not deterministic")
	}
}

// fakeKernelDeb builds a linux-image .deb with a fake kernel and fake
// modules carrying Debian 6.1's dependency data, so Build runs without the
// network. It needs dpkg-deb.
func fakeKernelDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed; the image builder needs it")
	}
	const ver = "6.1.0-99-amd64"
	root := t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("DEBIAN/control", []byte("Package: linux-image-"+ver+"\nVersion: 1\nArchitecture: amd64\nMaintainer: test <t@example.com>\nDescription: fake kernel\n"))
	write("boot/vmlinuz-"+ver, bytes.Repeat([]byte("kernel"), 1000))
	for name, deps := range kmodtest.Debian61() {
		write("lib/modules/"+ver+"/kernel/drivers/"+strings.ReplaceAll(name, "_", "-")+".ko", kmodtest.Module(name, deps...))
	}
	write("lib/modules/"+ver+"/kernel/drivers/unneeded.ko", kmodtest.Module("unneeded"))
	write("lib/modules/"+ver+"/modules.builtin", []byte("kernel/drivers/block/loop.ko\n"))
	deb := filepath.Join(t.TempDir(), "linux-image-"+ver+"_1_amd64.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

func fakeAgent(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "guestagent")
	if err := os.WriteFile(p, kmodtest.Executable(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildCacheAndVerify(t *testing.T) {
	ctx := context.Background()
	opts := Options{CacheDir: t.TempDir(), KernelDeb: fakeKernelDeb(t), Agent: fakeAgent(t)}

	img, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if img.Cached || img.Inputs.KernelVersion != "6.1.0-99-amd64" || img.Inputs.AgentSource != "binary" || img.Cmdline != DefaultCmdline {
		t.Errorf("image = %+v", img)
	}
	if len(img.Modules) != 19 || img.Modules[len(img.Modules)-1] == "unneeded" {
		t.Errorf("modules = %v, want the 19 the guest needs", img.Modules)
	}
	if filepath.Dir(img.Kernel.Path) != img.Dir || filepath.Base(img.Initrd.Path) != InitrdFile {
		t.Errorf("paths: %s %s in %s", img.Kernel.Path, img.Initrd.Path, img.Dir)
	}
	checkInitrd(t, img.Initrd.Path)

	again, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Dir != img.Dir || again.Initrd.SHA256 != img.Initrd.SHA256 {
		t.Errorf("second Build: cached %v dir %s", again.Cached, again.Dir)
	}

	// A damaged file: Load and Build refuse; Build with Rebuild rebuilds
	// the same bytes.
	data, _ := os.ReadFile(img.Initrd.Path)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(img.Initrd.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(img.Dir); !errors.Is(err, ErrImageDamaged) || !strings.Contains(err.Error(), "REBUILD=1") {
		t.Errorf("Load of damaged image: %v", err)
	}
	if _, err := Build(ctx, opts); !errors.Is(err, ErrImageDamaged) {
		t.Errorf("Build over damaged cache: %v", err)
	}
	opts.Rebuild = true
	rebuilt, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt.Cached || rebuilt.Initrd.SHA256 != img.Initrd.SHA256 || rebuilt.Kernel.SHA256 != img.Kernel.SHA256 {
		t.Errorf("rebuild is not byte-identical: %s vs %s", rebuilt.Initrd.SHA256, img.Initrd.SHA256)
	}

	// A fresh cache gives the same bytes too (reproducible build).
	opts.CacheDir, opts.Rebuild = t.TempDir(), false
	other, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if other.Initrd.SHA256 != img.Initrd.SHA256 || other.InputsHash != img.InputsHash {
		t.Errorf("fresh cache: initrd %s, want %s", other.Initrd.SHA256, img.Initrd.SHA256)
	}

	// Another command line is another image.
	opts.Cmdline = "console=ttyS0 panic=-1"
	c2, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Dir == other.Dir || c2.Cmdline != opts.Cmdline {
		t.Errorf("cmdline change reused %s", c2.Dir)
	}
}

func checkInitrd(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(zr)
	found := map[string]cpio.FileMode{}
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
	}
	for name, mode := range map[string]cpio.FileMode{
		"init":                      cpio.TypeReg | 0o755,
		"lib/modules/virtio_net.ko": cpio.TypeReg | 0o644,
		"lib/modules/9p.ko":         cpio.TypeReg | 0o644,
		"dev/console":               cpio.TypeChar | 0o600,
		"dev/null":                  cpio.TypeChar | 0o666,
		"mnt/spec":                  cpio.TypeDir | 0o755,
		"etc/standin-release":       cpio.TypeReg | 0o644,
	} {
		if found[name] != mode {
			t.Errorf("initrd %s: mode %o, want %o", name, found[name], mode)
		}
	}
	if _, ok := found["lib/modules/unneeded.ko"]; ok {
		t.Error("initrd holds a module nobody needs")
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), "make image") {
		t.Errorf("empty dir: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrImageDamaged) {
		t.Errorf("bad JSON: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"kernel":{"path":"../../etc/passwd"},"initrd":{"path":"image.initrd"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrImageDamaged) {
		t.Errorf("path outside the dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"kernel":{"path":"image.vmlinuz","size":1,"sha256":"x"},"initrd":{"path":"image.initrd"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrImageDamaged) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing kernel: %v", err)
	}
}

func TestBuildOptionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Build(ctx, Options{}); err == nil || !strings.Contains(err.Error(), "CacheDir") {
		t.Errorf("no cache dir: %v", err)
	}
	if _, err := Build(ctx, Options{CacheDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "SourceDir") {
		t.Errorf("no agent: %v", err)
	}
	notStatic := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(notStatic, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(t.TempDir(), "linux-image-6.1.0-1-amd64_1_amd64.deb")
	if err := os.WriteFile(deb, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(ctx, Options{CacheDir: t.TempDir(), KernelDeb: deb, Agent: notStatic}); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("script as agent: %v", err)
	}
}

func TestAgentSourceHash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, _ := filepath.Abs("../..")
	a, err := agentSourceHash(context.Background(), goBin, root)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := agentSourceHash(context.Background(), goBin, root)
	if len(a) != 64 || a != b {
		t.Errorf("hash %q then %q", a, b)
	}
	if _, err := agentSourceHash(context.Background(), goBin, t.TempDir()); err == nil || !strings.Contains(err.Error(), "module root") {
		t.Errorf("outside the module: %v", err)
	}
}
