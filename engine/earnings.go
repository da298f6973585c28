package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cocoon-provider/cocoon-provider/engine/store"
	"github.com/cocoon-provider/cocoon-provider/engine/worker"
	"github.com/cocoon-provider/cocoon-provider/wallet"
)

// Earnings are the ledger totals the app shows, in nanoTON per stage
// (store.Stages). Each stage total is cumulative: how much ever reached
// that stage in the period. ClaimableNow is what a payout would claim now.
type Earnings struct {
	Today, Week, Month, All map[string]int64
	// ClaimableNow is Σ over the workers' proxies of the claimable tokens
	// (§6.3) × worker_fee_per_token, from the last /jsonstats reads.
	ClaimableNow int64
	Updated      time.Time
	// Mismatch says how the paid-out stage and the payouts seen arriving
	// on the chain differ, when they have differed for a while.
	Mismatch string
}

// Periods of the earnings totals: today is since local midnight.
func earningsPeriods(now time.Time) (today, week, month time.Time) {
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, now.Location()), now.Add(-7 * 24 * time.Hour), now.Add(-30 * 24 * time.Hour)
}

// ReadEarnings reads the totals from st: one query per period.
func ReadEarnings(ctx context.Context, st *store.Store, now time.Time) (Earnings, error) {
	today, week, month := earningsPeriods(now)
	e := Earnings{Updated: now}
	var err error
	if e.Today, err = st.LedgerTotalsSince(ctx, today); err != nil {
		return e, err
	}
	if e.Week, err = st.LedgerTotalsSince(ctx, week); err != nil {
		return e, err
	}
	if e.Month, err = st.LedgerTotalsSince(ctx, month); err != nil {
		return e, err
	}
	if e.All, err = st.LedgerTotals(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// monitor turns one worker's /jsonstats reads into activity samples and
// settlement progress in the store. It belongs to one poller goroutine.
type monitor struct {
	// mu serialises observe: the poller and a final read at stop.
	mu       sync.Mutex
	instance int64
	tracker  worker.Tracker
	lastErr  string
	// settled is when settlement progress was last written; it is written
	// at most every settleEvery (each rise is a ledger row per stage).
	settled     time.Time
	settleEvery time.Duration
	// pauseKnown says whether the worker's enabled state is known to
	// match pauseApplied (a restarted worker comes back enabled).
	pauseKnown   bool
	pauseApplied bool
	// trust is the last trust verdict; trustRoot the allow-lists it saw.
	trust     *Trust
	trustRoot string
}

// observe records what changed since the previous read of the same worker
// and returns the activity between the two (nil for the first read).
func (s *Service) observe(ctx context.Context, m *monitor, now time.Time, st worker.Stats, force bool) *worker.Activity {
	m.mu.Lock()
	defer m.mu.Unlock()
	act, ok, settlements := m.tracker.Observe(now, st)
	var claimable int64
	for _, se := range settlements {
		if v, err := st.TokensToNanoTON(se.ClaimableNow); err == nil {
			claimable += v
		}
	}
	s.setClaimable(m.instance, claimable)
	if !force && now.Sub(m.settled) < m.settleEvery {
		settlements = nil // recorded at the next settle time
	}
	db := s.currentStore()
	if db == nil {
		if ok {
			return &act
		}
		return nil
	}
	var werr error
	if ok {
		if act.Restarted {
			s.recordEventTo(db, "worker.restart", "the worker's counters restarted from zero (the worker process restarted)", map[string]any{"instance": m.instance})
		}
		werr = db.AddActivity(ctx, store.ActivitySample{
			Instance: m.instance, Time: act.Time, Interval: act.Interval,
			Queries: act.Queries, Success: act.Success, Failed: act.Failed,
			BytesIn: act.BytesIn, BytesOut: act.BytesOut, BusySeconds: act.BusySeconds,
			TokensTotal: act.TokensTotal, TokensPrompt: act.TokensPrompt, TokensCached: act.TokensCached,
			TokensCompletion: act.TokensCompletion, TokensReasoning: act.TokensReasoning, Restarted: act.Restarted,
		})
	}
	changed := false
	if settlements != nil {
		m.settled = now
	}
	for _, se := range settlements {
		for _, p := range []struct {
			stage  string
			tokens int64
		}{
			{store.StageEarned, se.Earned}, {store.StageCommitted, se.Committed},
			{store.StageClaimable, se.Claimable}, {store.StagePaid, se.Paid},
		} {
			_, inserted, err := db.RecordProgress(ctx, store.Progress{Instance: m.instance, Proxy: se.Proxy,
				Relationship: se.Relationship, Stage: p.stage, Tokens: p.tokens, FeePerToken: se.FeePerToken, Time: now})
			if err != nil && werr == nil {
				werr = err
			}
			changed = changed || inserted
		}
	}
	if msg := errText(werr); msg != m.lastErr {
		m.lastErr = msg
		if werr != nil {
			s.log.Warn("record worker activity and earnings", "instance", m.instance, "error", werr)
		}
		s.update(EventError, msg, func(st *State) { st.StoreError = msg })
	}
	if changed {
		s.refreshEarnings(ctx)
	}
	if ok {
		return &act
	}
	return nil
}

// refreshEarnings re-reads the ledger totals into State.
func (s *Service) refreshEarnings(ctx context.Context) {
	db := s.currentStore()
	if db == nil {
		return
	}
	e, err := ReadEarnings(ctx, db, s.opts.Now())
	if err != nil {
		s.log.Warn("read earnings", "error", err)
		return
	}
	s.update(EventEarnings, "", func(st *State) {
		if st.Earnings != nil {
			e.ClaimableNow, e.Mismatch = st.Earnings.ClaimableNow, st.Earnings.Mismatch
		}
		st.Earnings = &e
	})
}

// setClaimable records what instance could claim now and publishes the
// sum over all workers.
func (s *Service) setClaimable(instance, amount int64) {
	s.mu.Lock()
	if s.claimable == nil {
		s.claimable = map[int64]int64{}
	}
	if amount == 0 {
		delete(s.claimable, instance)
	} else {
		s.claimable[instance] = amount
	}
	var total int64
	for _, v := range s.claimable {
		total += v
	}
	s.mu.Unlock()
	s.update(EventEarnings, "", func(st *State) {
		if st.Earnings != nil && st.Earnings.ClaimableNow == total {
			return
		}
		e := Earnings{}
		if st.Earnings != nil {
			e = *st.Earnings
		}
		e.ClaimableNow = total
		st.Earnings = &e
	})
}

// forgetMonitor drops a stopped worker's claimable amount.
func (s *Service) forgetMonitor(m *monitor) { s.setClaimable(m.instance, 0) }

func (s *Service) currentStore() *store.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

// reconcileAfter is how long paid and arrived may differ (a payout in
// flight) before the difference is reported.
const reconcileAfter = 2 * time.Minute

// reconcile compares the ledger's paid-out stage with the payouts seen
// arriving on the owner's address; a lasting difference is an event the
// user sees, with both numbers. It runs only where the app watches the
// chain (dev mode's stand-in chain).
func (s *Service) reconcile(ctx context.Context) {
	s.mu.Lock()
	watching := s.dev != nil && s.dev.jobs != nil
	s.mu.Unlock()
	e := s.State().Earnings
	if !watching || e == nil || e.All == nil {
		return
	}
	paid, arrived := e.All[store.StagePaid], e.All[store.StageWallet]
	now := s.opts.Now()
	msg := ""
	if paid != arrived {
		if s.mismatchSince.IsZero() {
			s.mismatchSince = now
		}
		if now.Sub(s.mismatchSince) >= reconcileAfter {
			msg = fmt.Sprintf("the ledger says %s TON was paid out, but %s TON arrived at the owner address", wallet.FormatTON(paid), wallet.FormatTON(arrived))
		}
	} else {
		s.mismatchSince = time.Time{}
	}
	if msg == e.Mismatch {
		return
	}
	if msg != "" {
		s.recordEvent("earnings.mismatch", msg, map[string]any{"paid_nanoton": paid, "arrived_nanoton": arrived})
	}
	s.update(EventEarnings, msg, func(st *State) {
		if st.Earnings != nil {
			cp := *st.Earnings
			cp.Mismatch = msg
			st.Earnings = &cp
		}
	})
}
