package worker

import "time"

// Summary is a /jsonstats document reduced to what an operator reads:
// activity and, per proxy, the settlement tiers in tokens and nanoTON at
// worker_fee_per_token (§6.3, §8.3). It marshals to the JSON of
// `cocoon-provider status --stats-url`.
type Summary struct {
	Status            SummaryStatus   `json:"status"`
	Activity          SummaryActivity `json:"activity"`
	PricePerToken     int64           `json:"price_per_token"`
	WorkerFeePerToken int64           `json:"worker_fee_per_token"`
	Coefficient       int64           `json:"coefficient"`
	Model             string          `json:"model"`
	Proxies           []SummaryProxy  `json:"proxies"`
	Totals            SummaryTiers    `json:"totals"`
}

// SummaryStatus is the worker's own view of its health.
type SummaryStatus struct {
	WalletAddress   string `json:"wallet_address,omitempty"`
	WalletBalance   *int64 `json:"wallet_balance_nanoton,omitempty"`
	WalletHealth    string `json:"wallet_health"`
	ImageHashListed bool   `json:"image_hash_listed"`
	ModelListed     bool   `json:"model_listed"`
	TONSync         string `json:"ton_sync"`
	TONLastSyncedAt int64  `json:"ton_last_synced_at"`
	GitCommit       string `json:"git_commit"`
}

// SummaryActivity holds totals since the worker started and rates over
// the last minute (the AmortCounter r1m values, §6.4).
type SummaryActivity struct {
	Requests          float64 `json:"requests"`
	Success           float64 `json:"success"`
	Failed            float64 `json:"failed"`
	AdjustedTokens    float64 `json:"adjusted_tokens"`
	PromptTokens      float64 `json:"prompt_adjusted_tokens"`
	CachedTokens      float64 `json:"cached_adjusted_tokens"`
	CompletionTokens  float64 `json:"completion_adjusted_tokens"`
	ReasoningTokens   float64 `json:"reasoning_adjusted_tokens"`
	BytesReceived     float64 `json:"bytes_received"`
	BytesSent         float64 `json:"bytes_sent"`
	RequestsPerSecond float64 `json:"requests_per_s_1m"`
	TokensPerSecond   float64 `json:"adjusted_tokens_per_s_1m"`
	FailedPerSecond   float64 `json:"failed_per_s_1m"`
	AvgConcurrency    float64 `json:"avg_concurrency_1m"`
}

// SummaryTiers are the settlement tiers of §8.3 in tokens and nanoTON.
type SummaryTiers struct {
	EarnedTokens                 int64 `json:"earned_tokens"`
	CommittedToProxyDBTokens     int64 `json:"committed_to_proxy_db_tokens"`
	CommittedToBlockchainTokens  int64 `json:"committed_to_blockchain_tokens"`
	ClaimableTokens              int64 `json:"claimable_tokens"`
	PaidTokens                   int64 `json:"paid_tokens"`
	EarnedNanoTON                int64 `json:"earned_nanoton"`
	CommittedToProxyDBNanoTON    int64 `json:"committed_to_proxy_db_nanoton"`
	CommittedToBlockchainNanoTON int64 `json:"committed_to_blockchain_nanoton"`
	ClaimableNanoTON             int64 `json:"claimable_nanoton"`
	PaidNanoTON                  int64 `json:"paid_nanoton"`
	// Overflow is set when a nanoTON value did not fit in int64 (then 0).
	Overflow bool `json:"overflow,omitempty"`
}

// SummaryProxy is one proxy relationship.
type SummaryProxy struct {
	ProxySCAddress string `json:"proxy_sc_address"`
	SCAddress      string `json:"sc_address"`
	SCInited       bool   `json:"sc_inited"`
	RunningRequest bool   `json:"running_request"`
	ParamsVersion  uint32 `json:"params_version"`
	SummaryTiers
}

// Summarize derives the Summary of s as read at now.
func Summarize(s Stats, now time.Time) Summary {
	c := s.Counters
	out := Summary{
		Status: SummaryStatus{
			WalletHealth:    s.Status.WalletHealth().String(),
			ImageHashListed: s.Status.ActualImageHash,
			ModelListed:     s.Status.ActualModel,
			TONSync:         s.Status.SyncState(now).String(),
			TONLastSyncedAt: s.Status.TONLastSyncedAt,
			GitCommit:       s.Status.GitCommit,
		},
		Activity: SummaryActivity{
			Requests: c.Queries.Total(), Success: c.Success.Total(), Failed: c.Failed.Total(),
			AdjustedTokens: c.TotalAdjustedTokens.Total(), PromptTokens: c.PromptAdjustedTokens.Total(),
			CachedTokens: c.CachedAdjustedTokens.Total(), CompletionTokens: c.CompletionAdjustedTokens.Total(),
			ReasoningTokens: c.ReasoningAdjustedTokens.Total(),
			BytesReceived:   c.BytesReceived.Total(), BytesSent: c.BytesSent.Total(),
			RequestsPerSecond: c.Queries.Rate(Window1m), TokensPerSecond: c.TotalAdjustedTokens.Rate(Window1m),
			FailedPerSecond: c.Failed.Rate(Window1m), AvgConcurrency: c.Time.Rate(Window1m),
		},
		PricePerToken:     s.RootContract.PricePerToken,
		WorkerFeePerToken: s.RootContract.WorkerFeePerToken,
		Coefficient:       s.LocalConfig.Coefficient,
		Model:             s.LocalConfig.Model,
		Proxies:           []SummaryProxy{},
	}
	if s.Wallet != nil {
		out.Status.WalletAddress = s.Wallet.Address
	}
	if s.Status.HasWalletBalance {
		b := s.Status.WalletBalance
		out.Status.WalletBalance = &b
	}
	for _, p := range s.Proxies {
		sp := SummaryProxy{ProxySCAddress: p.ProxySCAddress, SCAddress: p.SCAddress, SCInited: p.SCInited,
			RunningRequest: p.RunningRequest, ParamsVersion: p.ParamsVersion}
		sp.SummaryTiers = s.tiers(max(0, p.EarnedTokensMaxKnown), max(0, p.EarnedTokensCommittedToProxyDB),
			max(0, p.EarnedTokensCommittedToBlockchain), p.ClaimableTokens(), max(0, p.CachedOutTokens))
		out.Proxies = append(out.Proxies, sp)
		t := &out.Totals
		t.EarnedTokens = addTokensSat(t.EarnedTokens, sp.EarnedTokens)
		t.CommittedToProxyDBTokens = addTokensSat(t.CommittedToProxyDBTokens, sp.CommittedToProxyDBTokens)
		t.CommittedToBlockchainTokens = addTokensSat(t.CommittedToBlockchainTokens, sp.CommittedToBlockchainTokens)
		t.ClaimableTokens = addTokensSat(t.ClaimableTokens, sp.ClaimableTokens)
		t.PaidTokens = addTokensSat(t.PaidTokens, sp.PaidTokens)
	}
	t := out.Totals
	out.Totals = s.tiers(t.EarnedTokens, t.CommittedToProxyDBTokens, t.CommittedToBlockchainTokens, t.ClaimableTokens, t.PaidTokens)
	return out
}

// tiers fills the nanoTON values of a set of token counts.
func (s Stats) tiers(earned, db, chain, claimable, paid int64) SummaryTiers {
	t := SummaryTiers{EarnedTokens: earned, CommittedToProxyDBTokens: db, CommittedToBlockchainTokens: chain,
		ClaimableTokens: claimable, PaidTokens: paid}
	conv := func(tokens int64, dst *int64) {
		v, err := s.TokensToNanoTON(tokens)
		if err != nil {
			t.Overflow = true
			return
		}
		*dst = v
	}
	conv(earned, &t.EarnedNanoTON)
	conv(db, &t.CommittedToProxyDBNanoTON)
	conv(chain, &t.CommittedToBlockchainNanoTON)
	conv(claimable, &t.ClaimableNanoTON)
	conv(paid, &t.PaidNanoTON)
	return t
}

// addTokensSat is a + b for non-negative values, saturating at MaxInt64.
func addTokensSat(a, b int64) int64 {
	if a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}
