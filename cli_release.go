package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine/release"
)

const releaseUsage = `Usage:
  cocoon-provider release fetch URL --sha256 HEX [--version V] [--size BYTES]
                                [--mrtd HEX --rtmr0 HEX --rtmr1 HEX --rtmr2 HEX] [--json]
      download an official worker release (.tar.gz), check its SHA-256, unpack it safely
      into <data dir>/releases/<version>; it is not activated. The MRTD and RTMR0–2 of the
      release (from a quote of a worker running it) let its image hash be computed.
  cocoon-provider release list [--json]
      the releases here, which is current and which is previous
  cocoon-provider release use VERSION [--allow HEX[,HEX…] | --policy FILE] [--unchecked]
      check the release's image hash against the allowed ones (--allow, or the
      allowed_image_hashes of a tdx_config JSON) and make it current; --unchecked skips
      the check (development and tests only: the network refuses an image it does not allow)
  cocoon-provider release rollback
      go back to the previous release (a second rollback undoes the first)
`

func cmdRelease(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "release", releaseUsage, []subcommand{
		{"fetch", cmdReleaseFetch},
		{"list", cmdReleaseList},
		{"use", cmdReleaseUse},
		{"rollback", cmdReleaseRollback},
	}, args, stdout, stderr)
}

// parseWithArg parses flags given before or after one positional
// argument, which it returns ("" when there is none).
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return "", err
		}
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return arg, nil
}

// releaseManager opens <data dir>/releases.
func releaseManager(c *common) (*release.Manager, error) {
	if c.dataDir == "" {
		return nil, errors.New("no data directory: give --data-dir DIR")
	}
	return release.New(release.Options{Dir: filepath.Join(c.dataDir, "releases")})
}

func cmdReleaseFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release fetch", stderr)
	var c common
	c.register(fs, "warn")
	sum := fs.String("sha256", "", "the archive's SHA-256 (64 hex digits; required)")
	ver := fs.String("version", "", "name of the release (default: from the archive's top folder)")
	size := fs.Int64("size", 0, "the archive's size in bytes, when known")
	asJSON := fs.Bool("json", false, "print JSON")
	regs := map[string]*string{}
	for _, n := range []string{"mrtd", "rtmr0", "rtmr1", "rtmr2"} {
		regs[n] = fs.String(n, "", n+" of the release (96 hex digits)")
	}
	u, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if u == "" {
		return errors.New("release fetch: give the archive's URL, e.g. release fetch https://…/release.tar.gz --sha256 HEX")
	}
	src := release.Source{URL: u, SHA256: *sum, Version: *ver, Size: *size}
	base, err := baseFromFlags(regs)
	if err != nil {
		return err
	}
	src.Base = base
	m, err := releaseManager(&c)
	if err != nil {
		return err
	}
	last := -1
	r, err := m.Fetch(ctx, src, func(done, total int64) {
		if total <= 0 {
			return
		}
		if pct := int(done * 100 / total); pct/10 != last/10 {
			last = pct
			fmt.Fprintf(stderr, "downloaded %d%%\n", pct)
		}
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, r)
	}
	fmt.Fprintf(stdout, "Fetched release %s into %s\n  sha256      %s\n", r.Version, r.Path, r.SHA256)
	writeMeasured(stdout, r)
	fmt.Fprintf(stdout, "Make it current with: cocoon-provider release use %s --allow HEX (the image hashes the network allows)\n", r.Version)
	return nil
}

// baseFromFlags reads --mrtd and --rtmr0..2; nil when none is given.
func baseFromFlags(regs map[string]*string) (*attest.Measurements, error) {
	var base attest.Measurements
	given := 0
	for name, v := range regs {
		if *v == "" {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(*v))
		if err != nil || len(b) != 48 {
			return nil, fmt.Errorf("--%s: want 96 hex digits (48 bytes)", name)
		}
		given++
		switch name {
		case "mrtd":
			copy(base.MRTD[:], b)
		case "rtmr0":
			copy(base.RTMR[0][:], b)
		case "rtmr1":
			copy(base.RTMR[1][:], b)
		case "rtmr2":
			copy(base.RTMR[2][:], b)
		}
	}
	switch given {
	case 0:
		return nil, nil
	case len(regs):
		return &base, nil
	}
	return nil, errors.New("give all of --mrtd, --rtmr0, --rtmr1 and --rtmr2, or none")
}

func writeMeasured(w io.Writer, r release.Release) {
	ms := r.Measured
	if ms.SpecTree != "" {
		fmt.Fprintf(w, "  spec tree   %s\n  RTMR3       %s\n", ms.SpecTree, ms.RTMR3)
	} else if ms.SpecTreeError != "" {
		fmt.Fprintf(w, "  spec tree   not computable: %s\n", ms.SpecTreeError)
	}
	if ms.ImageHash != "" {
		fmt.Fprintf(w, "  image hash  %s (base measurements from %s)\n", ms.ImageHash, ms.BaseFrom)
	} else {
		fmt.Fprintln(w, "  image hash  unknown: give the release's MRTD and RTMR0–2 (--mrtd/--rtmr0/--rtmr1/--rtmr2)")
	}
}

// releaseListing is what `release list --json` prints.
type releaseListing struct {
	Current  string            `json:"current,omitempty"`
	Previous string            `json:"previous,omitempty"`
	Releases []release.Release `json:"releases"`
}

func cmdReleaseList(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release list", stderr)
	var c common
	c.register(fs, "warn")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("release list takes no arguments, have %q", fs.Args())
	}
	m, err := releaseManager(&c)
	if err != nil {
		return err
	}
	list, err := m.List()
	if err != nil {
		return err
	}
	out := releaseListing{Releases: list}
	if r, err := m.Current(); err == nil {
		out.Current = r.Version
	}
	if r, err := m.Previous(); err == nil {
		out.Previous = r.Version
	}
	if *asJSON {
		if out.Releases == nil {
			out.Releases = []release.Release{}
		}
		return printJSON(stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No worker releases here yet: fetch one with cocoon-provider release fetch URL --sha256 HEX")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tFETCHED\tIMAGE HASH\tALLOWED")
	for _, r := range list {
		st := ""
		switch r.Version {
		case out.Current:
			st = "current"
		case out.Previous:
			st = "previous"
		}
		ih := r.Measured.ImageHash
		if ih == "" {
			ih = "unknown"
		}
		allowed := "not checked"
		if r.Allowed != nil {
			allowed = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Version, st, r.FetchedAt.Local().Format("2006-01-02 15:04"), ih, allowed)
	}
	return tw.Flush()
}

func cmdReleaseUse(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release use", stderr)
	var c common
	c.register(fs, "warn")
	allowFlag := fs.String("allow", "", "allowed image hashes, comma-separated (64 hex digits each)")
	policy := fs.String("policy", "", "a Cocoon tdx_config JSON file; its allowed_image_hashes are used")
	unchecked := fs.Bool("unchecked", false, "activate without checking the image hash (development and tests only)")
	v, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if v == "" {
		return errors.New("release use: give the version to make current (see release list)")
	}
	allowed, err := allowListFromFlags(*allowFlag, *policy)
	if err != nil {
		return err
	}
	m, err := releaseManager(&c)
	if err != nil {
		return err
	}
	r, err := m.Get(v)
	if err != nil {
		return err
	}
	switch {
	case *unchecked:
		if err := m.ActivateUnchecked(v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Release %s is current, NOT checked against the allow-list (development and tests only).\n", v)
		return nil
	case allowed != nil:
		if r, err = m.CheckAllowed(r, allowed); err != nil {
			return err
		}
	}
	if err := m.Activate(v); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Release %s is current; its image hash %s is allowed.\n", v, r.Allowed.ImageHash)
	return nil
}

// allowListFromFlags reads --allow and --policy; nil when neither is given.
func allowListFromFlags(list, policyFile string) ([][32]byte, error) {
	if list != "" && policyFile != "" {
		return nil, errors.New("give --allow or --policy, not both")
	}
	if policyFile != "" {
		b, err := os.ReadFile(policyFile)
		if err != nil {
			return nil, err
		}
		p, err := attest.ParsePolicyJSON(b)
		if err != nil {
			return nil, fmt.Errorf("--policy %s: %w", policyFile, err)
		}
		if p.AllowedImageHashes == nil {
			return [][32]byte{}, nil
		}
		return p.AllowedImageHashes, nil
	}
	if list == "" {
		return nil, nil
	}
	out := [][32]byte{}
	for s := range strings.SplitSeq(list, ",") {
		b, err := hex.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("--allow: %q is not an image hash (64 hex digits)", s)
		}
		out = append(out, [32]byte(b))
	}
	return out, nil
}

func cmdReleaseRollback(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("release rollback", stderr)
	var c common
	c.register(fs, "warn")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("release rollback takes no arguments, have %q", fs.Args())
	}
	m, err := releaseManager(&c)
	if err != nil {
		return err
	}
	r, err := m.Rollback()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Release %s is current again.\n", r.Version)
	return nil
}
