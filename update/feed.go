package update

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Schema is the feed format this package reads.
const Schema = 1

// Artifact kinds of app downloads.
const (
	KindDeb     = "deb"
	KindTarball = "tarball"
	KindExe     = "exe"
)

// Feed is a parsed release feed.
type Feed struct {
	Schema    int       `json:"schema"`
	Published time.Time `json:"published"`
	App       App       `json:"app"`
	Images    []Image   `json:"images,omitempty"`
}

// App is the newest app release.
type App struct {
	Version   string     `json:"version"`
	Notes     string     `json:"notes,omitempty"`
	Downloads []Download `json:"downloads"`
}

// Download is one artifact of an app release.
type Download struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Kind   string `json:"kind"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Image is a released worker image.
type Image struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// URL, SHA256 and Size describe the download. In a Result they are
	// empty unless the image is allowed, so that nothing downstream can
	// offer an image the network would refuse.
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// ImageHash is the TDX image hash the network's root contract
	// allow-lists, lower-case hex.
	ImageHash string `json:"image_hash"`
	Notes     string `json:"notes,omitempty"`
}

// Parse reads a feed and checks every field it needs. It does not check
// the signature: Check verifies it before parsing, and so should any
// other caller.
func Parse(b []byte) (Feed, error) {
	var raw struct {
		Schema    *int    `json:"schema"`
		Published string  `json:"published"`
		App       *App    `json:"app"`
		Images    []Image `json:"images"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Feed{}, malformed("it is not valid JSON (%v)", err)
	}
	if raw.Schema == nil {
		return Feed{}, malformed("it has no schema number")
	}
	if *raw.Schema != Schema {
		return Feed{}, malformed("it uses schema %d and this build reads schema %d; download the newest release by hand", *raw.Schema, Schema)
	}
	f := Feed{Schema: *raw.Schema, Images: raw.Images}
	if raw.Published == "" {
		return Feed{}, malformed("it has no published time")
	}
	t, err := time.Parse(time.RFC3339Nano, raw.Published)
	if err != nil {
		return Feed{}, malformed("published %q is not an RFC 3339 time", raw.Published)
	}
	f.Published = t
	if raw.App == nil {
		return Feed{}, malformed("it has no app entry")
	}
	f.App = *raw.App
	if err := checkApp(&f.App); err != nil {
		return Feed{}, err
	}
	for i := range f.Images {
		if err := checkImage(&f.Images[i]); err != nil {
			return Feed{}, err
		}
	}
	return f, nil
}

func checkApp(a *App) error {
	v, err := ParseVersion(a.Version)
	if err != nil {
		return malformed("app version: %v", err)
	}
	if v.Dev || v.Ahead > 0 || v.Dirty {
		return malformed("app version %q is not a release version", a.Version)
	}
	for i := range a.Downloads {
		d := &a.Downloads[i]
		what := fmt.Sprintf("app download %d", i+1)
		if d.OS == "" || d.Arch == "" || d.Kind == "" {
			return malformed("%s: os, arch and kind are required", what)
		}
		d.OS, d.Arch, d.Kind = strings.ToLower(d.OS), strings.ToLower(d.Arch), strings.ToLower(d.Kind)
		if err := checkArtifact(what, d.URL, &d.SHA256, d.Size); err != nil {
			return err
		}
	}
	return nil
}

func checkImage(im *Image) error {
	what := fmt.Sprintf("image %q %q", im.Name, im.Version)
	if im.Name == "" || im.Version == "" {
		return malformed("an image has no name or version")
	}
	if err := checkArtifact(what, im.URL, &im.SHA256, im.Size); err != nil {
		return err
	}
	h, err := normHex(im.ImageHash)
	if err != nil {
		return malformed("%s: image_hash: %v", what, err)
	}
	im.ImageHash = h
	return nil
}

func checkArtifact(what, rawURL string, sum *string, size int64) error {
	if err := checkHTTPURL(rawURL); err != nil {
		return malformed("%s: %v", what, err)
	}
	h, err := normHex(*sum)
	if err != nil {
		return malformed("%s: sha256: %v", what, err)
	}
	*sum = h
	if size <= 0 {
		return malformed("%s: size must be a positive number of bytes", what)
	}
	return nil
}

// checkHTTPURL accepts absolute http and https URLs.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url %q: %v", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an http or https URL", raw)
	}
	return nil
}

// normHex checks a 32-byte hex value and returns it in lower case.
func normHex(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("want 64 hex digits, have %d characters", len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", errors.New("not hex")
	}
	return strings.ToLower(s), nil
}

func malformed(format string, args ...any) error {
	return &Error{Kind: ErrMalformed, Msg: "the release feed is malformed: " + fmt.Sprintf(format, args...)}
}
