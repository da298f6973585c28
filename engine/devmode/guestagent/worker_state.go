package main

import (
	"slices"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/worker"
)

// fakeTDXImage is fakeTDXImageHashHex as a worker.Hash, for the root
// contract's worker_hashes check.
var fakeTDXImage = func() worker.Hash {
	h, err := worker.ParseHash(fakeTDXImageHashHex)
	if err != nil {
		panic(err)
	}
	return h
}()

// workerStats are the live AmortCounters behind /jsonstats "stats", one
// per worker.Counters field.
type workerStats struct {
	Queries, Success, Failed                       amortCounter
	BytesReceived, BytesSent, Time                 amortCounter
	TotalAdjustedTokens, PromptAdjustedTokens      amortCounter
	CachedAdjustedTokens, CompletionAdjustedTokens amortCounter
	ReasoningAdjustedTokens                        amortCounter
}

// values reads every counter at time now.
func (st *workerStats) values(now time.Time) worker.Counters {
	return worker.Counters{
		Queries:                  st.Queries.Values(now),
		Success:                  st.Success.Values(now),
		Failed:                   st.Failed.Values(now),
		BytesReceived:            st.BytesReceived.Values(now),
		BytesSent:                st.BytesSent.Values(now),
		Time:                     st.Time.Values(now),
		TotalAdjustedTokens:      st.TotalAdjustedTokens.Values(now),
		PromptAdjustedTokens:     st.PromptAdjustedTokens.Values(now),
		CachedAdjustedTokens:     st.CachedAdjustedTokens.Values(now),
		CompletionAdjustedTokens: st.CompletionAdjustedTokens.Values(now),
		ReasoningAdjustedTokens:  st.ReasoningAdjustedTokens.Values(now),
	}
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
	wallet          *worker.Wallet // nil: no wallet yet, as the official worker before its wallet object exists
	root            worker.RootContractConfig
	tonLastSyncedAt int64
	stats           workerStats
	proxies         []worker.ProxyInfo
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

// statsSnapshot is an immutable copy of the state for rendering: the
// /jsonstats document, plus what only the /stats page shows.
type statsSnapshot struct {
	Stats          worker.Stats
	ForceDisabled  bool
	UplinkOK       bool
	MaxActive      int
	ActiveRequests int
}

// Snapshot copies the state at time now.
func (s *workerState) Snapshot(now time.Time) statsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := s.root
	root.ProxyHashes = slices.Clone(root.ProxyHashes)
	root.RegisteredProxies = slices.Clone(root.RegisteredProxies)
	root.WorkerHashes = slices.Clone(root.WorkerHashes)
	root.ModelHashes = slices.Clone(root.ModelHashes)
	st := worker.Stats{
		Status: worker.Status{
			TONLastSyncedAt: s.tonLastSyncedAt,
			// Always true in the official worker, which shows a disable
			// only on /stats (§6.3).
			Enabled:       true,
			GitCommit:     standinGitCommit,
			GitCommitDate: standinLabel,
		},
		Counters: s.stats.values(now),
		LocalConfig: worker.LocalConfig{
			RootAddress:    s.cfg.RootContractAddress,
			OwnerAddress:   s.cfg.OwnerAddress,
			Model:          s.cfg.ModelSpec(),
			Coefficient:    int64(s.coefficient),
			CheckProxyHash: s.checkProxyHash,
		},
		RootContract: root,
		Proxies:      slices.Clone(s.proxies),
	}
	if s.wallet != nil {
		w := *s.wallet
		st.Wallet = &w
		st.Status.WalletBalance, st.Status.HasWalletBalance = w.Balance, true
	}
	// The official worker reports true whenever it does not check (§6.3).
	st.Status.ActualImageHash, st.Status.ActualModel = true, true
	if s.checkProxyHash {
		st.Status.ActualImageHash = st.ImageListed(fakeTDXImage)
		st.Status.ActualModel = st.ModelListed()
	}
	return statsSnapshot{
		Stats:          st,
		ForceDisabled:  s.forceDisabled,
		UplinkOK:       s.uplinkOK,
		MaxActive:      s.maxActive,
		ActiveRequests: s.activeRequests,
	}
}
