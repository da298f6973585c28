package store

import (
	"context"
	"fmt"
	"time"
)

// Bucket summarises one GPU's readings over one time bucket: like a
// Rollup, but of any width.
type Bucket struct {
	Start      time.Time // start of the bucket, a multiple of its width since 1970, UTC
	Samples    int64     // raw samples summarised, known or not
	UtilPct    Agg
	MemUsedMiB Agg
	TempC      Agg
	PowerW     Agg
}

// SampleBuckets summarises the raw samples of one GPU with from <= Time <
// to over buckets of width bucket (whole milliseconds, at least one),
// aligned to multiples of bucket since 1970, oldest first; buckets with no
// samples are left out. One query: the averaging is done by SQLite.
func (s *Store) SampleBuckets(ctx context.Context, gpuKey string, from, to time.Time, bucket time.Duration) ([]Bucket, error) {
	what := fmt.Sprintf("read sample buckets of gpu %q", gpuKey)
	w := bucket.Milliseconds()
	if w < 1 {
		return nil, fmt.Errorf("%s: %w: bucket %v is shorter than a millisecond", what, ErrInvalid, bucket)
	}
	return s.buckets(ctx, what,
		`SELECT t_ms - (t_ms % ?1) AS b, count(*),
		   avg(util_pct), max(util_pct), count(util_pct),
		   avg(mem_used_mib), max(mem_used_mib), count(mem_used_mib),
		   avg(temp_c), max(temp_c), count(temp_c),
		   avg(power_w), max(power_w), count(power_w)
		 FROM telemetry_samples
		 WHERE gpu_key = ?2 AND t_ms >= ?3 AND t_ms < ?4
		 GROUP BY b ORDER BY b`,
		w, gpuKey, toMS(from), toMS(to))
}

// RollupBuckets merges the rollups of one GPU whose minute starts in
// [from, to) into buckets of width bucket (a whole number of minutes),
// aligned to multiples of bucket since 1970, oldest first: averages
// weighted by their counts, the largest maximum. Buckets with no rollups
// are left out.
func (s *Store) RollupBuckets(ctx context.Context, gpuKey string, from, to time.Time, bucket time.Duration) ([]Bucket, error) {
	what := fmt.Sprintf("read rollup buckets of gpu %q", gpuKey)
	if bucket < rollupPeriod || bucket%rollupPeriod != 0 {
		return nil, fmt.Errorf("%s: %w: bucket %v is not a whole number of minutes", what, ErrInvalid, bucket)
	}
	// sum(x_avg * x_n) skips the NULL averages of minutes with no known value.
	return s.buckets(ctx, what,
		`SELECT minute_ms - (minute_ms % ?1) AS b, sum(samples),
		   sum(util_avg * util_n) / nullif(sum(util_n), 0), max(util_max), sum(util_n),
		   sum(mem_avg * mem_n) / nullif(sum(mem_n), 0), max(mem_max), sum(mem_n),
		   sum(temp_avg * temp_n) / nullif(sum(temp_n), 0), max(temp_max), sum(temp_n),
		   sum(power_avg * power_n) / nullif(sum(power_n), 0), max(power_max), sum(power_n)
		 FROM telemetry_rollups
		 WHERE gpu_key = ?2 AND minute_ms >= ?3 AND minute_ms < ?4
		 GROUP BY b ORDER BY b`,
		bucket.Milliseconds(), gpuKey, toMS(from), toMS(to))
}

// buckets runs a bucket query whose columns are those of Bucket.
func (s *Store) buckets(ctx context.Context, what, query string, args ...any) ([]Bucket, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(s.path, what, err)
	}
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		var b Bucket
		var start int64
		if err := rows.Scan(&start, &b.Samples,
			&b.UtilPct.Avg, &b.UtilPct.Max, &b.UtilPct.N,
			&b.MemUsedMiB.Avg, &b.MemUsedMiB.Max, &b.MemUsedMiB.N,
			&b.TempC.Avg, &b.TempC.Max, &b.TempC.N,
			&b.PowerW.Avg, &b.PowerW.Max, &b.PowerW.N); err != nil {
			return nil, classify(s.path, what, err)
		}
		b.Start = fromMS(start)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(s.path, what, err)
	}
	return out, nil
}
