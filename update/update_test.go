package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/update/updatetest"
)

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	sumX  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// testFeed is a schema 1 feed for 1.2.3 with linux/amd64 (deb and
// tarball), windows/amd64 and linux/arm64 downloads and two images.
const testFeed = `{
  "schema": 1,
  "published": "2026-05-01T12:00:00Z",
  "app": {
    "version": "1.2.3",
    "notes": "Faster start.",
    "downloads": [
      {"os": "linux", "arch": "amd64", "kind": "deb", "url": "https://example.org/cp_1.2.3_amd64.deb", "sha256": "` + sumX + `", "size": 100},
      {"os": "linux", "arch": "amd64", "kind": "tarball", "url": "https://example.org/cp_1.2.3_linux_amd64.tar.gz", "sha256": "` + sumX + `", "size": 200},
      {"os": "windows", "arch": "amd64", "kind": "exe", "url": "https://example.org/cp_1.2.3.exe", "sha256": "` + sumX + `", "size": 300},
      {"os": "linux", "arch": "arm64", "kind": "tarball", "url": "https://example.org/cp_1.2.3_linux_arm64.tar.gz", "sha256": "` + sumX + `", "size": 400}
    ]
  },
  "images": [
    {"name": "cocoon-worker", "version": "0.9.1", "url": "https://example.org/w-0.9.1.tar.xz", "sha256": "` + sumX + `", "size": 1000, "image_hash": "` + hashA + `"},
    {"name": "cocoon-worker", "version": "0.9.0", "url": "https://example.org/w-0.9.0.tar.xz", "sha256": "` + sumX + `", "size": 1000, "image_hash": "` + hashB + `"}
  ]
}
`

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func allowOnly(hashes ...string) func(string) (bool, bool) {
	return func(h string) (bool, bool) {
		for _, a := range hashes {
			if strings.EqualFold(a, h) {
				return true, true
			}
		}
		return false, true
	}
}

func check(t *testing.T, srv *updatetest.FeedServer, keys []ed25519.PublicKey, mod func(*Options)) (Result, error) {
	t.Helper()
	o := Options{FeedURL: srv.FeedURL(), Current: "v1.0.0", OS: "linux", Arch: "amd64", Keys: keys, Client: srv.Client(), AllowedImage: allowOnly(hashA)}
	if mod != nil {
		mod(&o)
	}
	return Check(context.Background(), o)
}

func TestCheckSignedFeed(t *testing.T) {
	pub, priv := newKey(t)
	feed := []byte(testFeed)
	srv := updatetest.NewFeedServer(t, feed, Sign(priv, feed))
	r, err := check(t, srv, []ed25519.PublicKey{pub}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC); !r.Published.Equal(want) {
		t.Errorf("published %v", r.Published)
	}
	if r.Latest != "1.2.3" || r.Dev || r.App == nil || r.App.Version != "1.2.3" || r.App.Notes != "Faster start." {
		t.Fatalf("result %+v", r)
	}
	if len(r.App.Downloads) != 2 || r.App.Downloads[0].Kind != KindDeb || r.App.Downloads[1].Kind != KindTarball || r.App.Platform != "linux/amd64" {
		t.Errorf("downloads %+v", r.App.Downloads)
	}
	if len(r.Images) != 2 {
		t.Fatalf("images %+v", r.Images)
	}
	if im := r.Images[0]; !im.Allowed || !im.Known || im.Reason != ReasonAllowed || im.ImageHash != hashA {
		t.Errorf("allowed image %+v", im)
	}
	if im := r.Images[1]; im.Allowed || !im.Known || im.Reason != ReasonNotAllowed || im.ImageHash != strings.ToLower(hashB) {
		t.Errorf("image not on the list %+v", im)
	}
	// A second key among the pinned ones, and a signature file with a
	// signature by a retired key first, still verify.
	other, otherPriv := newKey(t)
	srv.Set(feed, append(Sign(otherPriv, feed), Sign(priv, feed)...))
	if _, err := check(t, srv, []ed25519.PublicKey{other, pub}, nil); err != nil {
		t.Errorf("two signatures: %v", err)
	}
	if _, err := check(t, srv, []ed25519.PublicKey{pub}, nil); err != nil {
		t.Errorf("second signature line: %v", err)
	}
}

func TestCheckRefusals(t *testing.T) {
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	feed := []byte(testFeed)
	good := Sign(priv, feed)
	tamperedFeed := bytes.Replace(feed, []byte("1.2.3"), []byte("1.2.4"), 1)
	sigBytes, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(good)))
	sigBytes[10] ^= 1
	tamperedSig := []byte(base64.StdEncoding.EncodeToString(sigBytes))
	big := append(bytes.Repeat([]byte(" "), MaxFeedSize), feed...)
	badJSON := []byte(`{"schema": 1, "published": "2026-05-01T12:00:00Z", "app": {`)
	badVersion := bytes.Replace(feed, []byte(`"version": "1.2.3"`), []byte(`"version": "1.2"`), 1)
	badSchema := bytes.Replace(feed, []byte(`"schema": 1`), []byte(`"schema": 2`), 1)
	badHash := bytes.Replace(feed, []byte(hashA), []byte("abcd"), 1)

	tests := []struct {
		name      string
		feed, sig []byte
		keys      []ed25519.PublicKey
		kind      error
		msg       string
	}{
		{"tampered feed byte", tamperedFeed, good, []ed25519.PublicKey{pub}, ErrSignature,
			"the release feed's signature does not match the key pinned in this build: the feed was altered or is not from the Cocoon Provider releases; no update was offered"},
		{"tampered signature", feed, tamperedSig, []ed25519.PublicKey{pub}, ErrSignature, "does not match the key pinned in this build"},
		{"signed by another key", feed, Sign(otherPriv, feed), []ed25519.PublicKey{pub}, ErrSignature, "is not from the Cocoon Provider releases"},
		{"missing signature", feed, nil, []ed25519.PublicKey{pub}, ErrUnsigned, "the release feed is not signed: " + "%s.sig answered HTTP 404 Not Found; an unsigned feed is never used"},
		{"empty signature", feed, []byte("\n"), []ed25519.PublicKey{pub}, ErrUnsigned, "signature file is empty"},
		{"garbage signature", feed, []byte("not a signature"), []ed25519.PublicKey{pub}, ErrSignature, "does not hold an Ed25519 signature"},
		{"missing feed", nil, good, []ed25519.PublicKey{pub}, ErrHTTPStatus, "the release feed at %s answered HTTP 404 Not Found"},
		{"oversize feed", big, Sign(priv, big), []ed25519.PublicKey{pub}, ErrTooLarge, "is larger than 1 MiB"},
		{"oversize signature", feed, bytes.Repeat([]byte("A"), MaxSignatureSize+1), []ed25519.PublicKey{pub}, ErrTooLarge, "signature at %s.sig is larger than 4 KiB"},
		{"malformed JSON", badJSON, Sign(priv, badJSON), []ed25519.PublicKey{pub}, ErrMalformed, "the release feed is malformed: it is not valid JSON"},
		{"bad version", badVersion, Sign(priv, badVersion), []ed25519.PublicKey{pub}, ErrMalformed, `app version: version "1.2": want MAJOR.MINOR.PATCH`},
		{"newer schema", badSchema, Sign(priv, badSchema), []ed25519.PublicKey{pub}, ErrMalformed, "uses schema 2 and this build reads schema 1"},
		{"bad image hash", badHash, Sign(priv, badHash), []ed25519.PublicKey{pub}, ErrMalformed, "image_hash: want 64 hex digits"},
		{"no pinned key", feed, good, nil, ErrNoPinnedKey, "this build cannot check for updates: no release key is pinned in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := updatetest.NewFeedServer(t, tt.feed, tt.sig)
			r, err := check(t, srv, tt.keys, nil)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			msg := strings.ReplaceAll(tt.msg, "%s", srv.FeedURL())
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), msg) {
				t.Errorf("error %q (kind ok: %v); want one containing %q", err, errors.Is(err, tt.kind), msg)
			}
			if tt.name == "garbage signature" && !errors.Is(err, ErrSignatureFile) {
				t.Errorf("garbage signature: %v is not ErrSignatureFile", err)
			}
			if tt.kind != ErrNoPinnedKey && tt.kind != ErrHTTPStatus && tt.kind != ErrTooLarge && !strings.HasSuffix(err.Error(), "no update was offered") {
				t.Errorf("error %q does not say that no update was offered", err)
			}
		})
	}
}

func TestCheckUnreachable(t *testing.T) {
	pub, _ := newKey(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/feed.json"
	srv.Close()
	_, err := Check(context.Background(), Options{FeedURL: u, Current: "1.0.0", Keys: []ed25519.PublicKey{pub}, Timeout: 5 * time.Second})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach the release feed at "+u) {
		t.Errorf("error %v", err)
	}
	_, err = Check(context.Background(), Options{FeedURL: "file:///etc/passwd", Keys: []ed25519.PublicKey{pub}})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "want an http or https URL") {
		t.Errorf("file URL: %v", err)
	}
}

func TestCheckTimeout(t *testing.T) {
	pub, _ := newKey(t)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	start := time.Now()
	_, err := Check(context.Background(), Options{FeedURL: srv.URL + "/feed.json", Keys: []ed25519.PublicKey{pub}, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Errorf("error %v after %s", err, time.Since(start))
	}
}

func TestPinnedKeys(t *testing.T) {
	saved := releaseKey
	t.Cleanup(func() { releaseKey = saved })
	releaseKey = ""
	if _, err := PinnedKeys(); !errors.Is(err, ErrNoPinnedKey) || !strings.Contains(err.Error(), "no release key is pinned") {
		t.Errorf("no key: %v", err)
	}
	a, _ := newKey(t)
	b, _ := newKey(t)
	releaseKey = EncodeKey(a)
	if keys, err := PinnedKeys(); err != nil || len(keys) != 1 || !keys[0].Equal(a) {
		t.Errorf("one key: %v %v", keys, err)
	}
	releaseKey = EncodeKey(a) + "," + EncodeKey(b)
	if keys, err := PinnedKeys(); err != nil || len(keys) != 2 || !keys[1].Equal(b) {
		t.Errorf("two keys: %v %v", keys, err)
	}
	releaseKey = "c2hvcnQ="
	if _, err := PinnedKeys(); !errors.Is(err, ErrNoPinnedKey) || !strings.Contains(err.Error(), "not usable") {
		t.Errorf("short key: %v", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	pub, priv := newKey(t)
	for _, s := range []string{EncodeKey(priv.Seed()), EncodeKey(priv)} {
		k, err := ParsePrivateKey(s + "\n")
		if err != nil || !k.Public().(ed25519.PublicKey).Equal(pub) {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := append(append([]byte{}, priv.Seed()...), make([]byte, 32)...)
	if _, err := ParsePrivateKey(EncodeKey(bad)); err == nil {
		t.Error("mismatched public half accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"v0.3.0", "0.3.0", 0},
		{"0.2.9", "0.3.0", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "1.99.99", 1},
		{"v1.2.3+build.5", "1.2.3", 0},
		{"0.3.0-rc.1", "0.3.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		// Builds from source after a tag (git describe).
		{"v0.2.0-14-gabc1234", "0.2.0", 1},
		{"v0.2.0-14-gabc1234-dirty", "0.2.0", 1},
		{"v0.2.0-14-gabc1234-dirty", "v0.2.0-14-gabc1234", 1},
		{"v0.2.0-3-gabc1234", "v0.2.0-14-gdef5678", -1},
		{"v0.2.0-14-gabc1234", "0.2.1", -1},
		{"v0.2.0-14-gabc1234-dirty", "0.3.0", -1},
		{"v0.3.0-dirty", "0.3.0", 1},
		{"v0.3.0-dirty", "0.3.1", -1},
		{"v0.3.0-rc.1-5-gabcdef0", "0.3.0-rc.1", 1},
		{"v0.3.0-rc.1-5-gabcdef0", "0.3.0", -1},
		// Development builds sort after every release.
		{"dev", "99.0.0", 1},
		{"", "0.0.1", 1},
		{"(devel)", "1.0.0", 1},
		{"abc1234", "1.0.0", 1},
		{"abc1234-dirty", "1.0.0", 1},
		{"dev", "dev", 0},
		{"1.0.0", "dev", -1},
	}
	for _, tt := range tests {
		got, err := CompareVersions(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		if back, _ := CompareVersions(tt.b, tt.a); back != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d; want %d", tt.b, tt.a, back, -tt.want)
		}
	}
	for _, bad := range []string{"1.2", "v1.2.x", "1.02.3", "1.2.3.4", "1.2.3-", "1.2.3-a..b", "1.2.3-01", "release-one"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", bad, v)
		}
	}
	for s, want := range map[string]string{"v1.3.0-rc.1": "1.3.0-rc.1", "v0.2.0-14-gabc1234-dirty": "0.2.0-14-dirty", "dev": "dev"} {
		if v, err := ParseVersion(s); err != nil || v.String() != want {
			t.Errorf("ParseVersion(%q).String() = %q, %v; want %q", s, v.String(), err, want)
		}
	}
}

// TestCheckVersions: who is offered 1.2.3, and that nobody is told to
// downgrade.
func TestCheckVersions(t *testing.T) {
	pub, priv := newKey(t)
	feed := []byte(testFeed)
	srv := updatetest.NewFeedServer(t, feed, Sign(priv, feed))
	tests := []struct {
		current string
		offered bool
		dev     bool
	}{
		{"v1.0.0", true, false},
		{"1.2.2", true, false},
		{"v1.2.3-rc.2", true, false},
		{"v1.2.2-30-g0123abc-dirty", true, false},
		{"v1.2.3", false, false},
		{"1.2.3-dirty", false, false},
		{"v1.2.3-4-gabc1234", false, false},
		{"v1.3.0", false, false},
		{"dev", false, true},
		{"0123abcd", false, true},
		{"not a version", false, true},
	}
	for _, tt := range tests {
		r, err := check(t, srv, []ed25519.PublicKey{pub}, func(o *Options) { o.Current = tt.current })
		if err != nil {
			t.Fatal(err)
		}
		if (r.App != nil) != tt.offered || r.Dev != tt.dev || r.Latest != "1.2.3" || r.Current != tt.current {
			t.Errorf("current %q: app %+v, dev %v; want offered %v, dev %v", tt.current, r.App, r.Dev, tt.offered, tt.dev)
		}
	}
}

func TestCheckPlatforms(t *testing.T) {
	pub, priv := newKey(t)
	feed := []byte(testFeed)
	srv := updatetest.NewFeedServer(t, feed, Sign(priv, feed))
	tests := []struct {
		os, arch string
		urls     []string
	}{
		{"linux", "amd64", []string{"https://example.org/cp_1.2.3_amd64.deb", "https://example.org/cp_1.2.3_linux_amd64.tar.gz"}},
		{"linux", "arm64", []string{"https://example.org/cp_1.2.3_linux_arm64.tar.gz"}},
		{"windows", "amd64", []string{"https://example.org/cp_1.2.3.exe"}},
		{"darwin", "arm64", nil},
		{"linux", "riscv64", nil},
	}
	for _, tt := range tests {
		r, err := check(t, srv, []ed25519.PublicKey{pub}, func(o *Options) { o.OS, o.Arch = tt.os, tt.arch })
		if err != nil {
			t.Fatal(err)
		}
		if r.App == nil || r.App.Platform != tt.os+"/"+tt.arch {
			t.Fatalf("%s/%s: %+v", tt.os, tt.arch, r.App)
		}
		var urls []string
		for _, d := range r.App.Downloads {
			if d.OS != tt.os || d.Arch != tt.arch {
				t.Errorf("%s/%s: picked %+v", tt.os, tt.arch, d)
			}
			urls = append(urls, d.URL)
		}
		if strings.Join(urls, " ") != strings.Join(tt.urls, " ") {
			t.Errorf("%s/%s: downloads %v, want %v", tt.os, tt.arch, urls, tt.urls)
		}
	}
}

func TestCheckImageAllowList(t *testing.T) {
	pub, priv := newKey(t)
	feed := []byte(testFeed)
	srv := updatetest.NewFeedServer(t, feed, Sign(priv, feed))
	var asked []string
	tests := []struct {
		name    string
		allowed func(string) (bool, bool)
		want    [2]bool // allowed per image
		known   bool
		reason  [2]string
	}{
		{"both allowed", allowOnly(hashA, hashB), [2]bool{true, true}, true, [2]string{ReasonAllowed, ReasonAllowed}},
		{"none allowed", allowOnly(), [2]bool{false, false}, true, [2]string{ReasonNotAllowed, ReasonNotAllowed}},
		{"list unknown", func(h string) (bool, bool) { asked = append(asked, h); return true, false }, [2]bool{false, false}, false,
			[2]string{ReasonUnknownAllow, ReasonUnknownAllow}},
		{"no allow-list", nil, [2]bool{false, false}, false, [2]string{ReasonUnknownAllow, ReasonUnknownAllow}},
	}
	for _, tt := range tests {
		r, err := check(t, srv, []ed25519.PublicKey{pub}, func(o *Options) { o.AllowedImage = tt.allowed })
		if err != nil {
			t.Fatal(err)
		}
		for i, im := range r.Images {
			if im.Allowed != tt.want[i] || im.Known != tt.known || im.Reason != tt.reason[i] {
				t.Errorf("%s: image %d %+v", tt.name, i, im)
			}
			// Only an allowed image keeps its download.
			if offered := im.URL != "" || im.SHA256 != "" || im.Size != 0; offered != im.Allowed {
				t.Errorf("%s: image %d allowed %v but download %q %q %d", tt.name, i, im.Allowed, im.URL, im.SHA256, im.Size)
			}
			if im.Name != "cocoon-worker" || im.ImageHash == "" {
				t.Errorf("%s: image %d lost its name or hash: %+v", tt.name, i, im)
			}
		}
	}
	// The allow-list is asked with lower-case hex.
	if len(asked) != 2 || asked[0] != hashA || asked[1] != strings.ToLower(hashB) {
		t.Errorf("asked %v", asked)
	}
	if ReasonUnknownAllow != "the network's allow-list could not be read" {
		t.Error("reason text changed")
	}
}

func TestCheckRollback(t *testing.T) {
	pub, priv := newKey(t)
	feed := []byte(testFeed)
	srv := updatetest.NewFeedServer(t, feed, Sign(priv, feed))
	published := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		last time.Time
		ok   bool
	}{
		{time.Time{}, true},
		{published.Add(-time.Hour), true},
		{published, true},
		{published.Add(time.Second), false},
	} {
		r, err := check(t, srv, []ed25519.PublicKey{pub}, func(o *Options) { o.LastPublished = tt.last })
		switch {
		case tt.ok && err != nil:
			t.Errorf("last %v: %v", tt.last, err)
		case tt.ok && !r.Published.Equal(published):
			t.Errorf("last %v: published %v", tt.last, r.Published)
		case !tt.ok && (!errors.Is(err, ErrRollback) || !strings.Contains(err.Error(), "before the one this app already saw")):
			t.Errorf("last %v: error %v", tt.last, err)
		}
	}
}

func TestSigURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.org/releases/latest/download/feed.json": "https://example.org/releases/latest/download/feed.json.sig",
		"https://example.org/feed.json?channel=stable#top":       "https://example.org/feed.json.sig?channel=stable",
		"https://example.org/a%2Fb/feed.json":                    "https://example.org/a%2Fb/feed.json.sig",
	} {
		if got := sigURL(in); got != want {
			t.Errorf("sigURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVerifyDownload(t *testing.T) {
	data := []byte("the released artifact")
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	if err := VerifyDownload(bytes.NewReader(data), hexSum, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := VerifyDownload(bytes.NewReader(data), strings.ToUpper(hexSum), int64(len(data))); err != nil {
		t.Errorf("upper-case sum: %v", err)
	}
	altered := bytes.Clone(data)
	altered[0] ^= 1
	tests := []struct {
		name string
		data []byte
		sum  string
		size int64
		msg  string
	}{
		{"shorter", data[:5], hexSum, int64(len(data)), "the download is 5 bytes, the release feed lists 21"},
		{"longer", append(bytes.Clone(data), 'x'), hexSum, int64(len(data)), "larger than the 21 bytes"},
		{"altered", altered, hexSum, int64(len(data)), "the download's SHA-256 is"},
		{"bad sum", data, "xyz", int64(len(data)), "is not 64 hex digits"},
		{"no size", data, hexSum, 0, "not a positive number"},
	}
	for _, tt := range tests {
		err := VerifyDownload(bytes.NewReader(tt.data), tt.sum, tt.size)
		if !errors.Is(err, ErrDownload) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.msg)
		}
	}
}

func TestParseFeedNormalises(t *testing.T) {
	f, err := Parse([]byte(testFeed))
	if err != nil {
		t.Fatal(err)
	}
	if f.Images[1].ImageHash != strings.ToLower(hashB) || f.Schema != 1 || len(f.App.Downloads) != 4 {
		t.Errorf("feed %+v", f)
	}
	for _, bad := range []string{
		`{"schema":1,"published":"2026-05-01T12:00:00Z"}`,
		`{"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"}}`,
		`{"schema":1,"published":"yesterday","app":{"version":"1.0.0"}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0-3-gabc1234"}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0","downloads":[{"os":"linux","arch":"amd64","kind":"deb","url":"ftp://x/y","sha256":"` + sumX + `","size":1}]}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0","downloads":[{"os":"linux","arch":"amd64","kind":"deb","url":"https://x/y","sha256":"` + sumX + `","size":0}]}}`,
		`{"schema":1,"published":"2026-05-01T12:00:00Z","app":{"version":"1.0.0"}} trailing`,
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s): %v", bad, err)
		}
	}
}
