package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
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
		return false, s.insertError(fmt.Sprintf("add ledger entry %q", e.Source), e.Stage, err)
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

// quarterMS is the width of a ledger_quarters row: a quarter hour.
const quarterMS = 15 * 60 * 1000

// quarterFloor returns the start of the quarter hour holding ms.
func quarterFloor(ms int64) int64 { return ms - ((ms%quarterMS)+quarterMS)%quarterMS }

// ledgerSumsSQL sums amounts and tokens of each stage from ?1 on in two
// parts: the whole quarter hours from ?2 (the first quarter boundary at or
// after ?1) from ledger_quarters, and the entries in [?1, ?2) from a range
// of the covering index ledger_stage_t. The parts are added in Go, where
// an overflow is caught; sum() itself fails on one. One row per stage.
var ledgerSumsSQL = func() string {
	parts := make([]string, 0, len(Stages()))
	for _, st := range Stages() { // constants: safe to inline
		parts = append(parts, fmt.Sprintf(
			`SELECT '%[1]s',
			   (SELECT coalesce(sum(amount_nanoton), 0) FROM ledger_quarters WHERE stage = '%[1]s' AND q_ms >= ?2),
			   (SELECT coalesce(sum(tokens), 0) FROM ledger_quarters WHERE stage = '%[1]s' AND q_ms >= ?2),
			   (SELECT coalesce(sum(amount_nanoton), 0) FROM ledger WHERE stage = '%[1]s' AND t_ms >= ?1 AND t_ms < ?2),
			   (SELECT coalesce(sum(tokens), 0) FROM ledger WHERE stage = '%[1]s' AND t_ms >= ?1 AND t_ms < ?2)`, st))
	}
	return strings.Join(parts, "\nUNION ALL ")
}()

// ledgerSums returns the nanoTON and token sums of each stage, over the
// entries with t_ms >= *since, or all entries when since is nil: one query.
func (s *Store) ledgerSums(ctx context.Context, what string, since *time.Time) (nano, tokens map[string]int64, err error) {
	from, whole := int64(math.MinInt64), int64(math.MinInt64)
	if since != nil {
		from = toMS(*since)
		whole = quarterFloor(from)
		if whole < from {
			whole += quarterMS
		}
	}
	rows, err := s.db.QueryContext(ctx, ledgerSumsSQL, from, whole)
	if err != nil {
		return nil, nil, s.sumError(what, err)
	}
	defer rows.Close()
	nano = zeroStages()
	tokens = zeroStages()
	for rows.Next() {
		var stage string
		var qn, qt, ln, lt int64
		if err := rows.Scan(&stage, &qn, &qt, &ln, &lt); err != nil {
			return nil, nil, s.sumError(what, err)
		}
		n, okN := addExact(qn, ln)
		t, okT := addExact(qt, lt)
		if !okN || !okT {
			return nil, nil, s.sumError(what, errors.New("integer overflow"))
		}
		nano[stage], tokens[stage] = n, t
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.sumError(what, err)
	}
	return nano, tokens, nil
}

// insertError explains a failed ledger insert. The one constraint an
// entry can break that AddLedger's checks do not cover is its quarter
// hour's sum in ledger_quarters leaving int64 (SQLite turns the sum into a
// REAL, which the STRICT table refuses); nothing was written then.
func (s *Store) insertError(what, stage string, err error) error {
	if sqliteExtCode(err) == sqlite3.SQLITE_CONSTRAINT_DATATYPE && strings.Contains(err.Error(), "ledger_quarters") {
		return fmt.Errorf("%s: %w: the %s entries of this quarter hour would sum beyond int64 nanoTON; such amounts are implausible: check where they came from",
			what, ErrInvalid, stage)
	}
	return classify(s.path, what, err)
}

// addExact returns a+b and whether it fits in int64 (both are >= 0).
func addExact(a, b int64) (int64, bool) {
	if a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
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
	return s.scanLedger(rows, what)
}

// scanLedger reads the entries rows selects and closes rows.
func (s *Store) scanLedger(rows *sql.Rows, what string) ([]LedgerEntry, error) {
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

// LedgerFrom returns up to limit entries with Time >= since in time
// order, ties in ID order, continuing after the entry after (nil: from the
// start): the pages of an export, each one range of the ledger_t index. A
// limit of zero or less means DefaultPageSize; more than MaxPageSize is
// capped.
func (s *Store) LedgerFrom(ctx context.Context, since time.Time, after *LedgerEntry, limit int) ([]LedgerEntry, error) {
	const what = "read ledger by time"
	afterMS, afterID := int64(math.MinInt64), int64(0)
	if after != nil {
		afterMS, afterID = toMS(after.Time), after.ID
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, source, t_ms, stage, amount_nanoton, instance, proxy, note, tokens, fee_per_token FROM ledger
		 WHERE t_ms >= ?1 AND (t_ms, id) > (?2, ?3) ORDER BY t_ms, id LIMIT ?4`, toMS(since), afterMS, afterID, pageSize(limit))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	return s.scanLedger(rows, what)
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
	// Buckets of whole quarter hours starting on one are sums of
	// ledger_quarters rows; others read the entries.
	q := `SELECT (t_ms - ?1) / ?2 AS b, stage, sum(amount_nanoton) FROM ledger
		 WHERE t_ms >= ?1 GROUP BY b, stage ORDER BY b`
	if width%quarterMS == 0 && quarterFloor(from) == from {
		q = `SELECT (q_ms - ?1) / ?2 AS b, stage, sum(amount_nanoton) FROM ledger_quarters
		 WHERE q_ms >= ?1 GROUP BY b, stage ORDER BY b`
	}
	rows, err := s.db.QueryContext(ctx, q, from, width)
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
