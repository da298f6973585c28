package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashCounter is one settlement counter the progress child reports.
type crashCounter struct {
	p   Progress // Tokens unset
	fee int64
}

// crashCounters are the counters of TestCrashRecordProgress: two
// instances × two relationships × two stages, each with its own constant
// price. The proxy is a raw address, with a colon.
func crashCounters() []crashCounter {
	var out []crashCounter
	for inst := range int64(2) {
		for _, rel := range []string{"UQrel-a@4", "UQrel-b@5"} {
			for _, stage := range []string{StageEarned, StageCommitted} {
				out = append(out, crashCounter{
					p:   Progress{Instance: inst, Proxy: "0:proxy-crash", Relationship: rel, Stage: stage},
					fee: 3 + int64(len(out)),
				})
			}
		}
	}
	return out
}

// crashProgressValue is the cumulative value the child reports for counter
// k at step i of iteration it. It rises within an iteration, falls back
// every fifth step (a worker that restarted and has not re-learnt its
// counters) and often starts an iteration below what the last one reached,
// as a restarted worker would.
func crashProgressValue(it, i, k int) int64 {
	v := int64(it*50 + i*(k+1)*3)
	if i%5 == 4 {
		v /= 3
	}
	return v
}

// TestHelperProgressProcess is the child of TestCrashRecordProgress. It
// reports the crashCounters with RecordProgress, with activity samples in
// between, until it is killed, printing "ack <counter> <value>" only after
// RecordProgress returned.
func TestHelperProgressProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "progress" {
		t.Skip("helper process for TestCrashRecordProgress; runs only when re-executed by it")
	}
	ctx := t.Context()
	fail := func(step string, err error) {
		fmt.Fprintf(os.Stderr, "progress: %s: %v\n", step, err)
		os.Exit(3)
	}
	s, err := Open(ctx, os.Getenv(helperDBEnv))
	if err != nil {
		fail("open", err)
	}
	itN, err := strconv.Atoi(os.Getenv(helperIter))
	if err != nil {
		fail("iteration", err)
	}
	clock := t0.Add(time.Duration(itN) * time.Hour)
	counters := crashCounters()
	deadline := time.Now().Add(crashWait)
	for i := 0; time.Now().Before(deadline); i++ {
		now := clock.Add(time.Duration(i) * time.Second)
		for k, c := range counters {
			p := c.p
			p.Tokens, p.FeePerToken, p.Time = crashProgressValue(itN, i, k), c.fee, now
			if _, _, err := s.RecordProgress(ctx, p); err != nil {
				fail("record progress", err)
			}
			if _, err := fmt.Fprintf(os.Stdout, "ack %d %d\n", k, p.Tokens); err != nil {
				os.Exit(4) // the parent is gone
			}
		}
		if i%3 == 0 {
			batch := []ActivitySample{
				{Instance: 0, Time: now, Interval: time.Second, Queries: float64(i), TokensTotal: 10},
				{Instance: 1, Time: now, Interval: time.Second, Queries: float64(i), TokensTotal: 10},
			}
			if err := s.AddActivity(ctx, batch...); err != nil {
				fail("add activity", err)
			}
		}
	}
	os.Exit(0)
}

// TestCrashRecordProgress kills a child reporting settlement counters at
// random moments and checks after each kill that no amount was lost or
// counted twice: for every counter the ledger's entries add up to exactly
// its mark in tokens and to fee × mark in nanoTON, and every value the
// child saw acknowledged is at or below the mark.
func TestCrashRecordProgress(t *testing.T) {
	iterations, rng := crashConfig(t)
	path := filepath.Join(t.TempDir(), "data", DefaultFileName)
	counters := crashCounters()
	acked := make([]int64, len(counters)) // highest acknowledged value per counter
	total := 0
	start := time.Now()
	var entries int
	kills, mismatched := 0, 0
	t.Cleanup(func() {
		t.Logf("RELIABILITY ledger-sigkill-counters: killed the recorder %d times while it turned worker counters into ledger entries; %d counter values acknowledged; counters whose ledger differs from the worker's value %d of %d",
			kills, total, mismatched, len(counters))
	})
	for it := range iterations {
		want, delay := crashKillPlan(rng)
		kills++
		for _, a := range runChildAndKill(t, "TestHelperProgressProcess", "progress", path, it, want, delay) {
			var k int
			var v int64
			if _, err := fmt.Sscanf(a, "%d %d", &k, &v); err != nil || k < 0 || k >= len(counters) {
				t.Fatalf("iteration %d: bad ack %q", it, a)
			}
			acked[k] = max(acked[k], v)
			total++
		}
		entries = verifyProgressAfterCrash(t, path, it, counters, acked, &mismatched)
	}
	t.Logf("%d kills in %v: %d acks, %d ledger entries at the end, highest acknowledged values %v",
		iterations, time.Since(start).Round(time.Millisecond), total, entries, acked)
}

// verifyProgressAfterCrash opens the database the killed child left and
// checks the counters' entries against their marks. It returns the number
// of ledger entries.
// mismatched is set to the number of counters whose entries do not add up
// to the worker's value (their mark and the acknowledged values).
func verifyProgressAfterCrash(t *testing.T, path string, it int, counters []crashCounter, acked []int64, mismatched *int) int {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("iteration %d: Open after kill: %v", it, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("iteration %d: Close: %v", it, err)
		}
	}()
	if err := s.Integrity(ctx); err != nil {
		t.Fatalf("iteration %d: %v", it, err)
	}
	marks, err := s.Marks(ctx)
	if err != nil {
		t.Fatalf("iteration %d: Marks: %v", it, err)
	}
	markOf := map[string]int64{}
	for _, m := range marks {
		markOf[progressKey(Progress{Instance: m.Instance, Proxy: m.Proxy, Relationship: m.Relationship, Stage: m.Stage})] = m.Tokens
	}
	if len(marks) > len(counters) {
		t.Errorf("iteration %d: %d marks, want at most %d", it, len(marks), len(counters))
	}

	var all []LedgerEntry
	for after := int64(0); ; {
		page, err := s.Ledger(ctx, after, MaxPageSize)
		if err != nil {
			t.Fatalf("iteration %d: Ledger: %v", it, err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	matched := 0
	sums := map[string]int64{}
	*mismatched = 0
	for k, c := range counters {
		key := progressKey(c.p)
		mark := markOf[key]
		var tokens, nano, last int64
		for _, e := range all {
			rest, ok := strings.CutPrefix(e.Source, key)
			if !ok {
				continue
			}
			matched++
			v, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				t.Errorf("iteration %d: source %q does not end in a value", it, e.Source)
				continue
			}
			if v <= last || e.Tokens != v-last || e.FeePerToken != c.fee || e.AmountNanoTON != e.Tokens*c.fee ||
				e.Stage != c.p.Stage || e.Proxy != c.p.Proxy || e.Instance.V != c.p.Instance || !e.Instance.Valid {
				t.Errorf("iteration %d: counter %d: entry %+v after value %d is inconsistent", it, k, e, last)
			}
			last = v
			tokens += e.Tokens
			nano += e.AmountNanoTON
		}
		sums[c.p.Stage] += nano
		if tokens != mark || nano != c.fee*mark || last != mark || acked[k] > mark {
			*mismatched++
		}
		if tokens != mark || nano != c.fee*mark || last != mark {
			t.Errorf("iteration %d: counter %d: entries add up to %d tokens, %d nanoTON, last value %d; mark %d, fee × mark %d",
				it, k, tokens, nano, last, mark, c.fee*mark)
		}
		if acked[k] > mark {
			t.Errorf("iteration %d: counter %d: value %d was acknowledged but the mark is %d: an amount was lost", it, k, acked[k], mark)
		}
	}
	if matched != len(all) {
		t.Errorf("iteration %d: %d of %d ledger entries belong to no counter", it, len(all)-matched, len(all))
	}
	totals, err := s.LedgerTotalsSince(ctx, time.Unix(0, 0))
	if err != nil {
		t.Fatalf("iteration %d: LedgerTotalsSince: %v", it, err)
	}
	for _, st := range Stages() {
		if totals[st] != sums[st] {
			t.Errorf("iteration %d: LedgerTotalsSince[%s] = %d, entries sum to %d", it, st, totals[st], sums[st])
		}
	}
	// Activity batches are atomic: each time has both instances.
	var partial int
	if err := s.db.QueryRowContext(ctx,
		`SELECT count(*) FROM (SELECT t_ms FROM activity_samples GROUP BY t_ms HAVING count(*) <> 2)`).Scan(&partial); err != nil {
		t.Fatalf("iteration %d: %v", it, err)
	}
	if partial != 0 {
		t.Errorf("iteration %d: %d partial activity batches", it, partial)
	}
	if t.Failed() {
		t.FailNow()
	}
	return len(all)
}
