package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Stats is the worker's /jsonstats document (§6.3). Amounts in nanoTON and
// token counts are int64, never floating point.
type Stats struct {
	Status       Status
	Counters     Counters // the "stats" object
	Wallet       *Wallet  // nil until the worker has a wallet object
	LocalConfig  LocalConfig
	RootContract RootContractConfig // "root_contract_config"
	Proxies      []ProxyInfo        // one per proxy contract registered with since start
}

// Status is the "status" object.
type Status struct {
	// WalletBalance is the cocoon wallet balance in nanoTON; −2 until the
	// first chain read. Meaningful only when HasWalletBalance.
	WalletBalance    int64
	HasWalletBalance bool // false: the key was absent (no wallet yet)
	ActualImageHash  bool // own image hash listed in the root contract (true with checks off)
	ActualModel      bool // SHA-256 of the model string listed (true with checks off)
	TONLastSyncedAt  int64
	Enabled          bool   // always true in the official worker; see §6.3
	GitCommit        string // 40 hex
	GitCommitDate    string // JSON "git_commit_data" (sic), git %ci format
}

// Counters is the "stats" object: AmortCounter arrays since worker start.
type Counters struct {
	Queries                  AmortCounter
	Success                  AmortCounter
	Failed                   AmortCounter // failed requests may be counted twice (§6.3)
	BytesReceived            AmortCounter
	BytesSent                AmortCounter
	Time                     AmortCounter // seconds; its rate is the average concurrency
	TotalAdjustedTokens      AmortCounter
	PromptAdjustedTokens     AmortCounter
	CachedAdjustedTokens     AmortCounter
	CompletionAdjustedTokens AmortCounter
	ReasoningAdjustedTokens  AmortCounter
}

// Wallet is the "wallet" object: the cocoon wallet the owner funds.
type Wallet struct {
	Address                string
	Balance                int64 // nanoTON
	Seqno                  uint32
	PendingTransactionsCnt int64 // queued outgoing transfers
	ActiveTransactionsCnt  int64 // in the message awaiting confirmation (≤ 4)
}

// LocalConfig is the "localconfig" object.
type LocalConfig struct {
	RootAddress    string
	OwnerAddress   string
	Model          string // name@commit:verity-hash
	Coefficient    int64  // 1000 = 1.0
	CheckProxyHash bool
}

// RootContractConfig is the "root_contract_config" object.
type RootContractConfig struct {
	OwnerAddress                    string
	ProxyHashes                     []Hash
	RegisteredProxies               []RegisteredProxy
	LastProxySeqno                  uint32
	WorkerHashes                    []Hash // allowed worker image hashes
	ModelHashes                     []Hash // SHA-256 of allowed model strings
	Version                         uint32
	StructVersion                   uint32
	ParamsVersion                   uint32
	UniqueID                        uint32
	IsTest                          bool
	PricePerToken                   int64 // nanoTON per adjusted token, client price
	WorkerFeePerToken               int64 // nanoTON per adjusted token, worker share
	PromptTokensPriceMultiplier     uint32
	CachedTokensPriceMultiplier     uint32 // printed twice by the worker
	CompletionTokensPriceMultiplier uint32
	ReasoningTokensPriceMultiplier  uint32
	ProxyDelayBeforeClose           uint32 // seconds
	ClientDelayBeforeClose          uint32 // seconds
	ProxyMinStake                   int64  // nanoTON
	ClientMinStake                  int64  // nanoTON
	ProxyCodeHash                   Hash
	WorkerCodeHash                  Hash
	ClientCodeHash                  Hash
}

// RegisteredProxy is an entry of registered_proxies.
type RegisteredProxy struct {
	Seqno             uint32
	AddressForClients string // "[ip:port]"
	AddressForWorkers string // "[ip:port]"
}

// ProxyInfo is an entry of "proxies" (§6.3, §8.3 for the tiers).
type ProxyInfo struct {
	SCInited                          bool
	ProxySCAddress                    string // the key for Client.Payout
	ProxyPublicKey                    Hash
	SCAddress                         string // this worker's contract for the proxy
	EarnedTokensCommittedToBlockchain int64  // covered by a proxy-signed payment (claimable on chain)
	EarnedTokensCommittedToProxyDB    int64  // persisted by the proxy
	EarnedTokensMaxKnown              int64  // all earned, incl. not yet committed
	CachedOutTokens                   int64  // JSON "cached_out_tokens" (sic): already paid on chain
	ExpectedCachedOutTokens           int64  // max(paid, in-flight payout)
	RunningRequest                    bool   // a payout is in flight
	ParamsVersion                     uint32
}

// Hash is a 256-bit hash or key, printed by the worker as 64 uppercase
// hex digits.
type Hash [32]byte

// ParseHash reads 64 hex digits in either case.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("hash %q: want 64 hex digits, have %d characters", describeLit(s), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("hash %q: not hex", s)
	}
	return h, nil
}

// String returns the hash as the worker prints it: uppercase hex.
func (h Hash) String() string { return strings.ToUpper(hex.EncodeToString(h[:])) }

// IsZero reports whether all bytes are zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// AmortCounter is [total, r1s, r10s, r1m, r10m, r1h, r1d] (§6.4): the
// cumulative sum since start, then exponentially decayed sums divided by
// their time constant, i.e. approximate per-second rates over the window.
type AmortCounter [7]float64

// Window selects one of the decayed rates of an AmortCounter.
type Window int

// The windows of an AmortCounter, in array order.
const (
	Window1s  Window = 1
	Window10s Window = 2
	Window1m  Window = 3
	Window10m Window = 4
	Window1h  Window = 5
	Window1d  Window = 6
)

// Duration returns the window's time constant.
func (w Window) Duration() time.Duration {
	switch w {
	case Window1s:
		return time.Second
	case Window10s:
		return 10 * time.Second
	case Window1m:
		return time.Minute
	case Window10m:
		return 10 * time.Minute
	case Window1h:
		return time.Hour
	case Window1d:
		return 24 * time.Hour
	}
	return 0
}

// Total is the cumulative sum since the worker started.
func (c AmortCounter) Total() float64 { return c[0] }

// Rate is the approximate per-second rate over w (0 for an invalid w).
func (c AmortCounter) Rate(w Window) float64 {
	if w < Window1s || w > Window1d {
		return 0
	}
	return c[w]
}

// Approx is the approximate count over the window: Rate × window length.
func (c AmortCounter) Approx(w Window) float64 { return c.Rate(w) * w.Duration().Seconds() }

// ClaimableTokens are tokens a payout can claim now (§6.3):
// max(0, committed to blockchain − expected cashed out).
func (p ProxyInfo) ClaimableTokens() int64 {
	return max(0, subSat(p.EarnedTokensCommittedToBlockchain, p.ExpectedCachedOutTokens))
}

// PendingTokens are earned but not yet claimable (§6.3):
// max known − committed to blockchain.
func (p ProxyInfo) PendingTokens() int64 {
	return subSat(p.EarnedTokensMaxKnown, p.EarnedTokensCommittedToBlockchain)
}

// subSat is a − b clamped to the int64 range.
func subSat(a, b int64) int64 {
	d := a - b
	if (a >= 0) != (b >= 0) && (d >= 0) != (a >= 0) {
		if a >= 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return d
}

// ErrAmountOverflow is returned when a token amount in nanoTON does not fit
// an int64.
var ErrAmountOverflow = errors.New("amount does not fit in int64 nanoTON")

// TokensToNanoTON converts adjusted tokens to the worker's income in
// nanoTON: tokens × worker_fee_per_token (§6.3, §8.2).
func (s Stats) TokensToNanoTON(tokens int64) (int64, error) {
	fee := s.RootContract.WorkerFeePerToken
	if tokens == 0 || fee == 0 {
		return 0, nil
	}
	r := tokens * fee
	if r/fee != tokens || (tokens == -1 && fee == math.MinInt64) || (fee == -1 && tokens == math.MinInt64) {
		return 0, fmt.Errorf("%d tokens × %d nanoTON: %w", tokens, fee, ErrAmountOverflow)
	}
	return r, nil
}

// ClaimableTokens sums ClaimableTokens over all proxies (saturating).
func (s Stats) ClaimableTokens() int64 {
	var sum int64
	for _, p := range s.Proxies {
		c := p.ClaimableTokens()
		if sum > math.MaxInt64-c {
			return math.MaxInt64
		}
		sum += c
	}
	return sum
}

// Proxy returns the entry whose ProxySCAddress is addr.
func (s Stats) Proxy(addr string) (ProxyInfo, bool) {
	for _, p := range s.Proxies {
		if p.ProxySCAddress == addr {
			return p, true
		}
	}
	return ProxyInfo{}, false
}

// ModelHash is the SHA-256 of LocalConfig.Model, the value the root
// contract must list (§2.6).
func (s Stats) ModelHash() Hash { return sha256.Sum256([]byte(s.LocalConfig.Model)) }

// ModelListed reports whether ModelHash is among RootContract.ModelHashes.
func (s Stats) ModelListed() bool { return containsHash(s.RootContract.ModelHashes, s.ModelHash()) }

// ImageListed reports whether h is among RootContract.WorkerHashes.
func (s Stats) ImageListed(h Hash) bool { return containsHash(s.RootContract.WorkerHashes, h) }

func containsHash(list []Hash, h Hash) bool {
	for _, x := range list {
		if x == h {
			return true
		}
	}
	return false
}

// Wallet thresholds of the worker's status page (§6.2, §8.5).
const (
	WalletMinNanoTON = 2_100_000_000 // below: the worker does not finish initialising
	WalletLowNanoTON = 5_000_000_000 // below: flagged "low"
	NanoTONPerTON    = 1_000_000_000
)

// WalletHealth classifies the cocoon wallet balance as the status page does.
type WalletHealth int

// Wallet balance classes.
const (
	WalletUnknown WalletHealth = iota // no wallet yet, or not read from the chain yet
	WalletTooLow                      // < 2.1 TON: the worker cannot initialise; fund the wallet
	WalletLow                         // < 5 TON
	WalletOK
)

func (w WalletHealth) String() string {
	switch w {
	case WalletTooLow:
		return "too low"
	case WalletLow:
		return "low"
	case WalletOK:
		return "ok"
	}
	return "unknown"
}

// WalletHealth classifies Status.WalletBalance.
func (s Status) WalletHealth() WalletHealth {
	switch b := s.WalletBalance; {
	case !s.HasWalletBalance || b < 0:
		return WalletUnknown
	case b < WalletMinNanoTON:
		return WalletTooLow
	case b < WalletLowNanoTON:
		return WalletLow
	}
	return WalletOK
}

// SyncState is the freshness of the worker's TON view (§6.2).
type SyncState int

// TON sync states of the status page: under 600 s synced, under 3600 s
// late, else out of sync.
const (
	Synced SyncState = iota
	SyncLate
	OutOfSync
)

func (s SyncState) String() string {
	switch s {
	case Synced:
		return "synced"
	case SyncLate:
		return "late"
	}
	return "out of sync"
}

// SyncState classifies TONLastSyncedAt against now.
func (s Status) SyncState(now time.Time) SyncState {
	age := now.Unix() - s.TONLastSyncedAt
	switch {
	case s.TONLastSyncedAt <= 0:
		return OutOfSync
	case age < 600:
		return Synced
	case age < 3600:
		return SyncLate
	}
	return OutOfSync
}
