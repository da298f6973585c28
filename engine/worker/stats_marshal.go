package worker

import (
	"math"
	"strconv"
	"strings"
)

// MarshalOfficial writes s the way the official worker's serializer does
// (§6.3), for the dev-mode stand-in: a leading newline, 2-space
// indentation, every key and array element on its own line, keys in the
// worker's order, cached_tokens_price_multiplier printed twice, strings
// not escaped, doubles with 6 decimals (nan/inf as printf spells them),
// hashes in uppercase hex, status.wallet_balance and wallet only when s
// has a wallet balance or wallet.
//
// Because strings are written verbatim, a string that itself looks like
// the end of a JSON string followed by more structure (for example one
// containing `", "`) cannot be read back unambiguously — the same is true
// of the official worker's output. For all other values
// ParseStats(s.MarshalOfficial()) returns s.
func (s Stats) MarshalOfficial() []byte {
	w := &officialWriter{}
	w.b.WriteString("\n")
	w.open('{')
	w.key("status")
	w.open('{')
	st := s.Status
	if st.HasWalletBalance {
		w.int("wallet_balance", st.WalletBalance)
	}
	w.bool("actual_image_hash", st.ActualImageHash)
	w.bool("actual_model", st.ActualModel)
	w.int("ton_last_synced_at", st.TONLastSyncedAt)
	w.bool("enabled", st.Enabled)
	w.str("git_commit", st.GitCommit)
	w.str("git_commit_data", st.GitCommitDate)
	w.close('}')

	w.key("stats")
	w.open('{')
	c := s.Counters
	for _, kc := range []struct {
		k string
		c AmortCounter
	}{
		{"queries", c.Queries}, {"success", c.Success}, {"failed", c.Failed},
		{"bytes_received", c.BytesReceived}, {"bytes_sent", c.BytesSent}, {"time", c.Time},
		{"total_adjusted_tokens_used", c.TotalAdjustedTokens},
		{"prompt_adjusted_tokens_used", c.PromptAdjustedTokens},
		{"cached_adjusted_tokens_used", c.CachedAdjustedTokens},
		{"completion_adjusted_tokens_used", c.CompletionAdjustedTokens},
		{"reasoning_adjusted_tokens_used", c.ReasoningAdjustedTokens},
	} {
		w.key(kc.k)
		w.open('[')
		for _, f := range kc.c {
			w.elem()
			w.b.WriteString(formatDouble(f))
		}
		w.close(']')
	}
	w.close('}')

	if s.Wallet != nil {
		wl := s.Wallet
		w.key("wallet")
		w.open('{')
		w.str("address", wl.Address)
		w.int("balance", wl.Balance)
		w.int("seqno", int64(wl.Seqno))
		w.int("pending_transactions_cnt", wl.PendingTransactionsCnt)
		w.int("active_transactions_cnt", wl.ActiveTransactionsCnt)
		w.close('}')
	}

	lc := s.LocalConfig
	w.key("localconfig")
	w.open('{')
	w.str("root_address", lc.RootAddress)
	w.str("owner_address", lc.OwnerAddress)
	w.str("model", lc.Model)
	w.int("coefficient", lc.Coefficient)
	w.bool("check_proxy_hash", lc.CheckProxyHash)
	w.close('}')

	r := s.RootContract
	w.key("root_contract_config")
	w.open('{')
	w.str("owner_address", r.OwnerAddress)
	w.hashes("proxy_hashes", r.ProxyHashes)
	w.key("registered_proxies")
	w.open('[')
	for _, rp := range r.RegisteredProxies {
		w.elem()
		w.open('{')
		w.int("seqno", int64(rp.Seqno))
		w.str("address_for_clients", rp.AddressForClients)
		w.str("address_for_workers", rp.AddressForWorkers)
		w.close('}')
	}
	w.close(']')
	w.int("last_proxy_seqno", int64(r.LastProxySeqno))
	w.hashes("worker_hashes", r.WorkerHashes)
	w.hashes("model_hashes", r.ModelHashes)
	w.int("version", int64(r.Version))
	w.int("struct_version", int64(r.StructVersion))
	w.int("params_version", int64(r.ParamsVersion))
	w.int("unique_id", int64(r.UniqueID))
	w.bool("is_test", r.IsTest)
	w.int("price_per_token", r.PricePerToken)
	w.int("worker_fee_per_token", r.WorkerFeePerToken)
	w.int("prompt_tokens_price_multiplier", int64(r.PromptTokensPriceMultiplier))
	w.int("cached_tokens_price_multiplier", int64(r.CachedTokensPriceMultiplier))
	w.int("completion_tokens_price_multiplier", int64(r.CompletionTokensPriceMultiplier))
	w.int("cached_tokens_price_multiplier", int64(r.CachedTokensPriceMultiplier)) // twice, as the worker does
	w.int("reasoning_tokens_price_multiplier", int64(r.ReasoningTokensPriceMultiplier))
	w.int("proxy_delay_before_close", int64(r.ProxyDelayBeforeClose))
	w.int("client_delay_before_close", int64(r.ClientDelayBeforeClose))
	w.int("proxy_min_stake", r.ProxyMinStake)
	w.int("client_min_stake", r.ClientMinStake)
	w.str("proxy_code_hash", r.ProxyCodeHash.String())
	w.str("worker_code_hash", r.WorkerCodeHash.String())
	w.str("client_code_hash", r.ClientCodeHash.String())
	w.close('}')

	w.key("proxies")
	w.open('[')
	for _, p := range s.Proxies {
		w.elem()
		w.open('{')
		w.bool("sc_inited", p.SCInited)
		w.str("proxy_sc_address", p.ProxySCAddress)
		w.str("proxy_public_key", p.ProxyPublicKey.String())
		w.str("sc_address", p.SCAddress)
		w.int("earned_tokens_committed_to_blockchain", p.EarnedTokensCommittedToBlockchain)
		w.int("earned_tokens_committed_to_proxy_db", p.EarnedTokensCommittedToProxyDB)
		w.int("earned_tokens_max_known", p.EarnedTokensMaxKnown)
		w.int("cached_out_tokens", p.CachedOutTokens)
		w.int("expected_cached_out_tokens", p.ExpectedCachedOutTokens)
		w.bool("running_request", p.RunningRequest)
		w.int("params_version", int64(p.ParamsVersion))
		w.close('}')
	}
	w.close(']')
	w.close('}')
	return []byte(w.b.String())
}

// formatDouble prints f as C's "%.6f" does.
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', 6, 64)
}

// officialWriter produces the serializer's layout. Each container level
// tracks whether it has an item yet, to place commas.
type officialWriter struct {
	b     strings.Builder
	first []bool // per open container: no item written yet
}

func (w *officialWriter) indent() {
	w.b.WriteByte('\n')
	for range len(w.first) {
		w.b.WriteString("  ")
	}
}

// item starts a new line for the next member or element.
func (w *officialWriter) item() {
	top := len(w.first) - 1
	if !w.first[top] {
		w.b.WriteByte(',')
	}
	w.first[top] = false
	w.indent()
}

func (w *officialWriter) key(k string) {
	w.item()
	w.b.WriteByte('"')
	w.b.WriteString(k)
	w.b.WriteString(`": `)
}

func (w *officialWriter) elem() { w.item() }

func (w *officialWriter) open(c byte) {
	w.b.WriteByte(c)
	w.first = append(w.first, true)
}

// close ends a container on a new line at the parent's indentation, as
// the worker's serializer does even for an empty one ("[\n    ]").
func (w *officialWriter) close(c byte) {
	w.first = w.first[:len(w.first)-1]
	w.indent()
	w.b.WriteByte(c)
}

func (w *officialWriter) str(k, v string) {
	w.key(k)
	w.b.WriteByte('"')
	w.b.WriteString(v) // verbatim, as the worker does
	w.b.WriteByte('"')
}

func (w *officialWriter) int(k string, v int64) {
	w.key(k)
	w.b.WriteString(strconv.FormatInt(v, 10))
}

func (w *officialWriter) bool(k string, v bool) {
	w.key(k)
	w.b.WriteString(strconv.FormatBool(v))
}

func (w *officialWriter) hashes(k string, hs []Hash) {
	w.key(k)
	w.open('[')
	for _, h := range hs {
		w.elem()
		w.b.WriteByte('"')
		w.b.WriteString(h.String())
		w.b.WriteByte('"')
	}
	w.close(']')
}
