package worker

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ParseStats reads a /jsonstats document (§6.3) as the official worker
// writes it. It tolerates the serializer's documented quirks:
//
//   - a leading newline and any JSON whitespace;
//   - duplicate keys (root_contract_config.cached_tokens_price_multiplier
//     is printed twice): the last occurrence wins, as in encoding/json;
//   - unescaped strings: control characters, backslashes and quotes are
//     content (see lax_json.go for how a quote inside a string is told
//     from the closing one);
//   - numbers printed with 6 decimals: integer fields accept "42.000000"
//     and are converted exactly from the text (never through float64); a
//     fraction or a value outside the field's range is an error;
//   - hashes in uppercase hex (either case is accepted).
//
// Keys the schema does not list are ignored. Every listed key is required
// except status.wallet_balance and wallet, which the worker omits before
// its wallet exists. Errors name the path of the offending field.
func ParseStats(data []byte) (Stats, error) {
	root, err := laxParse(data)
	if err != nil {
		return Stats{}, fmt.Errorf("parse jsonstats: %w", err)
	}
	d := statsDecoder{}
	s := d.stats(root)
	if d.err != nil {
		return Stats{}, fmt.Errorf("parse jsonstats: %w", d.err)
	}
	return s, nil
}

// statsDecoder maps the lax tree onto Stats, keeping the first error.
type statsDecoder struct{ err error }

func (d *statsDecoder) fail(path string, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field returns o's member key, of kind k.
func (d *statsDecoder) field(o laxValue, path, key string, k laxKind) (laxValue, bool) {
	if d.err != nil {
		return laxValue{}, false
	}
	v, ok := o.get(key)
	if !ok {
		d.fail(join(path, key), "missing")
		return laxValue{}, false
	}
	if v.kind != k {
		d.fail(join(path, key), "is a %s, want a %s", v.kind, k)
		return laxValue{}, false
	}
	return v, true
}

func (d *statsDecoder) object(v laxValue, path string) bool {
	if d.err == nil && v.kind != laxObject {
		d.fail(path, "is a %s, want an object", v.kind)
	}
	return d.err == nil
}

func (d *statsDecoder) str(o laxValue, path, key string) string {
	v, _ := d.field(o, path, key, laxString)
	return v.text
}

func (d *statsDecoder) boolean(o laxValue, path, key string) bool {
	v, _ := d.field(o, path, key, laxBool)
	return v.b
}

func (d *statsDecoder) int64(o laxValue, path, key string) int64 {
	v, ok := d.field(o, path, key, laxNumber)
	if !ok {
		return 0
	}
	return d.intLit(v.text, join(path, key), math.MinInt64, math.MaxInt64)
}

func (d *statsDecoder) uint32(o laxValue, path, key string) uint32 {
	v, ok := d.field(o, path, key, laxNumber)
	if !ok {
		return 0
	}
	return uint32(d.intLit(v.text, join(path, key), 0, math.MaxUint32))
}

func (d *statsDecoder) intLit(lit, path string, lo, hi int64) int64 {
	n, err := exactInt(lit)
	lit = describeLit(lit)
	switch {
	case errors.Is(err, errNotInteger):
		d.fail(path, "%s is not a whole number", lit)
	case errors.Is(err, errOutOfRange):
		d.fail(path, "%s does not fit in an int64", lit)
	case err != nil:
		d.fail(path, "%v", err)
	case n < lo || n > hi:
		d.fail(path, "%s is out of range %d to %d", lit, lo, hi)
	default:
		return n
	}
	return 0
}

func (d *statsDecoder) hash(o laxValue, path, key string) Hash {
	v, ok := d.field(o, path, key, laxString)
	if !ok || v.text == "" {
		// An empty string: the worker has not read this hash from the root
		// contract yet (the stand-in prints it so before any chain sync).
		return Hash{}
	}
	return d.hashText(v.text, join(path, key))
}

func (d *statsDecoder) hashText(s, path string) Hash {
	h, err := ParseHash(s)
	if err != nil {
		d.fail(path, "%v", err)
	}
	return h
}

func (d *statsDecoder) hashes(o laxValue, path, key string) []Hash {
	v, ok := d.field(o, path, key, laxArray)
	if !ok || len(v.elems) == 0 {
		return nil
	}
	out := make([]Hash, len(v.elems))
	for i, el := range v.elems {
		p := fmt.Sprintf("%s[%d]", join(path, key), i)
		if el.kind != laxString {
			d.fail(p, "is a %s, want a hex string", el.kind)
			return nil
		}
		out[i] = d.hashText(el.text, p)
	}
	return out
}

func (d *statsDecoder) counter(o laxValue, path, key string) AmortCounter {
	var c AmortCounter
	v, ok := d.field(o, path, key, laxArray)
	if !ok {
		return c
	}
	p := join(path, key)
	if len(v.elems) != len(c) {
		d.fail(p, "has %d numbers, want %d", len(v.elems), len(c))
		return c
	}
	for i, el := range v.elems {
		if el.kind != laxNumber {
			d.fail(fmt.Sprintf("%s[%d]", p, i), "is a %s, want a number", el.kind)
			return c
		}
		f, err := parseFloatLit(el.text)
		if err != nil {
			d.fail(fmt.Sprintf("%s[%d]", p, i), "%v", err)
			return c
		}
		c[i] = f
	}
	return c
}

// parseFloatLit reads a number literal, including printf's nan/-nan/inf/-inf.
func parseFloatLit(lit string) (float64, error) {
	switch lit {
	case "nan":
		return math.NaN(), nil
	case "-nan":
		return math.Copysign(math.NaN(), -1), nil
	case "inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, nil // ±Inf or 0 for values beyond float64, as the worker's double would be
		}
		return 0, fmt.Errorf("%q is not a number", describeLit(lit))
	}
	return f, nil
}

func (d *statsDecoder) stats(root laxValue) Stats {
	var s Stats
	if !d.object(root, "document") {
		return s
	}
	if v, ok := d.field(root, "", "status", laxObject); ok {
		s.Status = d.status(v, "status")
	}
	if v, ok := d.field(root, "", "stats", laxObject); ok {
		s.Counters = d.counters(v, "stats")
	}
	if v, ok := root.get("wallet"); ok && d.err == nil {
		if d.object(v, "wallet") {
			w := d.wallet(v, "wallet")
			s.Wallet = &w
		}
	}
	if v, ok := d.field(root, "", "localconfig", laxObject); ok {
		s.LocalConfig = d.localConfig(v, "localconfig")
	}
	if v, ok := d.field(root, "", "root_contract_config", laxObject); ok {
		s.RootContract = d.rootContract(v, "root_contract_config")
	}
	if v, ok := d.field(root, "", "proxies", laxArray); ok && len(v.elems) > 0 {
		s.Proxies = make([]ProxyInfo, len(v.elems))
		for i, el := range v.elems {
			p := fmt.Sprintf("proxies[%d]", i)
			if !d.object(el, p) {
				break
			}
			s.Proxies[i] = d.proxy(el, p)
		}
	}
	if d.err != nil {
		return Stats{}
	}
	return s
}

func (d *statsDecoder) status(o laxValue, p string) Status {
	var s Status
	if _, ok := o.get("wallet_balance"); ok {
		s.WalletBalance = d.int64(o, p, "wallet_balance")
		s.HasWalletBalance = true
	}
	s.ActualImageHash = d.boolean(o, p, "actual_image_hash")
	s.ActualModel = d.boolean(o, p, "actual_model")
	s.TONLastSyncedAt = d.int64(o, p, "ton_last_synced_at")
	s.Enabled = d.boolean(o, p, "enabled")
	s.GitCommit = d.str(o, p, "git_commit")
	s.GitCommitDate = d.str(o, p, "git_commit_data")
	return s
}

func (d *statsDecoder) counters(o laxValue, p string) Counters {
	return Counters{
		Queries:                  d.counter(o, p, "queries"),
		Success:                  d.counter(o, p, "success"),
		Failed:                   d.counter(o, p, "failed"),
		BytesReceived:            d.counter(o, p, "bytes_received"),
		BytesSent:                d.counter(o, p, "bytes_sent"),
		Time:                     d.counter(o, p, "time"),
		TotalAdjustedTokens:      d.counter(o, p, "total_adjusted_tokens_used"),
		PromptAdjustedTokens:     d.counter(o, p, "prompt_adjusted_tokens_used"),
		CachedAdjustedTokens:     d.counter(o, p, "cached_adjusted_tokens_used"),
		CompletionAdjustedTokens: d.counter(o, p, "completion_adjusted_tokens_used"),
		ReasoningAdjustedTokens:  d.counter(o, p, "reasoning_adjusted_tokens_used"),
	}
}

func (d *statsDecoder) wallet(o laxValue, p string) Wallet {
	return Wallet{
		Address:                d.str(o, p, "address"),
		Balance:                d.int64(o, p, "balance"),
		Seqno:                  d.uint32(o, p, "seqno"),
		PendingTransactionsCnt: d.int64(o, p, "pending_transactions_cnt"),
		ActiveTransactionsCnt:  d.int64(o, p, "active_transactions_cnt"),
	}
}

func (d *statsDecoder) localConfig(o laxValue, p string) LocalConfig {
	return LocalConfig{
		RootAddress:    d.str(o, p, "root_address"),
		OwnerAddress:   d.str(o, p, "owner_address"),
		Model:          d.str(o, p, "model"),
		Coefficient:    d.int64(o, p, "coefficient"),
		CheckProxyHash: d.boolean(o, p, "check_proxy_hash"),
	}
}

func (d *statsDecoder) rootContract(o laxValue, p string) RootContractConfig {
	r := RootContractConfig{
		OwnerAddress: d.str(o, p, "owner_address"),
		ProxyHashes:  d.hashes(o, p, "proxy_hashes"),
	}
	if v, ok := d.field(o, p, "registered_proxies", laxArray); ok && len(v.elems) > 0 {
		r.RegisteredProxies = make([]RegisteredProxy, len(v.elems))
		for i, el := range v.elems {
			ep := fmt.Sprintf("%s.registered_proxies[%d]", p, i)
			if !d.object(el, ep) {
				break
			}
			r.RegisteredProxies[i] = RegisteredProxy{
				Seqno:             d.uint32(el, ep, "seqno"),
				AddressForClients: d.str(el, ep, "address_for_clients"),
				AddressForWorkers: d.str(el, ep, "address_for_workers"),
			}
		}
	}
	r.LastProxySeqno = d.uint32(o, p, "last_proxy_seqno")
	r.WorkerHashes = d.hashes(o, p, "worker_hashes")
	r.ModelHashes = d.hashes(o, p, "model_hashes")
	r.Version = d.uint32(o, p, "version")
	r.StructVersion = d.uint32(o, p, "struct_version")
	r.ParamsVersion = d.uint32(o, p, "params_version")
	r.UniqueID = d.uint32(o, p, "unique_id")
	r.IsTest = d.boolean(o, p, "is_test")
	r.PricePerToken = d.int64(o, p, "price_per_token")
	r.WorkerFeePerToken = d.int64(o, p, "worker_fee_per_token")
	r.PromptTokensPriceMultiplier = d.uint32(o, p, "prompt_tokens_price_multiplier")
	r.CachedTokensPriceMultiplier = d.uint32(o, p, "cached_tokens_price_multiplier")
	r.CompletionTokensPriceMultiplier = d.uint32(o, p, "completion_tokens_price_multiplier")
	r.ReasoningTokensPriceMultiplier = d.uint32(o, p, "reasoning_tokens_price_multiplier")
	r.ProxyDelayBeforeClose = d.uint32(o, p, "proxy_delay_before_close")
	r.ClientDelayBeforeClose = d.uint32(o, p, "client_delay_before_close")
	r.ProxyMinStake = d.int64(o, p, "proxy_min_stake")
	r.ClientMinStake = d.int64(o, p, "client_min_stake")
	r.ProxyCodeHash = d.hash(o, p, "proxy_code_hash")
	r.WorkerCodeHash = d.hash(o, p, "worker_code_hash")
	r.ClientCodeHash = d.hash(o, p, "client_code_hash")
	return r
}

func (d *statsDecoder) proxy(o laxValue, p string) ProxyInfo {
	return ProxyInfo{
		SCInited:                          d.boolean(o, p, "sc_inited"),
		ProxySCAddress:                    d.str(o, p, "proxy_sc_address"),
		ProxyPublicKey:                    d.hash(o, p, "proxy_public_key"),
		SCAddress:                         d.str(o, p, "sc_address"),
		EarnedTokensCommittedToBlockchain: d.int64(o, p, "earned_tokens_committed_to_blockchain"),
		EarnedTokensCommittedToProxyDB:    d.int64(o, p, "earned_tokens_committed_to_proxy_db"),
		EarnedTokensMaxKnown:              d.int64(o, p, "earned_tokens_max_known"),
		CachedOutTokens:                   d.int64(o, p, "cached_out_tokens"),
		ExpectedCachedOutTokens:           d.int64(o, p, "expected_cached_out_tokens"),
		RunningRequest:                    d.boolean(o, p, "running_request"),
		ParamsVersion:                     d.uint32(o, p, "params_version"),
	}
}

// describeLit is used in messages; literals are short, but a fuzzer can
// make them long.
func describeLit(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
