package devmode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BuilderVersion changes whenever the image recipe changes in a way the
// other inputs do not capture; it is part of the inputs hash.
const BuilderVersion = 1

// Label marks the stand-in wherever it reports a version.
const Label = "stand-in (synthetic, earns nothing)"

// DefaultCmdline is the kernel command line of the stand-in. ttyS0 exists
// at boot on every q35 machine (even with -serial null), so init always has
// a console; hvc0 gets the kernel's messages once virtio_console loads, and
// the agent writes its log there too. panic=-1 with QEMU's -no-reboot ends
// QEMU if init dies.
const DefaultCmdline = "console=hvc0 console=ttyS0 quiet panic=-1"

// File names inside an image directory; the first three match the official
// release's image files.
const (
	KernelFile   = "image.vmlinuz"
	InitrdFile   = "image.initrd"
	CmdlineFile  = "image.cmdline"
	ManifestFile = "image.json"
)

// GuestModules returns the kernel modules the guest agent needs; Build
// adds their dependencies. Modules Debian builds into the kernel are
// skipped.
func GuestModules() []string {
	return []string{
		"virtio_pci", "virtio_net", "9pnet_virtio", "9p", "virtio_console",
		"vmw_vsock_virtio_transport", "button", "evdev",
	}
}

// Sentinel errors of Load and Build.
var (
	// ErrNoImage: the directory holds no image (no image.json).
	ErrNoImage = errors.New("no stand-in image")
	// ErrImageDamaged: a file is missing or differs from image.json.
	ErrImageDamaged = errors.New("stand-in image is damaged")
)

// Options configure Build.
type Options struct {
	// CacheDir holds downloaded kernel packages (debs/) and built images
	// (images/<inputs hash>/). Required; see DefaultCacheDir.
	CacheDir string
	// KernelDeb is a linux-image .deb already on disk (offline or CI
	// caching). Empty: resolve linux-image-amd64's dependency with
	// apt-cache and fetch it with apt-get download (once; it is cached).
	KernelDeb string
	// Agent is a prebuilt guest agent (static linux/amd64 binary). Empty:
	// build it from SourceDir.
	Agent string
	// SourceDir is the cocoon-provider module root, for building the agent
	// with the go command. Used when Agent is empty.
	SourceDir string
	// Go is the go command; default "go".
	Go string
	// Cmdline is the kernel command line; default DefaultCmdline.
	Cmdline string
	// Rebuild replaces a cached image that fails verification. Without it
	// a damaged cache is an error.
	Rebuild bool
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// File is one file of an image.
type File struct {
	Path   string `json:"path"` // absolute in Image; relative to the directory in image.json
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Inputs are what an image is built from; their hash names the cache entry.
type Inputs struct {
	KernelPackage   string `json:"kernel_package"` // .deb file name
	KernelVersion   string `json:"kernel_version"` // e.g. 6.1.0-56-amd64
	KernelDebSHA256 string `json:"kernel_deb_sha256"`
	AgentHash       string `json:"agent_hash"`   // source hash or binary SHA-256
	AgentSource     string `json:"agent_source"` // "source" or "binary"
	BuilderVersion  int    `json:"builder_version"`
	Cmdline         string `json:"cmdline"`
}

// Hash is the inputs hash: SHA-256 over every input, hex.
func (in Inputs) Hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "builder %d\nkernel %s %s %s\nagent %s %s\ncmdline %s\nmodules %s\n",
		in.BuilderVersion, in.KernelPackage, in.KernelVersion, in.KernelDebSHA256,
		in.AgentSource, in.AgentHash, in.Cmdline, strings.Join(GuestModules(), ","))
	return hex.EncodeToString(h.Sum(nil))
}

// Image is a built stand-in image.
type Image struct {
	Dir        string   `json:"-"`
	Label      string   `json:"label"`
	Kernel     File     `json:"kernel"`
	Initrd     File     `json:"initrd"`
	Cmdline    string   `json:"cmdline"`
	Modules    []string `json:"modules"` // in load order
	InputsHash string   `json:"inputs_hash"`
	Inputs     Inputs   `json:"inputs"`
	BuiltAt    string   `json:"built_at"` // informational; not part of any hash
	// KernelDeb is the kernel package Build used (set by Build only).
	KernelDeb string `json:"-"`
	// Cached says Build found the image in the cache.
	Cached bool `json:"-"`
}

// DefaultCacheDir is $XDG_CACHE_HOME/cocoon-provider/standin (or
// ~/.cache/…).
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory: %w; set Options.CacheDir", err)
	}
	return filepath.Join(dir, "cocoon-provider", "standin"), nil
}

// Load reads the image in dir and checks the kernel and initrd against
// the SHA-256 and size in its image.json. Errors wrap ErrNoImage or
// ErrImageDamaged and say how to fix them.
func Load(dir string) (Image, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Image{}, err
	}
	raw, err := os.ReadFile(filepath.Join(abs, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Image{}, fmt.Errorf("%w in %s (no %s); build one with `make image`", ErrNoImage, abs, ManifestFile)
	}
	if err != nil {
		return Image{}, fmt.Errorf("read stand-in image manifest: %w", err)
	}
	var img Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return Image{}, fmt.Errorf("%w: %s in %s is not valid JSON (%v); rebuild it with `make image REBUILD=1`", ErrImageDamaged, ManifestFile, abs, err)
	}
	img.Dir = abs
	for _, f := range []*File{&img.Kernel, &img.Initrd} {
		if f.Path == "" || filepath.IsAbs(f.Path) || strings.Contains(f.Path, "..") {
			return Image{}, fmt.Errorf("%w: %s in %s names file %q outside the image directory; rebuild it with `make image REBUILD=1`", ErrImageDamaged, ManifestFile, abs, f.Path)
		}
		f.Path = filepath.Join(abs, f.Path)
		if err := verifyFile(*f); err != nil {
			return Image{}, fmt.Errorf("%w: %v; rebuild it with `make image REBUILD=1` (or Build with Options.Rebuild)", ErrImageDamaged, err)
		}
	}
	cmd, err := os.ReadFile(filepath.Join(abs, CmdlineFile))
	if err != nil || strings.TrimSpace(string(cmd)) != img.Cmdline {
		return Image{}, fmt.Errorf("%w: %s in %s is missing or differs from %s; rebuild it with `make image REBUILD=1`", ErrImageDamaged, CmdlineFile, abs, ManifestFile)
	}
	return img, nil
}

func verifyFile(f File) error {
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("%s is missing: %v", f.Path, err)
	}
	if st.Size() != f.Size {
		return fmt.Errorf("%s is %d bytes, the manifest says %d", f.Path, st.Size(), f.Size)
	}
	sum, _, err := sha256File(f.Path)
	if err != nil {
		return err
	}
	if sum != f.SHA256 {
		return fmt.Errorf("%s has SHA-256 %s, the manifest says %s", f.Path, sum, f.SHA256)
	}
	return nil
}

func sha256File(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Build returns the stand-in image for opts, from the cache when an image
// with the same inputs hash is there and intact, else by building it. A
// cached image that fails verification is an error unless opts.Rebuild.
func Build(ctx context.Context, opts Options) (Image, error) {
	if opts.CacheDir == "" {
		return Image{}, errors.New("stand-in image: Options.CacheDir is empty; use DefaultCacheDir()")
	}
	if opts.Agent == "" && opts.SourceDir == "" {
		return Image{}, errors.New("stand-in image: set Options.Agent to a prebuilt guest agent or Options.SourceDir to the cocoon-provider source tree")
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.Cmdline == "" {
		opts.Cmdline = DefaultCmdline
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(opts.CacheDir, "images"), 0o755); err != nil {
		return Image{}, fmt.Errorf("create stand-in cache directory: %w", err)
	}
	unlock, err := lockDir(ctx, opts.CacheDir)
	if err != nil {
		return Image{}, err
	}
	defer unlock()

	deb, err := kernelDeb(ctx, opts)
	if err != nil {
		return Image{}, err
	}
	debSum, _, err := sha256File(deb)
	if err != nil {
		return Image{}, err
	}
	in := Inputs{
		KernelPackage:   filepath.Base(deb),
		KernelDebSHA256: debSum,
		BuilderVersion:  BuilderVersion,
		Cmdline:         opts.Cmdline,
	}
	in.KernelVersion = kernelVersionFromDeb(in.KernelPackage)
	if opts.Agent != "" {
		if err := checkAgentBinary(opts.Agent); err != nil {
			return Image{}, err
		}
		if in.AgentHash, _, err = sha256File(opts.Agent); err != nil {
			return Image{}, err
		}
		in.AgentSource = "binary"
	} else {
		if in.AgentHash, err = agentSourceHash(ctx, opts.Go, opts.SourceDir); err != nil {
			return Image{}, err
		}
		in.AgentSource = "source"
	}
	hash := in.Hash()
	dir := filepath.Join(opts.CacheDir, "images", hash[:16])

	img, err := Load(dir)
	switch {
	case err == nil && img.InputsHash == hash:
		opts.Log.Info("stand-in image is cached", "dir", dir)
		img.KernelDeb, img.Cached = deb, true
		return img, nil
	case err == nil:
		err = fmt.Errorf("%w: %s in %s has inputs hash %s, want %s", ErrImageDamaged, ManifestFile, dir, img.InputsHash, hash)
		fallthrough
	case errors.Is(err, ErrImageDamaged):
		if !opts.Rebuild {
			return Image{}, err
		}
		opts.Log.Warn("rebuilding damaged stand-in image", "dir", dir, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return Image{}, fmt.Errorf("remove damaged stand-in image: %w", err)
		}
	case !errors.Is(err, ErrNoImage):
		return Image{}, err
	}

	img, err = build(ctx, opts, deb, in, hash, dir)
	if err != nil {
		return Image{}, err
	}
	img.KernelDeb = deb
	return img, nil
}

// build makes the image in a temporary directory next to dir and renames
// it into place, so a crash never leaves a half-written image.
func build(ctx context.Context, opts Options, deb string, in Inputs, hash, dir string) (Image, error) {
	log := opts.Log
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return Image{}, fmt.Errorf("create stand-in build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "image")
	if err := os.Mkdir(out, 0o755); err != nil {
		return Image{}, err
	}

	start := time.Now()
	k, err := extractKernel(ctx, deb, filepath.Join(tmp, "deb"))
	if err != nil {
		return Image{}, err
	}
	log.Info("kernel package extracted", "version", k.Version, "took", time.Since(start).Round(time.Millisecond).String())
	if in.KernelVersion == "" {
		in.KernelVersion = k.Version
	} else if in.KernelVersion != k.Version {
		return Image{}, fmt.Errorf("kernel package %s holds kernel %s, but its name says %s; use an unmodified linux-image .deb", in.KernelPackage, k.Version, in.KernelVersion)
	}
	mods, err := selectModules(k.ModulesDir, GuestModules())
	if err != nil {
		return Image{}, err
	}

	agent := opts.Agent
	if agent == "" {
		start = time.Now()
		agent = filepath.Join(tmp, "guestagent")
		if err := buildAgent(ctx, opts.Go, opts.SourceDir, agent); err != nil {
			return Image{}, err
		}
		log.Info("guest agent built", "took", time.Since(start).Round(time.Millisecond).String())
	}
	agentBin, err := os.ReadFile(agent)
	if err != nil {
		return Image{}, fmt.Errorf("read guest agent: %w", err)
	}

	entries := baseEntries()
	entries = append(entries, fileEntry("init", 0o755, agentBin))
	var names []string
	for _, m := range mods {
		data, err := os.ReadFile(m.Path)
		if err != nil {
			return Image{}, fmt.Errorf("read kernel module %s: %w", m.Name, err)
		}
		entries = append(entries, fileEntry("lib/modules/"+m.Name+".ko", 0o644, data))
		names = append(names, m.Name)
	}
	release := fmt.Sprintf("NAME=%q\nKERNEL=%s\nMODULES=%s\nINPUTS_HASH=%s\n", Label, k.Version, strings.Join(names, ","), hash)
	entries = append(entries, fileEntry("etc/standin-release", 0o644, []byte(release)))

	start = time.Now()
	initrd := filepath.Join(out, InitrdFile)
	if err := writeInitramfsFile(initrd, entries); err != nil {
		return Image{}, err
	}
	log.Info("initramfs written", "modules", len(names), "took", time.Since(start).Round(time.Millisecond).String())
	if err := copyFile(k.Vmlinuz, filepath.Join(out, KernelFile)); err != nil {
		return Image{}, err
	}
	if err := os.WriteFile(filepath.Join(out, CmdlineFile), []byte(opts.Cmdline+"\n"), 0o644); err != nil {
		return Image{}, err
	}

	img := Image{
		Label:      Label,
		Cmdline:    opts.Cmdline,
		Modules:    names,
		InputsHash: hash,
		Inputs:     in,
		BuiltAt:    time.Now().UTC().Format(time.RFC3339),
	}
	for _, f := range []struct {
		dst  *File
		name string
	}{{&img.Kernel, KernelFile}, {&img.Initrd, InitrdFile}} {
		sum, size, err := sha256File(filepath.Join(out, f.name))
		if err != nil {
			return Image{}, err
		}
		*f.dst = File{Path: f.name, SHA256: sum, Size: size}
	}
	manifest, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return Image{}, err
	}
	if err := os.WriteFile(filepath.Join(out, ManifestFile), append(manifest, '\n'), 0o644); err != nil {
		return Image{}, err
	}
	if err := os.Rename(out, dir); err != nil {
		return Image{}, fmt.Errorf("move the built stand-in image into the cache: %w", err)
	}
	log.Info("stand-in image built", "dir", dir, "kernel_bytes", img.Kernel.Size, "initrd_bytes", img.Initrd.Size)
	return Load(dir)
}

// baseEntries are the directories and device nodes of the initramfs. The
// console and null nodes let init start with valid standard descriptors
// before it mounts devtmpfs over /dev.
func baseEntries() []initramfsEntry {
	return []initramfsEntry{
		dirEntry("dev"), dirEntry("proc"), dirEntry("sys"), dirEntry("run"), dirEntry("tmp"),
		dirEntry("mnt/spec"), dirEntry("etc"), dirEntry("lib/modules"),
		charDevEntry("dev/console", 0o600, 5, 1),
		charDevEntry("dev/null", 0o666, 1, 3),
	}
}

func writeInitramfsFile(p string, entries []initramfsEntry) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := writeInitramfs(f, entries); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs: %w", err)
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
