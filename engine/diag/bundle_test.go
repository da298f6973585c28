package diag_test

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/diag"
	"github.com/cocoon-provider/cocoon-provider/engine/gpu"
	"github.com/cocoon-provider/cocoon-provider/engine/hostcheck"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// canaries is a data directory full of things a bundle must not carry.
type canaries struct {
	dataDir   string
	home      string
	user      string
	host      string
	owner     wallet.Address
	mnemonic  []string
	nodeKey   string // 64 hex
	apiToken  string
	imageHash string // public
	modelHash string // public, from worker.conf
	// plain are strings that must appear nowhere in the bundle.
	plain []string
}

var t0 = time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC)

// setupDataDir populates a data directory through the real store and the
// engine's file layout.
func setupDataDir(t *testing.T) canaries {
	t.Helper()
	c := canaries{
		dataDir:   filepath.Join(t.TempDir(), "data"),
		home:      "/Users/diagcanaryhome",
		user:      "diagcanaryuser",
		host:      "diagcanaryhost",
		owner:     testAddress("canary owner"),
		mnemonic:  wallet.NewMnemonic().Words(),
		nodeKey:   hex64("canary node key"),
		apiToken:  "cpt_CanaryApiToken9f8e7d6c5b4a",
		imageHash: hex64("public image"),
		modelHash: hex64("public model"),
	}
	t.Setenv("HOME", c.home)
	t.Setenv("USER", c.user)
	t.Setenv("LOGNAME", c.user)
	phrase := strings.Join(c.mnemonic, " ")
	secretSetting := "CanarySecretSettingValue-123"
	hfToken := "hf_CanaryHuggingFaceToken42"
	ledgerSource := "canary-ledger-source-77"
	keystoreCanary := "KEYSTORE-CANARY-CONTENT"
	secretsKeyCanary := "SECRETS-KEY-CANARY-32-BYTES-LONG"
	sealedCanary := "xchacha20poly1305:v1:SEALEDTELEGRAMCANARY"
	pemCanary := "PEMCANARYBODY"
	specCanary := "SPEC-CANARY-NODE-KEY"
	chainCanary := "CHAIN-CANARY-STATE"
	privateLogCanary := "PRIVATE-LOG-CANARY"
	ip := "203.0.113.7"
	c.plain = []string{
		c.owner.Display(), c.owner.UserFriendly(true, false), c.owner.Raw(), c.owner.Raw()[2:],
		phrase, c.nodeKey, c.apiToken, c.home, secretSetting, hfToken, ledgerSource,
		keystoreCanary, pemCanary, specCanary, chainCanary, privateLogCanary, ip, secretsKeyCanary, sealedCanary,
	}

	ctx := t.Context()
	st, err := store.Open(ctx, filepath.Join(c.dataDir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(engine.SaveWalletConfig(ctx, st, engine.WalletConfig{Network: "mainnet", Owner: c.owner.Display(), NodePublicKey: hex64("pub")}))
	must(st.SetSetting(ctx, "api.token", secretSetting))
	must(st.SetSetting(ctx, engine.SettingWorkerConf, fmt.Sprintf(
		`{"OwnerAddress":%q,"Model":{"Name":"Qwen/Qwen3-8B","Commit":"0123456789abcdef0123456789abcdef01234567","VerityHash":%q},"ImageDir":"%s/images"}`,
		c.owner.Raw(), c.modelHash, c.home)))
	must(st.SetSetting(ctx, "ui.theme", "dark"))
	must(st.SetSetting(ctx, engine.SettingTelegramTokenSealed, sealedCanary))
	for i := range 3 {
		_, err := st.AddEvent(ctx, store.Event{Time: t0.Add(time.Duration(i) * time.Second), Level: "info", Kind: "wallet.owner",
			Message: fmt.Sprintf("owner set to %s from %s", c.owner.Raw(), ip),
			Attrs:   json.RawMessage(fmt.Sprintf(`{"owner":%q,"hf_token":%q,"tokens":42}`, c.owner.Display(), hfToken))})
		must(err)
	}
	for i, stage := range []string{store.StageEarned, store.StageCommitted, store.StagePaid} {
		_, err := st.AddLedger(ctx, store.LedgerEntry{Source: fmt.Sprintf("%s-%d", ledgerSource, i), Time: t0, Stage: stage,
			AmountNanoTON: int64(i+1) * 1_000_000_000, Proxy: c.owner.Display(), Note: ledgerSource})
		must(err)
	}

	files := engine.InstanceFiles(c.dataDir, 0)
	logLines := func(what string) string {
		return strings.Join([]string{
			fmt.Sprintf("time=%s level=INFO msg=%q", t0.Format(time.RFC3339), what),
			"recovery words: " + phrase,
			"node_key " + c.nodeKey,
			"GET /api/status Authorization: Bearer " + c.apiToken,
			"data dir " + c.home + "/.local/share/cocoon-provider on " + c.host + " as " + c.user,
			"peer " + ip + ":443 and 127.0.0.1:9310",
			"image sha256:" + c.imageHash,
			"owner " + c.owner.Display(),
			"",
		}, "\n")
	}
	write := func(path, content string, mode os.FileMode) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(path), 0o700))
		must(os.WriteFile(path, []byte(content), mode))
		must(os.Chmod(path, mode))
	}
	write(files.State, fmt.Sprintf(`{"number":0,"state":"running","dir":%q,"image":"stand-in %s"}`, files.Dir, c.imageHash[:12]), 0o600)
	write(files.Console+".1", logLines("older console"), 0o640)
	write(files.Console, logLines("console"), 0o640)
	write(filepath.Join(files.Spec, "runtime.vars"), "NODE_WALLET_KEY="+specCanary+"\n", 0o600)
	logs := filepath.Join(c.dataDir, "logs")
	write(filepath.Join(logs, "app.log"), logLines("app log"), 0o640)
	write(filepath.Join(logs, "app.log.1"), logLines("older app log"), 0o640)
	write(filepath.Join(logs, "public.txt"), "public note from "+ip+"\n", 0o644)
	write(filepath.Join(logs, "private.txt"), privateLogCanary+"\n", 0o600)
	write(engine.KeystorePath(c.dataDir), keystoreCanary, 0o600)
	write(filepath.Join(c.dataDir, engine.SecretsKeyFile), secretsKeyCanary, 0o600)
	write(filepath.Join(c.dataDir, "api-token"), c.apiToken+"\n", 0o600)
	write(filepath.Join(c.dataDir, "api-key.pem"), "-----BEGIN PRIVATE KEY-----\n"+pemCanary+"\n-----END PRIVATE KEY-----\n", 0o600)
	write(filepath.Join(c.dataDir, "dev", "chain.json"), `{"state":"`+chainCanary+`"}`, 0o600)
	// A link and a hard link to the keystore dressed up as log files.
	must(os.Symlink(engine.KeystorePath(c.dataDir), filepath.Join(logs, "app.log.2")))
	must(os.Link(engine.KeystorePath(c.dataDir), filepath.Join(logs, "app.log.3")))
	return c
}

func (c canaries) options() diag.Options {
	return diag.Options{
		DataDir: c.dataDir,
		Version: "cocoon-provider test (abcdef123456) linux/amd64 go1.26",
		Report: &hostcheck.Report{Time: t0, Host: hostcheck.HostInfo{Hostname: c.host, OS: "Test Linux", Kernel: "6.1.0-test"},
			Checks: []hostcheck.Check{{ID: "kvm", Title: "KVM", Status: hostcheck.StatusOK, Observed: "/dev/kvm, data in " + c.home}}},
		GPUs:         &gpu.Inventory{Time: t0, GPUs: []gpu.GPU{{Source: gpu.SourceSysfs, Name: "Test GPU", BusID: "0000:17:00.0"}}},
		PublicHashes: []string{c.imageHash},
		Now:          func() time.Time { return t0 },
	}
}

// unzip returns the bundle's files by name, in zip order.
func unzip(t *testing.T, data []byte) ([]string, map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	var names []string
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		files[f.Name] = string(b)
	}
	return names, files
}

func TestWriteBundle(t *testing.T) {
	c := setupDataDir(t)
	host, _ := os.Hostname()
	var buf bytes.Buffer
	m, err := diag.Write(t.Context(), &buf, c.options())
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	names, files := unzip(t, buf.Bytes())
	t.Logf("files: %v", names)
	t.Logf("manifest.txt:\n%s", files["manifest.txt"])

	want := []string{"manifest.txt", "system.txt", "doctor.json", "gpus.json", "settings.json", "events.json",
		"earnings-summary.json", "instances/0/instance.json", "instances/0/console-tail.log",
		"logs/app.log", "logs/app.log.1", "logs/public.txt", "files.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("files\n got %v\nwant %v", names, want)
	}
	var listed []string
	for _, f := range m.Files {
		listed = append(listed, f.Name)
		if int64(len(files[f.Name])) != f.Size {
			t.Errorf("manifest says %s has %d bytes, it has %d", f.Name, f.Size, len(files[f.Name]))
		}
	}
	if !slices.Equal(listed, names) {
		t.Errorf("Manifest.Files = %v, the zip holds %v", listed, names)
	}

	// No canary anywhere.
	phraseWords := c.mnemonic
	for name, content := range files {
		for _, s := range c.plain {
			if strings.Contains(strings.ToLower(content), strings.ToLower(s)) {
				t.Errorf("%s contains canary %q", name, s)
			}
		}
		for i := 0; i+1 < len(phraseWords); i++ {
			if pair := phraseWords[i] + " " + phraseWords[i+1]; strings.Contains(content, pair) {
				t.Errorf("%s contains the recovery phrase's words %q", name, pair)
			}
		}
		for _, word := range []string{c.user, c.host} {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(word) + `\b`).MatchString(content) {
				t.Errorf("%s contains %q", name, word)
			}
		}
		if len(host) >= 6 && host != "localhost" && regexp.MustCompile(`\b`+regexp.QuoteMeta(host)+`\b`).MatchString(content) {
			t.Errorf("%s contains this machine's host name", name)
		}
	}

	// Public hashes stay readable; the rest of what helps is there.
	for _, check := range []struct{ file, want string }{
		{"logs/app.log", "image sha256:" + c.imageHash},
		{"settings.json", c.modelHash},
		{"settings.json", `"ui.theme"`},
		{"settings.json", `"removed": true`},
		{"settings.json", "~/images"},
		{"events.json", `"hf_token": "<removed>"`},
		{"events.json", `"tokens": 42`},
		{"events.json", "<address-1>"},
		{"earnings-summary.json", `"earned": 1000000000`},
		{"earnings-summary.json", `"paid": "3"`},
		{"instances/0/console-tail.log", "older console"},
		{"instances/0/console-tail.log", "127.0.0.1:9310"},
		{"instances/0/instance.json", `"state":"running"`},
		{"logs/app.log", "<mnemonic-redacted>"},
		{"logs/app.log", "Authorization: Bearer <token-redacted>"},
		{"logs/app.log", "data dir ~/.local/share/cocoon-provider on <host> as <user>"},
		{"logs/public.txt", "public note from <ip>"},
		{"system.txt", "Go:"},
		{"doctor.json", `"hostname": "<host>"`},
		{"gpus.json", "0000:17:00.0"},
		{"files.txt", "keystore.json"},
	} {
		if !strings.Contains(files[check.file], check.want) {
			t.Errorf("%s lacks %q:\n%s", check.file, check.want, files[check.file])
		}
	}
	if strings.Contains(files["earnings-summary.json"], "canary-ledger") {
		t.Error("earnings-summary.json holds ledger sources")
	}

	for _, k := range []diag.Kind{diag.KindAddress, diag.KindMnemonic, diag.KindToken, diag.KindHex,
		diag.KindHome, diag.KindUser, diag.KindHost, diag.KindIP, diag.KindSecretField} {
		if m.Redactions[k] == 0 {
			t.Errorf("Manifest.Redactions[%s] = 0", k)
		}
	}
	notes := strings.Join(m.Notes, "\n")
	for _, want := range []string{"logs/private.txt: left out", "logs/app.log.2: left out", "logs/app.log.3: left out"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	for _, want := range []string{"Created:  2026-03-14T15:09:00Z", "cocoon-provider test", "address", "keystore.json", "logs/private.txt: left out"} {
		if !strings.Contains(files["manifest.txt"], want) {
			t.Errorf("manifest.txt lacks %q", want)
		}
	}
}

func TestWriteBundleIncludeAddresses(t *testing.T) {
	c := setupDataDir(t)
	opts := c.options()
	opts.IncludeAddresses = true
	var buf bytes.Buffer
	m, err := diag.Write(t.Context(), &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, files := unzip(t, buf.Bytes())
	if !strings.Contains(files["settings.json"], c.owner.Display()) || !strings.Contains(files["events.json"], c.owner.Raw()) {
		t.Error("addresses were not kept with IncludeAddresses")
	}
	if !m.AddressesKept || m.Redactions[diag.KindAddress] != 0 {
		t.Errorf("AddressesKept = %v, address redactions = %d", m.AddressesKept, m.Redactions[diag.KindAddress])
	}
	if strings.Contains(files["logs/app.log"], c.nodeKey) {
		t.Error("the node key was kept with IncludeAddresses")
	}
}

// TestWriteBundleEmptyDataDir: a data directory with nothing in it still
// gives a bundle, with notes saying what is missing.
func TestWriteBundleEmptyDataDir(t *testing.T) {
	var buf bytes.Buffer
	m, err := diag.Write(t.Context(), &buf, diag.Options{DataDir: t.TempDir(), Version: "v"})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := unzip(t, buf.Bytes())
	if !slices.Equal(names, []string{"manifest.txt", "system.txt", "files.txt"}) {
		t.Errorf("files = %v", names)
	}
	if len(m.Notes) != 5 {
		t.Errorf("notes: %q", m.Notes)
	}
	notes := strings.Join(m.Notes, "\n")
	for _, want := range []string{"doctor.json", "gpus.json", "no database yet", "instances: none", "logs: no app log"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if _, err := diag.Write(t.Context(), &buf, diag.Options{}); err == nil {
		t.Error("Write without a data directory succeeded")
	}
	m, err = diag.Write(t.Context(), &buf, diag.Options{DataDir: filepath.Join(t.TempDir(), "missing")})
	if err != nil || !strings.Contains(strings.Join(m.Notes, "\n"), "does not exist") {
		t.Errorf("Write for a missing data directory: %v, notes %q", err, m.Notes)
	}
}

// holdWrite opens its own connection to the database, runs pragma (if any)
// and BEGIN IMMEDIATE with an uncommitted row in a goroutine, and holds the
// transaction until the test ends.
func holdWrite(t *testing.T, path, pragma string) {
	t.Helper()
	ready := make(chan error, 1)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		db, err := sql.Open("sqlite", "file:"+path+"?mode=rw")
		if err != nil {
			ready <- err
			return
		}
		defer db.Close()
		conn, err := db.Conn(ctx)
		if err != nil {
			ready <- err
			return
		}
		defer conn.Close()
		for _, q := range []string{pragma, "BEGIN IMMEDIATE", "INSERT INTO settings (key, value) VALUES ('uncommitted', 'x')"} {
			if q == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, q); err != nil {
				ready <- fmt.Errorf("%s: %w", q, err)
				return
			}
		}
		ready <- nil
		<-release
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(release); <-done })
}

// writeWithin runs Write and fails the test when it takes longer than limit.
func writeWithin(t *testing.T, opts diag.Options, limit time.Duration) (diag.Manifest, map[string]string) {
	t.Helper()
	type result struct {
		m   diag.Manifest
		buf []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var buf bytes.Buffer
		m, err := diag.Write(context.Background(), &buf, opts)
		ch <- result{m, buf.Bytes(), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Write: %v", r.err)
		}
		_, files := unzip(t, r.buf)
		return r.m, files
	case <-time.After(limit):
		t.Fatalf("Write did not finish within %s while the database was locked", limit)
	}
	return diag.Manifest{}, nil
}

// TestWriteBundleBesideWriter: another connection holds a write
// transaction (as a running app may); the bundle reads what is committed
// without waiting.
func TestWriteBundleBesideWriter(t *testing.T) {
	c := setupDataDir(t)
	app, err := store.Open(t.Context(), filepath.Join(c.dataDir, store.DefaultFileName)) // the running app
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	holdWrite(t, app.Path(), "")
	start := time.Now()
	m, files := writeWithin(t, c.options(), 30*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Write took %s beside a writer", d)
	}
	if !strings.Contains(files["settings.json"], "ui.theme") || strings.Contains(files["settings.json"], "uncommitted") {
		t.Errorf("settings.json should hold the committed rows only:\n%s", files["settings.json"])
	}
	for _, n := range m.Notes {
		if strings.Contains(n, "could not be read") {
			t.Errorf("note %q beside a writer", n)
		}
	}
}

// TestWriteBundleDatabaseLocked: another connection holds the database
// exclusively; the bundle gives up on it after the bounded busy wait and
// says so in the manifest.
func TestWriteBundleDatabaseLocked(t *testing.T) {
	c := setupDataDir(t)
	holdWrite(t, filepath.Join(c.dataDir, store.DefaultFileName), "PRAGMA locking_mode = EXCLUSIVE")
	m, files := writeWithin(t, c.options(), 30*time.Second)
	for _, name := range []string{"settings.json", "events.json", "earnings-summary.json"} {
		if _, ok := files[name]; ok {
			t.Errorf("%s is in the bundle though the database was locked", name)
		}
		if !strings.Contains(files["manifest.txt"], name) || !strings.Contains(files["manifest.txt"], "could not be read") {
			t.Errorf("manifest.txt does not say %s could not be read:\n%s", name, files["manifest.txt"])
		}
	}
	if len(m.Notes) == 0 {
		t.Error("no notes")
	}
	if _, ok := files["logs/app.log"]; !ok {
		t.Error("the rest of the bundle is missing")
	}
}

func TestWriteBundleCancelled(t *testing.T) {
	c := setupDataDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := diag.Write(ctx, io.Discard, c.options()); err == nil {
		t.Error("Write with a cancelled context succeeded")
	}
}

func TestImageHashes(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "images", "0123456789abcdef")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"label":"x","kernel":{"path":"vmlinuz","sha256":%q},"initrd":{"path":"initrd","sha256":%q},"inputs_hash":%q}`,
		hex64("k"), hex64("i"), hex64("in"))
	if err := os.WriteFile(filepath.Join(img, "image.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	got := diag.ImageHashes(dir)
	for _, h := range []string{hex64("k"), hex64("i"), hex64("in")} {
		if !slices.Contains(got, h) {
			t.Errorf("ImageHashes = %v, lacks %s", got, h)
		}
	}
	if diag.ImageHashes("") != nil || diag.ImageHashes(filepath.Join(dir, "missing")) != nil {
		t.Error("ImageHashes of no cache is not empty")
	}
}

// TestWriteBundleConsoleTail: a long console log is cut to its last
// ConsoleTailBytes at a line start, and a recovery phrase written one word
// a line is hidden whole wherever the cut falls.
func TestWriteBundleConsoleTail(t *testing.T) {
	words := wallet.NewMnemonic().Words()
	var list strings.Builder
	for i, w := range words {
		fmt.Fprintf(&list, "%d. %s\n", i+1, w)
	}
	filler := func(n int) string {
		var s strings.Builder
		for i := 0; s.Len() < n; i++ {
			fmt.Fprintf(&s, "[%8d] worker: serving requests, nothing to see here\n", i)
		}
		return s.String()
	}
	// The phrase straddles where the read starts (tail + lookback from the
	// end), then where the tail is cut.
	for _, before := range []int{diag.ConsoleTailBytes + 16<<10 + 50, diag.ConsoleTailBytes + 50} {
		t.Run(fmt.Sprint(before), func(t *testing.T) {
			dataDir := t.TempDir()
			files := engine.InstanceFiles(dataDir, 0)
			content := filler(300<<10) + list.String() + filler(before-list.Len())
			if err := os.MkdirAll(files.Dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files.Console, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			m, err := diag.Write(t.Context(), &buf, diag.Options{DataDir: dataDir})
			if err != nil {
				t.Fatal(err)
			}
			_, got := unzip(t, buf.Bytes())
			tail := got["instances/0/console-tail.log"]
			if len(tail) > diag.ConsoleTailBytes || len(tail) < diag.ConsoleTailBytes-100 {
				t.Errorf("tail is %d bytes, want just under %d", len(tail), diag.ConsoleTailBytes)
			}
			if !strings.HasPrefix(tail, "[") && !strings.HasPrefix(tail, "<mnemonic-redacted>") {
				t.Errorf("tail starts mid-line: %q", tail[:40])
			}
			for _, w := range words {
				if regexp.MustCompile(`(?m)^\d+\. ` + w + `$`).MatchString(tail) {
					t.Errorf("the tail holds phrase word %q", w)
				}
			}
			var note string
			for _, f := range m.Files {
				if f.Name == "instances/0/console-tail.log" {
					note = f.Note
				}
			}
			if !strings.HasPrefix(note, "last ") {
				t.Errorf("console tail note %q", note)
			}
		})
	}
}
