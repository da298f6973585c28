package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// ActivitySample is what one worker did over Interval ending at Time: the
// deltas of its cumulative /jsonstats counters between two reads. Time is
// stored to the millisecond, Interval in whole milliseconds.
type ActivitySample struct {
	Instance int64 // worker instance, >= 0
	Time     time.Time
	Interval time.Duration // at least a millisecond
	// Deltas, each finite and >= 0.
	Queries, Success, Failed, BytesIn, BytesOut, BusySeconds                   float64
	TokensTotal, TokensPrompt, TokensCached, TokensCompletion, TokensReasoning float64
	// Restarted says the worker restarted during the interval; the deltas
	// then count from zero.
	Restarted bool
}

// activityColumns are the value columns of activity_samples in the order
// of ActivitySample.values.
const activityColumns = `queries, success, failed, bytes_in, bytes_out, busy_s,
  tokens_total, tokens_prompt, tokens_cached, tokens_completion, tokens_reasoning`

// activityValue is one named delta of a sample.
type activityValue struct {
	name string
	v    *float64
}

// values lists a's deltas with their names, in activityColumns order.
func (a *ActivitySample) values() [11]activityValue {
	return [11]activityValue{
		{"queries", &a.Queries}, {"success", &a.Success}, {"failed", &a.Failed},
		{"bytes in", &a.BytesIn}, {"bytes out", &a.BytesOut}, {"busy seconds", &a.BusySeconds},
		{"total tokens", &a.TokensTotal}, {"prompt tokens", &a.TokensPrompt}, {"cached tokens", &a.TokensCached},
		{"completion tokens", &a.TokensCompletion}, {"reasoning tokens", &a.TokensReasoning},
	}
}

// validate checks a sample before it is written.
func (a ActivitySample) validate() error {
	switch {
	case a.Instance < 0:
		return fmt.Errorf("%w: instance %d is negative", ErrInvalid, a.Instance)
	case a.Time.IsZero() || a.Time.UnixMilli() < 0:
		return fmt.Errorf("%w: time %v is not set or before 1970", ErrInvalid, a.Time)
	case a.Interval < time.Millisecond:
		return fmt.Errorf("%w: interval %v is shorter than the 1ms the store keeps", ErrInvalid, a.Interval)
	}
	for _, f := range a.values() {
		switch v := *f.v; {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("%w: %s is %v, want a finite number", ErrInvalid, f.name, v)
		case v < 0:
			return fmt.Errorf("%w: %s is %v, a delta is never negative", ErrInvalid, f.name, v)
		}
	}
	return nil
}

// AddActivity stores samples in one transaction: all or none. A sample
// whose instance and millisecond are already stored is ignored (the first
// write wins), so a retry is safe.
func (s *Store) AddActivity(ctx context.Context, samples ...ActivitySample) error {
	const what = "add activity"
	for i, a := range samples {
		if err := a.validate(); err != nil {
			return fmt.Errorf("%s: sample %d (instance %d at %v): %w", what, i, a.Instance, a.Time, err)
		}
	}
	if len(samples) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO activity_samples (instance, t_ms, interval_ms, `+activityColumns+`, restarted)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (instance, t_ms) DO NOTHING`)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer stmt.Close()
	for _, a := range samples {
		args := make([]any, 0, 15)
		args = append(args, a.Instance, toMS(a.Time), a.Interval.Milliseconds())
		for _, f := range a.values() {
			args = append(args, *f.v)
		}
		args = append(args, a.Restarted)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return classify(s.path, what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return classify(s.path, what, err)
	}
	return nil
}

// Activity returns the samples of one instance with from <= Time < to,
// oldest first.
func (s *Store) Activity(ctx context.Context, instance int64, from, to time.Time) ([]ActivitySample, error) {
	what := fmt.Sprintf("read activity of instance %d", instance)
	rows, err := s.db.QueryContext(ctx,
		`SELECT t_ms, interval_ms, `+activityColumns+`, restarted FROM activity_samples
		 WHERE instance = ? AND t_ms >= ? AND t_ms < ? ORDER BY t_ms`,
		instance, toMS(from), toMS(to))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []ActivitySample
	for rows.Next() {
		a := ActivitySample{Instance: instance}
		var t, iv int64
		dst := []any{&t, &iv}
		for _, f := range a.values() {
			dst = append(dst, f.v)
		}
		dst = append(dst, &a.Restarted)
		if err := rows.Scan(dst...); err != nil {
			return nil, classify(s.path, what, err)
		}
		a.Time, a.Interval = fromMS(t), msDuration(iv)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// ActivitySummary sums the samples with Time >= since of one instance, or
// of every instance when instance < 0, in one query. In the result every
// delta is the sum, Interval is the sum of the intervals (with several
// instances, more than the wall-clock time: Queries/Interval is then the
// average rate per worker), Time is the newest sample's time (zero when
// none matched), Restarted says whether any sample had a restart, and
// Instance is the instance asked for.
func (s *Store) ActivitySummary(ctx context.Context, instance int64, since time.Time) (ActivitySample, error) {
	q := `SELECT max(t_ms), coalesce(sum(interval_ms), 0),
	  total(queries), total(success), total(failed), total(bytes_in), total(bytes_out), total(busy_s),
	  total(tokens_total), total(tokens_prompt), total(tokens_cached), total(tokens_completion), total(tokens_reasoning),
	  coalesce(max(restarted), 0)
	FROM activity_samples WHERE t_ms >= ?`
	args := []any{toMS(since)}
	what := "summarise the activity of all instances"
	if instance >= 0 {
		q += ` AND instance = ?`
		args = append(args, instance)
		what = fmt.Sprintf("summarise the activity of instance %d", instance)
	}
	a := ActivitySample{Instance: instance}
	var t *int64
	var iv int64
	dst := []any{&t, &iv}
	for _, f := range a.values() {
		dst = append(dst, f.v)
	}
	dst = append(dst, &a.Restarted)
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(dst...); err != nil {
		return ActivitySample{}, classify(s.path, what, err)
	}
	if t != nil {
		a.Time = fromMS(*t)
	}
	a.Interval = msDuration(iv)
	return a, nil
}

// CompactActivity deletes the samples with Time < before and returns how
// many it deleted.
func (s *Store) CompactActivity(ctx context.Context, before time.Time) (int64, error) {
	const what = "compact activity"
	res, err := s.db.ExecContext(ctx, `DELETE FROM activity_samples WHERE t_ms < ?`, toMS(before))
	if err != nil {
		return 0, classify(s.path, what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, classify(s.path, what, err)
	}
	return n, nil
}

// msDuration converts milliseconds to a Duration, saturating.
func msDuration(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}
