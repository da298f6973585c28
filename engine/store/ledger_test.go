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

func TestAddLedgerIdempotent(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	e := LedgerEntry{
		Source: "jsonstats:proxy-1:committed:12345", Time: t0, Stage: StageCommitted,
		AmountNanoTON: 1_500_000_000, Instance: sql.Null[int64]{V: 2, Valid: true}, Proxy: "proxy-1", Note: "first",
	}
	steps := []struct {
		name string
		e    LedgerEntry
		want bool
	}{
		{"first time", e, true},
		{"same entry again", e, false},
		{"same source, other amount", func() LedgerEntry { x := e; x.AmountNanoTON = 9; x.Note = "retry"; return x }(), false},
		{"other source", func() LedgerEntry { x := e; x.Source += "-b"; x.Instance = sql.Null[int64]{}; return x }(), true},
	}
	for _, st := range steps {
		inserted, err := s.AddLedger(ctx, st.e)
		if err != nil || inserted != st.want {
			t.Errorf("%s: AddLedger = %v, %v; want %v, nil", st.name, inserted, err, st.want)
		}
	}
	rows, err := s.Ledger(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("Ledger has %d rows, want 2", len(rows))
	}
	first := rows[0]
	if first.Source != e.Source || first.AmountNanoTON != e.AmountNanoTON || first.Note != "first" ||
		first.Instance != e.Instance || first.Proxy != "proxy-1" || first.Stage != StageCommitted ||
		!first.Time.Equal(t0) || first.Time.Location() != time.UTC {
		t.Errorf("first row = %+v; the first write must win", first)
	}
	if rows[1].Instance.Valid {
		t.Errorf("NULL instance read back as %+v", rows[1].Instance)
	}
	totals, err := s.LedgerTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if totals[StageCommitted] != 3_000_000_000 {
		t.Errorf("committed total = %d, want 3000000000", totals[StageCommitted])
	}
}

func TestAddLedgerValidation(t *testing.T) {
	s := openTemp(t)
	ok := LedgerEntry{Source: "s", Time: t0, Stage: StageEarned, AmountNanoTON: 1}
	tests := []struct {
		name   string
		mutate func(*LedgerEntry)
	}{
		{"empty source", func(e *LedgerEntry) { e.Source = "" }},
		{"unknown stage", func(e *LedgerEntry) { e.Stage = "pending" }},
		{"empty stage", func(e *LedgerEntry) { e.Stage = "" }},
		{"negative amount", func(e *LedgerEntry) { e.AmountNanoTON = -1 }},
		{"above the maximum", func(e *LedgerEntry) { e.AmountNanoTON = MaxAmountNanoTON + 1 }},
		{"int64 max", func(e *LedgerEntry) { e.AmountNanoTON = math.MaxInt64 }},
		{"int64 min", func(e *LedgerEntry) { e.AmountNanoTON = math.MinInt64 }},
		{"no time", func(e *LedgerEntry) { e.Time = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.mutate(&e)
			inserted, err := s.AddLedger(t.Context(), e)
			if !errors.Is(err, ErrInvalid) || inserted {
				t.Errorf("AddLedger = %v, %v; want false, ErrInvalid", inserted, err)
			}
		})
	}
	rows, err := s.Ledger(t.Context(), 0, 0)
	if err != nil || len(rows) != 0 {
		t.Errorf("Ledger after rejected entries = %v, %v; want empty", rows, err)
	}
}

// TestLedgerTableConstraints checks the CHECKs themselves, as a writer that
// skipped the Go validation would meet them.
func TestLedgerTableConstraints(t *testing.T) {
	s := openTemp(t)
	const q = `INSERT INTO ledger (source, t_ms, stage, amount_nanoton) VALUES (?, 0, ?, ?)`
	tests := []struct {
		name   string
		stage  string
		amount any
		ok     bool
	}{
		{"integer", "paid", int64(5), true},
		{"maximum", "paid", MaxAmountNanoTON, true},
		{"float", "paid", 1.5, false},
		{"whole float is stored as integer", "paid", 2.0, true},
		{"text", "paid", "10", true}, // STRICT converts "10" to the integer 10
		{"not a number", "paid", "ten", false},
		{"negative", "paid", int64(-1), false},
		{"above maximum", "paid", MaxAmountNanoTON + 1, false},
		{"bad stage", "lost", int64(1), false},
		{"null amount", "paid", nil, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.db.ExecContext(t.Context(), q, fmt.Sprintf("c-%d", i), tc.stage, tc.amount)
			if (err == nil) != tc.ok {
				t.Errorf("insert amount %v stage %q: err = %v, want ok=%v", tc.amount, tc.stage, err, tc.ok)
			}
		})
	}
	var n int
	if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM ledger WHERE typeof(amount_nanoton) <> 'integer'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d non-integer amounts stored (%v)", n, err)
	}
}

func TestLedgerTotals(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	totals, err := s.LedgerTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range Stages() {
		if v, ok := totals[st]; !ok || v != 0 {
			t.Errorf("empty ledger: total[%s] = %d, %v", st, v, ok)
		}
	}

	// Amounts that a float64 could not sum exactly.
	amounts := map[string][]int64{
		StageEarned:    {1, MaxAmountNanoTON, 1},
		StageCommitted: {999_999_999, 1},
		StagePaid:      {MaxAmountNanoTON, MaxAmountNanoTON, MaxAmountNanoTON, 7},
		StageWallet:    {0},
	}
	want := map[string]int64{StageClaimable: 0}
	n := 0
	for stage, as := range amounts {
		for _, a := range as {
			n++
			if _, err := s.AddLedger(ctx, LedgerEntry{Source: fmt.Sprintf("t-%d", n), Time: t0, Stage: stage, AmountNanoTON: a}); err != nil {
				t.Fatal(err)
			}
			want[stage] += a
		}
	}
	totals, err = s.LedgerTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(totals) != fmt.Sprint(want) {
		t.Errorf("LedgerTotals = %v, want %v", totals, want)
	}
	if totals[StageEarned] != 1_000_000_000_000_000_002 {
		t.Errorf("earned = %d, want exact 1000000000000000002", totals[StageEarned])
	}

	// Ten maximal entries in one stage exceed int64: an error, not a
	// wrapped or rounded total.
	for i := range 10 {
		if _, err := s.AddLedger(ctx, LedgerEntry{Source: fmt.Sprintf("big-%d", i), Time: t0, Stage: StageClaimable, AmountNanoTON: MaxAmountNanoTON}); err != nil {
			t.Fatal(err)
		}
	}
	totals, err = s.LedgerTotals(ctx)
	if err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Errorf("LedgerTotals with an overflowing stage = %v, %v; want an overflow error", totals, err)
	}
	t.Logf("overflow: %v", err)
}

func TestLedgerPaging(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const n = 25
	for i := range n {
		if _, err := s.AddLedger(ctx, LedgerEntry{Source: fmt.Sprintf("p-%02d", i), Time: t0.Add(time.Duration(i) * time.Second), Stage: StageEarned, AmountNanoTON: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var all []LedgerEntry
	after := int64(0)
	for {
		page, err := s.Ledger(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d rows, limit 10", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != n {
		t.Fatalf("paged %d rows, want %d", len(all), n)
	}
	for i, e := range all {
		if e.Source != fmt.Sprintf("p-%02d", i) || e.AmountNanoTON != int64(i) {
			t.Errorf("row %d = %+v", i, e)
		}
		if i > 0 && e.ID <= all[i-1].ID {
			t.Errorf("ids not increasing at %d", i)
		}
	}
}

// TestAddLedgerConcurrent adds the same sources from several goroutines at
// once: each is inserted exactly once, and the others see inserted=false.
func TestAddLedgerConcurrent(t *testing.T) {
	s := openTemp(t)
	const writers, sources = 4, 40
	var wg sync.WaitGroup
	inserted := make(chan string, writers*sources)
	errs := make(chan error, writers*sources)
	for w := range writers {
		wg.Go(func() {
			for i := range sources {
				src := fmt.Sprintf("concurrent:%d", (i+w*7)%sources) // each writer in its own order
				ok, err := s.AddLedger(t.Context(), LedgerEntry{Source: src, Time: t0, Stage: StagePaid, AmountNanoTON: 1})
				if err != nil {
					errs <- err
				}
				if ok {
					inserted <- src
				}
			}
		})
	}
	wg.Wait()
	close(inserted)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]int{}
	for src := range inserted {
		seen[src]++
	}
	if len(seen) != sources {
		t.Errorf("%d sources inserted, want %d", len(seen), sources)
	}
	for src, n := range seen {
		if n != 1 {
			t.Errorf("%s reported inserted %d times", src, n)
		}
	}
	totals, err := s.LedgerTotals(t.Context())
	if err != nil || totals[StagePaid] != sources {
		t.Errorf("paid total = %d, %v; want %d", totals[StagePaid], err, sources)
	}
}
