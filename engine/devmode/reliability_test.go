package devmode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReliabilityBadImages damages a cached stand-in image in every way a
// disk, an interrupted copy or a hand edit can — flipped bytes, truncated
// and extended files, empty and missing files, files swapped, a broken,
// escaping or outdated manifest, a changed command line — and checks that
// Load and Build refuse each one (leaving it for the user to see), and
// that Build with Rebuild puts back a byte-identical image.
func TestReliabilityBadImages(t *testing.T) {
	ctx := context.Background()
	opts := Options{CacheDir: t.TempDir(), KernelDeb: fakeKernelDeb(t), Agent: fakeAgent(t)}
	img, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{filepath.Base(img.Kernel.Path), InitrdFile, ManifestFile, CmdlineFile}
	pristine := map[string][]byte{}
	for _, n := range names {
		if pristine[n], err = os.ReadFile(filepath.Join(img.Dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	restore := func() {
		t.Helper()
		for n, b := range pristine {
			if err := os.WriteFile(filepath.Join(img.Dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(n string, b []byte) func() {
		return func() {
			if err := os.WriteFile(filepath.Join(img.Dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	type damage struct {
		name  string
		apply func()
		// intact: the files themselves are whole (Load accepts them); only
		// Build, which knows what the image must be built from, refuses.
		intact bool
	}
	var damages []damage
	for _, n := range names[:2] {
		b := pristine[n]
		for _, at := range []int{0, 1, len(b) / 3, len(b) / 2, len(b) - 1} {
			c := append([]byte(nil), b...)
			c[at] ^= 0x01
			damages = append(damages, damage{name: n + ": one bit flipped", apply: write(n, c)})
		}
		for _, size := range []int{0, 1, len(b) / 2, len(b) - 1} {
			damages = append(damages, damage{name: n + ": truncated", apply: write(n, b[:size])})
		}
		damages = append(damages, damage{name: n + ": extended", apply: write(n, append(append([]byte(nil), b...), 0))})
		damages = append(damages, damage{name: n + ": missing", apply: func() { _ = os.Remove(filepath.Join(img.Dir, n)) }})
	}
	damages = append(damages,
		damage{name: "kernel and initrd swapped", apply: func() {
			write(names[0], pristine[names[1]])()
			write(names[1], pristine[names[0]])()
		}},
		damage{name: "manifest: not JSON", apply: write(ManifestFile, []byte("{"))},
		damage{name: "manifest: truncated", apply: write(ManifestFile, pristine[ManifestFile][:len(pristine[ManifestFile])/2])},
		damage{name: "manifest: empty", apply: write(ManifestFile, nil)},
		damage{name: "manifest: a file outside the image", apply: write(ManifestFile, replaceOnce(t, pristine[ManifestFile], InitrdFile, "../"+InitrdFile))},
		damage{name: "manifest: another inputs hash", apply: write(ManifestFile, replaceOnce(t, pristine[ManifestFile], img.InputsHash, otherHex(img.InputsHash))), intact: true},
		damage{name: "manifest: another initrd hash", apply: write(ManifestFile, replaceOnce(t, pristine[ManifestFile], img.Initrd.SHA256, otherHex(img.Initrd.SHA256)))},
		damage{name: "command line changed", apply: write(CmdlineFile, []byte(img.Cmdline+" init=/bin/sh\n"))},
		damage{name: "command line missing", apply: func() { _ = os.Remove(filepath.Join(img.Dir, CmdlineFile)) }},
	)

	loadRefused, buildRefused, kept, rebuilt := 0, 0, 0, 0
	for _, d := range damages {
		restore()
		d.apply()
		before := snapshot(t, img.Dir)
		switch _, err := Load(img.Dir); {
		case d.intact && err == nil:
		case errors.Is(err, ErrImageDamaged) && !d.intact:
			loadRefused++
		default:
			t.Errorf("%s: Load = %v", d.name, err)
		}
		if _, err := Build(ctx, opts); errors.Is(err, ErrImageDamaged) {
			buildRefused++
		} else {
			t.Errorf("%s: Build = %v, want ErrImageDamaged", d.name, err)
		}
		if snapshot(t, img.Dir) == before {
			kept++
		} else {
			t.Errorf("%s: a refused Build changed the cache", d.name)
		}
		ropts := opts
		ropts.Rebuild = true
		if again, err := Build(ctx, ropts); err == nil && again.Initrd.SHA256 == img.Initrd.SHA256 && again.Kernel.SHA256 == img.Kernel.SHA256 {
			rebuilt++
		} else {
			t.Errorf("%s: rebuild = %+v, %v", d.name, again, err)
		}
	}
	t.Logf("RELIABILITY bad-images: tried %d damaged stand-in images; refused by Build %d; by Load %d (all with damaged files; the other names whole files of other inputs); cache left as found %d; rebuilt byte-identical %d",
		len(damages), buildRefused, loadRefused, kept, rebuilt)
}

// replaceOnce replaces the one occurrence of old in b.
func replaceOnce(t *testing.T, b []byte, old, repl string) []byte {
	t.Helper()
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%q occurs %d times, want once", old, n)
	}
	return []byte(strings.Replace(string(b), old, repl, 1))
}

// otherHex returns h with its first digit changed.
func otherHex(h string) string {
	if h[0] == '0' {
		return "1" + h[1:]
	}
	return "0" + h[1:]
}

// snapshot lists the directory's files with their contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()...)
		out = append(out, 0)
		out = append(out, b...)
		out = append(out, 0)
	}
	return string(out)
}
