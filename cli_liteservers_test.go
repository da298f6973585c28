package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine"
	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
	"github.com/cocoon-provider/cocoon-provider/wallet/litetest"
	"github.com/xssnick/tonutils-go/liteclient"
)

func TestCLILiteserversTable(t *testing.T) {
	fresh := litetest.Start(t)
	lagging := litetest.Start(t, litetest.WithMasterchain(litetest.Seqno-30, 2*time.Minute))
	refusing := litetest.Refusing(t)
	path := litetest.WriteConfig(t, []liteclient.LiteserverConfig{fresh.Config(), lagging.Config(), refusing}, true)
	out := filepath.Join(t.TempDir(), "working.json")

	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", path, "--out", out)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, stderr, stdout)
	}
	t.Logf("\n%s", stdout)
	lines := strings.Split(stdout, "\n")
	row := func(addr string) string {
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), addr+" ") {
				return l
			}
		}
		t.Fatalf("no row for %s in\n%s", addr, stdout)
		return ""
	}
	for _, want := range []string{"SERVER", "ANSWERED", "RTT", "SEQNO", "BEHIND", "ERROR"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("header %q lacks %s", lines[2], want)
		}
	}
	if r := row(fresh.Addr); !strings.Contains(r, " yes ") || !strings.Contains(r, "54500000") {
		t.Errorf("fresh row: %q", r)
	}
	if r := row(lagging.Addr); !strings.Contains(r, "54499970") || !strings.Contains(r, "30 blocks, 1m5") || !strings.Contains(r, "too far behind") {
		t.Errorf("lagging row: %q", r)
	}
	if r := row(fmt.Sprintf("127.0.0.1:%d", refusing.Port)); !strings.Contains(r, " no ") || !strings.Contains(r, "connection refused") {
		t.Errorf("refusing row: %q", r)
	}
	for _, want := range []string{"Liteservers: DEGRADED", "1 of 3 liteservers is usable; 1 does not answer, 1 is behind.",
		"working, fastest first: " + fresh.Addr, "wrote " + out + " with the 1 working liteserver"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The written config lists only the working server and keeps the rest.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := wallet.ParseGlobalConfig(b)
	if err != nil || len(cfg.Liteservers) != 1 || cfg.Liteservers[0] != fresh.Config() || cfg.Validator.InitBlock.SeqNo != 1 {
		t.Errorf("written config: %v %+v", err, cfg)
	}
}

func TestCLILiteserversJSON(t *testing.T) {
	a, b := litetest.Start(t), litetest.Start(t)
	path := litetest.WriteConfig(t, []liteclient.LiteserverConfig{a.Config(), b.Config()}, false)
	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", path, "--json", "--timeout", "2s")
	if code != 0 {
		t.Fatalf("exit %d, %s %s", code, stdout, stderr)
	}
	var r liteserversReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if r.Verdict != wallet.VerdictOK || len(r.Servers) != 2 || len(r.Picked) != 2 || r.TimeoutMillis != 2000 || r.Config != path || r.Fix != "" {
		t.Fatalf("report = %+v", r)
	}
	for _, s := range r.Servers {
		if !s.Answered || !s.Picked || s.RTTMillis <= 0 || s.Seqno != litetest.Seqno || s.BlockTime == nil || s.Error != "" {
			t.Errorf("server = %+v", s)
		}
		t.Logf("%s: connect %.3f ms, round trip %.3f ms", s.Addr, s.ConnectMilli, s.RTTMillis)
	}
}

func TestCLILiteserversNoneWorking(t *testing.T) {
	path := litetest.WriteConfig(t, []liteclient.LiteserverConfig{litetest.Refusing(t), litetest.Silent(t)}, false)
	out := filepath.Join(t.TempDir(), "working.json")
	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", path, "--timeout", "300ms", "--out", out)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d (want 1), stderr %q", code, stderr)
	}
	for _, want := range []string{"Liteservers: NONE WORKING", "None of the 2 liteservers answers.", "firewall", "connection refused",
		"did not complete the handshake within 300ms"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a config without liteservers was written")
	}
	code, stdout, _ = runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", path, "--timeout", "300ms", "--json")
	var r liteserversReport
	if code != 1 || json.Unmarshal([]byte(stdout), &r) != nil || r.Verdict != wallet.VerdictNone || len(r.Picked) != 0 {
		t.Errorf("json: exit %d %s", code, stdout)
	}
}

func TestCLILiteserversURL(t *testing.T) {
	live := litetest.Start(t)
	body := litetest.GlobalConfig(t, []liteclient.LiteserverConfig{live.Config()}, false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/global.config.json" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", srv.URL+"/global.config.json")
	if code != 0 || !strings.Contains(stdout, "Liteservers: OK") || !strings.Contains(stdout, "The liteserver answers and is up to date.") {
		t.Errorf("exit %d %s %s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "liteservers", "--data-dir", t.TempDir(), "--config", srv.URL+"/missing.json")
	if code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("404: exit %d %s", code, stderr)
	}
}

func TestCLILiteserversConfigured(t *testing.T) {
	live := litetest.Start(t)
	walletPath := litetest.WriteConfig(t, []liteclient.LiteserverConfig{live.Config()}, false)
	workerPath := litetest.WriteConfig(t, []liteclient.LiteserverConfig{live.Config(), litetest.Refusing(t)}, false)
	dir := t.TempDir()

	// Nothing configured, and no database is created looking for it.
	code, _, stderr := runCLI(t, "liteservers", "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "no TON config configured") || !strings.Contains(stderr, "--config") {
		t.Errorf("nothing configured: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, store.DefaultFileName)); err == nil {
		t.Error("the check created a database")
	}

	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, store.DefaultFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.SaveWalletConfig(ctx, st, engine.WalletConfig{TONConfig: walletPath}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, stdout, stderr := runCLI(t, "liteservers", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "Liteservers of "+walletPath) {
		t.Errorf("wallet's config: exit %d %s %s", code, stdout, stderr)
	}

	// An imported worker.conf's ton_config is what the worker boots with: it wins.
	setWorkerConf := func(path string) {
		st, err := store.Open(ctx, filepath.Join(dir, store.DefaultFileName))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		raw, _ := json.Marshal(worker.Conf{TONConfig: path})
		if err := st.SetSetting(ctx, engine.SettingWorkerConf, string(raw)); err != nil {
			t.Fatal(err)
		}
	}
	setWorkerConf(workerPath)
	code, stdout, _ = runCLI(t, "liteservers", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "Liteservers of "+workerPath) || !strings.Contains(stdout, "DEGRADED") {
		t.Errorf("worker's config: exit %d %s", code, stdout)
	}
	// A missing one is reported, and the wallet's is checked instead.
	missing := filepath.Join(dir, "gone.json")
	setWorkerConf(missing)
	code, stdout, stderr = runCLI(t, "liteservers", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "Liteservers of "+walletPath) || !strings.Contains(stderr, missing+" does not exist") {
		t.Errorf("missing worker config: exit %d %s %s", code, stdout, stderr)
	}
}

func TestCLILiteserversUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--config", "x.json", "--timeout", "0s"}, "--timeout 0s"},
		{[]string{"--config", "x.json", "--timeout", "2m"}, "at most 1m"},
		{[]string{"--config", "x.json", "extra"}, `unexpected argument "extra"`},
		{[]string{"--config", filepath.Join(dir, "nope.json")}, "not found"},
	} {
		code, _, stderr := runCLI(t, append([]string{"liteservers", "--data-dir", dir}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, stderr, tc.msg)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"liteservers":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "liteservers", "--data-dir", dir, "--config", bad); code != 1 || !strings.Contains(stderr, "lists no liteservers") {
		t.Errorf("empty config: exit %d %s", code, stderr)
	}
}
