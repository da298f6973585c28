package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// Retention defaults for Compact.
const (
	// DefaultRawRetention is how long raw samples are kept.
	DefaultRawRetention = time.Hour
	// DefaultRollupRetention is how long per-minute rollups are kept.
	DefaultRollupRetention = 30 * 24 * time.Hour
)

// rollupPeriod is the width of one rollup bucket.
const rollupPeriod = time.Minute

// Sample is one telemetry reading of one GPU. A reading that is not Valid
// is unknown and stored as NULL; NaN and ±Inf are stored as unknown too.
type Sample struct {
	GPUKey     string
	Time       time.Time
	UtilPct    sql.Null[float64] // utilisation, percent
	MemUsedMiB sql.Null[float64] // memory used, MiB
	TempC      sql.Null[float64] // temperature, °C
	PowerW     sql.Null[float64] // power draw, W
}

// Known returns v as a known reading.
func Known(v float64) sql.Null[float64] { return sql.Null[float64]{V: v, Valid: true} }

// Agg summarises one reading over a rollup minute: the average and maximum
// of the known values and how many there were (N). Avg and Max are not
// Valid when N is 0.
type Agg struct {
	Avg sql.Null[float64]
	Max sql.Null[float64]
	N   int64
}

// Rollup summarises the raw samples of one GPU over one minute.
type Rollup struct {
	GPUKey     string
	Minute     time.Time // start of the minute, UTC
	Samples    int64     // raw samples rolled up, known or not
	UtilPct    Agg
	MemUsedMiB Agg
	TempC      Agg
	PowerW     Agg
}

// CompactStats says what one Compact did.
type CompactStats struct {
	SamplesRolledUp int64 // raw samples folded into rollups and deleted
	RollupsWritten  int64 // rollup rows inserted or updated
	RollupsDeleted  int64 // rollup rows deleted for age
}

// nullable returns the value to bind for a reading: nil when unknown.
func nullable(r sql.Null[float64]) any {
	if !r.Valid || math.IsNaN(r.V) || math.IsInf(r.V, 0) {
		return nil
	}
	return r.V
}

// AddSamples stores samples in one transaction: all or none. A sample for a
// GPU and millisecond already stored replaces it. Each GPUKey must have been
// recorded with UpsertGPU first.
func (s *Store) AddSamples(ctx context.Context, samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	for i, x := range samples {
		if x.GPUKey == "" {
			return fmt.Errorf("add samples: %w: sample %d has an empty GPU key", ErrInvalid, i)
		}
		if x.Time.UnixMilli() < 0 {
			return fmt.Errorf("add samples: %w: sample %d (gpu %q) has time %v, before 1970", ErrInvalid, i, x.GPUKey, x.Time)
		}
	}
	const what = "add samples"
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO telemetry_samples (gpu_key, t_ms, util_pct, mem_used_mib, temp_c, power_w)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (gpu_key, t_ms) DO UPDATE SET
		   util_pct = excluded.util_pct, mem_used_mib = excluded.mem_used_mib,
		   temp_c = excluded.temp_c, power_w = excluded.power_w`)
	if err != nil {
		return classify(s.path, what, err)
	}
	defer stmt.Close()
	for _, x := range samples {
		_, err := stmt.ExecContext(ctx, x.GPUKey, toMS(x.Time),
			nullable(x.UtilPct), nullable(x.MemUsedMiB), nullable(x.TempC), nullable(x.PowerW))
		if sqliteExtCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return fmt.Errorf("%s: %w: gpu %q is not recorded; call UpsertGPU first", what, ErrInvalid, x.GPUKey)
		}
		if err != nil {
			return classify(s.path, what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return classify(s.path, what, err)
	}
	return nil
}

// Samples returns the raw samples of one GPU with from <= Time < to,
// oldest first.
func (s *Store) Samples(ctx context.Context, gpuKey string, from, to time.Time) ([]Sample, error) {
	what := fmt.Sprintf("read samples of gpu %q", gpuKey)
	rows, err := s.db.QueryContext(ctx,
		`SELECT t_ms, util_pct, mem_used_mib, temp_c, power_w FROM telemetry_samples
		 WHERE gpu_key = ? AND t_ms >= ? AND t_ms < ? ORDER BY t_ms`,
		gpuKey, toMS(from), toMS(to))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		x := Sample{GPUKey: gpuKey}
		var t int64
		if err := rows.Scan(&t, &x.UtilPct, &x.MemUsedMiB, &x.TempC, &x.PowerW); err != nil {
			return nil, classify(s.path, what, err)
		}
		x.Time = fromMS(t)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// Rollups returns the rollups of one GPU whose minute starts in [from, to),
// oldest first.
func (s *Store) Rollups(ctx context.Context, gpuKey string, from, to time.Time) ([]Rollup, error) {
	what := fmt.Sprintf("read rollups of gpu %q", gpuKey)
	rows, err := s.db.QueryContext(ctx,
		`SELECT minute_ms, samples,
		   util_avg, util_max, util_n, mem_avg, mem_max, mem_n,
		   temp_avg, temp_max, temp_n, power_avg, power_max, power_n
		 FROM telemetry_rollups
		 WHERE gpu_key = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms`,
		gpuKey, toMS(from), toMS(to))
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		r := Rollup{GPUKey: gpuKey}
		var m int64
		if err := rows.Scan(&m, &r.Samples,
			&r.UtilPct.Avg, &r.UtilPct.Max, &r.UtilPct.N,
			&r.MemUsedMiB.Avg, &r.MemUsedMiB.Max, &r.MemUsedMiB.N,
			&r.TempC.Avg, &r.TempC.Max, &r.TempC.N,
			&r.PowerW.Avg, &r.PowerW.Max, &r.PowerW.N); err != nil {
			return nil, classify(s.path, what, err)
		}
		r.Minute = fromMS(m)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}

// compactRollupSQL folds the raw samples older than ?1 (a whole minute)
// into telemetry_rollups. A minute already rolled up (samples that arrived
// late) is merged: averages weighted by their counts, the larger maximum.
// In an UPSERT every right-hand side sees the row as it was before.
const compactRollupSQL = `
INSERT INTO telemetry_rollups (gpu_key, minute_ms, samples,
  util_avg, util_max, util_n, mem_avg, mem_max, mem_n,
  temp_avg, temp_max, temp_n, power_avg, power_max, power_n)
SELECT gpu_key, t_ms - (t_ms % 60000) AS minute, count(*),
  avg(util_pct), max(util_pct), count(util_pct),
  avg(mem_used_mib), max(mem_used_mib), count(mem_used_mib),
  avg(temp_c), max(temp_c), count(temp_c),
  avg(power_w), max(power_w), count(power_w)
FROM telemetry_samples WHERE t_ms < ?1
GROUP BY gpu_key, minute
ON CONFLICT (gpu_key, minute_ms) DO UPDATE SET
  samples = samples + excluded.samples,
  util_avg = CASE WHEN excluded.util_n = 0 THEN util_avg
                  WHEN util_n = 0 THEN excluded.util_avg
                  ELSE (util_avg * util_n + excluded.util_avg * excluded.util_n) / (util_n + excluded.util_n) END,
  util_max = CASE WHEN excluded.util_n = 0 THEN util_max
                  WHEN util_n = 0 THEN excluded.util_max
                  ELSE max(util_max, excluded.util_max) END,
  util_n   = util_n + excluded.util_n,
  mem_avg = CASE WHEN excluded.mem_n = 0 THEN mem_avg
                  WHEN mem_n = 0 THEN excluded.mem_avg
                  ELSE (mem_avg * mem_n + excluded.mem_avg * excluded.mem_n) / (mem_n + excluded.mem_n) END,
  mem_max = CASE WHEN excluded.mem_n = 0 THEN mem_max
                  WHEN mem_n = 0 THEN excluded.mem_max
                  ELSE max(mem_max, excluded.mem_max) END,
  mem_n   = mem_n + excluded.mem_n,
  temp_avg = CASE WHEN excluded.temp_n = 0 THEN temp_avg
                  WHEN temp_n = 0 THEN excluded.temp_avg
                  ELSE (temp_avg * temp_n + excluded.temp_avg * excluded.temp_n) / (temp_n + excluded.temp_n) END,
  temp_max = CASE WHEN excluded.temp_n = 0 THEN temp_max
                  WHEN temp_n = 0 THEN excluded.temp_max
                  ELSE max(temp_max, excluded.temp_max) END,
  temp_n   = temp_n + excluded.temp_n,
  power_avg = CASE WHEN excluded.power_n = 0 THEN power_avg
                  WHEN power_n = 0 THEN excluded.power_avg
                  ELSE (power_avg * power_n + excluded.power_avg * excluded.power_n) / (power_n + excluded.power_n) END,
  power_max = CASE WHEN excluded.power_n = 0 THEN power_max
                  WHEN power_n = 0 THEN excluded.power_max
                  ELSE max(power_max, excluded.power_max) END,
  power_n   = power_n + excluded.power_n`

// Compact rolls raw samples older than raw up into per-minute rollups and
// deletes them, then deletes rollups older than rollup, in one transaction.
// The raw cut-off is rounded down to a whole minute so that a minute is
// rolled up in one go. A raw or rollup of zero or less means
// DefaultRawRetention or DefaultRollupRetention. Running it again with the
// same now changes nothing.
func (s *Store) Compact(ctx context.Context, now time.Time, raw, rollup time.Duration) (CompactStats, error) {
	if raw <= 0 {
		raw = DefaultRawRetention
	}
	if rollup <= 0 {
		rollup = DefaultRollupRetention
	}
	rawCut := toMS(now.Add(-raw).Truncate(rollupPeriod))
	rollupCut := toMS(now.Add(-rollup))

	const what = "compact telemetry"
	var st CompactStats
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return st, classify(s.path, what, err)
	}
	defer func() { _ = tx.Rollback() }()
	steps := []struct {
		query string
		arg   int64
		n     *int64
	}{
		{compactRollupSQL, rawCut, &st.RollupsWritten},
		{`DELETE FROM telemetry_samples WHERE t_ms < ?`, rawCut, &st.SamplesRolledUp},
		{`DELETE FROM telemetry_rollups WHERE minute_ms < ?`, rollupCut, &st.RollupsDeleted},
	}
	for _, step := range steps {
		res, err := tx.ExecContext(ctx, step.query, step.arg)
		if err != nil {
			return CompactStats{}, classify(s.path, what, err)
		}
		if *step.n, err = res.RowsAffected(); err != nil {
			return CompactStats{}, classify(s.path, what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return CompactStats{}, classify(s.path, what, err)
	}
	return st, nil
}
