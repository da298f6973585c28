package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/jsonstats_example.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHash(t testing.TB, s string) Hash {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// exampleStats is the §6.5 example as Go values.
func exampleStats(t testing.TB) Stats {
	return Stats{
		Status: Status{
			WalletBalance: 3871200000, HasWalletBalance: true, ActualImageHash: true, ActualModel: true,
			TONLastSyncedAt: 1764000123, Enabled: true,
			GitCommit: "9e70999c1b2f4a6d8e0f1a2b3c4d5e6f70819203", GitCommitDate: "2025-11-20 14:03:12 +0000",
		},
		Counters: Counters{
			Queries:                  AmortCounter{1523, 0, 0.094, 0.151, 0.176, 0.203, 0.017},
			Success:                  AmortCounter{1519, 0, 0.094, 0.151, 0.175, 0.202, 0.017},
			Failed:                   AmortCounter{4, 0, 0, 0, 0.001, 0.001, 0},
			BytesReceived:            AmortCounter{5482310, 0, 310.2, 512.9, 601.3, 688, 61.1},
			BytesSent:                AmortCounter{9127744, 0, 522.8, 870.4, 1003.7, 1150.6, 102},
			Time:                     AmortCounter{6021.4, 0, 0.37, 0.601, 0.688, 0.79, 0.067},
			TotalAdjustedTokens:      AmortCounter{2410533, 0, 141.7, 236.5, 271.9, 309.8, 26.8},
			PromptAdjustedTokens:     AmortCounter{1502110, 0, 88.3, 147.4, 169.4, 193.1, 16.7},
			CachedAdjustedTokens:     AmortCounter{112400, 0, 6.6, 11, 12.7, 14.4, 1.2},
			CompletionAdjustedTokens: AmortCounter{701233, 0, 41.2, 68.8, 79.1, 90.1, 7.8},
			ReasoningAdjustedTokens:  AmortCounter{94790, 0, 5.6, 9.3, 10.7, 12.2, 1.1},
		},
		Wallet: &Wallet{Address: "UQBS8iZlpgwS0okYXZUO6IE2CRZvaxE9F41sD9OQH_I5odje", Balance: 3871200000, Seqno: 42},
		LocalConfig: LocalConfig{
			RootAddress:  "UQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU-Ah",
			OwnerAddress: "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
			Model:        "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9",
			Coefficient:  1000, CheckProxyHash: true,
		},
		RootContract: RootContractConfig{
			OwnerAddress: "UQC6ckmb-hIeg2sqwVcm7n1rCvarE8OOksrg0VBXsVmYf6SA",
			ProxyHashes:  []Hash{mustHash(t, "BC74254770F58904DBA41ECCCC3FC1626E53A13043B026C48BBF33FEFF9243A8")},
			RegisteredProxies: []RegisteredProxy{
				{Seqno: 3, AddressForClients: "[203.0.113.10:11002]", AddressForWorkers: "[203.0.113.10:11001]"},
			},
			LastProxySeqno: 3,
			WorkerHashes:   []Hash{mustHash(t, "F506B40928B5B7A767C76FB008F86BEBB2737F6A6F0FB23C6F5DA2CEC255404E")},
			ModelHashes:    []Hash{mustHash(t, "4E8D0D15A82615D4FA5AFF8BB7A114152C7C17A517A809D7A7670C149079D2D3")},
			Version:        27, StructVersion: 3, ParamsVersion: 4, UniqueID: 1,
			PricePerToken: 20, WorkerFeePerToken: 16,
			PromptTokensPriceMultiplier: 10000, CachedTokensPriceMultiplier: 1000,
			CompletionTokensPriceMultiplier: 40000, ReasoningTokensPriceMultiplier: 40000,
			ProxyDelayBeforeClose: 86400, ClientDelayBeforeClose: 86400,
			ProxyMinStake: 1000000000, ClientMinStake: 1000000000,
			ProxyCodeHash:  mustHash(t, "4FB440034D6608697A8D41BED440E50454F31AF3176813E02EA68EF786E4D3CE"),
			WorkerCodeHash: mustHash(t, "A27D26934B484E73CF575DCAD6BA2B0AEE0CA923732881584D8C4FA2815D2802"),
			ClientCodeHash: mustHash(t, "827283E0AD84173581569969E58B081006F7E3DFC967A64CB14028D512C9791E"),
		},
		Proxies: []ProxyInfo{{
			SCInited:                          true,
			ProxySCAddress:                    "UQCglfIPk5VlDPk4C47bIkprJIoekk6P0K4uGpSSozBfGAXe",
			ProxyPublicKey:                    mustHash(t, "3F1C0B7E2D4A59681B7C6D5E4F30211203F4E5D6C7B8A9988776655443322110"),
			SCAddress:                         "UQCMthCQD540f66IbcZQd5XsdFxMP8sussc-FJNMhn7gV6ZO",
			EarnedTokensCommittedToBlockchain: 2211870,
			EarnedTokensCommittedToProxyDB:    2390015,
			EarnedTokensMaxKnown:              2410533,
			CachedOutTokens:                   1500000,
			ExpectedCachedOutTokens:           1500000,
			ParamsVersion:                     4,
		}},
	}
}

func TestParseStatsExample(t *testing.T) {
	got, err := ParseStats(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := exampleStats(t); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseStats(example):\n got %+v\nwant %+v", got, want)
	}
}

func TestStatsDerived(t *testing.T) {
	s := exampleStats(t)
	p := s.Proxies[0]
	if got := p.ClaimableTokens(); got != 711870 { // 2211870 − 1500000
		t.Errorf("ClaimableTokens = %d", got)
	}
	if got := p.PendingTokens(); got != 198663 { // 2410533 − 2211870
		t.Errorf("PendingTokens = %d", got)
	}
	if got, err := s.TokensToNanoTON(p.ClaimableTokens()); err != nil || got != 711870*16 {
		t.Errorf("TokensToNanoTON = %d, %v", got, err)
	}
	if got := s.ClaimableTokens(); got != 711870 {
		t.Errorf("Stats.ClaimableTokens = %d", got)
	}
	// §6.5: model_hashes holds the SHA-256 of the example model string.
	if !s.ModelListed() {
		t.Errorf("ModelListed = false; ModelHash = %s", s.ModelHash())
	}
	s.LocalConfig.Model += "x"
	if s.ModelListed() {
		t.Error("ModelListed true for another model")
	}
	if !s.ImageListed(s.RootContract.WorkerHashes[0]) || s.ImageListed(Hash{1}) {
		t.Error("ImageListed wrong")
	}
	if _, ok := s.Proxy(p.ProxySCAddress); !ok {
		t.Error("Proxy not found by address")
	}
	if _, ok := s.Proxy("nope"); ok {
		t.Error("Proxy found a missing address")
	}

	// Over-paid (in-flight payout above the committed amount): nothing
	// claimable, not a negative amount.
	p.ExpectedCachedOutTokens = p.EarnedTokensCommittedToBlockchain + 5
	if got := p.ClaimableTokens(); got != 0 {
		t.Errorf("ClaimableTokens over-paid = %d, want 0", got)
	}
	extreme := ProxyInfo{EarnedTokensCommittedToBlockchain: math.MaxInt64, ExpectedCachedOutTokens: math.MinInt64,
		EarnedTokensMaxKnown: math.MinInt64}
	if got := extreme.ClaimableTokens(); got != math.MaxInt64 {
		t.Errorf("ClaimableTokens saturates: %d", got)
	}
	if got := extreme.PendingTokens(); got != math.MinInt64 {
		t.Errorf("PendingTokens saturates: %d", got)
	}
	s.Proxies = []ProxyInfo{extreme, extreme}
	if got := s.ClaimableTokens(); got != math.MaxInt64 {
		t.Errorf("Stats.ClaimableTokens saturates: %d", got)
	}
	if _, err := s.TokensToNanoTON(math.MaxInt64 / 2); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("TokensToNanoTON overflow: %v", err)
	}
	s.RootContract.WorkerFeePerToken = -1
	if _, err := s.TokensToNanoTON(math.MinInt64); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("TokensToNanoTON MinInt64 × −1: %v", err)
	}
}

func TestAmortCounter(t *testing.T) {
	c := exampleStats(t).Counters.Queries
	if c.Total() != 1523 || c.Rate(Window10s) != 0.094 || c.Rate(Window1d) != 0.017 {
		t.Errorf("Total/Rate wrong: %v", c)
	}
	if c.Rate(0) != 0 || c.Rate(7) != 0 {
		t.Error("invalid windows must give 0")
	}
	if got := c.Approx(Window1h); math.Abs(got-0.203*3600) > 1e-9 {
		t.Errorf("Approx(1h) = %v", got)
	}
	for w, want := range map[Window]time.Duration{Window1s: time.Second, Window10s: 10 * time.Second, Window1m: time.Minute,
		Window10m: 10 * time.Minute, Window1h: time.Hour, Window1d: 24 * time.Hour, 0: 0} {
		if w.Duration() != want {
			t.Errorf("Window(%d).Duration = %v", w, w.Duration())
		}
	}
}

func TestStatusClassification(t *testing.T) {
	for _, tt := range []struct {
		has     bool
		balance int64
		want    WalletHealth
	}{
		{false, 0, WalletUnknown}, {true, -2, WalletUnknown}, {true, 0, WalletTooLow},
		{true, 2_099_999_999, WalletTooLow}, {true, 2_100_000_000, WalletLow},
		{true, 4_999_999_999, WalletLow}, {true, 5_000_000_000, WalletOK},
	} {
		if got := (Status{WalletBalance: tt.balance, HasWalletBalance: tt.has}).WalletHealth(); got != tt.want {
			t.Errorf("balance %d (has %v): %v, want %v", tt.balance, tt.has, got, tt.want)
		}
	}
	now := time.Unix(1_764_000_000, 0)
	for _, tt := range []struct {
		synced int64
		want   SyncState
	}{
		{now.Unix(), Synced}, {now.Unix() - 599, Synced}, {now.Unix() - 600, SyncLate},
		{now.Unix() - 3599, SyncLate}, {now.Unix() - 3600, OutOfSync}, {0, OutOfSync},
	} {
		if got := (Status{TONLastSyncedAt: tt.synced}).SyncState(now); got != tt.want {
			t.Errorf("synced %d s ago: %v, want %v", now.Unix()-tt.synced, got, tt.want)
		}
	}
}

func TestParseStatsQuirks(t *testing.T) {
	example := string(readExample(t))
	edit := func(old, new string) []byte {
		t.Helper()
		if !strings.Contains(example, old) {
			t.Fatalf("example has no %q", old)
		}
		return []byte(strings.Replace(example, old, new, 1))
	}
	tests := []struct {
		name  string
		doc   []byte
		check func(Stats) bool
	}{
		{"duplicate key: last wins", edit(`"completion_tokens_price_multiplier": 40000, "cached_tokens_price_multiplier": 1000`,
			`"completion_tokens_price_multiplier": 40000, "cached_tokens_price_multiplier": 1234`),
			func(s Stats) bool { return s.RootContract.CachedTokensPriceMultiplier == 1234 }},
		{"duplicate object: last wins", edit(`"enabled": true,`, `"enabled": false, "enabled": true,`),
			func(s Stats) bool { return s.Status.Enabled }},
		{"integers with 6 decimals", edit(`"wallet_balance": 3871200000,`, `"wallet_balance": 3871200000.000000,`),
			func(s Stats) bool { return s.Status.WalletBalance == 3871200000 }},
		{"int64 beyond float64 precision", edit(`"earned_tokens_max_known": 2410533,`, `"earned_tokens_max_known": 9007199254740993.000000,`),
			func(s Stats) bool { return s.Proxies[0].EarnedTokensMaxKnown == 9007199254740993 }},
		{"max int64", edit(`"balance": 3871200000,`, `"balance": 9223372036854775807,`),
			func(s Stats) bool { return s.Wallet.Balance == math.MaxInt64 }},
		{"negative (−2 before first read)", edit(`"wallet_balance": 3871200000,`, `"wallet_balance": -2.000000,`),
			func(s Stats) bool { return s.Status.WalletBalance == -2 && s.Status.WalletHealth() == WalletUnknown }},
		{"exponent integer", edit(`"proxy_min_stake": 1000000000,`, `"proxy_min_stake": 1e9,`),
			func(s Stats) bool { return s.RootContract.ProxyMinStake == 1_000_000_000 }},
		{"lowercase hex", edit(`"BC74254770F58904DBA41ECCCC3FC1626E53A13043B026C48BBF33FEFF9243A8"`, `"bc74254770f58904dba41eccCC3FC1626E53A13043B026C48BBF33FEFF9243A8"`),
			func(s Stats) bool {
				return s.RootContract.ProxyHashes[0].String() == "BC74254770F58904DBA41ECCCC3FC1626E53A13043B026C48BBF33FEFF9243A8"
			}},
		{"unescaped quote in a string", edit(`"git_commit_data": "2025-11-20 14:03:12 +0000"`, `"git_commit_data": "say "hi", ok"`),
			func(s Stats) bool { return s.Status.GitCommitDate == `say "hi", ok` }},
		{"quote before a closing brace inside an array element", edit(`"address_for_workers": "[203.0.113.10:11001]"}`, `"address_for_workers": "a"b"}`),
			func(s Stats) bool { return s.RootContract.RegisteredProxies[0].AddressForWorkers == `a"b` }},
		{"raw control characters", edit(`"git_commit_data": "2025-11-20 14:03:12 +0000"`, "\"git_commit_data\": \"line1\nline2\ttab\x01\""),
			func(s Stats) bool { return s.Status.GitCommitDate == "line1\nline2\ttab\x01" }},
		{"backslash is literal", edit(`"model": "Qwen`, `"model": "C:\new\"Qwen`),
			func(s Stats) bool { return strings.HasPrefix(s.LocalConfig.Model, `C:\new\"Qwen`) }},
		{"non-ASCII and invalid UTF-8", edit(`"git_commit_data": "2025-11-20 14:03:12 +0000"`, "\"git_commit_data\": \"d\xc3\xa9j\xe0\xff\""),
			func(s Stats) bool { return s.Status.GitCommitDate == "d\xc3\xa9j\xe0\xff" }},
		{"nan and inf rates", edit(`"time": [6021.400000, 0.000000,`, `"time": [6021.400000, -nan,`),
			func(s Stats) bool { return math.IsNaN(s.Counters.Time[1]) }},
		{"inf rate", edit(`"failed": [4.000000, 0.000000,`, `"failed": [4.000000, inf,`),
			func(s Stats) bool { return math.IsInf(s.Counters.Failed[1], 1) }},
		{"huge double", edit(`"bytes_sent": [9127744.000000,`, `"bytes_sent": [1e400,`),
			func(s Stats) bool { return math.IsInf(s.Counters.BytesSent[0], 1) }},
		{"no wallet yet", []byte(strings.Replace(strings.Replace(example, `"wallet_balance": 3871200000,`, "", 1),
			example[strings.Index(example, `  "wallet": {`):strings.Index(example, `  "localconfig"`)], "", 1)),
			func(s Stats) bool { return s.Wallet == nil && !s.Status.HasWalletBalance }},
		{"no proxies, empty lists", edit(`"proxy_hashes": ["BC74254770F58904DBA41ECCCC3FC1626E53A13043B026C48BBF33FEFF9243A8"]`, `"proxy_hashes": []`),
			func(s Stats) bool { return s.RootContract.ProxyHashes == nil }},
		{"unknown keys ignored", edit(`"enabled": true,`, `"enabled": true, "future": {"x": [1, "y", null]},`),
			func(s Stats) bool { return s.Status.Enabled }},
		{"leading newline and CRLF", []byte("\n" + strings.ReplaceAll(example, "\n", "\r\n")),
			func(s Stats) bool { return s.Status.TONLastSyncedAt == 1764000123 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseStats(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("unexpected result: %+v", s)
			}
		})
	}
}

func TestParseStatsErrors(t *testing.T) {
	example := string(readExample(t))
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(example, old) {
			t.Fatalf("example has no %q", old)
		}
		return strings.Replace(example, old, new, 1)
	}
	tests := []struct {
		name, doc, wantErr string
	}{
		{"fraction in an amount", edit(`"balance": 3871200000,`, `"balance": 3871200000.5,`), "wallet.balance: 3871200000.5 is not a whole number"},
		{"small fraction", edit(`"earned_tokens_max_known": 2410533,`, `"earned_tokens_max_known": 2410533.000001,`), "proxies[0].earned_tokens_max_known: 2410533.000001 is not a whole number"},
		{"int64 overflow", edit(`"balance": 3871200000,`, `"balance": 9223372036854775808,`), "wallet.balance: 9223372036854775808 does not fit in an int64"},
		{"int64 overflow with decimals", edit(`"balance": 3871200000,`, `"balance": 99999999999999999999.000000,`), "does not fit"},
		{"huge exponent", edit(`"balance": 3871200000,`, `"balance": 1e999999999,`), "does not fit"},
		{"uint32 overflow", edit(`"seqno": 42,`, `"seqno": 4294967296,`), "wallet.seqno: 4294967296 is out of range 0 to 4294967295"},
		{"negative uint32", edit(`"seqno": 42,`, `"seqno": -1,`), "wallet.seqno: -1 is out of range"},
		{"missing field", edit(`"cached_out_tokens": 1500000,`, ``), "proxies[0].cached_out_tokens: missing"},
		{"wrong type", edit(`"running_request": false,`, `"running_request": "false",`), "proxies[0].running_request: is a string, want a boolean"},
		{"bad hash", edit(`"worker_code_hash": "A27D`, `"worker_code_hash": "Z27D`), "root_contract_config.worker_code_hash: hash"},
		{"short hash list entry", edit(`"model_hashes": ["4E8D`, `"model_hashes": ["4E8D", "4E8D`), "root_contract_config.model_hashes[0]: hash"},
		{"counter length", edit(`"failed": [4.000000, 0.000000,`, `"failed": [4.000000,`), "stats.failed: has 6 numbers, want 7"},
		{"counter element", edit(`"failed": [4.000000,`, `"failed": [true,`), "stats.failed[0]: is a boolean"},
		{"int as nan", edit(`"seqno": 42,`, `"seqno": nan,`), `wallet.seqno`},
		{"proxies not objects", edit(`"proxies": [`, `"proxies": [1, `), "proxies[0]: is a number, want an object"},
		{"top level array", "[]", "document: is a array"},
		{"trailing garbage", example + "x", "after the document"},
		{"two documents", example + example, "after the document"},
		{"unterminated string", `{"status": "abc`, "unterminated string"},
		{"truncated", example[:len(example)/2], "parse jsonstats"},
		{"empty", "", "unexpected end of input"},
		{"malformed number", edit(`"seqno": 42,`, `"seqno": 4.,`), "malformed number"},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStats([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestExactInt(t *testing.T) {
	tests := []struct {
		lit  string
		want int64
		err  error
	}{
		{"0", 0, nil}, {"-0", 0, nil}, {"0.000000", 0, nil}, {"42", 42, nil}, {"42.000000", 42, nil},
		{"-2.000000", -2, nil}, {"007", 7, nil}, {"1e3", 1000, nil}, {"1.5e1", 15, nil}, {"1500e-3", 1, errNotInteger},
		{"15000e-4", 0, errNotInteger}, {"150000e-5", 0, errNotInteger}, {"1.0e-0", 1, nil}, {"10E-1", 1, nil},
		{"9223372036854775807", math.MaxInt64, nil}, {"-9223372036854775808", math.MinInt64, nil},
		{"9223372036854775807.000000", math.MaxInt64, nil}, {"9223372036854775808", 0, errOutOfRange},
		{"-9223372036854775809", 0, errOutOfRange}, {"0.5", 0, errNotInteger}, {"1.000001", 0, errNotInteger},
		{"0e999999999", 0, nil}, {"1e999999999", 0, errOutOfRange}, {"1e-999999999", 0, errNotInteger},
		{"1e19", 0, errOutOfRange}, {"9.223372036854775807e18", math.MaxInt64, nil}, {"0.00000001e8", 1, nil},
		{"123456789012345678901234567890e-20", 0, errNotInteger}, {"123456789000000000000000000000e-20", 1234567890, nil},
	}
	for _, tt := range tests {
		got, err := exactInt(tt.lit)
		if !errors.Is(err, tt.err) || (tt.err == nil && got != tt.want) {
			t.Errorf("exactInt(%q) = %d, %v; want %d, %v", tt.lit, got, err, tt.want, tt.err)
		}
	}
	for _, bad := range []string{"nan", "inf", "-", "1.2.3", ""} {
		if _, err := exactInt(bad); err == nil {
			t.Errorf("exactInt(%q) succeeded", bad)
		}
	}
}

func TestMarshalOfficialFormat(t *testing.T) {
	s := exampleStats(t)
	out := string(s.MarshalOfficial())
	// Leading newline, 2-space indentation, one item per line.
	for _, want := range []string{
		"\n{\n  \"status\": {\n    \"wallet_balance\": 3871200000,\n    \"actual_image_hash\": true,\n",
		"    \"queries\": [\n      1523.000000,\n      0.000000,\n      0.094000,\n",
		"    \"registered_proxies\": [\n      {\n        \"seqno\": 3,\n        \"address_for_clients\": \"[203.0.113.10:11002]\",\n",
		"    \"proxy_hashes\": [\n      \"BC74254770F58904DBA41ECCCC3FC1626E53A13043B026C48BBF33FEFF9243A8\"\n    ],\n",
		"    \"completion_tokens_price_multiplier\": 40000,\n    \"cached_tokens_price_multiplier\": 1000,\n    \"reasoning_tokens_price_multiplier\": 40000,\n",
		"      \"params_version\": 4\n    }\n  ]\n}",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out, `"cached_tokens_price_multiplier"`); n != 2 {
		t.Errorf("cached_tokens_price_multiplier printed %d times, want 2 (as the worker does)", n)
	}
	// Keys in the §6.3 order.
	last := -1
	for _, k := range []string{`"status"`, `"stats"`, `"wallet"`, `"localconfig"`, `"root_contract_config"`, `"proxies"`} {
		i := strings.Index(out, k)
		if i <= last {
			t.Errorf("%s out of order", k)
		}
		last = i
	}
	// With plain strings the output is valid JSON that encoding/json reads
	// to the same values.
	if !json.Valid([]byte(out)) {
		t.Error("output is not valid JSON")
	}
	var generic struct {
		Proxies []struct {
			Earned int64 `json:"earned_tokens_max_known"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal([]byte(out), &generic); err != nil || generic.Proxies[0].Earned != 2410533 {
		t.Errorf("encoding/json read %+v, %v", generic, err)
	}
	// Without a wallet, neither wallet_balance nor wallet is printed.
	s.Wallet, s.Status.HasWalletBalance = nil, false
	s.Proxies, s.RootContract.RegisteredProxies = nil, nil
	out = string(s.MarshalOfficial())
	if strings.Contains(out, `"wallet`) {
		t.Error("wallet printed without a wallet")
	}
	// The worker's serializer closes even an empty container on its own line.
	if !strings.HasSuffix(out, "\"proxies\": [\n  ]\n}") || !strings.Contains(out, "\"registered_proxies\": [\n    ],") {
		t.Error("empty arrays not printed as the worker prints them")
	}
	if formatDouble(math.NaN()) != "nan" || formatDouble(math.Copysign(math.NaN(), -1)) != "-nan" ||
		formatDouble(math.Inf(-1)) != "-inf" || formatDouble(math.Inf(1)) != "inf" || formatDouble(-0.0000004) != "-0.000000" {
		t.Error("formatDouble does not print like printf")
	}
}

func TestMarshalOfficialRoundTripExample(t *testing.T) {
	want := exampleStats(t)
	got, err := ParseStats(want.MarshalOfficial())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// randomStats makes a Stats whose doubles are multiples of 10^-6 (exact
// through "%.6f") and whose strings avoid the ambiguous `"`-then-structure
// sequences; for those ParseStats(MarshalOfficial(s)) must give s back.
func randomStats(r *rand.Rand) Stats {
	str := func() string {
		const alphabet = "abcXYZ019 _-:/@+.=[]{},\"\\\t\n\x01é"
		rs := []rune(alphabet)
		n := r.IntN(12)
		var b strings.Builder
		for range n {
			b.WriteRune(rs[r.IntN(len(rs))])
		}
		s := b.String()
		// A '"' followed by ',' or '}' could end the string early.
		s = strings.NewReplacer(`",`, `"x`, `"}`, `"x`).Replace(s)
		for strings.HasSuffix(s, `"`) || strings.Contains(s, `" `) || strings.Contains(s, "\"\n") || strings.Contains(s, "\"\t") {
			s = strings.NewReplacer(`" `, `"x`, "\"\n", `"x`, "\"\t", `"x`).Replace(strings.TrimSuffix(s, `"`))
		}
		return s
	}
	i64 := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return math.MaxInt64 - r.Int64N(3)
		case 2:
			return math.MinInt64 + r.Int64N(3)
		}
		return r.Int64() - r.Int64()
	}
	u32 := func() uint32 { return r.Uint32() }
	hash := func() Hash {
		var h Hash
		for i := range h {
			h[i] = byte(r.UintN(256))
		}
		return h
	}
	hashes := func() []Hash {
		var hs []Hash
		for range r.IntN(3) {
			hs = append(hs, hash())
		}
		return hs
	}
	counter := func() AmortCounter {
		var c AmortCounter
		for i := range c {
			c[i] = float64(r.Int64N(1<<50)-(1<<49)) / 1e6
		}
		return c
	}
	s := Stats{
		Status: Status{ActualImageHash: r.IntN(2) == 0, ActualModel: r.IntN(2) == 0, TONLastSyncedAt: i64(),
			Enabled: r.IntN(2) == 0, GitCommit: str(), GitCommitDate: str()},
		Counters: Counters{counter(), counter(), counter(), counter(), counter(), counter(), counter(), counter(), counter(), counter(), counter()},
		LocalConfig: LocalConfig{RootAddress: str(), OwnerAddress: str(), Model: str(), Coefficient: i64(),
			CheckProxyHash: r.IntN(2) == 0},
		RootContract: RootContractConfig{
			OwnerAddress: str(), ProxyHashes: hashes(), LastProxySeqno: u32(), WorkerHashes: hashes(), ModelHashes: hashes(),
			Version: u32(), StructVersion: u32(), ParamsVersion: u32(), UniqueID: u32(), IsTest: r.IntN(2) == 0,
			PricePerToken: i64(), WorkerFeePerToken: i64(), PromptTokensPriceMultiplier: u32(),
			CachedTokensPriceMultiplier: u32(), CompletionTokensPriceMultiplier: u32(), ReasoningTokensPriceMultiplier: u32(),
			ProxyDelayBeforeClose: u32(), ClientDelayBeforeClose: u32(), ProxyMinStake: i64(), ClientMinStake: i64(),
			ProxyCodeHash: hash(), WorkerCodeHash: hash(), ClientCodeHash: hash(),
		},
	}
	if r.IntN(3) > 0 {
		s.Status.WalletBalance, s.Status.HasWalletBalance = i64(), true
		s.Wallet = &Wallet{Address: str(), Balance: i64(), Seqno: u32(), PendingTransactionsCnt: i64(), ActiveTransactionsCnt: i64()}
	}
	for range r.IntN(3) {
		s.RootContract.RegisteredProxies = append(s.RootContract.RegisteredProxies,
			RegisteredProxy{Seqno: u32(), AddressForClients: str(), AddressForWorkers: str()})
	}
	for range r.IntN(4) {
		s.Proxies = append(s.Proxies, ProxyInfo{
			SCInited: r.IntN(2) == 0, ProxySCAddress: str(), ProxyPublicKey: hash(), SCAddress: str(),
			EarnedTokensCommittedToBlockchain: i64(), EarnedTokensCommittedToProxyDB: i64(), EarnedTokensMaxKnown: i64(),
			CachedOutTokens: i64(), ExpectedCachedOutTokens: i64(), RunningRequest: r.IntN(2) == 0, ParamsVersion: u32(),
		})
	}
	return s
}

func TestMarshalOfficialRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		want := randomStats(r)
		doc := want.MarshalOfficial()
		got, err := ParseStats(doc)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, doc)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: round trip differs\n got %+v\nwant %+v\n%s", i, got, want, doc)
		}
	}
}

// FuzzParseStats: no panics, and whatever parses is stable through
// MarshalOfficial: parse → marshal → parse succeeds, and a second round
// prints the same bytes (the first round may round doubles to 6 decimals).
func FuzzParseStats(f *testing.F) {
	example := readExample(f)
	f.Add(example)
	f.Add(exampleStats(f).MarshalOfficial())
	f.Add([]byte(`{"status": "a"b", "x": [1e5, -nan, inf]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s1, err := ParseStats(data)
		if err != nil {
			return
		}
		m1 := s1.MarshalOfficial()
		s2, err := ParseStats(m1)
		if err != nil {
			t.Fatalf("re-parse of MarshalOfficial failed: %v\ninput %q\nmarshalled %q", err, data, m1)
		}
		m2 := s2.MarshalOfficial()
		s3, err := ParseStats(m2)
		if err != nil {
			t.Fatalf("second re-parse failed: %v", err)
		}
		if m3 := s3.MarshalOfficial(); !bytes.Equal(m2, m3) {
			t.Fatalf("not stable:\n%q\n%q", m2, m3)
		}
	})
}
