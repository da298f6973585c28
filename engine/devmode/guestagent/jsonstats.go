package main

import (
	"bytes"
	"strconv"
)

// jsonWriter reproduces the worker's SimpleJsonSerializer
// (runners/helpers/SimpleJsonSerializer.hpp) byte for byte: every value on
// its own line, two-space indentation, the document starting with a
// newline, ",\n" between siblings, doubles fixed-point with 6 decimals and
// strings written without escaping. Go's encoding/json reads the result.
type jsonWriter struct {
	b      bytes.Buffer
	indent int
	stack  []bool // per open container: has it a child yet
}

func newJSONWriter() *jsonWriter { return &jsonWriter{stack: []bool{false}} }

func (w *jsonWriter) comma() {
	top := len(w.stack) - 1
	if w.stack[top] {
		w.b.WriteString(",\n")
	} else {
		w.b.WriteString("\n")
	}
	w.stack[top] = true
	for i := 0; i < w.indent; i++ {
		w.b.WriteByte(' ')
	}
}

func (w *jsonWriter) open(name string, bracket byte) {
	w.comma()
	if name != "" {
		w.b.WriteString(`"` + name + `": `)
	}
	w.b.WriteByte(bracket)
	w.indent += 2
	w.stack = append(w.stack, false)
}

func (w *jsonWriter) close(bracket byte) {
	w.indent -= 2
	w.b.WriteString("\n")
	for i := 0; i < w.indent; i++ {
		w.b.WriteByte(' ')
	}
	w.b.WriteByte(bracket)
	w.stack = w.stack[:len(w.stack)-1]
}

func (w *jsonWriter) object(name string) { w.open(name, '{') }
func (w *jsonWriter) array(name string)  { w.open(name, '[') }
func (w *jsonWriter) endObject()         { w.close('}') }
func (w *jsonWriter) endArray()          { w.close(']') }

// raw adds a value already in JSON form; name "" is an array element.
func (w *jsonWriter) raw(name, value string) {
	w.comma()
	if name != "" {
		w.b.WriteString(`"` + name + `": `)
	}
	w.b.WriteString(value)
}

// str writes s unescaped, as the official serializer does. Every string the
// stand-in emits comes from runtime.vars (whose characters are restricted)
// or from its own constants, so no escaping is ever needed.
func (w *jsonWriter) str(name, s string)          { w.raw(name, `"`+s+`"`) }
func (w *jsonWriter) boolean(name string, v bool) { w.raw(name, strconv.FormatBool(v)) }
func (w *jsonWriter) int(name string, v int64)    { w.raw(name, strconv.FormatInt(v, 10)) }
func (w *jsonWriter) uint(name string, v uint64)  { w.raw(name, strconv.FormatUint(v, 10)) }
func (w *jsonWriter) float(name string, v float64) {
	w.raw(name, strconv.FormatFloat(v, 'f', 6, 64))
}

// renderJSONStats writes /jsonstats (interface spec §6.3) from a snapshot,
// keys in the official order.
func renderJSONStats(s statsSnapshot) []byte {
	w := newJSONWriter()
	w.object("")

	w.object("status")
	if s.Wallet != nil {
		w.int("wallet_balance", s.Wallet.Balance)
	}
	w.boolean("actual_image_hash", s.ImageHashListed)
	w.boolean("actual_model", s.ModelListed)
	w.int("ton_last_synced_at", s.TonLastSyncedAt)
	w.boolean("enabled", true) // always true in the official worker; see /stats
	w.str("git_commit", s.GitCommit)
	w.str("git_commit_data", s.GitCommitDate)
	w.endObject()

	w.object("stats")
	for _, row := range s.Stats {
		w.array(row.Name)
		for _, v := range row.Values {
			w.float("", v)
		}
		w.endArray()
	}
	w.endObject()

	if s.Wallet != nil {
		w.object("wallet")
		w.str("address", s.Wallet.Address)
		w.int("balance", s.Wallet.Balance)
		w.uint("seqno", uint64(s.Wallet.Seqno))
		w.int("pending_transactions_cnt", int64(s.Wallet.PendingTransactionsCnt))
		w.int("active_transactions_cnt", int64(s.Wallet.ActiveTransactionsCnt))
		w.endObject()
	}

	w.object("localconfig")
	w.str("root_address", s.LocalConfig.RootAddress)
	w.str("owner_address", s.LocalConfig.OwnerAddress)
	w.str("model", s.LocalConfig.Model)
	w.int("coefficient", int64(s.LocalConfig.Coefficient))
	w.boolean("check_proxy_hash", s.LocalConfig.CheckProxyHash)
	w.endObject()

	r := s.Root
	w.object("root_contract_config")
	w.str("owner_address", r.OwnerAddress)
	hexList := func(name string, list []string) {
		w.array(name)
		for _, h := range list {
			w.str("", h)
		}
		w.endArray()
	}
	hexList("proxy_hashes", r.ProxyHashes)
	w.array("registered_proxies")
	for _, p := range r.RegisteredProxies {
		w.object("")
		w.uint("seqno", uint64(p.Seqno))
		w.str("address_for_clients", p.AddressForClients)
		w.str("address_for_workers", p.AddressForWorkers)
		w.endObject()
	}
	w.endArray()
	w.uint("last_proxy_seqno", uint64(r.LastProxySeqno))
	hexList("worker_hashes", r.WorkerHashes)
	hexList("model_hashes", r.ModelHashes)
	w.uint("version", uint64(r.Version))
	w.uint("struct_version", uint64(r.StructVersion))
	w.uint("params_version", uint64(r.ParamsVersion))
	w.uint("unique_id", uint64(r.UniqueID))
	w.boolean("is_test", r.IsTest)
	w.uint("price_per_token", r.PricePerToken)
	w.uint("worker_fee_per_token", r.WorkerFeePerToken)
	w.uint("prompt_tokens_price_multiplier", uint64(r.PromptTokensPriceMultiplier))
	w.uint("cached_tokens_price_multiplier", uint64(r.CachedTokensPriceMultiplier))
	w.uint("completion_tokens_price_multiplier", uint64(r.CompletionTokensPriceMultiplier))
	// Emitted twice by the official worker (§6.3); consumers must cope.
	w.uint("cached_tokens_price_multiplier", uint64(r.CachedTokensPriceMultiplier))
	w.uint("reasoning_tokens_price_multiplier", uint64(r.ReasoningTokensPriceMultiplier))
	w.uint("proxy_delay_before_close", uint64(r.ProxyDelayBeforeClose))
	w.uint("client_delay_before_close", uint64(r.ClientDelayBeforeClose))
	w.uint("proxy_min_stake", r.ProxyMinStake)
	w.uint("client_min_stake", r.ClientMinStake)
	w.str("proxy_code_hash", r.ProxyCodeHash)
	w.str("worker_code_hash", r.WorkerCodeHash)
	w.str("client_code_hash", r.ClientCodeHash)
	w.endObject()

	w.array("proxies")
	for _, p := range s.Proxies {
		w.object("")
		w.boolean("sc_inited", p.SCInited)
		w.str("proxy_sc_address", p.ProxySCAddress)
		w.str("proxy_public_key", p.ProxyPublicKey)
		w.str("sc_address", p.SCAddress)
		w.int("earned_tokens_committed_to_blockchain", p.EarnedTokensCommittedToBlockchain)
		w.int("earned_tokens_committed_to_proxy_db", p.EarnedTokensCommittedToProxyDB)
		w.int("earned_tokens_max_known", p.EarnedTokensMaxKnown)
		w.int("cached_out_tokens", p.CachedOutTokens)
		w.int("expected_cached_out_tokens", p.ExpectedCachedOutTokens)
		w.boolean("running_request", p.RunningRequest)
		w.uint("params_version", uint64(p.ParamsVersion))
		w.endObject()
	}
	w.endArray()

	w.endObject()
	return w.b.Bytes()
}
