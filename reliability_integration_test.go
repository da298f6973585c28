//go:build integration && !nogui

package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/internal/syncbuf"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Reliability runs (make reliability) set COCOON_RELIABILITY=1.
func needReliability(t *testing.T) {
	t.Helper()
	if os.Getenv("COCOON_RELIABILITY") != "1" {
		t.Skip("a reliability run (make reliability sets COCOON_RELIABILITY=1)")
	}
}

// TestReliabilitySecrets runs the whole dev flow with canary secrets — a
// fresh recovery phrase, its owner key, a new node key and the keystore
// passphrase — and scans everything the app wrote or printed: the data
// directory (database, logs, console capture, keystore file), two
// diagnostic bundles (with and without addresses) entry by entry, and the
// output of every command. None of the secrets may appear, in clear text,
// hex or base64; the keystore must be mode 0600.
func TestReliabilitySecrets(t *testing.T) {
	needReliability(t)
	need(t, "qemu-system-x86_64", "qemu-system-x86")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var printed bytes.Buffer // every command's output
	cli := func(args ...string) {
		t.Helper()
		code, out, errb := runCLI(t, append(args, "--data-dir", data)...)
		printed.WriteString(out + errb)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s%s", strings.Join(args, " "), code, out, errb)
		}
	}

	phrase := strings.Join(wallet.NewMnemonic().Words(), " ")
	ownerKey, err := tonwallet.SeedToPrivateKey(strings.Fields(phrase), "", false)
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	pass := "canary passphrase " + hex.EncodeToString(suffix)
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withStdin(t, phrase+"\n")
	cli("wallet", "import", "--passphrase-file", passFile)
	cli("wallet", "node-key", "--new", "--passphrase-file", passFile)
	ks, err := wallet.Open(engine.KeystorePath(data), []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	nodeSeed, err := ks.Get(wallet.KeystoreEntryNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	cli("wallet", "status")

	// Dev mode serving stand-in traffic, a payout, diagnostic bundles.
	var svcOut syncbuf.Buffer
	svc := exec.Command(os.Args[0], "-test.run=^$")
	svc.Env = append(filteredEnv(childEnv), childEnv+"="+strings.Join([]string{"dev", "--data-dir", data, "--log-level", "debug"}, "\x1f"))
	svc.Stdout, svc.Stderr = &svcOut, &svcOut
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	waitStatus(t, data, 5*time.Minute, healthy)
	time.Sleep(45 * time.Second) // the built-in client's requests (1/s) and their settlement
	cli("payout")
	cli("earnings")
	bundles := []string{filepath.Join(dir, "diag.zip"), filepath.Join(dir, "diag-addresses.zip")}
	cli("diag", "-o", bundles[0])
	cli("diag", "-o", bundles[1], "--include-addresses")
	cli("stop")
	if err := svc.Wait(); err != nil {
		t.Logf("dev ended: %v", err)
	}

	needles := map[string][]byte{"recovery phrase": []byte(phrase), "passphrase": []byte(pass)}
	words := strings.Fields(phrase)
	for i := 0; i+3 <= len(words); i++ {
		needles[fmt.Sprintf("words %d-%d of the phrase", i+1, i+3)] = []byte(strings.Join(words[i:i+3], " "))
	}
	for name, key := range map[string][]byte{"owner key": ownerKey.Seed(), "node key": nodeSeed} {
		needles[name+" (raw)"] = key
		needles[name+" (hex)"] = []byte(hex.EncodeToString(key))
		needles[name+" (HEX)"] = []byte(strings.ToUpper(hex.EncodeToString(key)))
		needles[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(key)[:40])
		needles[name+" (base64url)"] = []byte(base64.URLEncoding.EncodeToString(key)[:40])
	}

	found := 0
	scan := func(where string, b []byte) {
		for name, n := range needles {
			if c := bytes.Count(b, n); c > 0 {
				found += c
				t.Errorf("%s holds the %s (%d times)", where, name, c)
			}
		}
	}
	files, size, entries := 0, int64(0), 0
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		size += int64(len(b))
		scan(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range bundles {
		r, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			entries++
			scan(filepath.Base(z)+":"+f.Name, b)
		}
		r.Close()
	}
	scan("the service's output", svcOut.Bytes())
	scan("the commands' output", printed.Bytes())
	fi, err := os.Stat(engine.KeystorePath(data))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}
	t.Logf("RELIABILITY secrets: dev flow with a canary phrase, owner key, node key and passphrase; scanned %d files (%.1f MiB: database, logs, console, keystore), %d diagnostic-bundle entries, the service's and the commands' output (%d KiB) for %d needles; occurrences %d; keystore mode %04o",
		files, float64(size)/(1<<20), entries, (len(svcOut.Bytes())+printed.Len())/1024, len(needles), found, fi.Mode().Perm())
}
