package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"
)

// Ledger stages, the values of LedgerEntry.Stage and the keys of
// LedgerTotals.
const (
	StageEarned    = "earned"
	StageCommitted = "committed"
	StageClaimable = "claimable"
	StagePaid      = "paid"
	StageWallet    = "wallet"
)

// Stages lists the ledger stages in order.
func Stages() []string {
	return []string{StageEarned, StageCommitted, StageClaimable, StagePaid, StageWallet}
}

// NanoTONPerTON is the number of nanoTON in one TON.
const NanoTONPerTON int64 = 1_000_000_000

// MaxAmountNanoTON is the largest amount one ledger entry may carry: one
// billion TON, a fifth of all TON there is. It keeps every per-stage sum of
// up to nine maximal entries, and of any realistic ledger, inside int64.
const MaxAmountNanoTON int64 = 1_000_000_000 * NanoTONPerTON

// LedgerEntry is one amount in the earnings ledger.
type LedgerEntry struct {
	ID int64 // assigned by AddLedger; increases, never reused
	// Source is the idempotency key naming where the amount came from,
	// e.g. "jsonstats:proxy-1:committed:12345". A source is stored once.
	Source string
	Time   time.Time
	Stage  string // one of the Stage constants
	// AmountNanoTON is the amount in nanoTON, 0..MaxAmountNanoTON.
	AmountNanoTON int64
	Instance      sql.Null[int64] // worker instance, when the amount has one
	Proxy         string
	Note          string
	// Tokens is the number of tokens the amount stands for and
	// FeePerToken the price used, in nanoTON per token; both 0 for an
	// amount not counted in tokens (a wallet transfer).
	Tokens      int64
	FeePerToken int64
}

// validStage reports whether stage is one of the Stage constants.
func validStage(stage string) bool {
	for _, s := range Stages() {
		if s == stage {
			return true
		}
	}
	return false
}

// AddLedger stores e (its ID is ignored) unless an entry with the same
// Source exists. inserted is false, and err nil, when it did: adding the
// same source again is how callers retry safely.
func (s *Store) AddLedger(ctx context.Context, e LedgerEntry) (inserted bool, err error) {
	switch {
	case e.Source == "":
		return false, fmt.Errorf("add ledger entry: %w: empty source", ErrInvalid)
	case !validStage(e.Stage):
		return false, fmt.Errorf("add ledger entry %q: %w: unknown stage %q", e.Source, ErrInvalid, e.Stage)
	case e.AmountNanoTON < 0 || e.AmountNanoTON > MaxAmountNanoTON:
		return false, fmt.Errorf("add ledger entry %q: %w: amount %d nanoTON is outside 0..%d",
			e.Source, ErrInvalid, e.AmountNanoTON, MaxAmountNanoTON)
	case e.Time.IsZero():
		return false, fmt.Errorf("add ledger entry %q: %w: Time is not set", e.Source, ErrInvalid)
	case e.Tokens < 0:
		return false, fmt.Errorf("add ledger entry %q: %w: tokens %d is negative", e.Source, ErrInvalid, e.Tokens)
	case e.FeePerToken < 0:
		return false, fmt.Errorf("add ledger entry %q: %w: fee per token %d nanoTON is negative", e.Source, ErrInvalid, e.FeePerToken)
	}
	var instance any
	if e.Instance.Valid {
		instance = e.Instance.V
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton, instance, proxy, note, tokens, fee_per_token)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (source) DO NOTHING`,
		e.Source, toMS(e.Time), e.Stage, e.AmountNanoTON, instance, e.Proxy, e.Note, e.Tokens, e.FeePerToken)
	if err != nil {
		return false, classify(s.path, fmt.Sprintf("add ledger entry %q", e.Source), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, classify(s.path, fmt.Sprintf("add ledger entry %q", e.Source), err)
	}
	return n == 1, nil
}

// LedgerTotals returns the sum of the amounts of each stage in nanoTON;
// every stage is present, zero when it has no entries. A sum that would
// overflow int64 is an error, never a wrapped or rounded value.
func (s *Store) LedgerTotals(ctx context.Context) (map[string]int64, error) {
	nano, _, err := s.ledgerSums(ctx, "ledger totals", nil)
	return nano, err
}

// ledgerSumsSQL sums amounts and tokens of each stage over the entries
// with t_ms >= ?1: one SELECT a stage, each a range of the covering index
// ledger_stage_t, so the cost follows the entries in range and nothing is
// sorted. It yields a row for every stage.
var ledgerSumsSQL = func() string {
	parts := make([]string, 0, len(Stages()))
	for _, st := range Stages() { // constants: safe to inline
		parts = append(parts, fmt.Sprintf(
			`SELECT '%s', coalesce(sum(amount_nanoton), 0), coalesce(sum(tokens), 0) FROM ledger WHERE stage = '%s' AND t_ms >= ?1`, st, st))
	}
	return strings.Join(parts, "\nUNION ALL ")
}()

// ledgerSums returns the nanoTON and token sums of each stage, over the
// entries with t_ms >= *since, or all entries when since is nil: one query.
func (s *Store) ledgerSums(ctx context.Context, what string, since *time.Time) (nano, tokens map[string]int64, err error) {
	from := int64(math.MinInt64)
	if since != nil {
		from = toMS(*since)
	}
	rows, err := s.db.QueryContext(ctx, ledgerSumsSQL, from)
	if err != nil {
		return nil, nil, s.sumError(what, err)
	}
	defer rows.Close()
	nano = zeroStages()
	tokens = zeroStages()
	for rows.Next() {
		var stage string
		var n, t int64
		if err := rows.Scan(&stage, &n, &t); err != nil {
			return nil, nil, s.sumError(what, err)
		}
		nano[stage], tokens[stage] = n, t
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.sumError(what, err)
	}
	return nano, tokens, nil
}

// zeroStages returns a map with every stage set to 0.
func zeroStages() map[string]int64 {
	out := make(map[string]int64, len(Stages()))
	for _, st := range Stages() {
		out[st] = 0
	}
	return out
}

// sumError explains a failed ledger sum. SQLite's sum() over integers is
// exact and fails on overflow (total() would round to a float).
func (s *Store) sumError(what string, err error) error {
	if strings.Contains(err.Error(), "integer overflow") {
		return fmt.Errorf("%s: a stage's sum does not fit in int64 (%w); the ledger holds implausible amounts: inspect it with Ledger", what, err)
	}
	return classify(s.path, what, err)
}

// Ledger returns up to limit entries with ID > afterID in ID order. A limit
// of zero or less means DefaultPageSize; more than MaxPageSize is capped.
func (s *Store) Ledger(ctx context.Context, afterID int64, limit int) ([]LedgerEntry, error) {
	const what = "read ledger"
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, source, t_ms, stage, amount_nanoton, instance, proxy, note, tokens, fee_per_token FROM ledger
		 WHERE id > ? ORDER BY id LIMIT ?`, afterID, pageSize(limit))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		var e LedgerEntry
		var t int64
		if err := rows.Scan(&e.ID, &e.Source, &t, &e.Stage, &e.AmountNanoTON, &e.Instance, &e.Proxy, &e.Note, &e.Tokens, &e.FeePerToken); err != nil {
			return nil, classify(s.path, what, err)
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// LedgerBucket is the nanoTON each stage reached in one time bucket.
type LedgerBucket struct {
	Start time.Time
	// NanoTON holds every stage, zero where it has no entries.
	NanoTON map[string]int64
}

// LedgerSeries sums the amounts of each stage over consecutive buckets of
// width bucket, the first starting at since: one query. Buckets with no
// entries are left out; the rest come in time order. bucket is rounded to
// whole milliseconds and must be at least one.
func (s *Store) LedgerSeries(ctx context.Context, since time.Time, bucket time.Duration) ([]LedgerBucket, error) {
	const what = "ledger series"
	width := bucket.Milliseconds()
	if width <= 0 {
		return nil, fmt.Errorf("%s: %w: bucket %s is shorter than 1 ms", what, ErrInvalid, bucket)
	}
	from := toMS(since)
	rows, err := s.db.QueryContext(ctx,
		`SELECT (t_ms - ?1) / ?2 AS b, stage, sum(amount_nanoton) FROM ledger
		 WHERE t_ms >= ?1 GROUP BY b, stage ORDER BY b`, from, width)
	if err != nil {
		return nil, s.sumError(what, err)
	}
	defer rows.Close()
	var out []LedgerBucket
	last := int64(-1)
	for rows.Next() {
		var b, n int64
		var stage string
		if err := rows.Scan(&b, &stage, &n); err != nil {
			return nil, s.sumError(what, err)
		}
		if b != last {
			out = append(out, LedgerBucket{Start: fromMS(from + b*width), NanoTON: zeroStages()})
			last = b
		}
		out[len(out)-1].NanoTON[stage] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.sumError(what, err)
	}
	return out, nil
}
