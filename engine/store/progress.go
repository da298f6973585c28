package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// Progress is a cumulative settlement counter as a worker reports it
// (§6.3, §8.3): the tokens that have reached Stage so far in one proxy
// relationship.
type Progress struct {
	Instance int64  // worker instance, >= 0
	Proxy    string // proxy contract address (proxy_sc_address), not empty
	// Relationship names the worker contract the counter belongs to, e.g.
	// sc_address@params_version; the counters are cumulative per
	// relationship. Not empty.
	Relationship string
	Stage        string    // one of the Stage constants
	Tokens       int64     // cumulative tokens at this stage (e.g. earned_tokens_max_known), >= 0
	FeePerToken  int64     // nanoTON per token (worker_fee_per_token), >= 0
	Time         time.Time // when the worker reported it
}

// progressSource is the ledger source of the entry that raised p's mark to
// p.Tokens: progressKey(p) followed by the new cumulative value.
func progressSource(p Progress) string { return progressKey(p) + strconv.FormatInt(p.Tokens, 10) }

// progressKey names p's counter, ending in ':'. Proxy and relationship are
// quoted so that no two counters share a key, whatever characters they
// hold (raw TON addresses contain ':').
func progressKey(p Progress) string {
	return fmt.Sprintf("progress:%d:%q:%q:%s:", p.Instance, p.Proxy, p.Relationship, p.Stage)
}

// validate checks p before anything is read or written.
func (p Progress) validate() error {
	switch {
	case p.Instance < 0:
		return fmt.Errorf("%w: instance %d is negative", ErrInvalid, p.Instance)
	case p.Proxy == "":
		return fmt.Errorf("%w: empty proxy address", ErrInvalid)
	case p.Relationship == "":
		return fmt.Errorf("%w: empty relationship", ErrInvalid)
	case !validStage(p.Stage):
		return fmt.Errorf("%w: unknown stage %q", ErrInvalid, p.Stage)
	case p.Tokens < 0:
		return fmt.Errorf("%w: tokens %d is negative", ErrInvalid, p.Tokens)
	case p.FeePerToken < 0:
		return fmt.Errorf("%w: fee per token %d nanoTON is negative", ErrInvalid, p.FeePerToken)
	case p.Time.IsZero():
		return fmt.Errorf("%w: Time is not set", ErrInvalid)
	}
	return nil
}

// progressAmount returns tokens × fee in nanoTON, both >= 0, or an error
// wrapping ErrInvalid when it does not fit one ledger entry.
func progressAmount(tokens, fee int64) (int64, error) {
	hi, lo := bits.Mul64(uint64(tokens), uint64(fee))
	if hi != 0 || lo > uint64(MaxAmountNanoTON) {
		return 0, fmt.Errorf("%w: %d tokens × %d nanoTON per token exceeds %d nanoTON, the most one ledger entry may hold; the worker reported an implausible counter or price",
			ErrInvalid, tokens, fee, MaxAmountNanoTON)
	}
	return int64(lo), nil
}

// readMark returns the stored mark of p's counter, 0 when there is none.
func readMark(ctx context.Context, q queryer, p Progress) (int64, error) {
	var mark int64
	err := q.QueryRowContext(ctx,
		`SELECT tokens FROM ledger_marks WHERE instance = ? AND proxy = ? AND relationship = ? AND stage = ?`,
		p.Instance, p.Proxy, p.Relationship, p.Stage).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return mark, err
}

// RecordProgress adds a ledger entry for the part of p.Tokens above the
// stored mark of its counter (instance, proxy, relationship, stage) and
// raises the mark to p.Tokens, in one transaction. The entry's amount is
// (p.Tokens − mark) × p.FeePerToken nanoTON, its Tokens the difference, its
// source names the counter and the new cumulative value. A counter seen for
// the first time has mark 0, so its whole value is recorded.
//
// A value at or below the mark (a restarted worker that has not yet
// re-learnt its counters from the proxy, a counter going backwards) adds
// nothing and never lowers the mark; inserted is false. Calling it again
// with the same p is therefore safe. A difference whose amount does not fit
// one ledger entry (MaxAmountNanoTON) is an error wrapping ErrInvalid, and
// nothing is written.
func (s *Store) RecordProgress(ctx context.Context, p Progress) (e LedgerEntry, inserted bool, err error) {
	what := fmt.Sprintf("record %s progress of instance %d, proxy %q, relationship %q", p.Stage, p.Instance, p.Proxy, p.Relationship)
	if err := p.validate(); err != nil {
		return LedgerEntry{}, false, fmt.Errorf("%s: %w", what, err)
	}
	// Marks only rise, so a value at or below a mark read outside the
	// transaction is at or below the current mark too: the common case,
	// an unchanged counter, takes no write lock.
	mark, err := readMark(ctx, s.db, p)
	if err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	if p.Tokens <= mark {
		return LedgerEntry{}, false, nil
	}
	if _, err := progressAmount(p.Tokens-mark, p.FeePerToken); err != nil {
		return LedgerEntry{}, false, fmt.Errorf("%s: %w", what, err)
	}

	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Another call may have raised the mark meanwhile.
	if mark, err = readMark(ctx, tx, p); err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	if p.Tokens <= mark {
		return LedgerEntry{}, false, nil
	}
	diff := p.Tokens - mark
	amount, err := progressAmount(diff, p.FeePerToken)
	if err != nil {
		return LedgerEntry{}, false, fmt.Errorf("%s: %w", what, err)
	}
	e = LedgerEntry{
		Source: progressSource(p), Time: p.Time, Stage: p.Stage, AmountNanoTON: amount,
		Instance: sql.Null[int64]{V: p.Instance, Valid: true}, Proxy: p.Proxy,
		Note:   fmt.Sprintf("%s: %d → %d tokens at %d nanoTON", p.Relationship, mark, p.Tokens, p.FeePerToken),
		Tokens: diff, FeePerToken: p.FeePerToken,
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO ledger (source, t_ms, stage, amount_nanoton, instance, proxy, note, tokens, fee_per_token)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (source) DO NOTHING`,
		e.Source, toMS(e.Time), e.Stage, e.AmountNanoTON, p.Instance, e.Proxy, e.Note, e.Tokens, e.FeePerToken)
	if err != nil {
		return LedgerEntry{}, false, s.insertError(what, e.Stage, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	if n == 1 {
		if e.ID, err = res.LastInsertId(); err != nil {
			return LedgerEntry{}, false, classify(s.path, what, err)
		}
	}
	// n == 0: the entry for this very value exists although the mark is
	// below it (the mark row was removed by hand). Raise the mark so that
	// the two agree again; the amount is already in the ledger.
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO ledger_marks (instance, proxy, relationship, stage, tokens, t_ms)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (instance, proxy, relationship, stage) DO UPDATE SET
		   tokens = excluded.tokens, t_ms = excluded.t_ms
		 WHERE excluded.tokens > ledger_marks.tokens`,
		p.Instance, p.Proxy, p.Relationship, p.Stage, p.Tokens, toMS(p.Time)); err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	if err := tx.Commit(); err != nil {
		return LedgerEntry{}, false, classify(s.path, what, err)
	}
	if n != 1 {
		return LedgerEntry{}, false, nil
	}
	return e, true, nil
}

// Mark is the stored high-water mark of one settlement counter.
type Mark struct {
	Instance     int64
	Proxy        string
	Relationship string
	Stage        string
	Tokens       int64
	Time         time.Time // when the mark was last raised
}

// Marks returns every stored mark, ordered by instance, proxy,
// relationship and stage.
func (s *Store) Marks(ctx context.Context) ([]Mark, error) {
	const what = "read ledger marks"
	rows, err := s.db.QueryContext(ctx,
		`SELECT instance, proxy, relationship, stage, tokens, t_ms FROM ledger_marks
		 ORDER BY instance, proxy, relationship, stage`)
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []Mark
	for rows.Next() {
		var m Mark
		var t int64
		if err := rows.Scan(&m.Instance, &m.Proxy, &m.Relationship, &m.Stage, &m.Tokens, &t); err != nil {
			return nil, classify(s.path, what, err)
		}
		m.Time = fromMS(t)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// LedgerTotalsSince returns, like LedgerTotals, the nanoTON sum of each
// stage, over the entries with Time >= since: one query. Every stage is
// present.
func (s *Store) LedgerTotalsSince(ctx context.Context, since time.Time) (map[string]int64, error) {
	nano, _, err := s.ledgerSums(ctx, "ledger totals since "+since.Format(time.RFC3339), &since)
	return nano, err
}

// LedgerTokenTotals returns the token sum (LedgerEntry.Tokens) of each
// stage over the entries with Time >= since: one query. Every stage is
// present.
func (s *Store) LedgerTokenTotals(ctx context.Context, since time.Time) (map[string]int64, error) {
	_, tokens, err := s.ledgerSums(ctx, "ledger token totals since "+since.Format(time.RFC3339), &since)
	return tokens, err
}

// ProxyTotals are the ledger sums of one worker instance and proxy.
type ProxyTotals struct {
	Instance sql.Null[int64]  // not Valid for entries without an instance
	Proxy    string           // "" for entries without a proxy
	NanoTON  map[string]int64 // per stage; every stage present
	Tokens   map[string]int64 // per stage; every stage present
}

// ledgerByProxySQL reads the covering index ledger_proxy_stage in group
// order: nothing but the few result rows is sorted.
const ledgerByProxySQL = `SELECT instance, proxy, stage, sum(amount_nanoton), sum(tokens) FROM ledger
WHERE t_ms >= ? GROUP BY instance, proxy, stage ORDER BY instance, proxy`

// LedgerByProxy returns the nanoTON and token sums per stage of every
// (instance, proxy) pair over the entries with Time >= since, ordered by
// instance (entries without one first) and proxy: one query.
func (s *Store) LedgerByProxy(ctx context.Context, since time.Time) ([]ProxyTotals, error) {
	what := "ledger totals by proxy since " + since.Format(time.RFC3339)
	rows, err := s.db.QueryContext(ctx, ledgerByProxySQL, toMS(since))
	if err != nil {
		return nil, s.sumError(what, err)
	}
	defer rows.Close()
	var out []ProxyTotals
	for rows.Next() {
		var inst sql.Null[int64]
		var proxy, stage string
		var nano, tokens int64
		if err := rows.Scan(&inst, &proxy, &stage, &nano, &tokens); err != nil {
			return nil, s.sumError(what, err)
		}
		if n := len(out); n == 0 || out[n-1].Instance != inst || out[n-1].Proxy != proxy {
			out = append(out, ProxyTotals{Instance: inst, Proxy: proxy, NanoTON: zeroStages(), Tokens: zeroStages()})
		}
		last := &out[len(out)-1]
		last.NanoTON[stage], last.Tokens[stage] = nano, tokens
	}
	if err := rows.Err(); err != nil {
		return nil, s.sumError(what, err)
	}
	return out, nil
}
