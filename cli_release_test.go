package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// releaseTestArchive is a minimal worker release archive, release-<tag>/.
func releaseTestArchive(t *testing.T, tag string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"scripts/cocoon-launch":               "#!/usr/bin/env python3\n# " + tag + "\n",
		"spec/spec-worker/worker-config.json": `{"tag":"` + tag + `"}`,
		"spec/mainnet-base-ton-config.json":   `{}`,
		"images/prod/image.cmdline":           "roothash=00 console=hvc0\n",
	} {
		h := &tar.Header{Name: "release-" + tag + "/" + name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func runRelease(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cmdRelease(context.Background(), args, &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

func TestReleaseCLI(t *testing.T) {
	archives := map[string][]byte{"/a.tar.gz": releaseTestArchive(t, "aaa"), "/b.tar.gz": releaseTestArchive(t, "bbb")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := archives[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "r.tar.gz", time.Unix(0, 0), bytes.NewReader(b))
	}))
	defer srv.Close()
	dir := t.TempDir()
	sum := func(p string) string { s := sha256.Sum256(archives[p]); return hex.EncodeToString(s[:]) }
	rtmr := strings.Repeat("ab", 48)

	if _, err := runRelease(t, "fetch", srv.URL+"/a.tar.gz", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("fetch without --sha256: %v", err)
	}
	if _, err := runRelease(t, "fetch", srv.URL+"/a.tar.gz", "--data-dir", dir, "--sha256", strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "not the") {
		t.Fatalf("fetch with a wrong --sha256: %v", err)
	}
	out, err := runRelease(t, "fetch", srv.URL+"/a.tar.gz", "--data-dir", dir, "--sha256", sum("/a.tar.gz"),
		"--mrtd", rtmr, "--rtmr0", rtmr, "--rtmr1", rtmr, "--rtmr2", rtmr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Fetched release aaa") || !strings.Contains(out, "image hash") {
		t.Errorf("fetch output:\n%s", out)
	}
	out, err = runRelease(t, "fetch", "--data-dir", dir, srv.URL+"/b.tar.gz", "--sha256", sum("/b.tar.gz"), "--version", "v2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"version": "v2"`) {
		t.Errorf("fetch --json:\n%s", out)
	}

	// Activation needs the allow-list check, or the explicit override.
	if _, err := runRelease(t, "use", "aaa", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "not been checked") {
		t.Fatalf("use unchecked: %v", err)
	}
	if _, err := runRelease(t, "use", "aaa", "--data-dir", dir, "--allow", strings.Repeat("1", 64)); err == nil || !strings.Contains(err.Error(), "not among") {
		t.Fatalf("use not allowed: %v", err)
	}
	out, err = runRelease(t, "list", "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var listing releaseListing
	if err := json.Unmarshal([]byte(out), &listing); err != nil || len(listing.Releases) != 2 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	var hashA string
	for _, r := range listing.Releases {
		if r.Version == "aaa" {
			hashA = r.Measured.ImageHash
		}
	}
	if out, err = runRelease(t, "use", "aaa", "--data-dir", dir, "--allow", strings.Repeat("1", 64)+","+hashA); err != nil || !strings.Contains(out, "is allowed") {
		t.Fatalf("use allowed: %v\n%s", err, out)
	}
	if _, err := runRelease(t, "rollback", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no previous") {
		t.Fatalf("rollback with one release: %v", err)
	}
	if out, err = runRelease(t, "use", "v2", "--data-dir", dir, "--unchecked"); err != nil || !strings.Contains(out, "NOT checked") {
		t.Fatalf("use --unchecked: %v\n%s", err, out)
	}
	if out, err = runRelease(t, "rollback", "--data-dir", dir); err != nil || !strings.Contains(out, "aaa is current again") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	out, err = runRelease(t, "list", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"aaa", "current", "v2", "previous", hashA, "not checked"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if _, err := runRelease(t, "frobnicate"); err == nil {
		t.Error("unknown subcommand accepted")
	}
}
