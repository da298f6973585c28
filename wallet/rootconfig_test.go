package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

var update = flag.Bool("update", false, "rewrite testdata/root_state_fixture.boc")

// rootFixturePath is a constructed root-contract state (built by
// sampleRootConfig through RootConfig.ToCell), not a mainnet capture.
const rootFixturePath = "testdata/root_state_fixture.boc"

func h256(s string) Hash { return sha256.Sum256([]byte(s)) }

// sampleRootConfig is a root config with every field set for struct
// version sv (absent fields at their defaults).
func sampleRootConfig(t testing.TB, sv uint8) RootConfig {
	t.Helper()
	owner, err := ParseAddress("EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k", Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	p := RootParams{
		StructVersion: sv, ParamsVersion: 7, UniqueID: 0xC0C0, IsTest: false,
		PricePerToken: 20, WorkerFeePerToken: 16,
		PromptMultiplier: DefaultPriceMultiplier, CachedMultiplier: DefaultPriceMultiplier,
		CompletionMultiplier: DefaultPriceMultiplier, ReasoningMultiplier: DefaultPriceMultiplier,
		ProxyDelayBeforeClose: 3600, ClientDelayBeforeClose: 7200,
		MinProxyStake: DefaultMinStakeNano, MinClientStake: DefaultMinStakeNano,
		ProxyCode:  cell.BeginCell().MustStoreUInt(0xAA, 8).EndCell(),
		WorkerCode: cell.BeginCell().MustStoreUInt(0xBB, 8).MustStoreRef(cell.BeginCell().MustStoreUInt(1, 1).EndCell()).EndCell(),
	}
	if sv >= 1 {
		p.MinProxyStake, p.MinClientStake = 15*NanoPerTON, 5*NanoPerTON/2
	}
	if sv >= 2 {
		p.CachedMultiplier, p.ReasoningMultiplier = 1000, 12000
	}
	if sv >= 3 {
		p.PromptMultiplier, p.CompletionMultiplier = 9000, 40000
	}
	return RootConfig{
		Owner:       owner,
		Version:     42,
		ProxyHashes: []Hash{h256("proxy image A"), h256("proxy image B")},
		Proxies: []RegisteredProxy{
			{Seqno: 1, Text: "203.0.113.10:11001 203.0.113.10:11002", WorkerAddr: "203.0.113.10:11001", ClientAddr: "203.0.113.10:11002"},
			{Seqno: 5, Text: "198.51.100.7:8888", WorkerAddr: "198.51.100.7:8888", ClientAddr: "198.51.100.7:8888"},
			{Seqno: 300, Type: 1, Text: "future-format"},
		},
		LastProxySeqno: 300,
		WorkerHashes:   []Hash{h256("worker image")},
		ModelHashes:    []Hash{ModelHash("Qwen/Qwen3-0.6B@c1899de:1f2e"), ModelHash("Qwen/Qwen3-32B@9216db5:ab12")},
		Params:         p,
	}
}

// sortedHashes compares hash sets regardless of order (dictionaries
// return keys in key order).
func sortedHashes(hs []Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func assertRootEqual(t *testing.T, got, want RootConfig) {
	t.Helper()
	if !got.Owner.Equal(want.Owner) || got.Version != want.Version || got.LastProxySeqno != want.LastProxySeqno {
		t.Errorf("header: %s %d %d", got.Owner, got.Version, got.LastProxySeqno)
	}
	for name, pair := range map[string][2][]Hash{"proxy": {got.ProxyHashes, want.ProxyHashes}, "worker": {got.WorkerHashes, want.WorkerHashes}, "model": {got.ModelHashes, want.ModelHashes}} {
		if !reflect.DeepEqual(sortedHashes(pair[0]), sortedHashes(pair[1])) {
			t.Errorf("%s hashes %v, want %v", name, pair[0], pair[1])
		}
	}
	if !reflect.DeepEqual(got.Proxies, want.Proxies) {
		t.Errorf("proxies %+v\nwant %+v", got.Proxies, want.Proxies)
	}
	gp, wp := got.Params, want.Params
	codeEq := func(a, b *cell.Cell) bool {
		return (a == nil) == (b == nil) && (a == nil || bytes.Equal(a.Hash(), b.Hash()))
	}
	if !codeEq(gp.ProxyCode, wp.ProxyCode) || !codeEq(gp.WorkerCode, wp.WorkerCode) || !codeEq(gp.ClientCode, wp.ClientCode) {
		t.Error("code refs differ")
	}
	gp.ProxyCode, gp.WorkerCode, gp.ClientCode = nil, nil, nil
	wp.ProxyCode, wp.WorkerCode, wp.ClientCode = nil, nil, nil
	if gp != wp {
		t.Errorf("params %+v\nwant %+v", gp, wp)
	}
}

func TestRootConfigRoundTripAllStructVersions(t *testing.T) {
	for sv := uint8(0); sv <= MaxRootStructVersion; sv++ {
		want := sampleRootConfig(t, sv)
		c, err := want.ToCell()
		if err != nil {
			t.Fatalf("v%d: %v", sv, err)
		}
		got, err := ParseRootConfigBOC(c.ToBOC())
		if err != nil {
			t.Fatalf("v%d: %v", sv, err)
		}
		assertRootEqual(t, got, want)
	}
}

// An older struct version written with non-default values for fields it
// does not have reads back with the defaults.
func TestRootParamsDefaults(t *testing.T) {
	p := sampleRootConfig(t, 3).Params
	for sv := uint8(0); sv <= 3; sv++ {
		q := p
		q.StructVersion = sv
		c, err := q.ToCell(false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseParams(c.BeginParse())
		if err != nil {
			t.Fatal(err)
		}
		wantPrompt, wantCached := DefaultPriceMultiplier, DefaultPriceMultiplier
		if sv >= 3 {
			wantPrompt = p.PromptMultiplier
		}
		if sv >= 2 {
			wantCached = p.CachedMultiplier
		}
		wantStake := DefaultMinStakeNano
		if sv >= 1 {
			wantStake = p.MinProxyStake
		}
		if got.PromptMultiplier != wantPrompt || got.CachedMultiplier != wantCached || got.MinProxyStake != wantStake || got.ProxyCode != nil {
			t.Errorf("v%d: %+v", sv, got)
		}
	}
}

// A root cell built field by field to the §5.3 layout with tonutils-go's
// builder (not with ToCell), so a mistake shared by ToCell and the parser
// cannot hide.
func TestParseRootConfigHandBuilt(t *testing.T) {
	owner, _ := ParseAddress("EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k", Mainnet)
	hashDict := func(keys ...Hash) *cell.Dictionary {
		d := cell.NewDict(256)
		for _, k := range keys {
			if err := d.SetIntKey(new(big.Int).SetBytes(k[:]), cell.BeginCell().EndCell()); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	proxies := cell.NewDict(32)
	text := "10.1.2.3:5000 10.1.2.3:5001"
	if err := proxies.SetIntKey(big.NewInt(9), cell.BeginCell().MustStoreUInt(0, 1).MustStoreUInt(uint64(len(text)), 7).MustStoreSlice([]byte(text), uint(len(text))*8).EndCell()); err != nil {
		t.Fatal(err)
	}
	data := cell.BeginCell().
		MustStoreDict(hashDict(h256("p"))).
		MustStoreDict(proxies).
		MustStoreUInt(9, 32).
		MustStoreDict(hashDict(h256("w1"), h256("w2"), h256("w3"))).
		MustStoreDict(nil). // no models
		EndCell()
	workerCode := cell.BeginCell().MustStoreUInt(0xDEAD, 16).EndCell()
	params := cell.BeginCell().
		MustStoreUInt(3, 8).MustStoreUInt(11, 32).MustStoreUInt(12, 32).MustStoreBoolBit(true).
		MustStoreCoins(1000).MustStoreCoins(800).
		MustStoreUInt(10001, 32).MustStoreUInt(10002, 32).MustStoreUInt(10003, 32).MustStoreUInt(10004, 32).
		MustStoreUInt(60, 32).MustStoreUInt(120, 32).
		MustStoreCoins(2_000_000_000).MustStoreCoins(3_000_000_000).
		MustStoreMaybeRef(nil).MustStoreMaybeRef(workerCode).MustStoreMaybeRef(nil).
		EndCell()
	root := cell.BeginCell().MustStoreAddr(owner.Tonutils()).MustStoreUInt(77, 32).MustStoreRef(data).MustStoreRef(params).EndCell()
	rc, err := ParseRootConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	p := rc.Params
	if rc.Version != 77 || !rc.Owner.Equal(owner) || rc.LastProxySeqno != 9 || len(rc.ProxyHashes) != 1 || rc.ProxyHashes[0] != h256("p") ||
		len(rc.WorkerHashes) != 3 || len(rc.ModelHashes) != 0 || !rc.AllowsWorkerImage(h256("w2")) || rc.AllowsWorkerImage(h256("p")) {
		t.Errorf("data: %+v", rc)
	}
	if len(rc.Proxies) != 1 || rc.Proxies[0] != (RegisteredProxy{Seqno: 9, Text: text, WorkerAddr: "10.1.2.3:5000", ClientAddr: "10.1.2.3:5001"}) {
		t.Errorf("proxies %+v", rc.Proxies)
	}
	if p.StructVersion != 3 || p.ParamsVersion != 11 || p.UniqueID != 12 || !p.IsTest || p.PricePerToken != 1000 || p.WorkerFeePerToken != 800 ||
		p.PromptMultiplier != 10001 || p.CachedMultiplier != 10002 || p.CompletionMultiplier != 10003 || p.ReasoningMultiplier != 10004 ||
		p.ProxyDelayBeforeClose != 60 || p.ClientDelayBeforeClose != 120 || p.MinProxyStake != 2_000_000_000 || p.MinClientStake != 3_000_000_000 ||
		p.ProxyCode != nil || p.ClientCode != nil || p.WorkerCode == nil || !bytes.Equal(p.WorkerCode.Hash(), workerCode.Hash()) {
		t.Errorf("params %+v", p)
	}
	if err := rc.CheckProduction(); err == nil || !strings.Contains(err.Error(), "is_test") {
		t.Errorf("CheckProduction: %v", err)
	}
	// ToCell writes the same bits (hash-identical cell).
	again, err := rc.ToCell()
	if err != nil || !bytes.Equal(again.Hash(), root.Hash()) {
		t.Errorf("ToCell differs from the hand-built cell: %v", err)
	}
}

func TestParseRootConfigMalformed(t *testing.T) {
	good := sampleRootConfig(t, 3)
	owner := good.Owner.Tonutils()
	goodCell, _ := good.ToCell()
	params3, _ := good.Params.ToCell(true)
	dataCell := goodCell.MustPeekRef(0)
	proxyValue := func(typ uint64, n int, text string) *cell.Cell {
		d := cell.NewDict(32)
		v := cell.BeginCell().MustStoreUInt(typ, 1).MustStoreUInt(uint64(n), 7).MustStoreSlice([]byte(text), uint(len(text))*8).EndCell()
		if err := d.SetIntKey(big.NewInt(4), v); err != nil {
			t.Fatal(err)
		}
		return cell.BeginCell().MustStoreDict(nil).MustStoreDict(d).MustStoreUInt(4, 32).MustStoreDict(nil).MustStoreDict(nil).EndCell()
	}
	root := func(data, params *cell.Cell) *cell.Cell {
		return cell.BeginCell().MustStoreAddr(owner).MustStoreUInt(1, 32).MustStoreRef(data).MustStoreRef(params).EndCell()
	}
	v4params := cell.BeginCell().MustStoreUInt(4, 8).MustStoreSlice(make([]byte, 64), 500).EndCell()
	tests := []struct {
		name string
		c    *cell.Cell
		says string
	}{
		{"empty", cell.BeginCell().EndCell(), "owner address"},
		{"address only", cell.BeginCell().MustStoreAddr(owner).EndCell(), "version"},
		{"no refs", cell.BeginCell().MustStoreAddr(owner).MustStoreUInt(1, 32).EndCell(), "data cell reference"},
		{"one ref", cell.BeginCell().MustStoreAddr(owner).MustStoreUInt(1, 32).MustStoreRef(dataCell).EndCell(), "params cell reference"},
		{"external owner", cell.BeginCell().MustStoreUInt(0b01, 2).MustStoreUInt(8, 9).MustStoreUInt(1, 8).MustStoreUInt(1, 32).MustStoreRef(dataCell).MustStoreRef(params3).EndCell(), "not a standard address"},
		{"struct_version 4", root(dataCell, v4params), "struct_version 4 is newer"},
		{"struct_version 255", root(dataCell, cell.BeginCell().MustStoreUInt(255, 8).EndCell()), "struct_version 255"},
		{"params truncated", root(dataCell, cell.BeginCell().MustStoreUInt(3, 8).MustStoreUInt(1, 32).EndCell()), "unique_id"},
		{"params no multipliers", root(dataCell, cell.BeginCell().MustStoreUInt(3, 8).MustStoreUInt(1, 64).MustStoreBoolBit(false).MustStoreCoins(1).MustStoreCoins(1).EndCell()), "prompt_tokens_price_multiplier"},
		{"params missing code ref", root(dataCell, cell.BeginCell().MustStoreUInt(0, 8).MustStoreUInt(1, 64).MustStoreBoolBit(false).MustStoreCoins(1).MustStoreCoins(1).MustStoreUInt(1, 64).MustStoreUInt(1, 1).EndCell()), "proxy code"},
		{"data truncated", root(cell.BeginCell().MustStoreDict(nil).EndCell(), params3), "registered proxies"},
		{"data no last seqno", root(cell.BeginCell().MustStoreDict(nil).MustStoreDict(nil).EndCell(), params3), "last_proxy_seqno"},
		{"proxy text no port", root(proxyValue(0, 7, "1.2.3.4"), params3), "not an IPv4 ip:port"},
		{"proxy text hostname", root(proxyValue(0, 16, "proxy.cocoon:443"), params3), "not an IPv4"},
		{"proxy text ipv6", root(proxyValue(0, 11, "[::1]:11001"), params3), "not an IPv4"},
		{"proxy text three", root(proxyValue(0, 29, "1.1.1.1:1 2.2.2.2:2 3.3.3.3:3"), params3), "want"},
		{"proxy text port 0", root(proxyValue(0, 9, "1.1.1.1:0"), params3), "not an IPv4"},
		{"proxy text control", root(proxyValue(0, 10, "1.1.1.1:1\n"), params3), "non-printable"},
		{"proxy length too long", root(proxyValue(0, 40, "1.2.3.4:5"), params3), "shorter than its length 40"},
		{"proxy empty", root(proxyValue(0, 0, ""), params3), "not an IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := ParseRootConfig(tt.c)
			if err == nil {
				t.Fatalf("accepted: %+v", rc)
			}
			if !strings.Contains(err.Error(), tt.says) || !strings.HasPrefix(err.Error(), "root config") {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
	if _, err := ParseRootConfig(nil); err == nil {
		t.Error("nil cell")
	}
	if _, err := ParseRootConfigBOC([]byte("not a boc")); err == nil {
		t.Error("garbage BOC")
	}
	// Every truncation of a valid BOC fails cleanly (no panic).
	b := goodCell.ToBOC()
	for i := 0; i < len(b); i++ {
		if _, err := ParseRootConfigBOC(b[:i]); err == nil {
			t.Errorf("BOC truncated to %d bytes accepted", i)
		}
	}
	// Every bit-truncation of the params cell too.
	full := params3.BeginParse()
	for n := uint(0); n < params3.BitsSize(); n++ {
		bits, err := full.Copy().LoadSlice(n)
		if err != nil {
			t.Fatal(err)
		}
		short := cell.BeginCell().MustStoreSlice(bits, n).EndCell()
		if _, err := ParseRootConfig(root(dataCell, short)); err == nil {
			t.Errorf("params truncated to %d bits accepted", n)
		}
	}
}

func TestRootConfigFixture(t *testing.T) {
	want := sampleRootConfig(t, 3)
	if *update {
		c, err := want.ToCell()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(rootFixturePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rootFixturePath, c.ToBOC(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(rootFixturePath)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./wallet -run TestRootConfigFixture -update)", err)
	}
	got, err := ParseRootConfigBOC(b)
	if err != nil {
		t.Fatal(err)
	}
	assertRootEqual(t, got, want)
	if err := got.CheckProduction(); err != nil {
		t.Errorf("CheckProduction: %v", err)
	}
	if !got.AllowsModel("Qwen/Qwen3-32B@9216db5:ab12") || got.AllowsModel("Qwen/Qwen3-32B") {
		t.Error("AllowsModel")
	}

	js := got.JSONStats(Mainnet)
	raw, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"owner_address", "proxy_hashes", "registered_proxies", "last_proxy_seqno", "worker_hashes", "model_hashes",
		"version", "struct_version", "params_version", "unique_id", "is_test", "price_per_token", "worker_fee_per_token",
		"prompt_tokens_price_multiplier", "cached_tokens_price_multiplier", "completion_tokens_price_multiplier",
		"reasoning_tokens_price_multiplier", "proxy_delay_before_close", "client_delay_before_close",
		"proxy_min_stake", "client_min_stake", "proxy_code_hash", "worker_code_hash", "client_code_hash"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if js.OwnerAddress != "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k" || js.PricePerToken != 20 || js.WorkerFeePerToken != 16 ||
		js.PromptTokensPriceMultiplier != 9000 || js.ParamsVersion != 7 || js.IsTest {
		t.Errorf("JSON values %+v", js)
	}
	if js.RegisteredProxies[0] != (RegisteredProxyJSON{Seqno: 1, AddressForClients: "[203.0.113.10:11002]", AddressForWorkers: "[203.0.113.10:11001]"}) ||
		js.RegisteredProxies[2].AddressForWorkers != "" {
		t.Errorf("JSON proxies %+v", js.RegisteredProxies)
	}
	if js.ClientCodeHash != strings.Repeat("0", 64) || js.WorkerCodeHash != Hash(want.Params.WorkerCode.Hash()).String() || js.ModelHashes[0] != strings.ToUpper(js.ModelHashes[0]) {
		t.Errorf("JSON hashes %s %s", js.ClientCodeHash, js.WorkerCodeHash)
	}
	if got.JSONStats(Testnet).OwnerAddress[0] != 'k' {
		t.Error("testnet owner form")
	}
}

func TestWorkerContractData(t *testing.T) {
	owner, _ := ParseAddress(vecUQ, Mainnet)
	proxy, _ := ParseAddress("EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ", Mainnet)
	nk, _ := ParseNodeKey(vecNodeKey)
	rc := sampleRootConfig(t, 2)
	want := WorkerContractData{Owner: owner, Proxy: proxy, ProxyPublicKey: nk.PublicKey(), State: WorkerStateClosed, TokensPaid: 123456789, Params: rc.Params}
	c, err := want.ToCell()
	if err != nil {
		t.Fatal(err)
	}
	if c.BitsSize() != 267+267+256+2+64 || c.RefsNum() != 1 {
		t.Errorf("layout: %d bits %d refs", c.BitsSize(), c.RefsNum())
	}
	got, err := ParseWorkerContractData(c)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Owner.Equal(owner) || !got.Proxy.Equal(proxy) || !bytes.Equal(got.ProxyPublicKey, nk.PublicKey()) || got.State != 2 || got.TokensPaid != 123456789 {
		t.Errorf("worker data %+v", got)
	}
	wp := rc.Params
	wp.ProxyCode, wp.WorkerCode, wp.ClientCode = nil, nil, nil
	if got.Params != wp {
		t.Errorf("params %+v (code refs must be absent)", got.Params)
	}
	// Hand-built to §5.2.
	params, _ := rc.Params.ToCell(false)
	hand := cell.BeginCell().MustStoreAddr(owner.Tonutils()).MustStoreAddr(proxy.Tonutils()).MustStoreSlice(nk.PublicKey(), 256).
		MustStoreUInt(2, 2).MustStoreUInt(123456789, 64).MustStoreRef(params).EndCell()
	if !bytes.Equal(hand.Hash(), c.Hash()) {
		t.Error("ToCell differs from the §5.2 layout")
	}
	addr, err := ContractAddress(rc.Params.WorkerCode, c, false)
	if err != nil || addr.IsZero() || addr.Bounceable() {
		t.Errorf("worker contract address %v", err)
	}
	for _, bad := range []*cell.Cell{nil, cell.BeginCell().MustStoreAddr(owner.Tonutils()).EndCell(),
		cell.BeginCell().MustStoreAddr(owner.Tonutils()).MustStoreAddr(proxy.Tonutils()).MustStoreSlice(nk.PublicKey(), 256).MustStoreUInt(0, 66).EndCell()} {
		if _, err := ParseWorkerContractData(bad); err == nil {
			t.Error("malformed worker data accepted")
		}
	}
	if _, err := (WorkerContractData{}).ToCell(); err == nil {
		t.Error("empty worker data built")
	}
}

func TestHash(t *testing.T) {
	h := h256("x")
	p, err := ParseHash(strings.ToLower(h.String()))
	if err != nil || p != h {
		t.Error("ParseHash round trip")
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64)} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q)", bad)
		}
	}
	if _, err := (RootParams{StructVersion: 4}).ToCell(true); err == nil {
		t.Error("struct version 4 built")
	}
	if _, err := (RootParams{PricePerToken: -1}).ToCell(true); err == nil {
		t.Error("negative price built")
	}
	if _, err := (RootConfig{}).ToCell(); err == nil {
		t.Error("root without owner built")
	}
}
