package main

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/devmode/standin"
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

// proxyConnection is one entry of the PROXY CONNECTIONS table of /stats:
// a proxy address from the root file and how the connection to it stands.
type proxyConnection struct {
	Addr     string // host:port as dialled
	Ready    bool   // handshake done, requests are served
	ProxySC  string // proxy_sc_address of the relationship, once welcomed
	Failures int    // failed attempts since the last successful handshake
}

// workerState is the stand-in worker-runner's state: what /stats and
// /jsonstats show, what the /request endpoints change, and the live proxy
// sessions the job flow (job_flow.go) registers here. One lock guards it
// all; nothing here ever holds job content (prompts or answers).
type workerState struct {
	mu              sync.Mutex
	log             *slog.Logger
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
	proxies         []worker.ProxyInfo // since start, by proxy_sc_address; kept after a disconnect
	conns           []proxyConnection  // one per root-file proxy address, in its order
	sessions        map[string]*proxySession
	// payoutUnconfirmed marks relationships whose RunningRequest was set
	// here when a payout was sent, with no Payment from the proxy since.
	payoutUnconfirmed map[string]bool

	// paramsMu orders parameter changes and their announcements, so
	// proxies hear a quick disable-enable in the order it happened.
	paramsMu sync.Mutex
}

// defaultMaxActive is max_active_requests of the shipped worker config.
const defaultMaxActive = 60

// newWorkerState starts from the configuration, like a freshly started
// worker-runner: enabled, coefficient from WORKER_COEFFICIENT, no proxies.
// check_proxy_hash is off: the stand-in cannot check its own image hash
// (fake TDX), although it does check the proxies' hashes against the root
// file's proxy_hashes when that list is set.
func newWorkerState(cfg workerConfig) *workerState {
	return &workerState{
		log:         slog.New(slog.DiscardHandler),
		cfg:         cfg,
		coefficient: cfg.Coefficient,
		maxActive:   defaultMaxActive,
		sessions:    map[string]*proxySession{},

		payoutUnconfirmed: map[string]bool{},
	}
}

// SetForceDisabled is /request/enable and /request/disable: it sets the
// flag and tells every connected proxy at once (worker.enabledDisabled).
// From the moment it returns, requests that still arrive are answered
// "worker disabled". Not persisted.
func (s *workerState) SetForceDisabled(v bool) {
	s.paramsMu.Lock()
	defer s.paramsMu.Unlock()
	s.mu.Lock()
	s.forceDisabled = v
	s.mu.Unlock()
	s.announceParams()
}

// SetCoefficient is /request/change_coefficient, announced to every
// connected proxy (worker.newCoefficient). Not persisted: a restart
// restores WORKER_COEFFICIENT.
func (s *workerState) SetCoefficient(k int32) {
	s.paramsMu.Lock()
	defer s.paramsMu.Unlock()
	s.mu.Lock()
	s.coefficient = k
	s.mu.Unlock()
	s.announceParams()
}

// params are the worker's current offer as proxies see it. The stand-in's
// model backend (package synth) is in-process and always reachable, so
// "disabled" is the force-disabled flag alone.
func (s *workerState) params() standin.Params {
	s.mu.Lock()
	defer s.mu.Unlock()
	return standin.Params{Enabled: !s.forceDisabled, Coefficient: int64(s.coefficient)}
}

// announceParams sends the current params to every connected proxy.
// Callers hold paramsMu. A proxy that cannot be written to is dropped by
// its session and learns the params from the next Hello.
func (s *workerState) announceParams() {
	p := s.params()
	s.mu.Lock()
	sessions := make([]*proxySession, 0, len(s.sessions))
	for _, ps := range s.sessions {
		sessions = append(sessions, ps)
	}
	s.mu.Unlock()
	// In parallel, so one stuck proxy (bounded by the write timeout) does
	// not hold up the others.
	var wg sync.WaitGroup
	for _, ps := range sessions {
		wg.Go(func() {
			if err := ps.send(&standin.Message{Type: standin.TypeParams, Params: &p}); err != nil {
				s.log.Warn("could not tell a proxy about new params; it gets them on reconnect",
					"proxy", ps.addr, "err", err)
			}
		})
	}
	wg.Wait()
}

// setRoot installs the stand-in root configuration, read at time at. A
// root that lists proxy hashes turns the checks on, as in production:
// actual_image_hash and actual_model then report the real comparison.
func (s *workerState) setRoot(root worker.RootContractConfig, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root = root
	s.tonLastSyncedAt = at.Unix()
	s.checkProxyHash = len(root.ProxyHashes) > 0
}

// rootConfig returns the current root configuration; its slices are
// shared and must not be changed.
func (s *workerState) rootConfig() worker.RootContractConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.root
}

// hello is what the worker tells a proxy when it connects.
func (s *workerState) hello(walletAddr string) standin.Hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	return standin.Hello{
		OwnerAddress:  s.cfg.OwnerAddress,
		WalletAddress: walletAddr,
		Model:         s.cfg.ModelSpec(),
		Coefficient:   int64(s.coefficient),
		Enabled:       !s.forceDisabled,
		MaxActive:     s.maxActive,
		ParamsVersion: s.root.ParamsVersion,
	}
}

// setConnections lists the proxy addresses the worker connects to.
func (s *workerState) setConnections(addrs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = make([]proxyConnection, len(addrs))
	for i, a := range addrs {
		s.conns[i] = proxyConnection{Addr: a}
	}
}

// connectFailed records a failed connection attempt to proxy i.
func (s *workerState) connectFailed(i, failures int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.conns) {
		s.conns[i].Ready, s.conns[i].Failures = false, failures
	}
}

// sessionUp registers a welcomed session of proxy i: the relationship's
// proxies entry is created or refreshed from the Welcome, and payouts and
// params go to this session from now on.
func (s *workerState) sessionUp(i int, ps *proxySession, w standin.Welcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.conns) {
		s.conns[i] = proxyConnection{Addr: s.conns[i].Addr, Ready: true, ProxySC: w.ProxySCAddress}
	}
	p := s.proxyLocked(w.ProxySCAddress)
	p.ProxyPublicKey = w.ProxyPublicKey
	p.SCAddress = w.SCAddress
	applyPayment(p, w.Payment)
	delete(s.payoutUnconfirmed, w.ProxySCAddress)
	s.sessions[w.ProxySCAddress] = ps
}

// sessionDown unregisters a session that ended. Its proxies entry stays
// (the official list is "since start").
func (s *workerState) sessionDown(i int, ps *proxySession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.conns) {
		s.conns[i].Ready = false
	}
	if s.sessions[ps.proxySC] == ps {
		delete(s.sessions, ps.proxySC)
	}
}

// proxyLocked returns the proxies entry for addr, appending one if there
// is none. Callers hold mu; the pointer is valid until mu is released.
func (s *workerState) proxyLocked(addr string) *worker.ProxyInfo {
	for i := range s.proxies {
		if s.proxies[i].ProxySCAddress == addr {
			return &s.proxies[i]
		}
	}
	s.proxies = append(s.proxies, worker.ProxyInfo{ProxySCAddress: addr})
	return &s.proxies[len(s.proxies)-1]
}

// applyPayment copies a relationship's settlement counters (§8.3) into
// its proxies entry.
func applyPayment(p *worker.ProxyInfo, pm standin.Payment) {
	p.SCInited = pm.SCInited
	p.EarnedTokensCommittedToBlockchain = pm.CommittedToBlockchain
	p.EarnedTokensCommittedToProxyDB = pm.CommittedToDB
	p.EarnedTokensMaxKnown = pm.MaxKnown
	p.CachedOutTokens = pm.Paid
	p.ExpectedCachedOutTokens = pm.ExpectedPaid
	p.RunningRequest = pm.Running
	p.ParamsVersion = pm.ParamsVersion
}

// payment applies a TypePayment of the relationship with proxy addr.
func (s *workerState) payment(addr string, pm standin.Payment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	applyPayment(s.proxyLocked(addr), pm)
	delete(s.payoutUnconfirmed, addr)
}

// payoutFinished applies a PayoutResult. The proxy's Payments are
// authoritative (it sends one before the result); only when none came
// since the payout was sent does the result itself end the payout here.
func (s *workerState) payoutFinished(addr string, r standin.PayoutResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.payoutUnconfirmed[addr] {
		return
	}
	delete(s.payoutUnconfirmed, addr)
	p := s.proxyLocked(addr)
	p.RunningRequest = false
	if r.Error == "" {
		p.CachedOutTokens = max(p.CachedOutTokens, r.Tokens)
		p.ExpectedCachedOutTokens = max(p.ExpectedCachedOutTokens, p.CachedOutTokens)
	} else {
		p.ExpectedCachedOutTokens = p.CachedOutTokens
	}
}

// setWallet applies a TypeWallet: the cocoon wallet as the chain shows
// it. The stand-in queues no transfers of its own, so the pending and
// active counts are 0.
func (s *workerState) setWallet(w standin.WalletInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wallet = &worker.Wallet{Address: w.Address, Balance: w.Balance, Seqno: w.Seqno}
}

// Payout replies, word for word the official worker's (§6.2).
const (
	payoutNotFound  = "proxy not found"
	payoutRunning   = "request is already running"
	payoutNotInited = "proxy is not inited"
	payoutClosed    = "proxy is closed"
	payoutSent      = "request sent"
)

// RequestPayout is /request/payout and the automatic payout: it asks the
// proxy to deliver the signed payment for the relationship's current
// committed-to-blockchain count to the worker contract, and answers with
// the official reply text. The outcome arrives later as a PayoutResult.
func (s *workerState) RequestPayout(proxy, why string) string {
	s.mu.Lock()
	i := slices.IndexFunc(s.proxies, func(p worker.ProxyInfo) bool { return p.ProxySCAddress == proxy })
	if i < 0 {
		s.mu.Unlock()
		return payoutNotFound
	}
	p := &s.proxies[i]
	ps := s.sessions[proxy]
	switch {
	case p.RunningRequest:
		s.mu.Unlock()
		return payoutRunning
	case !p.SCInited:
		s.mu.Unlock()
		return payoutNotInited
	case ps == nil:
		s.mu.Unlock()
		return payoutClosed
	}
	tokens, claimable := p.EarnedTokensCommittedToBlockchain, p.ClaimableTokens()
	p.RunningRequest = true
	p.ExpectedCachedOutTokens = max(p.CachedOutTokens, tokens)
	s.payoutUnconfirmed[proxy] = true
	s.mu.Unlock()

	err := ps.send(&standin.Message{Type: standin.TypePayout, Payout: &standin.Payout{Tokens: tokens}})
	if err != nil {
		s.mu.Lock()
		if s.payoutUnconfirmed[proxy] {
			delete(s.payoutUnconfirmed, proxy)
			p := s.proxyLocked(proxy)
			p.RunningRequest, p.ExpectedCachedOutTokens = false, p.CachedOutTokens
		}
		s.mu.Unlock()
		s.log.Warn("payout not sent: the proxy connection failed", "proxy_sc", proxy, "why", why, "err", err)
		return payoutClosed
	}
	s.log.Info("payout requested", "proxy_sc", proxy, "why", why, "tokens", tokens, "claimable_tokens", claimable)
	return payoutSent
}

// autoPayoutCandidates are the relationships the automatic payout
// should pay out now: connected, inited, no payout in flight, and at
// least threshold (and more than 0) tokens claimable.
func (s *workerState) autoPayoutCandidates(threshold int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.proxies {
		c := p.ClaimableTokens()
		if s.sessions[p.ProxySCAddress] != nil && p.SCInited && !p.RunningRequest && c > 0 && c >= threshold {
			out = append(out, p.ProxySCAddress)
		}
	}
	return out
}

// Request admission: why a request is refused. The texts go to the
// proxy in Done.Error.
const (
	refuseDisabled = "worker disabled"
	refuseBusy     = "too many requests"
)

// admit counts a request that arrived with promptBytes of payload and,
// unless the worker is force-disabled or at max_active_requests, takes an
// active slot for it. It returns "" when admitted, else the refusal.
func (s *workerState) admit(now time.Time, promptBytes int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Queries.Add(now, 1)
	s.stats.BytesReceived.Add(now, float64(promptBytes))
	switch {
	case s.forceDisabled:
		return refuseDisabled
	case s.activeRequests >= s.maxActive:
		return refuseBusy
	}
	s.activeRequests++
	return ""
}

// requestOutcome is what a finished request adds to the counters: sizes,
// duration and the adjusted tokens reported to the proxy. Never content.
type requestOutcome struct {
	admitted  bool // held an active slot
	ok        bool // answered in full and the Done delivered
	bytesSent int
	duration  time.Duration
	adjusted  worker.Adjusted // as reported in Done (zero if Done was not delivered)
}

// finish counts a request's end (§6.3): success or failed (once; the
// official worker may count a failed request twice, the stand-in does
// not), answer bytes, duration and adjusted tokens, and frees its slot.
func (s *workerState) finish(now time.Time, o requestOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.admitted {
		s.activeRequests--
	}
	if o.ok {
		s.stats.Success.Add(now, 1)
	} else {
		s.stats.Failed.Add(now, 1)
	}
	s.stats.BytesSent.Add(now, float64(o.bytesSent))
	s.stats.Time.Add(now, o.duration.Seconds())
	a := o.adjusted
	s.stats.TotalAdjustedTokens.Add(now, float64(a.Total))
	s.stats.PromptAdjustedTokens.Add(now, float64(a.Prompt))
	s.stats.CachedAdjustedTokens.Add(now, float64(a.Cached))
	s.stats.CompletionAdjustedTokens.Add(now, float64(a.Completion))
	s.stats.ReasoningAdjustedTokens.Add(now, float64(a.Reasoning))
}

// multipliers are the root's token price multipliers.
func (s *workerState) multipliers() worker.Multipliers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.root.Multipliers()
}

// setUplink records whether the model backend is reachable.
func (s *workerState) setUplink(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uplinkOK = ok
}

// statsSnapshot is an immutable copy of the state for rendering: the
// /jsonstats document, plus what only the /stats page shows.
type statsSnapshot struct {
	Stats          worker.Stats
	ForceDisabled  bool
	UplinkOK       bool
	MaxActive      int
	ActiveRequests int
	Connections    []proxyConnection
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
		Connections:    slices.Clone(s.conns),
	}
}
