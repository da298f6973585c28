package main

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

func testState(t *testing.T) *workerState {
	t.Helper()
	c, err := configFromVars(validVars(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	return newWorkerState(c)
}

// jsonStats is the body of GET /jsonstats on s at time now.
func jsonStats(t *testing.T, s *workerState, now time.Time) []byte {
	t.Helper()
	r := (&workerHTTP{state: s, now: func() time.Time { return now }}).Handle("/jsonstats", nil)
	if r.Status != 200 || r.ContentType != contentJSON {
		t.Fatalf("/jsonstats: %d %s", r.Status, r.ContentType)
	}
	return r.Body
}

// parseJSONStats reads doc as the host does (worker.ParseStats), and also
// with encoding/json, which every other consumer uses; it returns the
// typed document and the top-level members.
func parseJSONStats(t *testing.T, doc []byte) (worker.Stats, map[string]json.RawMessage) {
	t.Helper()
	st, err := worker.ParseStats(doc)
	if err != nil {
		t.Fatalf("worker.ParseStats: %v\n%s", err, doc)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	return st, top
}

func TestJSONStats(t *testing.T) {
	s := testState(t)
	out := jsonStats(t, s, time.Unix(1764000123, 0))
	doc := string(out)

	// The official serializer's layout (SimpleJsonSerializer, §6.3): a
	// leading newline, two-space indentation, every value on its own line,
	// ",\n" between siblings, closing brackets on their own line at the
	// parent's indentation, doubles with 6 decimals, strings unescaped.
	for _, want := range []string{
		"\n{\n  \"status\": {\n    \"actual_image_hash\": true,\n    \"actual_model\": true,\n",
		"    \"ton_last_synced_at\": 0,\n    \"enabled\": true,\n",
		"    \"git_commit\": \"0000000000000000000000000000000000000000\",\n" +
			"    \"git_commit_data\": \"stand-in (synthetic, earns nothing)\"\n  },\n  \"stats\": {\n",
		"    \"queries\": [\n      0.000000,\n      0.000000,\n      0.000000,\n      0.000000,\n      0.000000,\n      0.000000,\n      0.000000\n    ],\n    \"success\": [\n",
		"    \"reasoning_adjusted_tokens_used\": [\n      0.000000,\n",
		"      0.000000\n    ]\n  },\n  \"localconfig\": {\n",
		"    \"root_address\": \"EQroot\",\n    \"owner_address\": \"UQowner\",\n    \"model\": \"Qwen/Qwen3-0.6B\",\n" +
			"    \"coefficient\": 1500,\n    \"check_proxy_hash\": false\n  },\n  \"root_contract_config\": {\n",
		"    \"owner_address\": \"\",\n",
		"    \"client_code_hash\": \"0000000000000000000000000000000000000000000000000000000000000000\"\n  },\n",
		// Empty arrays as the official SimpleJsonSerializer prints them: the
		// closing bracket on a line of its own.
		"    \"proxy_hashes\": [\n    ],\n    \"registered_proxies\": [\n    ],\n    \"last_proxy_seqno\": 0,\n    \"worker_hashes\": [\n    ],\n    \"model_hashes\": [\n    ],\n",
		"  \"proxies\": [\n  ]\n}",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	if !strings.HasPrefix(doc, "\n{\n  \"status\": {\n") {
		t.Errorf("document starts %q", doc[:min(len(doc), 30)])
	}
	// Top-level, status and root_contract_config key order as the official
	// worker writes them.
	assertOrder(t, doc, `"status"`, `"stats"`, `"localconfig"`, `"root_contract_config"`, `"proxies"`)
	assertOrder(t, doc, `"actual_image_hash"`, `"actual_model"`, `"ton_last_synced_at"`, `"enabled"`, `"git_commit"`, `"git_commit_data"`)
	assertOrder(t, doc, `"queries"`, `"success"`, `"failed"`, `"bytes_received"`, `"bytes_sent"`, `"time"`,
		`"total_adjusted_tokens_used"`, `"prompt_adjusted_tokens_used"`, `"cached_adjusted_tokens_used"`,
		`"completion_adjusted_tokens_used"`, `"reasoning_adjusted_tokens_used"`)
	assertOrder(t, doc, `"prompt_tokens_price_multiplier"`, `"cached_tokens_price_multiplier"`,
		`"completion_tokens_price_multiplier"`, `"reasoning_tokens_price_multiplier"`, `"proxy_delay_before_close"`)
	if n := strings.Count(doc, `"cached_tokens_price_multiplier"`); n != 2 {
		t.Errorf("cached_tokens_price_multiplier appears %d times, want 2 (as the official worker)", n)
	}
	if strings.Contains(doc, `"wallet`) {
		t.Error("wallet or wallet_balance present although the stand-in has none")
	}

	st, top := parseJSONStats(t, out)
	for _, k := range []string{"status", "stats", "localconfig", "root_contract_config", "proxies"} {
		if _, ok := top[k]; !ok {
			t.Errorf("missing top-level key %q", k)
		}
	}
	if _, ok := top["wallet"]; ok {
		t.Error("wallet present although the stand-in has none")
	}
	var rows map[string][]float64
	if err := json.Unmarshal(top["stats"], &rows); err != nil || len(rows) != 11 {
		t.Errorf("stats has %d rows, want 11 (%v)", len(rows), err)
	}
	for k, v := range rows {
		if len(v) != 7 {
			t.Errorf("stats %s has %d values, want 7", k, len(v))
		}
	}
	var proxies []any
	if err := json.Unmarshal(top["proxies"], &proxies); err != nil || proxies == nil || len(proxies) != 0 {
		t.Errorf("proxies = %s, want [] (%v)", top["proxies"], err)
	}
	// Every field as the stand-in means it: enabled (always, as the
	// official worker), no wallet, zero counters, the configured local
	// settings, no root contract read, no proxies.
	want := worker.Stats{
		Status: worker.Status{
			ActualImageHash: true,
			ActualModel:     true,
			Enabled:         true,
			GitCommit:       standinGitCommit,
			GitCommitDate:   "stand-in (synthetic, earns nothing)",
		},
		LocalConfig: worker.LocalConfig{
			RootAddress:  "EQroot",
			OwnerAddress: "UQowner",
			Model:        "Qwen/Qwen3-0.6B",
			Coefficient:  1500,
		},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("parsed /jsonstats:\n got %+v\nwant %+v", st, want)
	}
	if len(st.Status.GitCommit) != 40 {
		t.Errorf("git_commit %q is not 40 hex digits", st.Status.GitCommit)
	}
}

func TestJSONStatsFilledState(t *testing.T) {
	s := testState(t)
	t0 := time.Unix(1000, 0)
	proxyKey := worker.Hash{0x3f, 0x1c, 31: 0x10}
	s.wallet = &worker.Wallet{Address: "UQwallet", Balance: 3871200000, Seqno: 42, PendingTransactionsCnt: 2, ActiveTransactionsCnt: 1}
	s.proxies = []worker.ProxyInfo{{SCInited: true, ProxySCAddress: "UQproxy", ProxyPublicKey: proxyKey, EarnedTokensMaxKnown: 2410533, ParamsVersion: 4}}
	s.root.RegisteredProxies = []worker.RegisteredProxy{{Seqno: 3, AddressForClients: "[203.0.113.10:11002]", AddressForWorkers: "[203.0.113.10:11001]"}}
	s.root.WorkerHashes = []worker.Hash{fakeTDXImage}
	s.checkProxyHash = true
	s.stats.Queries.Add(t0, 10)
	snap := s.Snapshot(t0.Add(10 * time.Second))
	out := jsonStats(t, s, t0.Add(10*time.Second))
	doc := string(out)

	assertOrder(t, doc, `"wallet_balance"`, `"actual_image_hash"`)
	assertOrder(t, doc, `"stats"`, `"wallet"`, `"localconfig"`)
	for _, want := range []string{
		"\n{\n  \"status\": {\n    \"wallet_balance\": 3871200000,\n    \"actual_image_hash\": true,\n    \"actual_model\": false,\n",
		// 10 at t0, read 10 s later: 1 s rate 10·e^-10, 10 s rate 10·e^-1/10.
		"    \"queries\": [\n      10.000000,\n      0.000454,\n      0.367879,\n",
		"  \"wallet\": {\n    \"address\": \"UQwallet\",\n    \"balance\": 3871200000,\n    \"seqno\": 42,\n" +
			"    \"pending_transactions_cnt\": 2,\n    \"active_transactions_cnt\": 1\n  },\n  \"localconfig\": {\n",
		"    \"registered_proxies\": [\n      {\n        \"seqno\": 3,\n        \"address_for_clients\": \"[203.0.113.10:11002]\",\n" +
			"        \"address_for_workers\": \"[203.0.113.10:11001]\"\n      }\n    ],\n",
		"    \"worker_hashes\": [\n      \"" + fakeTDXImageHashHex + "\"\n    ],\n",
		"      \"proxy_public_key\": \"" + proxyKey.String() + "\",\n",
		"      \"params_version\": 4\n    }\n  ]\n}",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}

	st, top := parseJSONStats(t, out)
	if _, ok := top["wallet"]; !ok {
		t.Error("wallet missing")
	}
	if !st.Status.HasWalletBalance || st.Status.WalletBalance != 3871200000 || !reflect.DeepEqual(st.Wallet, s.wallet) {
		t.Errorf("wallet: %+v %+v", st.Status, st.Wallet)
	}
	// check_proxy_hash on: the fake TDX image hash is listed, the model
	// is not.
	if !st.LocalConfig.CheckProxyHash || !st.Status.ActualImageHash || st.Status.ActualModel {
		t.Errorf("hash checks: localconfig %+v, status %+v", st.LocalConfig, st.Status)
	}
	if !st.Status.Enabled {
		t.Error("enabled is not true")
	}
	if q := st.Counters.Queries; q.Total() != 10 || q.Rate(worker.Window10s) <= 0 || q.Rate(worker.Window10s) >= 1 {
		t.Errorf("queries = %v (want total 10, a decayed 10s rate below 1/s)", q)
	}
	if st.Counters.Success != (worker.AmortCounter{}) {
		t.Errorf("success = %v, want zeros", st.Counters.Success)
	}
	if !reflect.DeepEqual(st.RootContract, s.root) {
		t.Errorf("root contract:\n got %+v\nwant %+v", st.RootContract, s.root)
	}
	if !reflect.DeepEqual(st.Proxies, s.proxies) {
		t.Errorf("proxies = %+v", st.Proxies)
	}
	// The document is the snapshot, nothing lost on the way: every field
	// equal, every double equal to 6 decimals ("%.6f").
	want := snap.Stats
	gotC, wantC := reflect.ValueOf(st.Counters), reflect.ValueOf(want.Counters)
	for i := range gotC.NumField() {
		g, w := gotC.Field(i).Interface().(worker.AmortCounter), wantC.Field(i).Interface().(worker.AmortCounter)
		for j := range g {
			if math.Abs(g[j]-w[j]) > 5e-7 {
				t.Errorf("stats %s[%d] = %v, snapshot %v", gotC.Type().Field(i).Name, j, g[j], w[j])
			}
		}
	}
	want.Counters = st.Counters
	if !reflect.DeepEqual(st, want) {
		t.Errorf("parsed /jsonstats differs from the snapshot:\n got %+v\nwant %+v", st, snap.Stats)
	}
}

// TestSnapshotIsACopy checks that later changes to the state do not reach
// a snapshot already taken.
func TestSnapshotIsACopy(t *testing.T) {
	s := testState(t)
	s.wallet = &worker.Wallet{Address: "UQwallet"}
	s.root.WorkerHashes = []worker.Hash{fakeTDXImage}
	s.proxies = []worker.ProxyInfo{{ProxySCAddress: "UQproxy"}}
	snap := s.Snapshot(time.Unix(1000, 0))
	s.wallet.Address = "changed"
	s.root.WorkerHashes[0] = worker.Hash{}
	s.proxies[0].ProxySCAddress = "changed"
	st := snap.Stats
	if st.Wallet.Address != "UQwallet" || st.RootContract.WorkerHashes[0] != fakeTDXImage || st.Proxies[0].ProxySCAddress != "UQproxy" {
		t.Errorf("snapshot changed with the state: %+v %+v %+v", st.Wallet, st.RootContract.WorkerHashes, st.Proxies)
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
	// The windows are worker.Window's: 1 s, 10 s, 1 min, 10 min, 1 h, 1 day.
	want := [6]float64{1, 10, 60, 600, 3600, 86400}
	for i, w := range want {
		if got := amortWindow(i); got != w {
			t.Errorf("window %d = %v s, want %v s", i, got, w)
		}
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
	if fakeTDXImage.String() != fakeTDXImageHashHex {
		t.Errorf("fakeTDXImage = %s, want %s", fakeTDXImage, fakeTDXImageHashHex)
	}
}
