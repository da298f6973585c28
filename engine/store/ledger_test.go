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
	// wrapped or rounded total. (In one quarter hour the tenth is refused:
	// TestLedgerQuarterOverflow.)
	for i := range 10 {
		e := LedgerEntry{Source: fmt.Sprintf("big-%d", i), Time: t0.Add(time.Duration(i) * time.Hour), Stage: StageClaimable, AmountNanoTON: MaxAmountNanoTON}
		if _, err := s.AddLedger(ctx, e); err != nil {
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

// TestLedgerQuarterOverflow: entries whose quarter hour's sum would leave
// int64 are refused with ErrInvalid and leave the ledger as it was.
func TestLedgerQuarterOverflow(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for i := range 9 {
		if _, err := s.AddLedger(ctx, LedgerEntry{Source: fmt.Sprintf("big-%d", i), Time: t0, Stage: StagePaid, AmountNanoTON: MaxAmountNanoTON}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.AddLedger(ctx, LedgerEntry{Source: "big-9", Time: t0.Add(time.Minute), Stage: StagePaid, AmountNanoTON: MaxAmountNanoTON})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "quarter hour") {
		t.Fatalf("tenth maximal entry in one quarter hour: %v, want ErrInvalid naming the quarter hour", err)
	}
	t.Logf("refused: %v", err)
	rows, err := s.Ledger(ctx, 0, 0)
	if err != nil || len(rows) != 9 {
		t.Fatalf("ledger after the refusal: %d rows, %v; want 9", len(rows), err)
	}
	if totals, err := s.LedgerTotals(ctx); err != nil || totals[StagePaid] != 9*MaxAmountNanoTON {
		t.Errorf("totals = %v, %v", totals, err)
	}
}

// TestLedgerQuartersMatchEntries checks the sums read from whole quarter
// hours plus the entries before the first one against a plain sum over
// the entries, for boundaries on, just before and just after quarter
// hours, times before 1970, and after entries are changed and removed.
func TestLedgerQuartersMatchEntries(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	base := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	offsets := []time.Duration{-time.Millisecond, 0, time.Millisecond, 14*time.Minute + 59*time.Second, 15 * time.Minute,
		31 * time.Minute, 2 * time.Hour, 25 * time.Hour, -30 * 24 * time.Hour}
	i := 0
	for _, at := range offsets {
		for _, stage := range Stages() {
			i++
			e := LedgerEntry{Source: fmt.Sprintf("e-%d", i), Time: base.Add(at), Stage: stage, AmountNanoTON: int64(i * 1000), Tokens: int64(i)}
			if _, err := s.AddLedger(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.AddLedger(ctx, LedgerEntry{Source: "1969", Time: time.Date(1969, 12, 31, 23, 50, 0, 7e6, time.UTC), Stage: StageWallet, AmountNanoTON: 5}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		sinces := []time.Time{time.Date(1969, 12, 31, 23, 46, 0, 0, time.UTC), time.Unix(0, 0)}
		for _, at := range offsets {
			for _, d := range []time.Duration{-time.Millisecond, 0, time.Millisecond, 7 * time.Minute} {
				sinces = append(sinces, base.Add(at+d))
			}
		}
		for _, since := range sinces {
			nano, tokens, err := s.ledgerSums(ctx, "test", &since)
			if err != nil {
				t.Fatal(err)
			}
			wantN, wantT := plainSums(t, s, toMS(since))
			if fmt.Sprint(nano) != fmt.Sprint(wantN) || fmt.Sprint(tokens) != fmt.Sprint(wantT) {
				t.Errorf("%s: sums since %v = %v / %v, want %v / %v", when, since, nano, tokens, wantN, wantT)
			}
		}
		all, err := s.LedgerTotals(ctx)
		if wantN, _ := plainSums(t, s, math.MinInt64); err != nil || fmt.Sprint(all) != fmt.Sprint(wantN) {
			t.Errorf("%s: LedgerTotals = %v, %v; want %v", when, all, err, wantN)
		}
		// Series: aligned (read from ledger_quarters) and not.
		for _, since := range []time.Time{base.Add(-31 * 24 * time.Hour), base.Add(-time.Hour), base.Add(-7 * time.Minute), base.Add(time.Millisecond)} {
			for _, bucket := range []time.Duration{15 * time.Minute, time.Hour, 24 * time.Hour, 7 * time.Minute} {
				got, err := s.LedgerSeries(ctx, since, bucket)
				if err != nil {
					t.Fatal(err)
				}
				if want := plainSeries(t, s, since, bucket); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: LedgerSeries(%v, %v) = %v, want %v", when, since, bucket, got, want)
				}
			}
		}
	}
	check("after inserts")
	for _, q := range []string{
		`UPDATE ledger SET t_ms = t_ms + 3600000, amount_nanoton = amount_nanoton + 1 WHERE source = 'e-3'`,
		`UPDATE ledger SET stage = 'paid' WHERE source = 'e-7'`,
		`DELETE FROM ledger WHERE source IN ('e-1', 'e-12', '1969')`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		check(q)
	}
	var stale int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM ledger_quarters WHERE entries = 0`).Scan(&stale); err != nil || stale != 0 {
		t.Errorf("empty quarter rows left: %d, %v", stale, err)
	}
}

// plainSums sums the entries from ms on without ledger_quarters.
func plainSums(t *testing.T, s *Store, ms int64) (nano, tokens map[string]int64) {
	t.Helper()
	nano, tokens = zeroStages(), zeroStages()
	rows, err := s.db.QueryContext(t.Context(), `SELECT stage, sum(amount_nanoton), sum(tokens) FROM ledger WHERE t_ms >= ? GROUP BY stage`, ms)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n, tk int64
		if err := rows.Scan(&st, &n, &tk); err != nil {
			t.Fatal(err)
		}
		nano[st], tokens[st] = n, tk
	}
	return nano, tokens
}

// plainSeries is LedgerSeries computed from the entries alone.
func plainSeries(t *testing.T, s *Store, since time.Time, bucket time.Duration) []LedgerBucket {
	t.Helper()
	from, width := toMS(since), bucket.Milliseconds()
	rows, err := s.db.QueryContext(t.Context(), `SELECT (t_ms - ?1) / ?2 AS b, stage, sum(amount_nanoton) FROM ledger
		WHERE t_ms >= ?1 GROUP BY b, stage ORDER BY b`, from, width)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []LedgerBucket
	for rows.Next() {
		var b, n int64
		var st string
		if err := rows.Scan(&b, &st, &n); err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 || out[len(out)-1].Start != fromMS(from+b*width) {
			out = append(out, LedgerBucket{Start: fromMS(from + b*width), NanoTON: zeroStages()})
		}
		out[len(out)-1].NanoTON[st] = n
	}
	return out
}

// TestLedgerFrom pages through entries recorded out of time order and
// checks time order with ties in ID order, the since bound, and that the
// read is one range of ledger_t with nothing sorted.
func TestLedgerFrom(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	// Minutes after t0, in recording order: a late chain read comes
	// after later entries, and ties share a minute.
	minutes := []int{5, 1, 3, 3, 0, 9, 3, 7, 2, 8, 6, 4, 3}
	for i, m := range minutes {
		e := LedgerEntry{Source: fmt.Sprintf("m-%d", i), Time: t0.Add(time.Duration(m) * time.Minute), Stage: StageEarned, AmountNanoTON: 1}
		if _, err := s.AddLedger(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 5, 100} {
		var got []string
		var after *LedgerEntry
		for {
			page, err := s.LedgerFrom(ctx, t0.Add(3*time.Minute), after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				got = append(got, fmt.Sprintf("%s@%d", e.Source, int(e.Time.Sub(t0).Minutes())))
			}
			if len(page) < limit {
				break
			}
			after = &page[len(page)-1]
		}
		want := "[m-2@3 m-3@3 m-6@3 m-12@3 m-11@4 m-0@5 m-10@6 m-7@7 m-9@8 m-5@9]"
		if fmt.Sprint(got) != want {
			t.Errorf("limit %d: %v, want %s", limit, got, want)
		}
	}
	rows, err := s.db.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT id FROM ledger
		WHERE t_ms >= ?1 AND (t_ms, id) > (?2, ?3) ORDER BY t_ms, id LIMIT ?4`, 0, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "INDEX ledger_t ") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("plan:\n%s\nwant ledger_t and no sort", text)
	}
}
