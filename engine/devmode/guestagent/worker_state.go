package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// walletInfo is the cocoon wallet block of /jsonstats. The stand-in has
// none yet (nil): the official worker also omits it until its wallet
// object exists.
type walletInfo struct {
	Address                string
	Balance                int64
	Seqno                  uint32
	PendingTransactionsCnt int
	ActiveTransactionsCnt  int
}

type registeredProxy struct {
	Seqno             uint32
	AddressForClients string // "[ip:port]"
	AddressForWorkers string
}

// rootConfig is the root contract's parameters as the worker last read
// them. The stand-in reads no chain, so every field stays zero.
type rootConfig struct {
	OwnerAddress                    string
	ProxyHashes                     []string // uppercase hex
	RegisteredProxies               []registeredProxy
	LastProxySeqno                  uint32
	WorkerHashes                    []string
	ModelHashes                     []string
	Version                         uint32
	StructVersion                   uint32
	ParamsVersion                   uint32
	UniqueID                        uint32
	IsTest                          bool
	PricePerToken                   uint64
	WorkerFeePerToken               uint64
	PromptTokensPriceMultiplier     uint32
	CachedTokensPriceMultiplier     uint32
	CompletionTokensPriceMultiplier uint32
	ReasoningTokensPriceMultiplier  uint32
	ProxyDelayBeforeClose           uint32
	ClientDelayBeforeClose          uint32
	ProxyMinStake                   uint64
	ClientMinStake                  uint64
	ProxyCodeHash                   string
	WorkerCodeHash                  string
	ClientCodeHash                  string
}

// proxyInfo is one proxy relationship (§6.3 proxies[]).
type proxyInfo struct {
	SCInited                          bool
	ProxySCAddress                    string
	ProxyPublicKey                    string
	SCAddress                         string
	EarnedTokensCommittedToBlockchain int64
	EarnedTokensCommittedToProxyDB    int64
	EarnedTokensMaxKnown              int64
	CachedOutTokens                   int64
	ExpectedCachedOutTokens           int64
	RunningRequest                    bool
	ParamsVersion                     uint32
}

// workerStats are the AmortCounter rows of /jsonstats "stats", in order.
type workerStats struct {
	Queries, Success, Failed                      amortCounter
	BytesReceived, BytesSent, Time                amortCounter
	TotalAdjusted, PromptAdjusted, CachedAdjusted amortCounter
	CompletionAdjusted, ReasoningAdjusted         amortCounter
}

// workerState is the stand-in worker-runner's state: what /stats and
// /jsonstats show and the /request endpoints change. The stand-in proxy
// and token accounting (a later step) fill in stats, wallet, root and
// proxies through the same lock.
type workerState struct {
	mu              sync.Mutex
	cfg             workerConfig
	forceDisabled   bool
	coefficient     int32
	checkProxyHash  bool
	uplinkOK        bool
	maxActive       int
	activeRequests  int
	wallet          *walletInfo
	root            rootConfig
	tonLastSyncedAt int64
	stats           workerStats
	proxies         []proxyInfo
}

// newWorkerState starts from the configuration, like a freshly started
// worker-runner: enabled, coefficient from WORKER_COEFFICIENT, no proxies.
// check_proxy_hash is off: nothing here checks image or proxy hashes.
func newWorkerState(cfg workerConfig) *workerState {
	return &workerState{cfg: cfg, coefficient: cfg.Coefficient, maxActive: 60}
}

// SetForceDisabled is /request/enable and /request/disable. Not persisted.
func (s *workerState) SetForceDisabled(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forceDisabled = v
}

// SetCoefficient is /request/change_coefficient. Not persisted: a restart
// restores WORKER_COEFFICIENT.
func (s *workerState) SetCoefficient(k int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coefficient = k
}

// payoutResult is the official reply text of /request/payout.
func (s *workerState) payoutResult(proxy string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.proxies {
		if p.ProxySCAddress != proxy {
			continue
		}
		switch {
		case p.RunningRequest:
			return "request is already running"
		case !p.SCInited:
			return "proxy is not inited"
		}
		// The official worker now sends the payout from its wallet and
		// answers "request sent"; the stand-in has no wallet yet, so it
		// says so rather than claim a transfer. (Unreachable until the
		// stand-in proxy registers proxies.)
		return "no payout sent: the " + standinLabel + " worker has no wallet"
	}
	return "proxy not found"
}

// statsSnapshot is an immutable copy of the state for rendering.
type statsSnapshot struct {
	Wallet          *walletInfo
	CheckProxyHash  bool
	ImageHashListed bool
	ModelListed     bool
	TonLastSyncedAt int64
	ForceDisabled   bool
	UplinkOK        bool
	GitCommit       string
	GitCommitDate   string
	Stats           [11]statRow
	LocalConfig     localConfig
	Root            rootConfig
	Proxies         []proxyInfo
	MaxActive       int
	ActiveRequests  int
}

type statRow struct {
	Name   string // key in /jsonstats
	Label  string // row name on /stats
	Values [7]float64
}

type localConfig struct {
	RootAddress    string
	OwnerAddress   string
	Model          string
	Coefficient    int32
	CheckProxyHash bool
}

// Snapshot copies the state at time now.
func (s *workerState) Snapshot(now time.Time) statsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := statsSnapshot{
		CheckProxyHash:  s.checkProxyHash,
		TonLastSyncedAt: s.tonLastSyncedAt,
		ForceDisabled:   s.forceDisabled,
		UplinkOK:        s.uplinkOK,
		GitCommit:       standinGitCommit,
		GitCommitDate:   standinLabel,
		LocalConfig: localConfig{
			RootAddress:    s.cfg.RootContractAddress,
			OwnerAddress:   s.cfg.OwnerAddress,
			Model:          s.cfg.ModelSpec(),
			Coefficient:    s.coefficient,
			CheckProxyHash: s.checkProxyHash,
		},
		Root:           s.root,
		Proxies:        append([]proxyInfo(nil), s.proxies...),
		MaxActive:      s.maxActive,
		ActiveRequests: s.activeRequests,
	}
	if s.wallet != nil {
		w := *s.wallet
		snap.Wallet = &w
	}
	// The official worker reports true whenever it does not check (§6.3).
	snap.ImageHashListed, snap.ModelListed = true, true
	if s.checkProxyHash {
		snap.ImageHashListed = contains(s.root.WorkerHashes, fakeTDXImageHashHex)
		snap.ModelListed = contains(s.root.ModelHashes, modelHash(s.cfg.ModelSpec()))
	}
	st := &s.stats
	rows := []struct {
		name, label string
		c           *amortCounter
	}{
		{"queries", "queries", &st.Queries},
		{"success", "success", &st.Success},
		{"failed", "failed", &st.Failed},
		{"bytes_received", "bytes received", &st.BytesReceived},
		{"bytes_sent", "bytes sent", &st.BytesSent},
		{"time", "time", &st.Time},
		{"total_adjusted_tokens_used", "total adjusted tokens", &st.TotalAdjusted},
		{"prompt_adjusted_tokens_used", "prompt adjusted tokens", &st.PromptAdjusted},
		{"cached_adjusted_tokens_used", "cached adjusted tokens", &st.CachedAdjusted},
		{"completion_adjusted_tokens_used", "completion adjusted tokens", &st.CompletionAdjusted},
		{"reasoning_adjusted_tokens_used", "reasoning adjusted tokens", &st.ReasoningAdjusted},
	}
	for i, r := range rows {
		snap.Stats[i] = statRow{Name: r.name, Label: r.label, Values: r.c.Values(now)}
	}
	return snap
}

// modelHash is how the root contract lists a model: SHA-256 of the full
// model string, uppercase hex.
func modelHash(model string) string {
	sum := sha256.Sum256([]byte(model))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
