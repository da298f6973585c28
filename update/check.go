package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"time"
)

const (
	// MaxFeedSize caps the feed; a larger one is refused.
	MaxFeedSize = 1 << 20
	// MaxSignatureSize caps the signature file.
	MaxSignatureSize = 4 << 10
	// DefaultTimeout bounds fetching the feed and its signature together.
	DefaultTimeout = 30 * time.Second
)

// Options say where the feed is and what runs here.
type Options struct {
	// FeedURL is the feed's http or https URL; its signature is at
	// FeedURL + ".sig".
	FeedURL string
	// Current is the running version: 0.3.0, v0.3.0, a `git describe`
	// form (v0.2.0-14-gabc1234-dirty) or dev.
	Current string
	// OS and Arch pick the download (Go's names); empty means this
	// machine's.
	OS, Arch string
	// Keys are the trusted release keys, normally PinnedKeys(). None is
	// ErrNoPinnedKey: the feed is never used unverified.
	Keys []ed25519.PublicKey
	// Client fetches the feed; nil uses a default client.
	Client *http.Client
	// Timeout bounds both fetches; zero is DefaultTimeout.
	Timeout time.Duration
	// LastPublished is the published time of the newest feed seen before
	// (Result.Published of an earlier check); a feed published before it
	// is refused with ErrRollback. Zero skips the check (first run).
	LastPublished time.Time
	// AllowedImage reports whether an image hash (lower-case hex) is on
	// the network's allow-list, and whether the allow-list could be read
	// at all. Nil means it could not: no image is offered.
	AllowedImage func(imageHash string) (allowed bool, known bool)
}

// Result is what the verified feed offers this machine.
type Result struct {
	// Published is the feed's time; store it and pass it back as
	// Options.LastPublished next time.
	Published time.Time `json:"published"`
	// Current is the running version as given; Dev reports that it is a
	// development build, which is never offered a release.
	Current string `json:"current"`
	Dev     bool   `json:"dev_build"`
	// Latest is the newest app release in the feed.
	Latest string `json:"latest"`
	// App is the offered update; nil when the running version is the
	// newest (or newer, or a development build).
	App *AppUpdate `json:"app,omitempty"`
	// Images are the feed's worker images with the allow-list verdict;
	// only allowed ones keep their download (URL, SHA256, Size).
	Images []ImageRelease `json:"images"`
}

// AppUpdate is a newer app release.
type AppUpdate struct {
	Version string `json:"version"`
	Notes   string `json:"notes,omitempty"`
	// Downloads are the artifacts for Options.OS and Arch, in feed order
	// (there may be several kinds, e.g. deb and tarball); empty when the
	// release has none for this platform.
	Downloads []Download `json:"downloads"`
	// Platform is OS/Arch, as the downloads were picked for.
	Platform string `json:"platform"`
}

// ImageRelease is a released worker image and whether it may be offered.
type ImageRelease struct {
	Image
	// Known: the allow-list could be read.
	Known bool `json:"allow_list_known"`
	// Allowed: the image hash is on the allow-list; only then is the
	// image offered for installation.
	Allowed bool `json:"allowed"`
	// Reason says why in one sentence.
	Reason string `json:"reason"`
}

// Reasons given for images.
const (
	ReasonAllowed      = "the image hash is on the network's allow-list"
	ReasonNotAllowed   = "the image hash is not on the network's allow-list: the network would refuse a worker running it"
	ReasonUnknownAllow = "the network's allow-list could not be read"
)

// Check fetches the feed and its signature, verifies the signature
// against opts.Keys before reading the feed, refuses a feed older than
// opts.LastPublished, and says what it offers: a newer app release with
// the downloads for this platform, and worker images with their
// allow-list verdict. It never installs anything.
func Check(ctx context.Context, opts Options) (Result, error) {
	if len(opts.Keys) == 0 {
		return Result{}, noPinnedKey()
	}
	if err := checkHTTPURL(opts.FeedURL); err != nil {
		return Result{}, &Error{Kind: ErrUnreachable, Err: err, Msg: "the release feed address is not usable: " + err.Error()}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	feed, err := fetch(ctx, client, opts.FeedURL, MaxFeedSize, false)
	if err != nil {
		return Result{}, err
	}
	su := sigURL(opts.FeedURL)
	sig, err := fetch(ctx, client, su, MaxSignatureSize, true)
	if err != nil {
		return Result{}, err
	}
	if err := Verify(feed, sig, opts.Keys); err != nil {
		return Result{}, err
	}
	f, err := Parse(feed)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return Result{}, &Error{Kind: e.Kind, Err: e.Err, Msg: e.Msg + "; no update was offered"}
		}
		return Result{}, err
	}
	if !opts.LastPublished.IsZero() && f.Published.Before(opts.LastPublished) {
		return Result{}, &Error{Kind: ErrRollback, Msg: fmt.Sprintf("the release feed was published %s, before the one this app already saw (published %s): "+
			"it may be an old feed served again to hide a newer release; no update was offered",
			f.Published.UTC().Format(time.RFC3339), opts.LastPublished.UTC().Format(time.RFC3339))}
	}
	return evaluate(f, opts), nil
}

// evaluate says what a verified feed offers.
func evaluate(f Feed, opts Options) Result {
	goos, arch := opts.OS, opts.Arch
	if goos == "" {
		goos = runtime.GOOS
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	r := Result{Published: f.Published, Current: opts.Current, Latest: f.App.Version, Images: []ImageRelease{}}
	cur, err := ParseVersion(opts.Current)
	if err != nil {
		// An unreadable version is treated as a development build: it is
		// not compared, so it is never told to downgrade.
		cur = Version{Dev: true}
	}
	r.Dev = cur.Dev
	latest, _ := ParseVersion(f.App.Version) // Parse checked it
	if cur.Compare(latest) < 0 {
		u := &AppUpdate{Version: f.App.Version, Notes: f.App.Notes, Platform: goos + "/" + arch, Downloads: []Download{}}
		for _, d := range f.App.Downloads {
			if d.OS == goos && d.Arch == arch {
				u.Downloads = append(u.Downloads, d)
			}
		}
		r.App = u
	}
	for _, im := range f.Images {
		ir := ImageRelease{Image: im, Reason: ReasonUnknownAllow}
		if opts.AllowedImage != nil {
			allowed, known := opts.AllowedImage(im.ImageHash)
			ir.Known = known
			switch {
			case known && allowed:
				ir.Allowed, ir.Reason = true, ReasonAllowed
			case known:
				ir.Reason = ReasonNotAllowed
			}
		}
		if !ir.Allowed {
			ir.URL, ir.SHA256, ir.Size = "", "", 0
		}
		r.Images = append(r.Images, ir)
	}
	return r
}

// sigURL is the signature's URL: the feed's path with ".sig" appended.
func sigURL(feedURL string) string {
	u, err := url.Parse(feedURL)
	if err != nil {
		return feedURL + ".sig"
	}
	u.Path += ".sig"
	if u.RawPath != "" {
		u.RawPath += ".sig"
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// fetch GETs u and returns at most limit bytes; more is ErrTooLarge.
func fetch(ctx context.Context, c *http.Client, u string, limit int64, isSig bool) ([]byte, error) {
	what := "the release feed"
	if isSig {
		what = "the release feed's signature"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Err: err, Msg: fmt.Sprintf("cannot fetch %s at %s: %v", what, u, err)}
	}
	req.Header.Set("User-Agent", "cocoon-provider-update/1")
	resp, err := c.Do(req)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Err: err, Msg: fmt.Sprintf("cannot reach %s at %s: %v; check the network connection", what, u, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if isSig && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone) {
			return nil, &Error{Kind: ErrUnsigned, Msg: fmt.Sprintf("the release feed is not signed: %s answered HTTP %s; an unsigned feed is never used, no update was offered", u, resp.Status)}
		}
		return nil, &Error{Kind: ErrHTTPStatus, Msg: fmt.Sprintf("%s at %s answered HTTP %s", what, u, resp.Status)}
	}
	tooLarge := &Error{Kind: ErrTooLarge, Msg: fmt.Sprintf("%s at %s is larger than %s, more than a real one can be; it was not read, no update was offered", what, u, sizeText(limit))}
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Err: err, Msg: fmt.Sprintf("reading %s from %s failed: %v", what, u, unwrapURLError(err))}
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// unwrapURLError drops url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
