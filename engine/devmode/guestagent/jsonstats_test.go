package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func testState(t *testing.T) *workerState {
	t.Helper()
	c, err := configFromVars(validVars(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	return newWorkerState(c)
}

func TestJSONWriterMatchesSimpleJsonSerializer(t *testing.T) {
	w := newJSONWriter()
	w.object("")
	w.object("a")
	w.int("n", -2)
	w.boolean("b", true)
	w.endObject()
	w.array("xs")
	w.float("", 3)
	w.float("", 0.0941)
	w.endArray()
	w.array("empty")
	w.endArray()
	w.str("s", "UQ-_x")
	w.endObject()
	want := "\n{\n  \"a\": {\n    \"n\": -2,\n    \"b\": true\n  },\n  \"xs\": [\n    3.000000,\n    0.094100\n  ],\n  \"empty\": [\n  ],\n  \"s\": \"UQ-_x\"\n}"
	if got := w.b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderJSONStats(t *testing.T) {
	s := testState(t)
	now := time.Unix(1764000123, 0)
	out := renderJSONStats(s.Snapshot(now))
	if !bytes.HasPrefix(out, []byte("\n{\n  \"status\": {\n")) {
		t.Errorf("document starts %q", out[:min(len(out), 30)])
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"status", "stats", "localconfig", "root_contract_config", "proxies"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing top-level key %q", k)
		}
	}
	if _, ok := doc["wallet"]; ok {
		t.Error("wallet present although the stand-in has none")
	}
	// Top-level and status key order as the official worker writes them.
	assertOrder(t, string(out), `"status"`, `"stats"`, `"localconfig"`, `"root_contract_config"`, `"proxies"`)
	assertOrder(t, string(out), `"actual_image_hash"`, `"actual_model"`, `"ton_last_synced_at"`, `"enabled"`, `"git_commit"`, `"git_commit_data"`)
	if n := strings.Count(string(out), `"cached_tokens_price_multiplier"`); n != 2 {
		t.Errorf("cached_tokens_price_multiplier appears %d times, want 2 (as the official worker)", n)
	}
	if !strings.Contains(string(out), "\"queries\": [\n      0.000000,\n") {
		t.Error("stats rows are not one 6-decimal number per line")
	}

	var parsed struct {
		Status struct {
			Enabled       bool   `json:"enabled"`
			GitCommit     string `json:"git_commit"`
			GitCommitData string `json:"git_commit_data"`
		} `json:"status"`
		Stats       map[string][]float64 `json:"stats"`
		LocalConfig struct {
			RootAddress    string `json:"root_address"`
			OwnerAddress   string `json:"owner_address"`
			Model          string `json:"model"`
			Coefficient    int    `json:"coefficient"`
			CheckProxyHash bool   `json:"check_proxy_hash"`
		} `json:"localconfig"`
		Proxies []any `json:"proxies"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil {
		t.Fatal(err)
	}
	if !parsed.Status.Enabled || len(parsed.Status.GitCommit) != 40 || !strings.Contains(parsed.Status.GitCommitData, "stand-in") {
		t.Errorf("status = %+v", parsed.Status)
	}
	if len(parsed.Stats) != 11 {
		t.Errorf("stats has %d rows, want 11", len(parsed.Stats))
	}
	for k, v := range parsed.Stats {
		if len(v) != 7 {
			t.Errorf("stats %s has %d values, want 7", k, len(v))
		}
	}
	lc := parsed.LocalConfig
	if lc.RootAddress != "EQroot" || lc.OwnerAddress != "UQowner" || lc.Model != "Qwen/Qwen3-0.6B" || lc.Coefficient != 1500 || lc.CheckProxyHash {
		t.Errorf("localconfig = %+v", lc)
	}
	if parsed.Proxies == nil || len(parsed.Proxies) != 0 {
		t.Errorf("proxies = %v, want []", parsed.Proxies)
	}
}

func TestRenderJSONStatsFilledState(t *testing.T) {
	s := testState(t)
	t0 := time.Unix(1000, 0)
	s.wallet = &walletInfo{Address: "UQwallet", Balance: 3871200000, Seqno: 42}
	s.proxies = []proxyInfo{{SCInited: true, ProxySCAddress: "UQproxy", EarnedTokensMaxKnown: 2410533, ParamsVersion: 4}}
	s.root.RegisteredProxies = []registeredProxy{{Seqno: 3, AddressForClients: "[203.0.113.10:11002]", AddressForWorkers: "[203.0.113.10:11001]"}}
	s.stats.Queries.Add(t0, 10)
	out := renderJSONStats(s.Snapshot(t0.Add(10 * time.Second)))
	var doc struct {
		Status struct {
			WalletBalance int64 `json:"wallet_balance"`
		} `json:"status"`
		Stats  map[string][]float64 `json:"stats"`
		Wallet struct {
			Address string `json:"address"`
			Seqno   uint32 `json:"seqno"`
		} `json:"wallet"`
		Root struct {
			RegisteredProxies []struct {
				Seqno             int    `json:"seqno"`
				AddressForWorkers string `json:"address_for_workers"`
			} `json:"registered_proxies"`
		} `json:"root_contract_config"`
		Proxies []struct {
			ProxySCAddress string `json:"proxy_sc_address"`
			MaxKnown       int64  `json:"earned_tokens_max_known"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	assertOrder(t, string(out), `"wallet_balance"`, `"actual_image_hash"`)
	assertOrder(t, string(out), `"stats"`, `"wallet"`, `"localconfig"`)
	if doc.Status.WalletBalance != 3871200000 || doc.Wallet.Address != "UQwallet" || doc.Wallet.Seqno != 42 {
		t.Errorf("wallet: %+v %+v", doc.Status, doc.Wallet)
	}
	if q := doc.Stats["queries"]; q[0] != 10 || q[2] <= 0 || q[2] >= 1 {
		t.Errorf("queries = %v (want total 10, a decayed 10s rate below 1/s)", q)
	}
	if len(doc.Root.RegisteredProxies) != 1 || doc.Root.RegisteredProxies[0].AddressForWorkers != "[203.0.113.10:11001]" {
		t.Errorf("registered proxies = %+v", doc.Root.RegisteredProxies)
	}
	if len(doc.Proxies) != 1 || doc.Proxies[0].MaxKnown != 2410533 {
		t.Errorf("proxies = %+v", doc.Proxies)
	}
}

func assertOrder(t *testing.T, doc string, keys ...string) {
	t.Helper()
	last := -1
	for _, k := range keys {
		i := strings.Index(doc, k)
		if i < 0 {
			t.Errorf("%s missing", k)
			return
		}
		if i < last {
			t.Errorf("%s is out of order", k)
		}
		last = i
	}
}

func TestAmortCounter(t *testing.T) {
	var c amortCounter
	t0 := time.Unix(0, 0)
	c.Add(t0, 60)
	v := c.Values(t0)
	if v[0] != 60 || v[3] != 1 || v[1] != 60 {
		t.Errorf("at once: %v (want total 60, 1m rate 60/60=1, 1s rate 60)", v)
	}
	v = c.Values(t0.Add(60 * time.Second))
	if v[0] != 60 || v[3] < 0.36 || v[3] > 0.37 {
		t.Errorf("after 60s: %v (want 1m rate e^-1 ≈ 0.368)", v)
	}
}

func TestFakeTDXImageHash(t *testing.T) {
	zero := make([]byte, 448)
	sum := sha256Sum(zero)
	if got := base64Std(sum); got != fakeTDXImageHash {
		t.Errorf("fake TDX hash base64 = %s, constant %s", got, fakeTDXImageHash)
	}
	if got := strings.ToUpper(hexString(sum)); got != fakeTDXImageHashHex {
		t.Errorf("fake TDX hash hex = %s, constant %s", got, fakeTDXImageHashHex)
	}
}
