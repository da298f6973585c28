// Command mkimage builds (or finds in its cache) the stand-in worker image
// and prints where it is. `make image` runs it from the repository root:
//
//	go run ./engine/devmode/cmd/mkimage -src . -out bin/standin
//
// With -out the image files are also copied to that directory (the app and
// scripts can then use a fixed path). -kernel-deb builds offline from a
// linux-image .deb on disk; -rebuild replaces a damaged cached image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	defCache, _ := devmode.DefaultCacheDir()
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", defCache, "cache directory for kernel packages and images")
	src := fs.String("src", ".", "cocoon-provider source tree (module root) to build the guest agent from")
	agent := fs.String("agent", "", "prebuilt static guest agent instead of building from -src")
	deb := fs.String("kernel-deb", "", "linux-image-<version>-amd64 .deb to use instead of apt-get download")
	out := fs.String("out", "", "also copy the image files to this directory")
	rebuild := fs.Bool("rebuild", false, "rebuild a cached image that fails verification")
	quiet := fs.Bool("q", false, "log only warnings and errors")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := devmode.Options{CacheDir: *cache, KernelDeb: *deb, Agent: *agent, Rebuild: *rebuild, Log: log}
	if *agent == "" {
		opts.SourceDir = *src
	}
	start := time.Now()
	img, err := devmode.Build(ctx, opts)
	if err != nil {
		log.Error("stand-in image build failed", "err", err)
		if errors.Is(err, devmode.ErrImageDamaged) {
			log.Error("run again with -rebuild (make image REBUILD=1) to replace it")
		}
		return 1
	}
	took := time.Since(start).Round(time.Millisecond)
	if *out != "" {
		if img, err = copyImage(img, *out); err != nil {
			log.Error("copy the image", "err", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "stand-in image (%s): %s\n", devmode.Label, img.Dir)
	fmt.Fprintf(stdout, "  kernel  %s  %d bytes  sha256 %s\n", filepath.Base(img.Kernel.Path), img.Kernel.Size, img.Kernel.SHA256)
	fmt.Fprintf(stdout, "  initrd  %s  %d bytes  sha256 %s\n", filepath.Base(img.Initrd.Path), img.Initrd.Size, img.Initrd.SHA256)
	fmt.Fprintf(stdout, "  cmdline %s\n", img.Cmdline)
	fmt.Fprintf(stdout, "  kernel %s, %d modules, inputs %s\n", img.Inputs.KernelVersion, len(img.Modules), img.InputsHash[:16])
	state := "built"
	if img.Cached {
		state = "cached"
	}
	fmt.Fprintf(stdout, "  %s in %s\n", state, took)
	return 0
}

// copyImage copies the image's files to dir and loads the copy (which
// verifies it).
func copyImage(img devmode.Image, dir string) (devmode.Image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return devmode.Image{}, err
	}
	for _, name := range []string{devmode.KernelFile, devmode.InitrdFile, devmode.CmdlineFile, devmode.ManifestFile} {
		if err := copyFile(filepath.Join(img.Dir, name), filepath.Join(dir, name)); err != nil {
			return devmode.Image{}, err
		}
	}
	cp, err := devmode.Load(dir)
	if err != nil {
		return devmode.Image{}, err
	}
	cp.Cached = img.Cached
	return cp, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
