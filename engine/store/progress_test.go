package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// progressAt returns a Progress of instance 1, proxy P1, relationship
// W1@4 and the earned stage with the given value and fee, at t0 + sec.
func progressAt(tokens, fee int64, sec int) Progress {
	return Progress{Instance: 1, Proxy: "P1", Relationship: "W1@4", Stage: StageEarned,
		Tokens: tokens, FeePerToken: fee, Time: t0.Add(time.Duration(sec) * time.Second)}
}

// markOf returns the stored mark of p's counter (0 when none).
func markOf(t *testing.T, s *Store, p Progress) int64 {
	t.Helper()
	marks, err := s.Marks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range marks {
		if m.Instance == p.Instance && m.Proxy == p.Proxy && m.Relationship == p.Relationship && m.Stage == p.Stage {
			return m.Tokens
		}
	}
	return 0
}

func TestRecordProgressSequence(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	steps := []struct {
		name       string
		tokens     int64
		fee        int64
		wantTokens int64 // the entry's tokens; 0: no entry
		wantMark   int64
	}{
		{"first value counts from zero", 100, 16, 100, 100},
		{"increase", 250, 16, 150, 250},
		{"equal", 250, 16, 0, 250},
		{"decrease", 200, 16, 0, 250},
		{"worker restart reports zero", 0, 16, 0, 250},
		{"climbing back below the mark", 240, 16, 0, 250},
		{"past the mark again", 260, 16, 10, 260},
		{"price changed: the rise is valued at the new price", 270, 20, 10, 270},
		{"no price: tokens without nanoTON", 275, 0, 5, 275},
	}
	var wantNano, wantTokens int64
	for i, st := range steps {
		p := progressAt(st.tokens, st.fee, i)
		e, inserted, err := s.RecordProgress(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if inserted != (st.wantTokens > 0) {
			t.Errorf("%s: inserted = %v, want %v", st.name, inserted, st.wantTokens > 0)
		}
		if inserted {
			want := LedgerEntry{ID: e.ID, Source: fmt.Sprintf(`progress:1:"P1":"W1@4":earned:%d`, st.tokens), Time: p.Time,
				Stage: StageEarned, AmountNanoTON: st.wantTokens * st.fee, Instance: sql.Null[int64]{V: 1, Valid: true},
				Proxy: "P1", Note: e.Note, Tokens: st.wantTokens, FeePerToken: st.fee}
			if e != want || e.ID <= 0 || !strings.Contains(e.Note, "W1@4") {
				t.Errorf("%s: entry\n%+v, want\n%+v", st.name, e, want)
			}
			rows, err := s.Ledger(ctx, e.ID-1, 1)
			if err != nil || len(rows) != 1 || rows[0] != e {
				t.Errorf("%s: stored entry %+v, %v; want %+v", st.name, rows, err, e)
			}
			wantNano += st.wantTokens * st.fee
			wantTokens += st.wantTokens
		} else if e != (LedgerEntry{}) {
			t.Errorf("%s: not inserted but entry %+v", st.name, e)
		}
		if m := markOf(t, s, p); m != st.wantMark {
			t.Errorf("%s: mark = %d, want %d", st.name, m, st.wantMark)
		}
	}
	nano, err := s.LedgerTotals(ctx)
	if err != nil || nano[StageEarned] != wantNano {
		t.Errorf("earned = %d, %v; want %d", nano[StageEarned], err, wantNano)
	}
	tokens, err := s.LedgerTokenTotals(ctx, t0)
	if err != nil || tokens[StageEarned] != wantTokens || wantTokens != 275 {
		t.Errorf("earned tokens = %d, %v; want %d = the mark", tokens[StageEarned], err, wantTokens)
	}
}

// TestRecordProgressIndependentCounters checks that marks are kept per
// instance, proxy, relationship and stage.
func TestRecordProgressIndependentCounters(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	base := progressAt(1000, 2, 0)
	variants := map[string]func(*Progress){
		"base":               func(*Progress) {},
		"other instance":     func(p *Progress) { p.Instance = 2 },
		"instance zero":      func(p *Progress) { p.Instance = 0 },
		"other relationship": func(p *Progress) { p.Relationship = "W2@5" },
		"other proxy":        func(p *Progress) { p.Proxy = "P2" },
		"other stage":        func(p *Progress) { p.Stage = StagePaid },
		// Quoting keeps these two apart although their parts joined with
		// ':' would read the same.
		"colon in proxy":        func(p *Progress) { p.Proxy, p.Relationship = "0:a", "b" },
		"colon in relationship": func(p *Progress) { p.Proxy, p.Relationship = "0", "a:b" },
	}
	for name, mutate := range variants {
		p := base
		mutate(&p)
		if _, inserted, err := s.RecordProgress(ctx, p); err != nil || !inserted {
			t.Errorf("%s: first value: inserted = %v, %v; want a new entry", name, inserted, err)
		}
	}
	// A later, higher value of one counter moves only that counter.
	p := base
	p.Relationship = "W2@5"
	p.Tokens = 1500
	if e, inserted, err := s.RecordProgress(ctx, p); err != nil || !inserted || e.Tokens != 500 {
		t.Errorf("W2@5 rise: %+v, %v, %v; want 500 tokens", e, inserted, err)
	}
	for name, mutate := range variants {
		p := base
		mutate(&p)
		want := int64(1000)
		if name == "other relationship" {
			want = 1500
		}
		if m := markOf(t, s, p); m != want {
			t.Errorf("%s: mark = %d, want %d", name, m, want)
		}
		if _, inserted, err := s.RecordProgress(ctx, p); err != nil || inserted {
			t.Errorf("%s: same value again: inserted = %v, %v", name, inserted, err)
		}
	}
	totals, err := s.LedgerTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if totals[StageEarned] != 7*2000+1000 || totals[StagePaid] != 2000 {
		t.Errorf("totals = %v", totals)
	}
}

func TestRecordProgressInvalid(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		mutate func(*Progress)
		msg    string
	}{
		{"negative instance", func(p *Progress) { p.Instance = -1 }, "instance -1"},
		{"empty proxy", func(p *Progress) { p.Proxy = "" }, "empty proxy"},
		{"empty relationship", func(p *Progress) { p.Relationship = "" }, "empty relationship"},
		{"unknown stage", func(p *Progress) { p.Stage = "pending" }, `unknown stage "pending"`},
		{"negative tokens", func(p *Progress) { p.Tokens = -5 }, "tokens -5"},
		{"negative fee", func(p *Progress) { p.FeePerToken = -1 }, "fee per token -1"},
		{"no time", func(p *Progress) { p.Time = time.Time{} }, "Time is not set"},
		{"product overflows int64", func(p *Progress) { p.Tokens, p.FeePerToken = math.MaxInt64, 2 }, "exceeds"},
		{"product overflows uint64", func(p *Progress) { p.Tokens, p.FeePerToken = math.MaxInt64, math.MaxInt64 }, "exceeds"},
		{"product above one entry's maximum", func(p *Progress) { p.Tokens, p.FeePerToken = MaxAmountNanoTON, 2 }, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := progressAt(10, 16, 0)
			tc.mutate(&p)
			e, inserted, err := s.RecordProgress(ctx, p)
			if !errors.Is(err, ErrInvalid) || inserted || e != (LedgerEntry{}) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("RecordProgress = %+v, %v, %v; want ErrInvalid naming %q", e, inserted, err, tc.msg)
			}
		})
	}
	if rows, err := s.Ledger(ctx, 0, 0); err != nil || len(rows) != 0 {
		t.Errorf("ledger after rejected progress: %v, %v", rows, err)
	}
	if marks, err := s.Marks(ctx); err != nil || len(marks) != 0 {
		t.Errorf("marks after rejected progress: %v, %v", marks, err)
	}
}

// TestRecordProgressOverflowAfterMark checks that only the difference to
// the mark is valued: a counter far above int64/fee is fine as long as each
// rise fits, and a rise that does not fit writes nothing.
func TestRecordProgressOverflowAfterMark(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const fee = 1000
	step := MaxAmountNanoTON / fee
	for i := int64(1); i <= 9; i++ { // up to 9·10^15 tokens, 9·10^18 nanoTON in all
		if _, inserted, err := s.RecordProgress(ctx, progressAt(i*step, fee, int(i))); err != nil || !inserted {
			t.Fatalf("rise %d: %v, %v", i, inserted, err)
		}
	}
	_, inserted, err := s.RecordProgress(ctx, progressAt(11*step, fee, 10))
	if !errors.Is(err, ErrInvalid) || inserted {
		t.Fatalf("rise of 2·step: %v, %v; want ErrInvalid", inserted, err)
	}
	t.Logf("overflow: %v", err)
	if m := markOf(t, s, progressAt(0, 0, 0)); m != 9*step {
		t.Errorf("mark after a rejected rise = %d, want %d", m, 9*step)
	}
	totals, err := s.LedgerTotals(ctx)
	if err != nil || totals[StageEarned] != 9*MaxAmountNanoTON {
		t.Errorf("earned = %d, %v; want %d", totals[StageEarned], err, 9*MaxAmountNanoTON)
	}
}

// TestRecordProgressConcurrent reports the same rising sequence from
// several goroutines at once, as two pollers of the same worker would:
// every rise is counted exactly once.
func TestRecordProgressConcurrent(t *testing.T) {
	s := openTemp(t)
	const writers, steps, fee = 4, 30, 7
	var wg sync.WaitGroup
	errs := make(chan error, writers*steps)
	for w := range writers {
		wg.Go(func() {
			for i := range steps {
				v := int64((i + w) % steps * 10) // each writer in its own order
				if _, _, err := s.RecordProgress(t.Context(), progressAt(v, fee, i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mark := markOf(t, s, progressAt(0, 0, 0))
	totals, err := s.LedgerTotals(t.Context())
	if err != nil || mark != (steps-1)*10 || totals[StageEarned] != fee*mark {
		t.Errorf("mark %d, earned %d, %v; want mark %d and earned fee × mark", mark, totals[StageEarned], err, (steps-1)*10)
	}
}

func TestLedgerTotalsSince(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	add := func(src string, at time.Duration, stage string, nano, tokens int64) {
		t.Helper()
		if _, err := s.AddLedger(ctx, LedgerEntry{Source: src, Time: t0.Add(at), Stage: stage, AmountNanoTON: nano,
			Tokens: tokens, FeePerToken: 1}); err != nil {
			t.Fatal(err)
		}
	}
	add("old", -48*time.Hour, StageEarned, 1000, 10)
	add("yesterday", -24*time.Hour, StageEarned, 200, 2)
	add("edge", 0, StageCommitted, 30, 3)
	add("later", time.Millisecond, StagePaid, 4, 4)
	add("wallet", time.Hour, StageWallet, 5, 0)
	tests := []struct {
		since       time.Duration
		nano, token map[string]int64
	}{
		{-72 * time.Hour,
			map[string]int64{StageEarned: 1200, StageCommitted: 30, StageClaimable: 0, StagePaid: 4, StageWallet: 5},
			map[string]int64{StageEarned: 12, StageCommitted: 3, StageClaimable: 0, StagePaid: 4, StageWallet: 0}},
		{-24 * time.Hour, // an entry at since counts
			map[string]int64{StageEarned: 200, StageCommitted: 30, StageClaimable: 0, StagePaid: 4, StageWallet: 5},
			map[string]int64{StageEarned: 2, StageCommitted: 3, StageClaimable: 0, StagePaid: 4, StageWallet: 0}},
		{time.Millisecond,
			map[string]int64{StageEarned: 0, StageCommitted: 0, StageClaimable: 0, StagePaid: 4, StageWallet: 5},
			map[string]int64{StageEarned: 0, StageCommitted: 0, StageClaimable: 0, StagePaid: 4, StageWallet: 0}},
		{2 * time.Hour,
			map[string]int64{StageEarned: 0, StageCommitted: 0, StageClaimable: 0, StagePaid: 0, StageWallet: 0},
			map[string]int64{StageEarned: 0, StageCommitted: 0, StageClaimable: 0, StagePaid: 0, StageWallet: 0}},
	}
	for _, tc := range tests {
		nano, err := s.LedgerTotalsSince(ctx, t0.Add(tc.since))
		if err != nil || fmt.Sprint(nano) != fmt.Sprint(tc.nano) {
			t.Errorf("LedgerTotalsSince(t0%+v) = %v, %v; want %v", tc.since, nano, err, tc.nano)
		}
		tokens, err := s.LedgerTokenTotals(ctx, t0.Add(tc.since))
		if err != nil || fmt.Sprint(tokens) != fmt.Sprint(tc.token) {
			t.Errorf("LedgerTokenTotals(t0%+v) = %v, %v; want %v", tc.since, tokens, err, tc.token)
		}
	}
	all, err := s.LedgerTotals(ctx)
	if err != nil || fmt.Sprint(all) != fmt.Sprint(tests[0].nano) {
		t.Errorf("LedgerTotals = %v, %v", all, err)
	}

	// An overflowing sum is an error here too (the entries lie in
	// different quarter hours; TestLedgerQuarterOverflow has them in one).
	for i := range 10 {
		add(fmt.Sprintf("big-%d", i), time.Duration(i+1)*time.Hour, StageClaimable, MaxAmountNanoTON, 0)
	}
	if got, err := s.LedgerTotalsSince(ctx, t0); err == nil || !strings.Contains(err.Error(), "does not fit in int64") {
		t.Errorf("overflowing LedgerTotalsSince = %v, %v; want an overflow error", got, err)
	}
}

func TestLedgerByProxy(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	record := func(inst int64, proxy, stage string, tokens, fee int64, sec int) {
		t.Helper()
		p := Progress{Instance: inst, Proxy: proxy, Relationship: proxy + "-w@1", Stage: stage, Tokens: tokens, FeePerToken: fee,
			Time: t0.Add(time.Duration(sec) * time.Second)}
		if _, inserted, err := s.RecordProgress(ctx, p); err != nil || !inserted {
			t.Fatalf("RecordProgress(%+v) = %v, %v", p, inserted, err)
		}
	}
	record(1, "PB", StageEarned, 100, 2, 0)
	record(1, "PB", StageEarned, 150, 2, 10) // +50
	record(1, "PB", StagePaid, 80, 2, 10)
	record(1, "PA", StageCommitted, 10, 3, 10)
	record(0, "PB", StageEarned, 7, 5, 10)
	if _, err := s.AddLedger(ctx, LedgerEntry{Source: "wallet-in", Time: t0.Add(20 * time.Second), Stage: StageWallet, AmountNanoTON: 999}); err != nil {
		t.Fatal(err)
	}
	zero := func(kv map[string]int64) map[string]int64 {
		m := zeroStages()
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	got, err := s.LedgerByProxy(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []ProxyTotals{
		{Instance: sql.Null[int64]{}, Proxy: "", NanoTON: zero(map[string]int64{StageWallet: 999}), Tokens: zeroStages()},
		{Instance: sql.Null[int64]{V: 0, Valid: true}, Proxy: "PB", NanoTON: zero(map[string]int64{StageEarned: 35}), Tokens: zero(map[string]int64{StageEarned: 7})},
		{Instance: sql.Null[int64]{V: 1, Valid: true}, Proxy: "PA", NanoTON: zero(map[string]int64{StageCommitted: 30}), Tokens: zero(map[string]int64{StageCommitted: 10})},
		{Instance: sql.Null[int64]{V: 1, Valid: true}, Proxy: "PB", NanoTON: zero(map[string]int64{StageEarned: 300, StagePaid: 160}),
			Tokens: zero(map[string]int64{StageEarned: 150, StagePaid: 80})},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LedgerByProxy(t0) =\n%v\nwant\n%v", got, want)
	}

	// Since t0+10s the first earned entry of instance 1 drops out.
	got, err = s.LedgerByProxy(ctx, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3].NanoTON[StageEarned] != 100 || got[3].Tokens[StageEarned] != 50 {
		t.Errorf("LedgerByProxy(t0+10s) = %v", got)
	}
	if got, err := s.LedgerByProxy(ctx, t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("LedgerByProxy(later) = %v, %v; want none", got, err)
	}
}

// TestLedgerTokensColumns checks the CHECKs of the 0002 columns.
func TestLedgerTokensColumns(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const q = `INSERT INTO ledger (source, t_ms, stage, amount_nanoton, tokens, fee_per_token) VALUES (?, 0, 'earned', 0, ?, ?)`
	for i, tc := range []struct {
		tokens, fee any
		ok          bool
	}{
		{int64(0), int64(0), true},
		{int64(5), int64(16), true},
		{int64(-1), int64(0), false},
		{int64(0), int64(-1), false},
		{1.5, int64(0), false},
		{nil, int64(0), false},
	} {
		_, err := s.db.ExecContext(ctx, q, fmt.Sprintf("c-%d", i), tc.tokens, tc.fee)
		if (err == nil) != tc.ok {
			t.Errorf("tokens %v fee %v: err = %v, want ok=%v", tc.tokens, tc.fee, err, tc.ok)
		}
	}
	for _, e := range []LedgerEntry{
		{Source: "neg-tokens", Time: t0, Stage: StageEarned, Tokens: -1},
		{Source: "neg-fee", Time: t0, Stage: StageEarned, FeePerToken: -1},
	} {
		if _, err := s.AddLedger(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddLedger(%+v) = %v, want ErrInvalid", e, err)
		}
	}
}

// TestLedgerSumsPlans guards the query plans the sums were tuned for (see
// BenchmarkLedgerTotalsSince): covering index reads, and no sort over the
// entries.
func TestLedgerSumsPlans(t *testing.T) {
	s := openTemp(t)
	for _, tc := range []struct {
		name, query, index, noSort string
	}{
		{"totals: entries before the first whole quarter", ledgerSumsSQL, "COVERING INDEX ledger_stage_t", "TEMP B-TREE"},
		{"totals: whole quarters", ledgerSumsSQL, "SEARCH ledger_quarters USING PRIMARY KEY", "TEMP B-TREE"},
		{"by proxy", ledgerByProxySQL, "COVERING INDEX ledger_proxy_stage", "TEMP B-TREE FOR GROUP BY"},
	} {
		rows, err := s.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, tc.index) || strings.Contains(text, tc.noSort) {
			t.Errorf("%s: plan\n%s\nwant %q and no %q", tc.name, text, tc.index, tc.noSort)
		}
	}
}
