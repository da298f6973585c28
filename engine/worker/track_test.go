package worker

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// trackT0 is the instant the tracker tests read their first document.
var trackT0 = time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC)

// withTotals returns base with the cumulative totals (index 0) of its
// counters set to v, in Activity field order; the rates are left as they
// were.
func withTotals(base Stats, v [trackedTotals]float64) Stats {
	c := &base.Counters
	for i, dst := range []*AmortCounter{
		&c.Queries, &c.Success, &c.Failed, &c.BytesReceived, &c.BytesSent, &c.Time,
		&c.TotalAdjustedTokens, &c.PromptAdjustedTokens, &c.CachedAdjustedTokens,
		&c.CompletionAdjustedTokens, &c.ReasoningAdjustedTokens,
	} {
		dst[0] = v[i]
	}
	return base
}

// activityValues returns a's deltas in field order.
func activityValues(a Activity) [trackedTotals]float64 {
	return [trackedTotals]float64{a.Queries, a.Success, a.Failed, a.BytesIn, a.BytesOut, a.BusySeconds,
		a.TokensTotal, a.TokensPrompt, a.TokensCached, a.TokensCompletion, a.TokensReasoning}
}

// checkSane fails when a holds a NaN, infinite or negative value.
func checkSane(t *testing.T, what string, a Activity) {
	t.Helper()
	for i, v := range activityValues(a) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Errorf("%s: delta %d is %v", what, i, v)
		}
	}
	for _, r := range []float64{a.RequestsPerSecond(), a.TokensPerSecond(), a.SuccessRate(), a.AvgConcurrency()} {
		if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
			t.Errorf("%s: a rate is %v (%+v)", what, r, a)
		}
	}
}

// exampleTotals are the §6.5 example's totals.
var exampleTotals = [trackedTotals]float64{1523, 1519, 4, 5482310, 9127744, 6021.4, 2410533, 1502110, 112400, 701233, 94790}

func TestTrackerDeltas(t *testing.T) {
	base := exampleStats(t)
	var tr Tracker
	act, ok, _ := tr.Observe(trackT0, base)
	if ok || act != (Activity{}) {
		t.Fatalf("first Observe = %+v, %v; want no activity", act, ok)
	}

	next := exampleTotals
	add := [trackedTotals]float64{30, 29, 2, 12000, 20000, 45.5, 9000, 6000, 500, 2500, 300}
	for i := range next {
		next[i] += add[i]
	}
	now := trackT0.Add(15 * time.Second)
	act, ok, _ = tr.Observe(now, withTotals(base, next))
	if !ok {
		t.Fatal("second Observe: ok = false")
	}
	want := Activity{Time: now, Interval: 15 * time.Second,
		Queries: 30, Success: 29, Failed: 2, BytesIn: 12000, BytesOut: 20000, BusySeconds: 45.5,
		TokensTotal: 9000, TokensPrompt: 6000, TokensCached: 500, TokensCompletion: 2500, TokensReasoning: 300}
	got := act
	// 6021.4 + 45.5 − 6021.4 is not exactly 45.5 in binary.
	if math.Abs(got.BusySeconds-want.BusySeconds) < 1e-9 {
		got.BusySeconds = want.BusySeconds
	}
	if got != want {
		t.Errorf("activity =\n%+v\nwant\n%+v", act, want)
	}
	if r := act.RequestsPerSecond(); r != 2 {
		t.Errorf("RequestsPerSecond = %v, want 2", r)
	}
	if r := act.TokensPerSecond(); r != 600 {
		t.Errorf("TokensPerSecond = %v, want 600", r)
	}
	if r := act.AvgConcurrency(); math.Abs(r-45.5/15) > 1e-9 {
		t.Errorf("AvgConcurrency = %v, want %v", r, 45.5/15)
	}
	if r := act.SuccessRate(); math.Abs(r-29.0/31) > 1e-12 {
		t.Errorf("SuccessRate = %v, want 29/31", r)
	}

	// The same document again: an interval with nothing in it.
	later := now.Add(10 * time.Second)
	act, ok, _ = tr.Observe(later, withTotals(base, next))
	if !ok || act != (Activity{Time: later, Interval: 10 * time.Second}) {
		t.Errorf("identical document: %+v, %v; want zero deltas over 10s", act, ok)
	}
	if act.SuccessRate() != 1 || act.RequestsPerSecond() != 0 {
		t.Errorf("rates of an idle interval: success %v, requests %v", act.SuccessRate(), act.RequestsPerSecond())
	}
}

func TestTrackerRestart(t *testing.T) {
	base := exampleStats(t)
	small := [trackedTotals]float64{3, 3, 0, 300, 600, 1.5, 120, 80, 0, 40, 0}
	// Only the token counters went back: still a restart.
	tokensOnly := exampleTotals
	for i := 6; i < trackedTotals; i++ {
		tokensOnly[i] = small[i]
	}
	tokensOnly[0] += 5 // more queries than before
	// One counter a hair lower.
	oneLower := exampleTotals
	oneLower[2] = 3

	for _, tc := range []struct {
		name string
		cur  [trackedTotals]float64
	}{
		{"all counters from zero", small},
		{"only tokens reset", tokensOnly},
		{"one counter lower", oneLower},
		{"all zero", [trackedTotals]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			tr.Observe(trackT0, base)
			now := trackT0.Add(time.Minute)
			act, ok, _ := tr.Observe(now, withTotals(base, tc.cur))
			if !ok || !act.Restarted {
				t.Fatalf("Observe = %+v, %v; want a restart", act, ok)
			}
			if got := activityValues(act); got != tc.cur {
				t.Errorf("deltas after a restart = %v, want the new totals %v", got, tc.cur)
			}
			checkSane(t, tc.name, act)

			// The restarted worker's totals are the new baseline.
			next := tc.cur
			next[0] += 7
			act, ok, _ = tr.Observe(now.Add(time.Minute), withTotals(base, next))
			if !ok || act.Restarted || act.Queries != 7 || act.TokensTotal != 0 {
				t.Errorf("read after the restart = %+v, %v; want 7 queries, no restart", act, ok)
			}
		})
	}
}

func TestTrackerClock(t *testing.T) {
	base := exampleStats(t)
	step := func(v [trackedTotals]float64, q float64) [trackedTotals]float64 {
		v[0] += q
		return v
	}
	var tr Tracker
	tr.Observe(trackT0, base)

	// The same instant and an earlier one: no interval to report. Each
	// read becomes the baseline.
	for _, tc := range []struct {
		name string
		at   time.Time
		q    float64
	}{
		{"same instant", trackT0, 10},
		{"clock went back", trackT0.Add(-time.Hour), 20},
	} {
		act, ok, settlements := tr.Observe(tc.at, withTotals(base, step(exampleTotals, tc.q)))
		if ok || act != (Activity{}) || len(settlements) != 1 {
			t.Errorf("%s: %+v, %v, %d settlements; want no activity, the settlements", tc.name, act, ok, len(settlements))
		}
	}
	// Measured from the last read (an hour before trackT0).
	act, ok, _ := tr.Observe(trackT0.Add(-time.Hour+time.Second), withTotals(base, step(exampleTotals, 25)))
	if !ok || act.Interval != time.Second || act.Queries != 5 || act.Restarted {
		t.Errorf("after the clock went back: %+v, %v; want 5 queries in 1s", act, ok)
	}

	// Reset forgets the baseline: lower totals are not a restart.
	tr.Reset()
	if _, ok, _ := tr.Observe(trackT0.Add(time.Hour), withTotals(base, [trackedTotals]float64{})); ok {
		t.Error("first Observe after Reset: ok = true")
	}
	act, ok, _ = tr.Observe(trackT0.Add(time.Hour+time.Second), withTotals(base, step([trackedTotals]float64{}, 2)))
	if !ok || act.Restarted || act.Queries != 2 {
		t.Errorf("after Reset: %+v, %v; want 2 queries, no restart", act, ok)
	}
}

// TestTrackerBadNumbers feeds totals the parser lets through (nan, inf,
// negative values) and checks that no NaN, infinite or negative value
// comes out and that a bad read does not distort the next good one.
func TestTrackerBadNumbers(t *testing.T) {
	// The parser accepts the worker's printf spellings.
	doc := string(readExample(t))
	for _, r := range [][2]string{
		{`"queries": [1523.000000,`, `"queries": [nan,`},
		{`"bytes_sent": [9127744.000000,`, `"bytes_sent": [inf,`},
		{`"time": [6021.400000,`, `"time": [-nan,`},
		{`"failed": [4.000000,`, `"failed": [-4.000000,`},
		{`"cached_adjusted_tokens_used": [112400.000000,`, `"cached_adjusted_tokens_used": [-inf,`},
	} {
		if !strings.Contains(doc, r[0]) {
			t.Fatalf("example lacks %q", r[0])
		}
		doc = strings.Replace(doc, r[0], r[1], 1)
	}
	bad, err := ParseStats([]byte(doc))
	if err != nil {
		t.Fatalf("ParseStats refuses nan/inf totals (%v); this test expects them to pass", err)
	}
	good := exampleStats(t)
	more := exampleTotals
	for i := range more {
		more[i] += 10
	}

	var tr Tracker
	// A good baseline, a bad read, a good read: the bad totals count 0,
	// then the good read measures from the last good values.
	tr.Observe(trackT0, good)
	act, ok, _ := tr.Observe(trackT0.Add(time.Second), bad)
	if !ok || act.Restarted {
		t.Fatalf("bad read: %+v, %v", act, ok)
	}
	checkSane(t, "bad read", act)
	if act.Queries != 0 || act.BytesOut != 0 || act.BusySeconds != 0 || act.Failed != 0 || act.TokensCached != 0 || act.Success != 0 {
		t.Errorf("bad read: %+v; want 0 for every total (bad ones and unchanged ones)", act)
	}
	act, ok, _ = tr.Observe(trackT0.Add(2*time.Second), withTotals(good, more))
	if !ok || act.Restarted {
		t.Fatalf("good read after a bad one: %+v, %v", act, ok)
	}
	for i, v := range activityValues(act) {
		if math.Abs(v-10) > 1e-6 {
			t.Errorf("good read after a bad one: delta %d = %v, want 10", i, v)
		}
	}

	// A bad first read: the bad totals have no baseline and count 0 on
	// their first good read.
	tr.Reset()
	tr.Observe(trackT0, bad)
	act, ok, _ = tr.Observe(trackT0.Add(time.Second), withTotals(good, more))
	checkSane(t, "good read after a bad first one", act)
	if !ok || act.Restarted || act.Queries != 0 || act.BytesOut != 0 || act.Success != 10 {
		t.Errorf("good read after a bad first one: %+v, %v; want 0 for the bad totals, 10 for the others", act, ok)
	}

	// A restart while a total is bad: the old baseline of that total is
	// dropped, so the next good read is not taken for a second restart.
	tr.Reset()
	tr.Observe(trackT0, good)
	restartedBad := withTotals(bad, [trackedTotals]float64{math.NaN(), 1, 0, 10, 10, 1, 5, 5, 0, 0, 0})
	act, _, _ = tr.Observe(trackT0.Add(time.Second), restartedBad)
	if !act.Restarted || act.Queries != 0 || act.Success != 1 {
		t.Fatalf("restart with a bad total: %+v", act)
	}
	act, _, _ = tr.Observe(trackT0.Add(2*time.Second), withTotals(good, [trackedTotals]float64{2, 2, 0, 10, 10, 1, 5, 5, 0, 0, 0}))
	if act.Restarted || act.Queries != 0 || act.Success != 1 {
		t.Errorf("read after a restart with a bad total: %+v; want no second restart", act)
	}
}

// TestTrackerRandom drives the tracker with a simulated worker that does
// random work, restarts now and then and sometimes prints a bad number,
// and checks every delta against the work done: work behind a bad number
// is counted on the field's next good read, unless the worker restarts
// first (then it is gone with the old process).
func TestTrackerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := exampleStats(t)
	var tr Tracker
	var totals, pending [trackedTotals]float64
	now := trackT0
	tr.Observe(now, withTotals(base, totals))
	restarts, bad := 0, 0
	for step := range 5000 {
		var work [trackedTotals]float64
		for i := range work {
			if rng.IntN(3) > 0 {
				work[i] = float64(rng.IntN(1000))
			}
		}
		// A restart while queries > 0, with no new queries yet: the
		// queries total goes back, so the restart is always detectable.
		restart := totals[0] > 0 && rng.IntN(20) == 0
		if restart {
			work[0] = 0
			totals = [trackedTotals]float64{}
			restarts++
		}
		for i := range totals {
			totals[i] += work[i]
		}
		v := totals
		badField := -1
		if !restart && rng.IntN(10) == 0 {
			badField = 1 + rng.IntN(trackedTotals-1) // never queries: it detects the restarts
			v[badField] = []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1}[rng.IntN(4)]
			bad++
		}
		now = now.Add(time.Duration(1+rng.IntN(20000)) * time.Millisecond)
		act, ok, _ := tr.Observe(now, withTotals(base, v))
		if !ok || act.Restarted != restart {
			t.Fatalf("step %d: ok %v, Restarted %v; want a read, restart %v", step, ok, act.Restarted, restart)
		}
		checkSane(t, "random", act)
		for i, got := range activityValues(act) {
			var want float64
			switch {
			case i == badField:
				pending[i] += work[i]
			case restart:
				want, pending[i] = work[i], 0
			default:
				want, pending[i] = work[i]+pending[i], 0
			}
			if got != want {
				t.Fatalf("step %d: delta %d = %v, want %v (restart %v, bad field %d)", step, i, got, want, restart, badField)
			}
		}
	}
	t.Logf("%d restarts, %d bad numbers", restarts, bad)
}

func TestActivityRates(t *testing.T) {
	tests := []struct {
		name                        string
		a                           Activity
		rps, tps, success, parallel float64
	}{
		{"empty", Activity{}, 0, 0, 1, 0},
		{"no interval", Activity{Queries: 5, TokensTotal: 9, Success: 5, BusySeconds: 3}, 0, 0, 1, 0},
		{"negative interval", Activity{Interval: -time.Second, Queries: 5}, 0, 0, 1, 0},
		{"all failed", Activity{Interval: 2 * time.Second, Queries: 4, Failed: 4, BusySeconds: 1}, 2, 0, 0, 0.5},
		{"failed counted twice", Activity{Interval: time.Second, Queries: 3, Success: 2, Failed: 2}, 3, 0, 0.5, 0},
		{"huge over a nanosecond", Activity{Interval: time.Nanosecond, Queries: math.MaxFloat64, TokensTotal: math.MaxFloat64,
			Success: math.MaxFloat64, Failed: math.MaxFloat64}, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		a := tc.a
		got := []float64{a.RequestsPerSecond(), a.TokensPerSecond(), a.SuccessRate(), a.AvgConcurrency()}
		want := []float64{tc.rps, tc.tps, tc.success, tc.parallel}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: rates %v, want %v", tc.name, got, want)
		}
	}
}

func TestSettlements(t *testing.T) {
	st, err := ParseStats(readExample(t))
	if err != nil {
		t.Fatal(err)
	}
	var tr Tracker
	_, ok, got := tr.Observe(trackT0, st)
	want := []Settlement{{
		Proxy:        "UQCglfIPk5VlDPk4C47bIkprJIoekk6P0K4uGpSSozBfGAXe",
		Relationship: "UQCMthCQD540f66IbcZQd5XsdFxMP8sussc-FJNMhn7gV6ZO@4",
		FeePerToken:  16,
		Earned:       2410533, Committed: 2390015, Claimable: 2211870, Paid: 1500000,
		ClaimableNow: 2211870 - 1500000,
	}}
	if ok || !reflect.DeepEqual(got, want) {
		t.Errorf("first Observe of the example: ok %v, settlements\n%+v\nwant\n%+v", ok, got, want)
	}

	// More proxies: one without an address is skipped, negative counters
	// and a negative price count as 0, an in-flight payout lowers what is
	// claimable now.
	st.RootContract.WorkerFeePerToken = -3
	st.Proxies = append(st.Proxies,
		ProxyInfo{ProxySCAddress: "", SCAddress: "UQ-nobody", EarnedTokensMaxKnown: 99},
		ProxyInfo{ProxySCAddress: "UQ-p2", SCAddress: "UQ-w2", ParamsVersion: 5,
			EarnedTokensMaxKnown: -1, EarnedTokensCommittedToProxyDB: -2, EarnedTokensCommittedToBlockchain: -3, CachedOutTokens: -4,
			ExpectedCachedOutTokens: math.MinInt64},
		ProxyInfo{ProxySCAddress: "UQ-p3", SCAddress: "", ParamsVersion: 0,
			EarnedTokensMaxKnown: 500, EarnedTokensCommittedToProxyDB: 400, EarnedTokensCommittedToBlockchain: 300,
			CachedOutTokens: 100, ExpectedCachedOutTokens: 250},
	)
	_, _, got = tr.Observe(trackT0.Add(time.Second), st)
	want[0].FeePerToken = 0
	want = append(want,
		Settlement{Proxy: "UQ-p2", Relationship: "UQ-w2@5"},
		Settlement{Proxy: "UQ-p3", Relationship: "@0", Earned: 500, Committed: 400, Claimable: 300, Paid: 100, ClaimableNow: 50},
	)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settlements =\n%+v\nwant\n%+v", got, want)
	}
	if s := Settlements(Stats{}); s != nil {
		t.Errorf("Settlements of an empty document = %v, want nil", s)
	}
}
