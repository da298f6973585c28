package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-provider/cocoon-provider/update"
)

const feedJSON = `{
  "schema": 1,
  "published": "2026-05-01T12:00:00Z",
  "app": {"version": "1.2.3", "downloads": [
    {"os": "linux", "arch": "amd64", "kind": "tarball", "url": "https://example.org/cp.tar.gz",
     "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "size": 10}]},
  "images": []
}
`

func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestRoundTrip: keygen, sign, verify, and the app's own check accepts
// the signed feed with the generated public key.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if code, out, errb := runTool(t, "keygen", "-o", keys); code != 0 || !strings.Contains(out, "update.releaseKey=") {
		t.Fatalf("keygen: %d %s %s", code, out, errb)
	}
	keyPath, pubPath := filepath.Join(keys, "release.key"), filepath.Join(keys, "release.pub")
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("release.key: %v %v", st, err)
	}
	pubText, _ := os.ReadFile(pubPath)
	pub, err := update.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runTool(t, "keygen", "-o", keys); code != 1 || !strings.Contains(errb, "exists") {
		t.Errorf("keygen over an existing key: %d %s", code, errb)
	}

	feedPath := filepath.Join(dir, "feed.json")
	if err := os.WriteFile(feedPath, []byte(feedJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errb := runTool(t, "sign", "-key", keyPath, feedPath); code != 0 || !strings.Contains(out, "app 1.2.3") {
		t.Fatalf("sign: %d %s %s", code, out, errb)
	}
	for _, k := range []string{pubPath, strings.TrimSpace(string(pubText))} {
		if code, out, errb := runTool(t, "verify", "-pub", k, feedPath); code != 0 || !strings.Contains(out, "signature good") {
			t.Errorf("verify -pub %s: %d %s %s", k, code, out, errb)
		}
	}
	feed, _ := os.ReadFile(feedPath)
	sig, _ := os.ReadFile(feedPath + ".sig")

	// What the tool signed, the app accepts.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/feed.json":
			_, _ = w.Write(feed)
		case "/feed.json.sig":
			_, _ = w.Write(sig)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	res, err := update.Check(context.Background(), update.Options{FeedURL: srv.URL + "/feed.json", Current: "1.0.0", OS: "linux", Arch: "amd64",
		Keys: []ed25519.PublicKey{pub}, Client: srv.Client()})
	if err != nil || res.App == nil || len(res.App.Downloads) != 1 {
		t.Fatalf("check: %+v %v", res, err)
	}

	// An edit after signing, or another key, fails verification.
	if err := os.WriteFile(feedPath, bytes.Replace(feed, []byte("1.2.3"), []byte("1.2.4"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runTool(t, "verify", "-pub", pubPath, feedPath); code != 1 || !strings.Contains(errb, "does not verify") {
		t.Errorf("verify an edited feed: %d %s", code, errb)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := os.WriteFile(feedPath, feed, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runTool(t, "verify", "-pub", update.EncodeKey(other), feedPath); code != 1 || !strings.Contains(errb, "does not verify") {
		t.Errorf("verify with another key: %d %s", code, errb)
	}
	if err := os.WriteFile(feedPath+".sig", []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runTool(t, "verify", "-pub", pubPath, feedPath); code != 1 || !strings.Contains(errb, "is not a signature file") {
		t.Errorf("verify a garbage signature: %d %s", code, errb)
	}
}

// TestSignRefusesMalformed: a feed the app could not use is not signed.
func TestSignRefusesMalformed(t *testing.T) {
	dir := t.TempDir()
	if code, _, errb := runTool(t, "keygen", "-o", dir); code != 0 {
		t.Fatal(errb)
	}
	feedPath := filepath.Join(dir, "feed.json")
	if err := os.WriteFile(feedPath, []byte(strings.Replace(feedJSON, `"1.2.3"`, `"1.2"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errb := runTool(t, "sign", "-key", filepath.Join(dir, "release.key"), feedPath)
	if code != 1 || !strings.Contains(errb, "malformed") {
		t.Errorf("sign a malformed feed: %d %s", code, errb)
	}
	if _, err := os.Stat(feedPath + ".sig"); !os.IsNotExist(err) {
		t.Errorf("a signature was written: %v", err)
	}
	if code, _, errb := runTool(t, "sign", feedPath); code != 1 || !strings.Contains(errb, "-key") {
		t.Errorf("sign without a key: %d %s", code, errb)
	}
	if code, _, _ := runTool(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}
