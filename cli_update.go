package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/update"
)

// Settings of the update check.
const (
	// settingUpdateFeedURL overrides the release feed's address (a
	// mirror): engine.Settings.UpdateFeedURL, kept in step under this key.
	settingUpdateFeedURL = engine.SettingUpdateFeedURL
	// settingUpdateLastPublished is the newest feed time seen (RFC 3339):
	// an older feed is refused, so an old one cannot be served again to
	// hide a release.
	settingUpdateLastPublished = "update.last_published"
	// defaultFeedURL is the release feed of the project's releases.
	defaultFeedURL = "https://github.com/cocoon-provider/cocoon-provider/releases/latest/download/feed.json"
	// allowListTimeout bounds reading one worker's allow-list.
	allowListTimeout = 5 * time.Second
)

// testReleaseKeys are trusted besides the keys pinned at build time. Only
// tests set it: no flag, setting or environment variable reaches it, so a
// build trusts exactly the keys it was built with.
var testReleaseKeys []ed25519.PublicKey

// updateReport is what `update --json` prints.
type updateReport struct {
	FeedURL         string `json:"feed_url"`
	FeedFrom        string `json:"feed_from"` // flag, setting or default
	Platform        string `json:"platform"`
	UpdateAvailable bool   `json:"update_available"`
	AllowListSource string `json:"allow_list_source"`
	update.Result
}

func cmdUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("update", stderr)
	var c common
	c.register(fs, "warn")
	feedFlag := fs.String("feed", "", "release feed URL (default: the update.feed_url setting, else the project's releases)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("update takes no arguments, have %q", fs.Args())
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, saveErr, err := checkUpdate(ctx, c.dataDir, st, *feedFlag, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		return errors.Join(printJSON(stdout, rep), saveErr)
	}
	writeUpdate(stdout, rep)
	return saveErr
}

// checkUpdate reads the release feed (feedFlag, else the setting, else the
// project's) and stores its time; saveErr says the time was not stored.
func checkUpdate(ctx context.Context, dataDir string, st *store.Store, feedFlag string, stderr io.Writer) (rep updateReport, saveErr, err error) {
	keys, err := releaseKeys()
	if err != nil {
		return rep, nil, err
	}
	feedURL, from := feedFlag, "flag"
	if feedURL == "" {
		set, err := engine.ReadSettings(ctx, st)
		if err != nil {
			return rep, nil, err
		}
		feedURL, from = set.UpdateFeedURL, "setting"
		if feedURL == "" {
			feedURL, from = defaultFeedURL, "default"
		}
	}
	var last time.Time
	if v, ok, err := st.Setting(ctx, settingUpdateLastPublished); err != nil {
		return rep, nil, err
	} else if ok && v != "" {
		if last, err = time.Parse(time.RFC3339Nano, v); err != nil {
			fmt.Fprintf(stderr, "Note: the stored %s %q is not a time; it is replaced after this check.\n", settingUpdateLastPublished, v)
			last = time.Time{}
		}
	}
	allowed, allowSource := imageAllowList(ctx, dataDir, st)
	res, err := update.Check(ctx, update.Options{FeedURL: feedURL, Current: appVersion(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Keys: keys, LastPublished: last, AllowedImage: allowed})
	if err != nil {
		return rep, nil, feedError(err, from)
	}
	if res.Published.After(last) {
		if err := st.SetSetting(ctx, settingUpdateLastPublished, res.Published.UTC().Format(time.RFC3339Nano)); err != nil {
			saveErr = fmt.Errorf("the feed was read but its time could not be stored (it protects against an old feed served again): %w", err)
		}
	}
	rep = updateReport{FeedURL: feedURL, FeedFrom: from, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		UpdateAvailable: res.App != nil, AllowListSource: allowSource, Result: res}
	return rep, saveErr, nil
}

// releaseKeys are the keys pinned in this build (and, in tests only,
// testReleaseKeys). A build without any cannot check for updates.
func releaseKeys() ([]ed25519.PublicKey, error) {
	keys, err := update.PinnedKeys()
	if err != nil {
		if len(testReleaseKeys) == 0 {
			return nil, err
		}
		keys = nil
	}
	return append(keys, testReleaseKeys...), nil
}

// appVersion is the running version as update.ParseVersion reads it.
func appVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// feedError adds where the feed address came from to a failure to fetch it.
func feedError(err error, from string) error {
	if !errors.Is(err, update.ErrUnreachable) && !errors.Is(err, update.ErrHTTPStatus) {
		return err
	}
	switch from {
	case "setting":
		return fmt.Errorf("%w (the address is the %s setting; --feed URL checks another)", err, settingUpdateFeedURL)
	case "default":
		return fmt.Errorf("%w (--feed URL checks another feed, e.g. a mirror)", err)
	}
	return err
}

// imageAllowList finds the allow-list of worker image hashes: the root
// contract's list as an attached official worker reports it in
// /jsonstats, else dev mode's stand-in root. With neither it returns nil
// (the list is not known, so no image is offered) and says why.
func imageAllowList(ctx context.Context, dataDir string, st *store.Store) (func(string) (bool, bool), string) {
	attached, _ := engine.ReadAttached(ctx, st)
	for _, a := range attached {
		cctx, cancel := context.WithTimeout(ctx, allowListTimeout)
		stats, err := worker.NewClient((&net.Dialer{}).DialContext, a.StatsAddr()).Stats(cctx)
		cancel()
		// An empty list is a worker that has not read the root contract yet.
		if err == nil && len(stats.RootContract.WorkerHashes) > 0 {
			return hashSet(stats.RootContract.WorkerHashes), "the root contract, as the attached worker at " + a.StatsURL + " reports it"
		}
	}
	if rf, err := standin.ReadRoot(engine.InstanceFiles(dataDir, 0).Spec); err == nil && len(rf.Config.WorkerHashes) > 0 {
		return hashSet(rf.Config.WorkerHashes), "dev mode's stand-in root (a stand-in list, not the real network's)"
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "not known: dev mode's stand-in root is unreadable (" + err.Error() + ")"
	}
	if len(attached) > 0 {
		return nil, "not known: no attached worker reported the root contract's list"
	}
	return nil, "not known: no official worker is attached (`cocoon-provider attach`) and dev mode has not run"
}

func hashSet(hs []worker.Hash) func(string) (bool, bool) {
	set := make(map[string]bool, len(hs))
	for _, h := range hs {
		set[hex.EncodeToString(h[:])] = true
	}
	return func(imageHash string) (bool, bool) { return set[strings.ToLower(imageHash)], true }
}

func writeUpdate(w io.Writer, rep updateReport) {
	r := rep.Result
	fmt.Fprintf(w, "Cocoon Provider %s (%s)\n", r.Current, rep.Platform)
	fmt.Fprintf(w, "Release feed %s: signature verified, published %s\n", rep.FeedURL, r.Published.UTC().Format("2006-01-02 15:04 UTC"))
	switch {
	case r.App != nil:
		fmt.Fprintf(w, "\nUpdate available: %s (nothing is installed automatically).\n", r.App.Version)
		if len(r.App.Downloads) == 0 {
			fmt.Fprintf(w, "  This release has no download for %s; see %s\n", r.App.Platform, update.ReleasesPage)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, d := range r.App.Downloads {
			fmt.Fprintf(tw, "  %s\t%s\n", d.Kind, d.URL)
			fmt.Fprintf(tw, "  \tsha256 %s, %s\n", d.SHA256, byteSize(d.Size))
		}
		tw.Flush()
		if len(r.App.Downloads) > 0 {
			fmt.Fprintln(w, "  Check the download's SHA-256 (sha256sum FILE) before installing it.")
		}
		if n := printable(r.App.Notes); n != "" {
			fmt.Fprintln(w, "  Release notes:")
			for line := range strings.Lines(n) {
				fmt.Fprintf(w, "    %s", strings.TrimRight(line, "\n")+"\n")
			}
		}
	case r.Dev:
		fmt.Fprintf(w, "\nThis is a development build (%s): it is not compared with releases. The newest release is %s.\n", r.Current, r.Latest)
	default:
		if c, err := update.CompareVersions(r.Current, r.Latest); err == nil && c > 0 {
			fmt.Fprintf(w, "\nUp to date: this build is newer than the newest release, %s.\n", r.Latest)
		} else {
			fmt.Fprintf(w, "\nUp to date: %s is the newest release.\n", r.Latest)
		}
	}
	fmt.Fprintf(w, "\nWorker images (offered only when the network allows their image hash)\n  allow-list: %s\n", rep.AllowListSource)
	if len(r.Images) == 0 {
		fmt.Fprintln(w, "  none in the feed")
	}
	for _, im := range r.Images {
		verdict := "not offered"
		switch {
		case im.Allowed:
			verdict = "allowed"
		case im.Known:
			verdict = "not allowed"
		}
		fmt.Fprintf(w, "  %s %s: %s: %s\n", printable(im.Name), printable(im.Version), verdict, im.Reason)
		fmt.Fprintf(w, "    image hash %s\n", im.ImageHash)
		if im.Allowed {
			fmt.Fprintf(w, "    download   %s\n    sha256     %s, %s\n", im.URL, im.SHA256, byteSize(im.Size))
		}
	}
}

// printable drops control characters (terminal escapes) from feed text,
// keeping newlines and tabs.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f)) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// watchUpdates checks the release feed a minute after start and then once
// a day, and sends a line to notices when a newer release is out. Builds
// without a pinned release key do not check.
func watchUpdates(ctx context.Context, dataDir string, notices chan<- string, log *slog.Logger) {
	if _, err := releaseKeys(); err != nil {
		log.Info("no update checks", "reason", err)
		return
	}
	wait := time.Minute
	offered := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = 24 * time.Hour
		st, err := store.Open(ctx, filepath.Join(dataDir, store.DefaultFileName))
		if err != nil {
			log.Warn("update check skipped", "error", err)
			continue
		}
		rep, saveErr, err := checkUpdate(ctx, dataDir, st, "", io.Discard)
		st.Close()
		switch {
		case err != nil:
			log.Warn("update check failed", "error", err)
		case saveErr != nil:
			log.Warn("update check", "error", saveErr)
		}
		if err == nil && rep.App != nil && rep.App.Version != offered {
			offered = rep.App.Version
			select {
			case notices <- fmt.Sprintf("Cocoon Provider %s is available (you have %s): `cocoon-provider update` says where to get it.", rep.App.Version, appVersion()):
			default:
			}
		}
	}
}
