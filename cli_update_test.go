package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/attest"
	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/update"
	"github.com/cocoon-provider/cocoon-provider/update/updatetest"
)

const (
	// officialImage is the worker hash the example /jsonstats allow-lists.
	officialImage = "f506b40928b5b7a767c76fb008f86bebb2737f6a6f0fb23c6f5da2cec255404e"
	otherImage    = "1111111111111111111111111111111111111111111111111111111111111111"
	anySum        = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// cliFeed is a feed of app 1.2.3 with a download for this platform, and
// three images: the fake-TDX one dev mode allows, the one the example
// official worker allows, and one on no list.
func cliFeed(published string) []byte {
	fake := hex.EncodeToString(attest.FakeTDXImageHash[:])
	return fmt.Appendf(nil, `{"schema": 1, "published": %q,
 "app": {"version": "1.2.3", "notes": "Faster start.\u001b[31m",
  "downloads": [{"os": %q, "arch": %q, "kind": "tarball", "url": "https://example.org/cp_1.2.3.tar.gz", "sha256": %q, "size": 2048}]},
 "images": [
  {"name": "stand-in", "version": "1", "url": "https://example.org/standin.img", "sha256": %q, "size": 10, "image_hash": %q},
  {"name": "cocoon-worker", "version": "0.9.1", "url": "https://example.org/w-0.9.1.img", "sha256": %q, "size": 10, "image_hash": %q},
  {"name": "cocoon-worker", "version": "0.8.0", "url": "https://example.org/w-0.8.0.img", "sha256": %q, "size": 10, "image_hash": %q}]}`,
		published, runtime.GOOS, runtime.GOARCH, anySum, anySum, fake, anySum, officialImage, anySum, otherImage)
}

// useRelease sets the running version and the test release key for one test.
func useRelease(t *testing.T, v string, keys ...ed25519.PublicKey) {
	savedV, savedK := version, testReleaseKeys
	t.Cleanup(func() { version, testReleaseKeys = savedV, savedK })
	version, testReleaseKeys = v, keys
}

func runUpdate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cmdUpdate(context.Background(), args, &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

func setting(t *testing.T, dir, key string) string {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, _, err := st.Setting(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func setSetting(t *testing.T, dir, key, value string) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetSetting(context.Background(), key, value); err != nil {
		t.Fatal(err)
	}
}

func TestCLIUpdate(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	useRelease(t, "v1.0.0", pub)
	dir := t.TempDir()
	srv := updatetest.NewFeedServer(t, nil, nil)
	feed := cliFeed("2026-05-01T12:00:00Z")
	srv.Set(feed, update.Sign(priv, feed))
	feedURL := srv.FeedURL()

	// No allow-list yet: no image is offered.
	out, err := runUpdate(t, "--data-dir", dir, "--feed", feedURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Cocoon Provider v1.0.0 (" + runtime.GOOS + "/" + runtime.GOARCH + ")",
		"signature verified, published 2026-05-01 12:00 UTC",
		"Update available: 1.2.3 (nothing is installed automatically)",
		"tarball  https://example.org/cp_1.2.3.tar.gz",
		"sha256 " + anySum + ", 2.0 KiB",
		"    Faster start.",
		"allow-list: not known: no official worker is attached",
		"cocoon-worker 0.9.1: not offered: the network's allow-list could not be read",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "w-0.9.1.img") {
		t.Errorf("escape sequence or an image download not allowed in the output:\n%s", out)
	}
	if got := setting(t, dir, settingUpdateLastPublished); got != "2026-05-01T12:00:00Z" {
		t.Errorf("stored last published %q", got)
	}

	// Dev mode's stand-in root allows the fake-TDX image only.
	rf := standin.RootFile{Config: engine.DevRoot("10.0.2.2:11001", "127.0.0.1:11002"), ProxyAddrs: []string{"10.0.2.2:11001"}}
	if err := standin.WriteRoot(engine.InstanceFiles(dir, 0).Spec, rf); err != nil {
		t.Fatal(err)
	}
	out, err = runUpdate(t, "--data-dir", dir, "--feed", feedURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"allow-list: dev mode's stand-in root",
		"stand-in 1: allowed: the image hash is on the network's allow-list",
		"download   https://example.org/standin.img",
		"cocoon-worker 0.9.1: not allowed: the image hash is not on the network's allow-list: the network would refuse a worker running it",
		"image hash " + otherImage,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// An attached official worker's root contract list comes first.
	doc, err := os.ReadFile("engine/worker/testdata/jsonstats_example.json")
	if err != nil {
		t.Fatal(err)
	}
	wsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(doc) }))
	defer wsrv.Close()
	st, err := store.Open(context.Background(), filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Attach(context.Background(), st, wsrv.URL, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, err = runUpdate(t, "--data-dir", dir, "--feed", feedURL, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		FeedURL         string `json:"feed_url"`
		FeedFrom        string `json:"feed_from"`
		UpdateAvailable bool   `json:"update_available"`
		AllowListSource string `json:"allow_list_source"`
		Current         string `json:"current"`
		Latest          string `json:"latest"`
		App             *struct {
			Version   string `json:"version"`
			Downloads []struct {
				URL    string `json:"url"`
				SHA256 string `json:"sha256"`
			} `json:"downloads"`
		} `json:"app"`
		Images []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			URL     string `json:"url"`
			Allowed bool   `json:"allowed"`
			Known   bool   `json:"allow_list_known"`
			Reason  string `json:"reason"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.FeedURL != feedURL || rep.FeedFrom != "flag" || !rep.UpdateAvailable || rep.Current != "v1.0.0" || rep.Latest != "1.2.3" ||
		rep.App == nil || len(rep.App.Downloads) != 1 || rep.App.Downloads[0].SHA256 != anySum ||
		!strings.Contains(rep.AllowListSource, "attached worker at "+wsrv.URL) {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Images) != 3 || rep.Images[0].Allowed || !rep.Images[1].Allowed || rep.Images[2].Allowed ||
		rep.Images[1].URL == "" || rep.Images[0].URL != "" || rep.Images[2].URL != "" || !rep.Images[0].Known {
		t.Errorf("images %+v", rep.Images)
	}

	// Up to date, newer, and a development build.
	for v, want := range map[string]string{
		"v1.2.3":                   "Up to date: 1.2.3 is the newest release.",
		"v1.2.3-4-gabc1234-dirty":  "Up to date: this build is newer than the newest release, 1.2.3.",
		"":                         "This is a development build (dev): it is not compared with releases. The newest release is 1.2.3.",
		"v1.2.2-30-g0123abc-dirty": "Update available: 1.2.3",
	} {
		version = v
		out, err := runUpdate(t, "--data-dir", dir, "--feed", feedURL)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("version %q: %v\n%s\nwant %q", v, err, out, want)
		}
	}
	version = "v1.0.0"

	// The feed address comes from the setting when --feed is not given.
	setSetting(t, dir, settingUpdateFeedURL, feedURL)
	if out, err := runUpdate(t, "--data-dir", dir, "--json"); err != nil || !strings.Contains(out, `"feed_from": "setting"`) {
		t.Errorf("feed from the setting: %v\n%s", err, out)
	}

	// An older feed is refused once a newer one was seen.
	old := cliFeed("2026-04-01T12:00:00Z")
	srv.Set(old, update.Sign(priv, old))
	if _, err := runUpdate(t, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "before the one this app already saw") {
		t.Errorf("rollback: %v", err)
	}
	if got := setting(t, dir, settingUpdateLastPublished); got != "2026-05-01T12:00:00Z" {
		t.Errorf("stored last published after a refused feed: %q", got)
	}

	// A newer feed moves the stored time on.
	newer := cliFeed("2026-06-01T12:00:00Z")
	srv.Set(newer, update.Sign(priv, newer))
	if _, err := runUpdate(t, "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, dir, settingUpdateLastPublished); got != "2026-06-01T12:00:00Z" {
		t.Errorf("stored last published %q", got)
	}
}

func TestCLIUpdateRefusals(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := updatetest.NewFeedServer(t, nil, nil)
	feed := cliFeed("2026-05-01T12:00:00Z")
	feedURL := srv.FeedURL()

	// A build with no pinned key cannot check, and says so.
	useRelease(t, "v1.0.0")
	srv.Set(feed, update.Sign(priv, feed))
	if _, err := runUpdate(t, "--data-dir", dir, "--feed", feedURL); err == nil ||
		!strings.Contains(err.Error(), "this build cannot check for updates: no release key is pinned in it") {
		t.Errorf("no key: %v", err)
	}
	testReleaseKeys = []ed25519.PublicKey{pub}

	tampered := bytes.Replace(feed, []byte(`"1.2.3"`), []byte(`"9.9.9"`), 1)
	srv.Set(tampered, update.Sign(priv, feed))
	if _, err := runUpdate(t, "--data-dir", dir, "--feed", feedURL); err == nil || !strings.Contains(err.Error(),
		"the release feed's signature does not match the key pinned in this build: the feed was altered or is not from the Cocoon Provider releases; no update was offered") {
		t.Errorf("tampered: %v", err)
	}
	srv.Set(feed, nil)
	if _, err := runUpdate(t, "--data-dir", dir, "--feed", feedURL); err == nil || !strings.Contains(err.Error(), "the release feed is not signed") {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := runUpdate(t, "--data-dir", dir, "--feed", srv.URL+"/missing.json"); err == nil || !strings.Contains(err.Error(), "answered HTTP 404") {
		t.Errorf("missing feed: %v", err)
	}
	setSetting(t, dir, settingUpdateFeedURL, srv.URL+"/missing.json")
	if _, err := runUpdate(t, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "the address is the update.feed_url setting") {
		t.Errorf("missing feed from the setting: %v", err)
	}
	if v := setting(t, dir, settingUpdateLastPublished); v != "" {
		t.Errorf("a refused feed stored its time: %q", v)
	}
	if _, err := runUpdate(t, "--data-dir", dir, "extra"); err == nil || !strings.Contains(err.Error(), "no arguments") {
		t.Errorf("extra argument: %v", err)
	}
}
