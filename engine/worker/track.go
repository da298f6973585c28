package worker

import (
	"math"
	"strconv"
	"time"
)

// Activity is what happened between two successive /jsonstats reads: the
// deltas of the cumulative totals (index 0 of the AmortCounter arrays,
// §6.4) over Interval, ending at Time. Every value is finite and >= 0.
type Activity struct {
	Time     time.Time
	Interval time.Duration // > 0
	// Deltas of stats.queries, success, failed, bytes_received,
	// bytes_sent and time (seconds the requests ran, summed).
	Queries, Success, Failed, BytesIn, BytesOut, BusySeconds float64
	// Deltas of the adjusted token counters (§8.1).
	TokensTotal, TokensPrompt, TokensCached, TokensCompletion, TokensReasoning float64
	// Restarted says the worker restarted since the previous read (its
	// counters started again from zero); the deltas are then its totals.
	Restarted bool
}

// perSecond returns v per second of the interval: 0 for an empty
// interval, never NaN or ±Inf.
func (a Activity) perSecond(v float64) float64 {
	s := a.Interval.Seconds()
	if s <= 0 {
		return 0
	}
	return finiteOr0(v / s)
}

// RequestsPerSecond is the rate of new requests over the interval.
func (a Activity) RequestsPerSecond() float64 { return a.perSecond(a.Queries) }

// TokensPerSecond is the rate of adjusted tokens over the interval.
func (a Activity) TokensPerSecond() float64 { return a.perSecond(a.TokensTotal) }

// AvgConcurrency is the average number of requests running at once over
// the interval: busy seconds per second.
func (a Activity) AvgConcurrency() float64 { return a.perSecond(a.BusySeconds) }

// SuccessRate is the share of the requests that finished in the interval
// that succeeded: Success / (Success + Failed), in [0, 1]. It is 1 when no
// request finished (nothing failed). The worker may count a failed request
// twice (§6.3), so the rate errs low.
func (a Activity) SuccessRate() float64 {
	done := a.Success + a.Failed
	if !(done > 0) {
		return 1
	}
	return min(1, max(0, finiteOr0(a.Success/done)))
}

// finiteOr0 returns v, or 0 when v is NaN or ±Inf.
func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Settlement is one proxy relationship's cumulative settlement counters
// from a /jsonstats document (§6.3, §8.3), in adjusted tokens, each >= 0.
type Settlement struct {
	Proxy string // proxy_sc_address
	// Relationship is the worker contract the counters belong to:
	// sc_address + "@" + params_version. The proxy keeps the counters per
	// relationship, so they are cumulative per Relationship.
	Relationship string
	FeePerToken  int64 // worker_fee_per_token of the document, nanoTON
	Earned       int64 // earned_tokens_max_known
	Committed    int64 // earned_tokens_committed_to_proxy_db
	Claimable    int64 // earned_tokens_committed_to_blockchain: claimable on chain, paid or not
	Paid         int64 // cached_out_tokens: paid out on chain
	// ClaimableNow is ProxyInfo.ClaimableTokens, of the clamped counters:
	// what a payout would claim now.
	ClaimableNow int64
}

// Settlements returns the settlement counters of st's proxies, in document
// order. Proxies without a proxy_sc_address are skipped; negative counters
// and a negative price count as 0.
func Settlements(st Stats) []Settlement {
	var out []Settlement
	fee := max(0, st.RootContract.WorkerFeePerToken)
	for _, p := range st.Proxies {
		if p.ProxySCAddress == "" {
			continue
		}
		p.EarnedTokensCommittedToBlockchain = max(0, p.EarnedTokensCommittedToBlockchain)
		p.ExpectedCachedOutTokens = max(0, p.ExpectedCachedOutTokens)
		out = append(out, Settlement{
			Proxy:        p.ProxySCAddress,
			Relationship: p.SCAddress + "@" + strconv.FormatUint(uint64(p.ParamsVersion), 10),
			FeePerToken:  fee,
			Earned:       max(0, p.EarnedTokensMaxKnown),
			Committed:    max(0, p.EarnedTokensCommittedToProxyDB),
			Claimable:    p.EarnedTokensCommittedToBlockchain,
			Paid:         max(0, p.CachedOutTokens),
			ClaimableNow: p.ClaimableTokens(),
		})
	}
	return out
}

// trackedTotals is the number of cumulative totals the Tracker follows.
const trackedTotals = 11

// trackedTotalsOf returns the cumulative totals of c in Activity field
// order.
func trackedTotalsOf(c Counters) [trackedTotals]float64 {
	return [trackedTotals]float64{
		c.Queries.Total(), c.Success.Total(), c.Failed.Total(), c.BytesReceived.Total(), c.BytesSent.Total(), c.Time.Total(),
		c.TotalAdjustedTokens.Total(), c.PromptAdjustedTokens.Total(), c.CachedAdjustedTokens.Total(),
		c.CompletionAdjustedTokens.Total(), c.ReasoningAdjustedTokens.Total(),
	}
}

// Tracker turns successive /jsonstats documents of one worker into
// Activity and Settlements. Its zero value is ready to use; it is not
// safe for concurrent use.
type Tracker struct {
	have  bool                   // a baseline exists
	at    time.Time              // when the baseline was read
	prev  [trackedTotals]float64 // baseline totals
	known [trackedTotals]bool    // whether each baseline total was a number
}

// Observe takes a document st read at now and returns the activity since
// the previous one and the settlement counters of st (Settlements).
//
// ok is false, and act zero, when there is nothing to compare with: on the
// first call, after Reset, and when now is not after the previous read
// (a clock that went backwards or stood still); Observe then takes st as
// the new baseline, so the next call measures from it.
//
// A restart is detected when any cumulative total (queries, success,
// failed, bytes, time, tokens) went backwards: the worker process started
// again and its counters with it (they are not persisted, §6.3). The
// activity then counts the new totals from zero, the work the restarted
// worker did since it started, and Restarted is true. Deltas are never
// negative.
//
// A total that is NaN, ±Inf or negative (the parser lets the worker's
// nan/inf through) is not trusted: its delta is 0 and the previous
// baseline value is kept for it, so one bad read neither counts the whole
// total again later nor looks like a restart. A total whose baseline was
// bad counts 0 on its first good read, which becomes its baseline. act
// never holds NaN, ±Inf or negative values.
func (t *Tracker) Observe(now time.Time, st Stats) (act Activity, ok bool, settlements []Settlement) {
	settlements = Settlements(st)
	cur := trackedTotalsOf(st.Counters)
	var valid [trackedTotals]bool
	for i, v := range cur {
		valid[i] = !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0
	}
	if !t.have || !now.After(t.at) {
		t.rebase(now, cur, valid)
		return Activity{}, false, settlements
	}

	restarted := false
	for i := range cur {
		if valid[i] && t.known[i] && cur[i] < t.prev[i] {
			restarted = true
			break
		}
	}
	var d [trackedTotals]float64
	for i := range cur {
		switch {
		case !valid[i]:
			// Count nothing. Keep the baseline, unless the worker
			// restarted: then it belongs to the old process, and
			// comparing the next good value with it would detect the
			// restart a second time.
			if restarted {
				t.prev[i], t.known[i] = 0, false
			}
			continue
		case restarted:
			d[i] = cur[i]
		case t.known[i]:
			d[i] = cur[i] - t.prev[i] // >= 0: no restart
		}
		// A total seen for the first time (the previous read was bad)
		// becomes the baseline; its delta is unknown, so 0.
		t.prev[i], t.known[i] = cur[i], true
	}
	act = Activity{
		Time: now, Interval: now.Sub(t.at), Restarted: restarted,
		Queries: d[0], Success: d[1], Failed: d[2], BytesIn: d[3], BytesOut: d[4], BusySeconds: d[5],
		TokensTotal: d[6], TokensPrompt: d[7], TokensCached: d[8], TokensCompletion: d[9], TokensReasoning: d[10],
	}
	t.at = now
	return act, true, settlements
}

// rebase makes cur, read at now, the baseline.
func (t *Tracker) rebase(now time.Time, cur [trackedTotals]float64, valid [trackedTotals]bool) {
	t.have, t.at = true, now
	for i := range cur {
		if valid[i] {
			t.prev[i], t.known[i] = cur[i], true
		} else {
			t.prev[i], t.known[i] = 0, false
		}
	}
}

// Reset forgets the baseline, e.g. after the worker was unreachable for
// long: the next Observe starts afresh and returns ok == false.
func (t *Tracker) Reset() { *t = Tracker{} }
